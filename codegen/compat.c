/*
 * brookc --check-compat: asks a schema registry whether the schemas the services' templates
 * would register are compatible with what the registry holds (docs/codegen.md).
 *
 * Everything local is checked first (declarations, schemas, the types templates name), with
 * brookc's usual file:line errors; only then is the registry asked, once per subject and
 * schema, with the schema the runtime registers: the type's full form, defaults included
 * (producer.c register_serde() sends brook_type_t.resolution_json, which brookc generates
 * from model_full_json()). The canonical form would drop the defaults, and a field added with
 * a default would look incompatible.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brookc.h"
#include "registry/registry.h"

int check_compat(const char *url, char **decl_paths, size_t ndecls, char **schemas,
                 size_t nschemas);

/* One schema to check: what goes under which subject, and which registry settings ask. */
typedef struct {
    char *subject;
    const char *type_name;
    char *schema_json;
    size_t decl; /* index of the declaration whose registry settings are used */
} check_t;

typedef struct {
    check_t *v;
    size_t n;
} checks_t;

static void print_decl_error(const brook_error_t *e, void *opaque) {
    (void)opaque;
    fprintf(stderr, "%s\n", e->message);
}

static char *join(const char *dir, const char *rel) {
    if (rel[0] == '/' || !dir || !*dir || !strcmp(dir, "."))
        return xstrdup(rel);
    return xprintf("%s/%s", dir, rel);
}

/* The schema files of d (relative to its directory) and then the --schemas files, each file
 * once however it is reached. *n receives the count. */
static char **decl_schema_files(const brook_decl_t *d, char **extra, size_t nextra, size_t *n) {
    size_t total = d->schema_count + nextra;
    char **paths = xcalloc(total ? total : 1, sizeof(char *));
    char **keys = xcalloc(total ? total : 1, sizeof(char *));
    *n = 0;
    for (size_t i = 0; i < total; i++) {
        char *p = i < d->schema_count ? join(d->base_dir, d->schemas[i])
                                      : xstrdup(extra[i - d->schema_count]);
        char *real = realpath(p, NULL);
        char *key = real ? real : xstrdup(p);
        bool seen = false;
        for (size_t k = 0; k < *n && !seen; k++)
            seen = !strcmp(keys[k], key);
        if (seen) {
            free(p);
            free(key);
            continue;
        }
        keys[*n] = key;
        paths[(*n)++] = p;
    }
    for (size_t k = 0; k < *n; k++)
        free(keys[k]);
    free(keys);
    return paths;
}

/* Adds the key or value `sd` of template t when it is a Confluent-framed Avro type, unless
 * the same schema under the same subject is already there. */
static void add_check(checks_t *cs, model_t *model, size_t decl_index, const brook_decl_t *d,
                      const char *display, size_t ti, const brook_decl_serde_t *sd, bool is_key) {
    const brook_decl_template_t *t = &d->templates[ti];
    if (sd->kind != BROOK_SERDE_AVRO || t->framing != BROOK_AVRO_FRAMING_CONFLUENT)
        return;
    char *what = xprintf("templates[%zu] \"%s\"", ti, t->name);
    schema_t *s = decl_serde_type(model, NULL, display, sd, what, t->line);
    free(what);
    if (!s)
        return;
    char subject[1024];
    /* without a schema_registry group, the strategy is the default one: "topic" */
    brook__registry_subject(d->registry.subject_strategy, t->topic, is_key, s->fullname, subject,
                            sizeof(subject));
    char *schema = model_full_json(s);
    for (size_t i = 0; i < cs->n; i++) {
        if (!strcmp(cs->v[i].subject, subject) && !strcmp(cs->v[i].schema_json, schema)) {
            free(schema);
            return;
        }
    }
    cs->v = xrealloc(cs->v, (cs->n + 1) * sizeof(check_t));
    cs->v[cs->n++] = (check_t){xstrdup(subject), s->fullname, schema, decl_index};
}

/* Asks the registry about every check, printing a line each. 0: all compatible, 2: some
 * incompatible, 3: the registry could not be reached or answered an error (reported; the
 * checks stop there). */
static int ask_registry(const char *url, brook_decl_t **decls, size_t ndecls, checks_t *cs) {
    brook__registry_t **clients = xcalloc(ndecls, sizeof(*clients));
    brook_decl_registry_t *settings = xcalloc(ndecls, sizeof(*settings));
    int rc = 0;
    for (size_t i = 0; i < cs->n && rc != 3; i++) {
        check_t *c = &cs->v[i];
        brook_error_t err = {0, ""};
        if (!clients[c->decl]) {
            /* the declaration's credentials, TLS and timeout, at URL */
            settings[c->decl] = decls[c->decl]->registry;
            settings[c->decl].url = (char *)url;
            clients[c->decl] = brook__registry_new(&settings[c->decl], &err);
            if (!clients[c->decl]) {
                fprintf(stderr, "brookc: %s\n", err.message);
                rc = 3;
                break;
            }
        }
        brook__registry_compat_t compat;
        if (brook__registry_check(clients[c->decl], c->subject, c->schema_json, &compat, &err)) {
            fprintf(stderr, "brookc: %s %s: %s\n", c->subject, c->type_name, err.message);
            rc = 3;
        } else if (!compat.subject_exists) {
            printf("%s %s: new subject (%s)\n", c->subject, c->type_name, compat.level);
        } else if (compat.compatible) {
            printf("%s %s: compatible (%s)\n", c->subject, c->type_name, compat.level);
        } else {
            printf("%s %s: INCOMPATIBLE (%s)%s%s\n", c->subject, c->type_name, compat.level,
                   compat.reason[0] ? ": " : "", compat.reason);
            rc = 2;
        }
        fflush(stdout);
    }
    for (size_t i = 0; i < ndecls; i++)
        brook__registry_free(clients[i]);
    free(clients);
    free(settings);
    return rc;
}

int check_compat(const char *url, char **decl_paths, size_t ndecls, char **schemas,
                 size_t nschemas) {
    brook_decl_t **decls = xcalloc(ndecls, sizeof(*decls));
    int bad = 0;
    for (size_t i = 0; i < ndecls; i++) {
        brook_error_t err = {0, ""};
        if (brook_decl_parse_file_diag(decl_paths[i], &decls[i], &err, print_decl_error, NULL))
            bad = 1;
    }
    if (bad)
        return 1;
    /* Each service with its own schemas (and the --schemas files), as when generating it. */
    checks_t cs = {0};
    for (size_t i = 0; i < ndecls; i++) {
        brook_decl_t *d = decls[i];
        size_t n;
        char **paths = decl_schema_files(d, schemas, nschemas, &n);
        model_t *model = xcalloc(1, sizeof(model_t));
        model_load(model, paths, paths, n);
        /* after an error, model_load() stops short of resolving names: check no further */
        if (diag_count())
            continue;
        model_validate_avro(model);
        if (diag_count())
            continue;
        for (size_t t = 0; t < d->template_count; t++) {
            add_check(&cs, model, i, d, decl_paths[i], t, &d->templates[t].key, true);
            add_check(&cs, model, i, d, decl_paths[i], t, &d->templates[t].value, false);
        }
    }
    if (diag_count())
        return 1;
    if (!cs.n) {
        fprintf(stderr, "brookc: no template writes a Confluent-framed Avro key or value: "
                        "nothing to check\n");
        return 0;
    }
    return ask_registry(url, decls, ndecls, &cs);
}
