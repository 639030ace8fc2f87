/*
 * brookc: Brook's code generator.
 *
 *   brookc DECL.brook --out DIR [--templates DIR] [--name UNIT]
 *   brookc --schemas a.avsc b.avsc ... --name NAME --out DIR [--templates DIR]
 *
 * Reads a service's declarations (with the framework's own parser, decl.c) and its Avro
 * schemas, and writes DIR/<unit>.brook.h and DIR/<unit>.brook.c. Every error is printed as
 * "file:line: message"; when there is any, nothing is written and the exit status is 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "avro_resolve.h"
#include "brook/avro.h"
#include "brookc.h"

/* brookc frees little on purpose (it exits right away); keep sanitizer builds quiet. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "detect_leaks=0";
}

schema_t *model_writer_type(model_t *m, const char *path, const char *display, char **text_out);

static void usage(FILE *f) {
    fprintf(f, "usage: brookc DECL.brook --out DIR [--templates DIR] [--name UNIT]\n"
               "       brookc --schemas A.avsc [B.avsc ...] --name NAME --out DIR "
               "[--templates DIR]\n");
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sb_t b = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sb_put(&b, buf, n);
    fclose(f);
    return sb_take(&b);
}

static int mkdirs(const char *dir) {
    char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) && errno != EEXIST)
                return -1;
            *s = '/';
        }
    }
    int rc = mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

/* Writes only when the content changed, so that builds depending on it stay up to date. */
static int write_if_changed(const char *path, const char *text) {
    char *old = read_text(path);
    bool same = old && !strcmp(old, text);
    free(old);
    if (same)
        return 0;
    char *tmp = xprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f)) {
        fprintf(stderr, "%s: cannot write: %s\n", path, strerror(errno));
        return -1;
    }
    if (rename(tmp, path)) {
        fprintf(stderr, "%s: cannot write: %s\n", path, strerror(errno));
        return -1;
    }
    free(tmp);
    return 0;
}

static char *unit_name(const char *name) {
    char *u = xstrdup(name);
    for (char *p = u; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    if ((u[0] >= '0' && u[0] <= '9') || is_c_reserved(u)) {
        char *x = xprintf("s_%s", u);
        free(u);
        u = x;
    }
    return u;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static char *join(const char *dir, const char *rel) {
    if (rel[0] == '/' || !dir || !*dir || !strcmp(dir, "."))
        return xstrdup(rel);
    return xprintf("%s/%s", dir, rel);
}

int main(int argc, char **argv) {
    const char *out_dir = NULL, *templates = NULL, *name = NULL, *decl_path = NULL;
    char **schemas = NULL;
    size_t nschemas = 0;
    bool schemas_mode = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--out") && i + 1 < argc) {
            out_dir = argv[++i];
            schemas_mode = schemas_mode && false;
        } else if (!strcmp(a, "--templates") && i + 1 < argc) {
            templates = argv[++i];
        } else if (!strcmp(a, "--name") && i + 1 < argc) {
            name = argv[++i];
        } else if (!strcmp(a, "--schemas")) {
            schemas_mode = true;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
                schemas = xrealloc(schemas, (nschemas + 1) * sizeof(char *));
                schemas[nschemas++] = argv[++i];
            }
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("brookc %s (ABI %d)\n", BROOK_VERSION_STR, BROOK_ABI_VERSION);
            return 0;
        } else if (a[0] == '-' || decl_path) {
            fprintf(stderr, "brookc: unexpected argument \"%s\"\n", a);
            usage(stderr);
            return 2;
        } else {
            decl_path = a;
        }
    }
    if (!out_dir || (!decl_path && !nschemas) || (decl_path && nschemas)) {
        usage(stderr);
        return 2;
    }
    if (nschemas && !name) {
        fprintf(stderr, "brookc: --schemas needs --name NAME\n");
        return 2;
    }
    if (name && !is_c_identifier(name)) {
        fprintf(stderr, "brookc: --name \"%s\" is not a C identifier\n", name);
        return 2;
    }
    if (tmpl_load(templates))
        return 1;

    model_t model = {0};
    gen_t g = {0};
    g.out_dir = out_dir;
    g.model = &model;
    char **paths, **display, **banner;
    size_t n;
    if (decl_path) {
        brook_error_t err = {0, ""};
        brook_decl_t *d = NULL;
        if (brook_decl_parse_file(decl_path, &d, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        g.decl = d;
        g.decl_text = read_text(decl_path);
        g.decl_base = base_name(decl_path);
        g.decl_display = decl_path;
        n = d->schema_count;
        paths = xcalloc(n, sizeof(char *));
        display = xcalloc(n, sizeof(char *));
        banner = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            paths[i] = join(d->base_dir, d->schemas[i]);
            display[i] = paths[i];
            banner[i] = d->schemas[i];
        }
        g.unit = name ? xstrdup(name) : unit_name(d->name);
    } else {
        n = nschemas;
        paths = schemas;
        display = schemas;
        banner = schemas;
        g.unit = name;
    }
    model_load(&model, paths, display, n);
    if (!diag_count()) {
        model_assign_names(&model);
        model_validate_avro(&model);
    }
    model.files = banner;
    if (g.decl && !diag_count()) {
        brook_decl_t *d = g.decl;
        g.nwriters = d->writer_schema_count;
        g.writer_paths = xcalloc(g.nwriters, sizeof(char *));
        g.writer_texts = xcalloc(g.nwriters, sizeof(char *));
        g.writer_types = xcalloc(g.nwriters, sizeof(schema_t *));
        for (size_t i = 0; i < g.nwriters; i++) {
            char *p = join(d->base_dir, d->writer_schemas[i]);
            g.writer_paths[i] = d->writer_schemas[i];
            char *text = NULL;
            g.writer_types[i] = model_writer_type(&model, p, p, &text);
            if (!g.writer_types[i])
                continue;
            /* embedded in canonical form: the runtime fingerprints the text it is given */
            brook_buf_t pcf;
            brook_buf_init(&pcf);
            brook_error_t perr = {0, ""};
            if (brook_avro_canonical_form(text, &pcf, &perr) || brook_buf_append(&pcf, "", 1)) {
                diag(p, 0, "%s", perr.message);
                continue;
            }
            g.writer_texts[i] = (char *)pcf.data;
            /* the runtime will resolve this writer schema to the current type: check now */
            char *reader = model_full_json(g.writer_types[i]);
            brook_error_t err = {0, ""};
            brook__avro_resolver_t *r = brook__avro_resolver_new(g.writer_texts[i], reader, &err);
            if (!r)
                diag(p, 0, "%s", err.message);
            brook__avro_resolver_destroy(r);
            free(reader);
        }
    }
    if (diag_count())
        return 1;
    char *h = NULL, *c = NULL;
    gen_unit(&g, &h, &c);
    if (diag_count())
        return 1;
    if (mkdirs(out_dir)) {
        fprintf(stderr, "%s: cannot create directory: %s\n", out_dir, strerror(errno));
        return 1;
    }
    char *hp = xprintf("%s/%s.brook.h", out_dir, g.unit);
    char *cp = xprintf("%s/%s.brook.c", out_dir, g.unit);
    if (write_if_changed(hp, h) || write_if_changed(cp, c))
        return 1;
    return 0;
}
