/* libFuzzer target for the declaration reader (framework/src/config/decl.c): arbitrary text
 * through brook_decl_parse_string_diag, as brookc and the runtime read a .brook file.
 *
 * Properties: nothing crashes, reads out of bounds or leaks; a parse fails exactly when it
 * reports an error, each error reads "source:line: message" and the first is the one returned;
 * a declaration that parses has what the model promises (a service name; listeners with an id,
 * a handler, topics or a pattern, concurrency 1..64; templates with a name and topic; Avro
 * serdes with a type name and the others without; kafka properties with names and values), and
 * merges with another parse of the same text (brook_decl_merge: no structural difference) and
 * is destroyed.
 *
 * libconfig 1.5 (Debian 12) leaks the string token in front of some syntax errors (the input
 * `""` alone leaks a byte). Checking for leaks after each such input (libFuzzer's
 * -detect_leaks) ran 128 inputs/s instead of 4600, so fuzz_decl.options turns that off and
 * LeakSanitizer looks once, at exit, with libconfig's leaks suppressed below: a leak of Brook's
 * still fails the run (without naming the input: run the corpus one by one to find it).
 *
 * Inputs with libconfig's @include are skipped: it reads files (relative to the working
 * directory here), which is not what is being tested.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/decl.h"

#define SOURCE "fuzz.brook"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libconfig.so\n";
}

typedef struct {
    int count;
    brook_error_t first;
} diags_t;

static void on_diag(const brook_error_t *e, void *opaque) {
    diags_t *d = opaque;
    if (d->count++ == 0)
        d->first = *e;
    /* "source:line: message" (a syntax error names the file libconfig was reading) */
    const char *colon = strchr(e->message, ':');
    if (e->code == 0 || !colon || !isdigit((unsigned char)colon[1])) {
        fprintf(stderr, "error without file:line: \"%s\"\n", e->message);
        abort();
    }
    const char *p = colon + 1;
    while (isdigit((unsigned char)*p))
        p++;
    if (p[0] != ':' || p[1] != ' ' || !p[2]) {
        fprintf(stderr, "error without file:line: message: \"%s\"\n", e->message);
        abort();
    }
}

static void check_serde(const brook_decl_serde_t *s) {
    if ((s->kind == BROOK_SERDE_AVRO) != (s->type_name != NULL) || !brook_decl_serde_name(s))
        abort();
}

static void check_model(const brook_decl_t *d) {
    if (!d->name || !d->source)
        abort();
    for (size_t i = 0; i < d->kafka_count; i++)
        if (!d->kafka[i].name || !d->kafka[i].value || !brook_decl_kafka_value(d, d->kafka[i].name))
            abort();
    for (size_t i = 0; i < d->topic_count; i++)
        if (!d->topics[i].name)
            abort();
    for (size_t i = 0; i < d->template_count; i++) {
        const brook_decl_template_t *t = &d->templates[i];
        if (!t->name || !t->topic)
            abort();
        check_serde(&t->key);
        check_serde(&t->value);
    }
    for (size_t i = 0; i < d->listener_count; i++) {
        const brook_decl_listener_t *l = &d->listeners[i];
        if (!l->id || !l->handler || (l->topic_count > 0) == (l->topic_pattern != NULL) ||
            l->concurrency < 1 || l->concurrency > 64)
            abort();
        for (size_t k = 0; k < l->topic_count; k++)
            if (!l->topics[k])
                abort();
        check_serde(&l->key);
        check_serde(&l->value);
        if (!brook_decl_ack_name(l->ack))
            abort();
        int64_t delays[64];
        (void)brook_decl_retry_delays(&l->retry, delays, 64);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (memmem(data, size, "@include", 8))
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;

    diags_t diags = {0};
    brook_error_t err = {0};
    brook_decl_t *d = (brook_decl_t *)1;
    int rc = brook_decl_parse_string_diag(text, SOURCE, &d, &err, on_diag, &diags);
    if (rc != 0) {
        if (d != NULL || diags.count == 0 || err.code != rc || diags.first.code != rc ||
            strcmp(err.message, diags.first.message) != 0)
            abort();
    } else {
        if (!d || diags.count != 0)
            abort();
        check_model(d);
        brook_decl_t *again = NULL;
        if (brook_decl_parse_string(text, SOURCE, &again, &err) != 0)
            abort(); /* the same text parses the same way */
        if (brook_decl_merge(d, again, &err) != 0) {
            fprintf(stderr, "merging a declaration with itself: %s\n", err.message);
            abort();
        }
        check_model(d);
        brook_decl_destroy(again);
        brook_decl_destroy(d);
    }
    free(text);
    return 0;
}
