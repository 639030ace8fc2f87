/*
 * brookc: Brook's code generator.
 *
 *   brookc DECL.brook --out DIR [--templates DIR] [--name UNIT]
 *   brookc A.brook B.brook ... --types-name TYPES --out DIR [--templates DIR]
 *   brookc --schemas a.avsc b.avsc ... --name NAME --out DIR [--templates DIR]
 *   brookc --asyncapi A.brook [B.brook ...] --out DIR [--api-version VERSION]
 *   brookc --graph A.brook [B.brook ...] --out DIR [--name NAME]
 *   brookc --check-compat URL A.brook [B.brook ...] [--schemas a.avsc ...]
 *
 * Reads a service's declarations (with the framework's own parser, decl.c) and its Avro
 * schemas, and writes DIR/<unit>.brook.h and DIR/<unit>.brook.c. With several declarations
 * (or --types-name), the services share their types: DIR/<TYPES>.brook.h/.c define every named
 * type of all their schemas once, and each service's unit holds only its glue, so the services
 * link into one binary. Every error is printed once, as "file:line: message", and all the
 * independent errors of a run are printed (those of every declaration, or else those of the
 * schemas, or else of the declarations against the schemas); when there is any, nothing is
 * written and the exit status is 1.
 *
 * --asyncapi writes DIR/<service>.asyncapi.json, each service's AsyncAPI 3.0.0 document, and
 * --graph DIR/<NAME>.dot, the services and their topics as a Graphviz graph; the two may be
 * given together, and neither writes C.
 *
 * --check-compat asks the schema registry at URL whether each Confluent-framed Avro schema of
 * the services' templates is compatible with its subject (compat.c); it writes nothing, and
 * its exit status says how the check went (1 for a bad command line too, not 2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "serde/avro_resolve.h"
#include "brook/avro.h"
#include "brookc.h"

/* brookc frees little on purpose (it exits right away); keep sanitizer builds quiet. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "detect_leaks=0";
}

schema_t *model_writer_type(model_t *m, const char *path, const char *display, char **text_out);
int check_compat(const char *url, char **decl_paths, size_t ndecls, char **schemas,
                 size_t nschemas);

/* Each error of a declaration file as the parser finds it (already "file:line: ..."). */
static void print_decl_error(const brook_error_t *e, void *opaque) {
    (void)opaque;
    fprintf(stderr, "%s\n", e->message);
}

static void usage(FILE *f) {
    fprintf(f, "usage: brookc DECL.brook --out DIR [--templates DIR] [--name UNIT]\n"
               "       brookc A.brook [B.brook ...] --types-name TYPES --out DIR "
               "[--templates DIR]\n"
               "       brookc --schemas A.avsc [B.avsc ...] --name NAME --out DIR "
               "[--templates DIR]\n"
               "       brookc --asyncapi A.brook [B.brook ...] --out DIR "
               "[--api-version VERSION]\n"
               "       brookc --graph A.brook [B.brook ...] --out DIR [--name NAME]\n"
               "       brookc --check-compat URL A.brook [B.brook ...] [--schemas A.avsc ...]\n"
               "\n"
               "--asyncapi writes DIR/<service>.asyncapi.json: each service's AsyncAPI 3.0.0\n"
               "document (info.version VERSION, default 1.0.0). --graph writes DIR/NAME.dot\n"
               "(default NAME: graph): the services, their topics, retry and dead-letter topics\n"
               "as a Graphviz graph (dot -Tsvg draws it). Both may be given in one run.\n"
               "\n"
               "--check-compat asks the schema registry at URL (in place of the declared url)\n"
               "whether the subject of each Confluent-framed Avro key or value of the templates\n"
               "accepts the type's schema as its next version, and prints a line per schema:\n"
               "\"SUBJECT TYPE: compatible|new subject|INCOMPATIBLE (LEVEL)[: reason]\". Its\n"
               "exit status: 0 all compatible, 1 a bad command line or an error in the\n"
               "declarations or schemas, 2 some schema incompatible, 3 the registry could not\n"
               "be reached or answered an error. Other forms exit with 1 on errors, 2 for a\n"
               "bad command line.\n");
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
    char *old = read_file(path);
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

/* "a/./b/../c" -> "a/c": how a schema file shared by several declarations is named once. */
static char *normalize_path(const char *path) {
    bool abs = path[0] == '/';
    char *copy = xstrdup(path);
    char **parts = NULL;
    size_t n = 0;
    for (char *save = NULL, *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (!strcmp(p, "."))
            continue;
        if (!strcmp(p, "..") && n && strcmp(parts[n - 1], "..")) {
            n--;
            continue;
        }
        if (!strcmp(p, "..") && abs)
            continue;
        parts = xrealloc(parts, (n + 1) * sizeof(char *));
        parts[n++] = p;
    }
    sb_t b = {0};
    if (abs)
        sb_puts(&b, "/");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_puts(&b, "/");
        sb_puts(&b, parts[i]);
    }
    if (!n && !abs)
        sb_puts(&b, ".");
    free(parts);
    free(copy);
    return sb_take(&b);
}

/* Loads the writer schemas of g->decl: each is an older version of a type of `scope` (the
 * service's schemas), embedded in canonical form, and checked against its current type now,
 * since the runtime will resolve one to the other. */
static void load_writers(gen_t *g, model_t *scope) {
    brook_decl_t *d = g->decl;
    g->nwriters = d->writer_schema_count;
    g->writer_paths = xcalloc(g->nwriters, sizeof(char *));
    g->writer_texts = xcalloc(g->nwriters, sizeof(char *));
    g->writer_types = xcalloc(g->nwriters, sizeof(schema_t *));
    for (size_t i = 0; i < g->nwriters; i++) {
        char *p = join(d->base_dir, d->writer_schemas[i]);
        g->writer_paths[i] = d->writer_schemas[i];
        char *text = NULL;
        g->writer_types[i] = model_writer_type(scope, p, p, &text);
        if (!g->writer_types[i])
            continue;
        /* embedded in canonical form: the runtime fingerprints the text it is given */
        brook_buf_t pcf;
        brook_buf_init(&pcf);
        brook_error_t perr = {0, ""};
        if (brook_avro_canonical_form(text, &pcf, &perr) || brook_buf_append(&pcf, "", 1)) {
            diag(p, 0, "%s", perr.message);
            continue;
        }
        g->writer_texts[i] = (char *)pcf.data;
        char *reader = model_full_json(g->writer_types[i]);
        brook_error_t err = {0, ""};
        brook__avro_resolver_t *r = brook__avro_resolver_new(g->writer_texts[i], reader, &err);
        if (!r)
            diag(p, 0, "%s", err.message);
        brook__avro_resolver_destroy(r);
        free(reader);
    }
}

typedef struct {
    char *h, *c; /* file names in the output directory */
    char *h_text, *c_text;
} out_unit_t;

/* Writes names[i] with texts[i] into out_dir (created if need be): 0, or 1 (reported). */
static int write_files(const char *out_dir, char **names, char **texts, size_t n) {
    if (mkdirs(out_dir)) {
        fprintf(stderr, "%s: cannot create directory: %s\n", out_dir, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char *path = xprintf("%s/%s", out_dir, names[i]);
        if (write_if_changed(path, texts[i]))
            return 1;
        free(path);
    }
    return 0;
}

static int write_units(const char *out_dir, out_unit_t *u, size_t n) {
    char **names = xcalloc(2 * n, sizeof(char *)), **texts = xcalloc(2 * n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        names[2 * i] = u[i].h;
        texts[2 * i] = u[i].h_text;
        names[2 * i + 1] = u[i].c;
        texts[2 * i + 1] = u[i].c_text;
    }
    int rc = write_files(out_dir, names, texts, 2 * n);
    free(names);
    free(texts);
    return rc;
}

static void set_unit_files(out_unit_t *u, const char *unit, char *h, char *c) {
    u->h = xprintf("%s.brook.h", unit);
    u->c = xprintf("%s.brook.c", unit);
    u->h_text = h;
    u->c_text = c;
}

/* Parses every declaration file, printing every error of each; *out[i] is NULL for a file
 * that has any. Returns 1 when some file had errors, else 0. */
static int parse_decls(char **paths, size_t n, brook_decl_t ***out) {
    brook_decl_t **decls = xcalloc(n, sizeof *decls);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        brook_error_t err = {0, ""};
        if (brook_decl_parse_file_diag(paths[i], &decls[i], &err, print_decl_error, NULL))
            bad = 1;
    }
    *out = decls;
    return bad;
}

/* The schema files of d as paths brookc can open (relative to the declaration's directory). */
static char **schema_paths(const brook_decl_t *d) {
    char **paths = xcalloc(d->schema_count, sizeof(char *));
    for (size_t i = 0; i < d->schema_count; i++)
        paths[i] = join(d->base_dir, d->schemas[i]);
    return paths;
}

/* --asyncapi and --graph: documents of the services, no C. */
static int generate_docs(char **decl_paths, size_t ndecls, bool asyncapi, bool graph,
                         const char *api_version, const char *graph_name, const char *out_dir) {
    brook_decl_t **decls;
    if (parse_decls(decl_paths, ndecls, &decls))
        return 1;
    char **names = xcalloc(ndecls + 1, sizeof(char *)),
         **texts = xcalloc(ndecls + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; asyncapi && i < ndecls; i++) {
        brook_decl_t *d = decls[i];
        char *file = xprintf("%s.asyncapi.json", d->name);
        for (char *p = file; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
                *p = '_';
        for (size_t k = 0; k < n; k++)
            if (!strcmp(names[k], file))
                diag(decl_paths[i], d->line, "service \"%s\": its document %s is also that of %s",
                     d->name, file, decl_paths[k]);
        /* each service's own schemas: the types it may use, as when generating its C */
        int before = diag_count();
        model_t model = {0};
        char **paths = schema_paths(d);
        model_load(&model, paths, paths, d->schema_count);
        if (diag_count() == before)
            model_validate_avro(&model);
        names[n] = file;
        texts[n++] = diag_count() == before
                         ? asyncapi_document(d, &model, decl_paths[i], api_version)
                         : NULL;
    }
    if (graph) {
        names[n] = xprintf("%s.dot", graph_name);
        texts[n++] = graph_dot(decls, ndecls, graph_name);
    }
    if (diag_count())
        return 1;
    return write_files(out_dir, names, texts, n);
}

/* Several services in one run: one types unit for all their schemas, one glue unit each. */
static int generate_services(char **decl_paths, size_t ndecls, const char *types_name,
                             const char *out_dir) {
    brook_decl_t **decls;
    char **units = xcalloc(ndecls, sizeof(char *));
    int bad = parse_decls(decl_paths, ndecls, &decls);
    for (size_t i = 0; i < ndecls; i++) {
        if (!decls[i])
            continue;
        units[i] = unit_name(decls[i]->name);
        if (!strcmp(units[i], types_name)) {
            diag(decl_paths[i], decls[i]->line,
                 "service \"%s\": its unit \"%s\" is also the name of the types unit "
                 "(--types-name)",
                 decls[i]->name, units[i]);
        }
        for (size_t k = 0; k < i; k++)
            if (units[k] && !strcmp(units[k], units[i]))
                diag(decl_paths[i], decls[i]->line,
                     "service \"%s\": its unit \"%s\" is also that of %s", decls[i]->name, units[i],
                     decl_paths[k]);
    }
    if (bad || diag_count())
        return 1;

    /* Every schema file once, in order of first mention; a file is the same file however
     * each declaration reaches it. */
    char **paths = NULL, **display = NULL, **keys = NULL;
    size_t nfiles = 0;
    char ***svc_paths = xcalloc(ndecls, sizeof(char **));
    char ***svc_display = xcalloc(ndecls, sizeof(char **));
    for (size_t i = 0; i < ndecls; i++) {
        brook_decl_t *d = decls[i];
        svc_paths[i] = xcalloc(d->schema_count, sizeof(char *));
        svc_display[i] = xcalloc(d->schema_count, sizeof(char *));
        for (size_t k = 0; k < d->schema_count; k++) {
            char *p = join(d->base_dir, d->schemas[k]);
            char *norm = normalize_path(p);
            char *real = realpath(p, NULL);
            char *key = real ? real : xstrdup(norm);
            size_t f = 0;
            while (f < nfiles && strcmp(keys[f], key))
                f++;
            if (f == nfiles) {
                paths = xrealloc(paths, (nfiles + 1) * sizeof(char *));
                display = xrealloc(display, (nfiles + 1) * sizeof(char *));
                keys = xrealloc(keys, (nfiles + 1) * sizeof(char *));
                paths[nfiles] = p;
                display[nfiles] = norm;
                keys[nfiles++] = key;
            } else {
                free(p);
                free(norm);
                free(key);
            }
            svc_paths[i][k] = paths[f];
            svc_display[i][k] = display[f];
        }
    }
    model_t model = {0};
    model_load(&model, paths, display, nfiles);
    if (!diag_count()) {
        model_assign_names(&model);
        model_validate_avro(&model);
    }
    model.files = display;
    if (diag_count())
        return 1;

    /* Each service on its own, as a single run would see it: its schemas must be complete
     * without the other services' (its declarations travel with it), and its declarations
     * may only use its own types. */
    model_t *scopes = xcalloc(ndecls, sizeof(model_t));
    gen_t *gens = xcalloc(ndecls, sizeof(gen_t));
    for (size_t i = 0; i < ndecls; i++) {
        brook_decl_t *d = decls[i];
        int before = diag_count();
        model_load(&scopes[i], svc_paths[i], svc_display[i], d->schema_count);
        if (diag_count() > before)
            diag(decl_paths[i], d->line,
                 "service \"%s\": its schemas use types that none of them defines (each "
                 "declaration lists every schema file its types need)",
                 d->name);
        scopes[i].files = d->schemas;
        gen_t *g = &gens[i];
        g->unit = units[i];
        g->out_dir = out_dir;
        g->model = &model;
        g->decl = d;
        g->decl_text = read_file(decl_paths[i]);
        g->decl_base = base_name(decl_paths[i]);
        g->decl_display = decl_paths[i];
        g->types_unit = types_name;
        g->scope = &scopes[i];
        if (!diag_count())
            load_writers(g, &scopes[i]);
    }
    if (diag_count())
        return 1;

    out_unit_t *out = xcalloc(ndecls + 1, sizeof(out_unit_t));
    gen_t tg = {0};
    tg.unit = types_name;
    tg.out_dir = out_dir;
    tg.model = &model;
    char *h = NULL, *c = NULL;
    gen_unit(&tg, &h, &c);
    set_unit_files(&out[0], types_name, h, c);
    for (size_t i = 0; i < ndecls; i++) {
        gen_service_unit(&gens[i], &h, &c);
        set_unit_files(&out[i + 1], units[i], h, c);
    }
    if (diag_count())
        return 1;
    return write_units(out_dir, out, ndecls + 1);
}

/* --check-compat: usage errors exit with 1, its other statuses meaning something else. */
static int run_check_compat(const char *url, char **decl_paths, size_t ndecls, char **schemas,
                            size_t nschemas, bool other_options) {
    if (other_options) {
        fprintf(stderr, "brookc: --check-compat takes declarations and --schemas only\n");
        return 1;
    }
    if (!url) {
        fprintf(stderr, "brookc: --check-compat needs the schema registry's URL\n");
        usage(stderr);
        return 1;
    }
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
        fprintf(stderr, "brookc: --check-compat \"%s\" is not an http:// or https:// URL\n", url);
        return 1;
    }
    if (!ndecls) {
        fprintf(stderr, "brookc: --check-compat needs declarations (A.brook ...)\n");
        usage(stderr);
        return 1;
    }
    return check_compat(url, decl_paths, ndecls, schemas, nschemas);
}

int main(int argc, char **argv) {
    const char *out_dir = NULL, *templates = NULL, *name = NULL, *types_name = NULL;
    const char *api_version = NULL, *compat_url = NULL;
    bool asyncapi = false, graph = false, check = false;
    for (int i = 1; i < argc; i++)
        check = check || !strcmp(argv[i], "--check-compat");
    const int usage_rc = check ? 1 : 2;
    char **decl_paths = NULL;
    size_t ndecls = 0;
    char **schemas = NULL;
    size_t nschemas = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--out") && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (!strcmp(a, "--templates") && i + 1 < argc) {
            templates = argv[++i];
        } else if (!strcmp(a, "--name") && i + 1 < argc) {
            name = argv[++i];
        } else if (!strcmp(a, "--types-name") && i + 1 < argc) {
            types_name = argv[++i];
        } else if (!strcmp(a, "--api-version") && i + 1 < argc) {
            api_version = argv[++i];
        } else if (!strcmp(a, "--asyncapi")) {
            asyncapi = true;
        } else if (!strcmp(a, "--graph")) {
            graph = true;
        } else if (!strcmp(a, "--check-compat")) {
            if (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
                compat_url = argv[++i];
        } else if (!strcmp(a, "--schemas")) {
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
        } else if (a[0] == '-' || nschemas) {
            fprintf(stderr, "brookc: unexpected argument \"%s\"\n", a);
            usage(stderr);
            return usage_rc;
        } else {
            decl_paths = xrealloc(decl_paths, (ndecls + 1) * sizeof(char *));
            decl_paths[ndecls++] = argv[i];
        }
    }
    if (check)
        return run_check_compat(compat_url, decl_paths, ndecls, schemas, nschemas,
                                out_dir || templates || name || types_name || api_version ||
                                    asyncapi || graph);
    if (!out_dir || (!ndecls && !nschemas) || (ndecls && nschemas)) {
        usage(stderr);
        return 2;
    }
    if (asyncapi || graph) {
        if (nschemas || types_name || templates) {
            fprintf(stderr, "brookc: --asyncapi and --graph take declarations only (no "
                            "--schemas, --types-name or --templates)\n");
            return 2;
        }
        if (name && !graph) {
            fprintf(stderr, "brookc: --name names --graph's file; documents are named after "
                            "their services\n");
            return 2;
        }
        if (name && (!*name || strchr(name, '/'))) {
            fprintf(stderr, "brookc: --name \"%s\" is not a file name\n", name);
            return 2;
        }
        if (api_version && !asyncapi) {
            fprintf(stderr, "brookc: --api-version is for --asyncapi\n");
            return 2;
        }
        return generate_docs(decl_paths, ndecls, asyncapi, graph,
                             api_version ? api_version : "1.0.0", name ? name : "graph", out_dir);
    }
    if (api_version) {
        fprintf(stderr, "brookc: --api-version is for --asyncapi\n");
        return 2;
    }
    if (nschemas && !name) {
        fprintf(stderr, "brookc: --schemas needs --name NAME\n");
        return 2;
    }
    if (nschemas && types_name) {
        fprintf(stderr, "brookc: --types-name is for declarations; --schemas takes --name\n");
        return 2;
    }
    if (ndecls > 1 && !types_name) {
        fprintf(stderr, "brookc: several declarations share their types: pass --types-name "
                        "NAME\n");
        return 2;
    }
    if (types_name && name) {
        fprintf(stderr, "brookc: with --types-name, each service's unit is named after the "
                        "service; --name does not apply\n");
        return 2;
    }
    if (name && !is_c_identifier(name)) {
        fprintf(stderr, "brookc: --name \"%s\" is not a C identifier\n", name);
        return 2;
    }
    if (types_name && (!is_c_identifier(types_name) || is_c_reserved(types_name))) {
        fprintf(stderr, "brookc: --types-name \"%s\" is not a usable C identifier\n", types_name);
        return 2;
    }
    if (tmpl_load(templates))
        return 1;
    if (types_name)
        return generate_services(decl_paths, ndecls, types_name, out_dir);

    const char *decl_path = ndecls ? decl_paths[0] : NULL;
    model_t model = {0};
    gen_t g = {0};
    g.out_dir = out_dir;
    g.model = &model;
    char **paths, **display, **banner;
    size_t n;
    if (decl_path) {
        brook_error_t err = {0, ""};
        brook_decl_t *d = NULL;
        if (brook_decl_parse_file_diag(decl_path, &d, &err, print_decl_error, NULL))
            return 1;
        g.decl = d;
        g.decl_text = read_file(decl_path);
        g.decl_base = base_name(decl_path);
        g.decl_display = decl_path;
        n = d->schema_count;
        paths = schema_paths(d);
        display = paths;
        banner = d->schemas;
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
    if (g.decl && !diag_count())
        load_writers(&g, &model);
    if (diag_count())
        return 1;
    out_unit_t out = {0};
    char *h = NULL, *c = NULL;
    gen_unit(&g, &h, &c);
    if (diag_count())
        return 1;
    set_unit_files(&out, g.unit, h, c);
    return write_units(out_dir, &out, 1);
}
