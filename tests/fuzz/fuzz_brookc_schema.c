/* libFuzzer target for brookc's schema model (codegen/model.c): an .avsc file's text through
 * model_load (parse, resolve names), model_assign_names and model_validate_avro (avro-c), as
 * `brookc --schemas` reads it; then the forms brookc writes of every named type.
 *
 * Properties: nothing crashes or reads out of bounds; for a schema brookc accepts, the
 * runtime reads what brookc writes: the runtime's canonical form (serde/avro.c) of brookc's
 * full JSON (resolution_json of the generated code) is brookc's canonical form (so the
 * fingerprint a generated type carries is the one the runtime computes for the same schema),
 * brookc's canonical form is its own canonical form, the full JSON resolves to itself
 * (serde/avro_resolve.c), and the document form is JSON.
 *
 * brookc is a short-lived process that never frees its model (codegen/brookc.h), so this
 * target runs with leak detection off (__asan_default_options below), and in libFuzzer's fork
 * mode (fuzz_brookc_schema.options: -fork=1), whose jobs are processes that end every few
 * seconds, giving back what the models took (a single process grew by 1 GB a minute). model.c is included
 * here, not linked, to reset its count of errors between inputs; its diagnostics go to stderr,
 * which fuzz_brookc_schema.options closes (-close_fd_mask=2: libFuzzer's reports still show).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model.c"

#include "brook/avro.h"
#include "serde/avro_resolve.h"

const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "detect_leaks=0";
}

static int fd = -1;
static char path[64];

static void agree(const char *what, const char *brookc, const brook_buf_t *runtime,
                  const char *input) {
    if (strlen(brookc) != runtime->len || memcmp(brookc, runtime->data, runtime->len) != 0) {
        fprintf(stderr, "%s: brookc writes %s\nthe runtime %.*s\nschema: %s\n", what, brookc,
                (int)runtime->len, (const char *)runtime->data, input);
        abort();
    }
}

static void check_type(const schema_t *s, const char *input) {
    char *pcf = model_pcf(s);
    char *full = model_full_json(s);
    char *doc = model_doc_json(s);
    brook_buf_t b;
    brook_buf_init(&b);
    brook_error_t err;
    if (brook_avro_canonical_form(full, &b, &err) != 0) {
        fprintf(stderr, "the runtime cannot read brookc's full JSON: %s\n%s\n", err.message, full);
        abort();
    }
    agree("canonical form of the full JSON", pcf, &b, input);
    brook_buf_reset(&b);
    if (brook_avro_canonical_form(pcf, &b, &err) != 0)
        abort();
    agree("canonical form of the canonical form", pcf, &b, input);
    brook__avro_resolver_t *r = brook__avro_resolver_new(full, full, &err);
    if (!r) {
        fprintf(stderr, "brookc's full JSON does not resolve to itself: %s\n%s\n", err.message,
                full);
        abort();
    }
    brook__avro_resolver_destroy(r);
    json_error_t jerr;
    json_t *j = json_loads(doc, JSON_ALLOW_NUL, &jerr);
    if (!j) {
        fprintf(stderr, "document form is not JSON: %s\n%s\n", jerr.text, doc);
        abort();
    }
    json_decref(j);
    brook_buf_free(&b);
    free(pcf);
    free(full);
    free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fd < 0) {
        fd = memfd_create("fuzz.avsc", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    char *input = strndup((const char *)data, size);
    char *paths[1] = {path};
    char *display[1] = {"fuzz.avsc"};
    ndiag = 0;
    model_t m = {0};
    model_load(&m, paths, display, 1);
    if (!diag_count())
        model_assign_names(&m);
    if (!diag_count())
        model_validate_avro(&m);
    if (!diag_count())
        for (size_t i = 0; i < m.nnamed; i++)
            check_type(m.named[i], input);
    free(input);
    return 0;
}
