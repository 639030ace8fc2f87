/*
 * The declaration parser (decl.h, docs/declarations.md): libconfig text -> brook_decl_t.
 *
 * Parsing is strict on purpose: unknown settings, wrong types and out-of-range values are
 * errors, so a typo in a declaration fails at build time (brookc) or at start (runtime)
 * instead of silently falling back to a default. Every error is
 * "source:line: path: what is wrong", where path names the setting the way a user would
 * write it (listeners[1].retry.backoff.delay_ms), and one error does not hide the next.
 */
#include "config/decl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

extern char **environ;

#define PATH_MAX_LEN 192

/* ---- error reporting -------------------------------------------------------------------- */

/* One parse. An error in one setting does not stop it: the parser goes on with the settings
 * that do not depend on the one at fault, so that brookc can report every error of a file in
 * one run. `err` keeps the first error (what the runtime reports); `diag` sees each of them,
 * once, in the order found. */
typedef struct {
    const char *source;
    brook_error_t *err;
    brook_decl_diag_fn *diag;
    void *opaque;
    int first;  /* code of the first error; 0 while there is none */
    int errors; /* how many so far */
} pctx_t;

static int report(pctx_t *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int report(pctx_t *p, int code, const char *fmt, ...) {
    brook_error_t e = {code, ""};
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    if (!p->errors++) {
        p->first = code;
        if (p->err)
            *p->err = e;
    }
    if (p->diag)
        p->diag(&e, p->opaque);
    return code;
}

/* Whether a result stops the parse: a declaration error is recorded and parsing goes on;
 * anything else (out of memory) stops it. */
static bool fatal(int rc) {
    return rc < 0 && rc != BROOK_ERR_DECL;
}

static int line_of(const config_setting_t *s) {
    int line = s ? (int)config_setting_source_line(s) : 0;
    return line > 0 ? line : 1;
}

/* "source:line: path: what". Settings pulled in by @include carry their own file name. */
static int decl_fail(pctx_t *p, const config_setting_t *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int decl_fail(pctx_t *p, const config_setting_t *at, const char *path, const char *fmt,
                     ...) {
    char what[256];
    va_list ap;
    const char *file = at ? config_setting_source_file(at) : NULL;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (!file)
        file = p->source;
    if (path && *path)
        return report(p, BROOK_ERR_DECL, "%s:%d: %s: %s", file, line_of(at), path, what);
    return report(p, BROOK_ERR_DECL, "%s:%d: %s", file, line_of(at), what);
}

static int nomem(pctx_t *p) {
    return report(p, BROOK_ERR_NOMEM, "out of memory");
}

/* Out of memory outside a parse (merge, environment). */
static int out_of_memory(brook_error_t *err) {
    return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
}

static const char *type_desc(const config_setting_t *s) {
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "nothing";
    }
}

/* out = a b c, truncated to fit. Not snprintf: GCC warns about every possible truncation of
 * a path, and a truncated path in a message is harmless. */
static void path_cat(char *out, size_t n, const char *a, const char *b, const char *c) {
    const char *parts[3] = {a, b, c};
    size_t used = 0;
    for (int i = 0; i < 3; i++)
        for (const char *s = parts[i]; s && *s && used + 1 < n; s++)
            out[used++] = *s;
    out[used] = '\0';
}

static void join_path(char *out, size_t n, const char *parent, const char *name) {
    path_cat(out, n, parent, parent && *parent ? "." : "", name);
}

/* parent[i] */
static void index_path(char *out, size_t n, const char *parent, size_t i) {
    char idx[32];
    snprintf(idx, sizeof(idx), "[%zu]", i);
    path_cat(out, n, parent, idx, NULL);
}

/* ---- small validators ------------------------------------------------------------------- */

static bool is_ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c) {
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_c_identifier(const char *s) {
    if (!is_ident_start(*s))
        return false;
    for (s++; *s; s++)
        if (!is_ident_char(*s))
            return false;
    return true;
}

static bool is_c_keyword(const char *s) {
    static const char *const kw[] = {"auto",       "break",     "case",           "char",
                                     "const",      "continue",  "default",        "do",
                                     "double",     "else",      "enum",           "extern",
                                     "float",      "for",       "goto",           "if",
                                     "inline",     "int",       "long",           "register",
                                     "restrict",   "return",    "short",          "signed",
                                     "sizeof",     "static",    "struct",         "switch",
                                     "typedef",    "union",     "unsigned",       "void",
                                     "volatile",   "while",     "_Alignas",       "_Alignof",
                                     "_Atomic",    "_Bool",     "_Complex",       "_Generic",
                                     "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local",
                                     NULL};
    for (size_t i = 0; kw[i]; i++)
        if (strcmp(kw[i], s) == 0)
            return true;
    return false;
}

/* An Avro full name: identifier segments separated by single dots. */
static bool is_avro_fullname(const char *s) {
    for (;;) {
        if (!is_ident_start(*s))
            return false;
        for (s++; is_ident_char(*s); s++)
            ;
        if (*s == '\0')
            return true;
        if (*s != '.')
            return false;
        s++;
    }
}

/* What Kafka itself accepts as a topic name. */
static bool is_topic_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (; *s; s++)
        if (!is_ident_char(*s) && *s != '.' && *s != '-')
            return false;
    return true;
}

/* ---- typed getters ---------------------------------------------------------------------- */

/* A group being read: the setting and the path used in messages ("" for the root). Getters
 * return 0 when the setting was read, 1 when it is absent (and optional), or a negative
 * BROOK_ERR_* with the error set. */
typedef struct {
    pctx_t *p;
    config_setting_t *g;
    const char *path;
} grp_t;

static int missing(const grp_t *g, const char *name) {
    return decl_fail(g->p, g->g, g->path, "missing required setting \"%s\"", name);
}

static config_setting_t *member(const grp_t *g, const char *name, char *path) {
    join_path(path, PATH_MAX_LEN, g->path, name);
    return config_setting_get_member(g->g, name);
}

/* Reports every unknown setting of the group. */
static int check_unknown(const grp_t *g, const char *const *allowed) {
    int n = config_setting_length(g->g);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        config_setting_t *s = config_setting_get_elem(g->g, (unsigned)i);
        const char *name = config_setting_name(s);
        bool ok = false;
        for (size_t k = 0; name && allowed[k] && !ok; k++)
            ok = strcmp(allowed[k], name) == 0;
        if (!ok) {
            char path[PATH_MAX_LEN];
            join_path(path, sizeof(path), g->path, name ? name : "?");
            rc = decl_fail(g->p, s, path, "unknown setting");
        }
    }
    return rc;
}

static int check_string(pctx_t *p, config_setting_t *s, const char *path) {
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return decl_fail(p, s, path, "expected a string, got %s", type_desc(s));
    if (config_setting_get_string(s)[0] == '\0')
        return decl_fail(p, s, path, "must not be empty");
    return 0;
}

/* A non-empty string. *out is replaced (the previous value freed). */
static int get_str(const grp_t *g, const char *name, bool required, char **out,
                   config_setting_t **at) {
    char path[PATH_MAX_LEN];
    config_setting_t *s = member(g, name, path);
    char *copy;
    int rc;

    if (at)
        *at = s;
    if (!s)
        return required ? missing(g, name) : 1;
    if ((rc = check_string(g->p, s, path)) != 0)
        return rc;
    if (!(copy = strdup(config_setting_get_string(s))))
        return nomem(g->p);
    free(*out);
    *out = copy;
    return 0;
}

static int get_i64(const grp_t *g, const char *name, int64_t min, int64_t max, int64_t *out,
                   config_setting_t **at) {
    char path[PATH_MAX_LEN];
    config_setting_t *s = member(g, name, path);
    int64_t v;

    if (at)
        *at = s;
    if (!s)
        return 1;
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
        return decl_fail(g->p, s, path, "expected an integer, got %s", type_desc(s));
    v = config_setting_get_int64(s);
    /* Bounds at INT_MAX or beyond only guard the C type; they are not worth naming unless hit. */
    if (v < min && max >= INT_MAX)
        return decl_fail(g->p, s, path, "must be at least %lld, got %lld", (long long)min,
                         (long long)v);
    if (v > max && max >= INT_MAX)
        return decl_fail(g->p, s, path, "must be at most %lld, got %lld", (long long)max,
                         (long long)v);
    if (v < min || v > max)
        return decl_fail(g->p, s, path, "must be between %lld and %lld, got %lld", (long long)min,
                         (long long)max, (long long)v);
    *out = v;
    return 0;
}

static int get_int(const grp_t *g, const char *name, int min, int max, int *out) {
    int64_t v;
    int rc = get_i64(g, name, min, max, &v, NULL);
    if (rc == 0)
        *out = (int)v;
    return rc;
}

static int get_num(const grp_t *g, const char *name, double *out, config_setting_t **at) {
    char path[PATH_MAX_LEN];
    config_setting_t *s = member(g, name, path);

    if (at)
        *at = s;
    if (!s)
        return 1;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        *out = (double)config_setting_get_int64(s);
        return 0;
    case CONFIG_TYPE_FLOAT:
        *out = config_setting_get_float(s);
        return 0;
    default:
        return decl_fail(g->p, s, path, "expected a number, got %s", type_desc(s));
    }
}

static int get_bool(const grp_t *g, const char *name, bool *out) {
    char path[PATH_MAX_LEN];
    config_setting_t *s = member(g, name, path);

    if (!s)
        return 1;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return decl_fail(g->p, s, path, "expected a boolean, got %s", type_desc(s));
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

/* One of `names` (NULL-terminated); *out is its index. */
static int get_enum(const grp_t *g, const char *name, const char *const *names, const char *what,
                    int *out) {
    char path[PATH_MAX_LEN];
    config_setting_t *s = member(g, name, path);
    const char *v;
    char expected[128] = "";
    size_t used = 0;
    int rc;

    if (!s)
        return 1;
    if ((rc = check_string(g->p, s, path)) != 0)
        return rc;
    v = config_setting_get_string(s);
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], v) == 0) {
            *out = i;
            return 0;
        }
        used += (size_t)snprintf(expected + used, sizeof(expected) - used, "%s%s", i ? ", " : "",
                                 names[i]);
        if (used >= sizeof(expected))
            used = sizeof(expected) - 1;
    }
    return decl_fail(g->p, s, path, "unknown %s \"%s\" (expected %s)", what, v, expected);
}

static void free_strs(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A list or array of non-empty strings; a single string is taken as a list of one. Every bad
 * element is reported; then the setting is left as it was. */
static int get_strs(const grp_t *g, const char *name, char ***out, size_t *count,
                    config_setting_t **at) {
    char path[PATH_MAX_LEN];
    config_setting_t *s = member(g, name, path);
    char **v;
    size_t n;
    int rc;

    if (at)
        *at = s;
    if (!s)
        return 1;
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        if ((rc = check_string(g->p, s, path)) != 0)
            return rc;
        if (!(v = calloc(1, sizeof(*v))) || !(v[0] = strdup(config_setting_get_string(s)))) {
            free(v);
            return nomem(g->p);
        }
        free_strs(*out, *count);
        *out = v;
        *count = 1;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_LIST && config_setting_type(s) != CONFIG_TYPE_ARRAY)
        return decl_fail(g->p, s, path, "expected a list of strings, got %s", type_desc(s));
    n = (size_t)config_setting_length(s);
    if (!(v = calloc(n ? n : 1, sizeof(*v))))
        return nomem(g->p);
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char epath[PATH_MAX_LEN];
        index_path(epath, sizeof(epath), path, i);
        if (check_string(g->p, e, epath) != 0) {
            rc = BROOK_ERR_DECL;
            continue;
        }
        if (!(v[i] = strdup(config_setting_get_string(e)))) {
            free_strs(v, n);
            return nomem(g->p);
        }
    }
    if (rc) {
        free_strs(v, n);
        return rc;
    }
    free_strs(*out, *count);
    *out = v;
    *count = n;
    return 0;
}

/* A group that must be a group when present. */
static int get_group(const grp_t *g, const char *name, grp_t *sub, char *path) {
    config_setting_t *s = member(g, name, path);

    if (!s)
        return 1;
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return decl_fail(g->p, s, path, "expected a group, got %s", type_desc(s));
    sub->p = g->p;
    sub->g = s;
    sub->path = path;
    return 0;
}

/* A list of groups (topics, templates, listeners). Arrays cannot hold groups in libconfig,
 * but an empty [] is accepted as an empty list. */
static int get_items(const grp_t *g, const char *name, config_setting_t **out, size_t *count) {
    char path[PATH_MAX_LEN];
    config_setting_t *s = member(g, name, path);

    *out = s;
    *count = 0;
    if (!s)
        return 1;
    if (config_setting_type(s) != CONFIG_TYPE_LIST && config_setting_type(s) != CONFIG_TYPE_ARRAY)
        return decl_fail(g->p, s, path, "expected a list of groups, got %s", type_desc(s));
    *count = (size_t)config_setting_length(s);
    return 0;
}

static int item_group(pctx_t *p, config_setting_t *list, size_t i, const char *path,
                      config_setting_t **out) {
    config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return decl_fail(p, s, path, "expected a group, got %s", type_desc(s));
    *out = s;
    return 0;
}

/* Line of `key` in element i of a list of groups, for "first at line N". */
static int elem_member_line(config_setting_t *list, size_t i, const char *key) {
    config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
    config_setting_t *m = e ? config_setting_get_member(e, key) : NULL;
    return line_of(m ? m : e);
}

/* ---- pass-through properties ------------------------------------------------------------- */

/* Shortest text that reads back as the same double. */
static void render_double(double v, char *out, size_t n) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void free_kvs(brook_decl_kv_t *kv, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
    }
    free(kv);
}

/* Sets or replaces `name` in a kv array; takes nothing, copies both strings. */
static int kv_set(brook_decl_kv_t **kv, size_t *n, const char *name, const char *value, int line) {
    char *v = strdup(value);
    char *k;
    brook_decl_kv_t *grown;

    if (!v)
        return BROOK_ERR_NOMEM;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*kv)[i].name, name) == 0) {
            free((*kv)[i].value);
            (*kv)[i].value = v;
            (*kv)[i].line = line;
            return 0;
        }
    }
    if (!(k = strdup(name)) || !(grown = realloc(*kv, (*n + 1) * sizeof(**kv)))) {
        free(k);
        free(v);
        return BROOK_ERR_NOMEM;
    }
    grown[*n].name = k;
    grown[*n].value = v;
    grown[*n].line = line;
    *kv = grown;
    (*n)++;
    return 0;
}

static int get_kvs(const grp_t *g, const char *name, brook_decl_kv_t **out, size_t *count) {
    char path[PATH_MAX_LEN];
    grp_t sub;
    int rc = get_group(g, name, &sub, path);
    int n;

    if (rc != 0)
        return rc;
    n = config_setting_length(sub.g);
    rc = 0;
    for (int i = 0; i < n; i++) {
        config_setting_t *s = config_setting_get_elem(sub.g, (unsigned)i);
        const char *sname = config_setting_name(s);
        char key[256], text[64], epath[PATH_MAX_LEN];
        const char *value = text;
        size_t k;

        join_path(epath, sizeof(epath), path, sname);
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_STRING:
            value = config_setting_get_string(s);
            break;
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
            snprintf(text, sizeof(text), "%lld", (long long)config_setting_get_int64(s));
            break;
        case CONFIG_TYPE_FLOAT:
            render_double(config_setting_get_float(s), text, sizeof(text));
            break;
        case CONFIG_TYPE_BOOL:
            snprintf(text, sizeof(text), "%s", config_setting_get_bool(s) ? "true" : "false");
            break;
        default:
            rc = decl_fail(g->p, s, epath, "expected a string, number or boolean, got %s",
                           type_desc(s));
            continue;
        }
        for (k = 0; sname[k] && k < sizeof(key) - 1; k++)
            key[k] = sname[k] == '_' ? '.' : sname[k];
        key[k] = '\0';
        if (kv_set(out, count, key, value, line_of(s)) != 0)
            return nomem(g->p);
    }
    return rc;
}

/* ---- serdes ------------------------------------------------------------------------------ */

const char *brook_decl_serde_name(const brook_decl_serde_t *s) {
    switch (s->kind) {
    case BROOK_SERDE_STRING:
        return "string";
    case BROOK_SERDE_BYTES:
        return "bytes";
    case BROOK_SERDE_JSON:
        return "json";
    default:
        return s->type_name ? s->type_name : "?";
    }
}

static bool serde_equal(const brook_decl_serde_t *a, const brook_decl_serde_t *b) {
    return strcmp(brook_decl_serde_name(a), brook_decl_serde_name(b)) == 0 && a->kind == b->kind;
}

static int get_serde(const grp_t *g, const char *name, brook_serde_kind_t dflt,
                     brook_decl_serde_t *out) {
    char path[PATH_MAX_LEN];
    config_setting_t *s = member(g, name, path);
    const char *v;
    int rc;

    out->kind = dflt;
    out->line = line_of(s ? s : g->g);
    if (!s)
        return 1;
    if ((rc = check_string(g->p, s, path)) != 0)
        return rc;
    v = config_setting_get_string(s);
    if (strcmp(v, "string") == 0)
        out->kind = BROOK_SERDE_STRING;
    else if (strcmp(v, "bytes") == 0)
        out->kind = BROOK_SERDE_BYTES;
    else if (strcmp(v, "json") == 0)
        out->kind = BROOK_SERDE_JSON;
    else if (is_avro_fullname(v)) {
        out->kind = BROOK_SERDE_AVRO;
        if (!(out->type_name = strdup(v)))
            return nomem(g->p);
    } else
        return decl_fail(g->p, s, path,
                         "invalid type \"%s\" (expected string, bytes, json or an Avro full name)",
                         v);
    return 0;
}

static int check_topic_name(pctx_t *p, config_setting_t *s, const char *path, const char *v) {
    if (is_topic_name(v))
        return 0;
    return decl_fail(p, s, path,
                     "invalid topic name \"%s\" (letters, digits, '.', '_' and '-', at most 249)",
                     v);
}

/* ---- the sections ------------------------------------------------------------------------ */

/* Each parser below records its errors (pctx_t) and returns 0, or the error that stops the
 * parse (see fatal()); a check that depends on a setting runs only when that setting was
 * read, so that one mistake is reported once, not again by what follows from it. */

/* service.http = { port = 9464; bind = "127.0.0.1"; } */
static int parse_http(const grp_t *sg, brook_decl_t *d) {
    static const char *const keys[] = {"port", "bind", NULL};
    char path[PATH_MAX_LEN];
    grp_t g;
    int rc = get_group(sg, "http", &g, path);

    if (rc != 0)
        return rc;
    check_unknown(&g, keys);
    d->http_port = 0;
    if (fatal(rc = get_int(&g, "port", 0, 65535, &d->http_port)))
        return rc;
    if (fatal(rc = get_str(&g, "bind", false, &d->http_bind, NULL)))
        return rc;
    return 0;
}

/* schema_registry = { url = "http://..."; subject_strategy = "topic"; auto_register = true; ... }
 */
static int parse_registry(const grp_t *root, brook_decl_t *d) {
    static const char *const keys[] = {"url",
                                       "subject_strategy",
                                       "auto_register",
                                       "username",
                                       "password",
                                       "ca_location",
                                       "certificate_location",
                                       "key_location",
                                       "key_password",
                                       "ssl_verify",
                                       "timeout_ms",
                                       "cache_capacity",
                                       NULL};
    static const char *const strategies[] = {"topic", "record", "topic_record", NULL};
    brook_decl_registry_t *r = &d->registry;
    char path[PATH_MAX_LEN];
    grp_t g;
    config_setting_t *at;
    int strategy = 0, rc = get_group(root, "schema_registry", &g, path);

    if (rc != 0)
        return rc == 1 ? 0 : rc;
    r->declared = true;
    r->line = line_of(g.g);
    check_unknown(&g, keys);
    if (fatal(rc = get_str(&g, "url", true, &r->url, &at)))
        return rc;
    if (rc == 0 && strncmp(r->url, "http://", 7) != 0 && strncmp(r->url, "https://", 8) != 0)
        decl_fail(g.p, at, "schema_registry.url", "\"%s\" is not an http:// or https:// URL",
                  r->url);
    if (fatal(rc = get_enum(&g, "subject_strategy", strategies, "subject strategy", &strategy)))
        return rc;
    r->subject_strategy = (brook_subject_strategy_t)strategy;
    if (fatal(rc = get_bool(&g, "auto_register", &r->auto_register)))
        return rc;
    if (fatal(rc = get_str(&g, "username", false, &r->username, NULL)) ||
        fatal(rc = get_str(&g, "password", false, &r->password, NULL)) ||
        fatal(rc = get_str(&g, "ca_location", false, &r->ca_location, NULL)) ||
        fatal(rc = get_str(&g, "certificate_location", false, &r->certificate_location, NULL)) ||
        fatal(rc = get_str(&g, "key_location", false, &r->key_location, NULL)) ||
        fatal(rc = get_str(&g, "key_password", false, &r->key_password, NULL)))
        return rc;
    if (!r->username != !r->password)
        decl_fail(g.p, g.g, path, "username and password go together (basic auth)");
    if (fatal(rc = get_bool(&g, "ssl_verify", &r->ssl_verify)))
        return rc;
    if (fatal(rc = get_i64(&g, "timeout_ms", 1, INT32_MAX, &r->timeout_ms, NULL)))
        return rc;
    if (fatal(rc = get_int(&g, "cache_capacity", 1, INT_MAX, &r->cache_capacity)))
        return rc;
    return 0;
}

static int parse_service(const grp_t *root, brook_decl_t *d) {
    static const char *const keys[] = {"name",
                                       "bootstrap",
                                       "embedded_brokers",
                                       "kafka",
                                       "shutdown_timeout_ms",
                                       "commit_interval_ms",
                                       "http",
                                       NULL};
    char path[PATH_MAX_LEN];
    grp_t g;
    config_setting_t *s;
    int rc = get_group(root, "service", &g, path);

    if (rc == 1)
        return missing(root, "service");
    if (rc < 0)
        return rc;
    d->line = line_of(g.g);
    check_unknown(&g, keys);
    if (fatal(rc = get_str(&g, "name", true, &d->name, NULL)))
        return rc;
    if (fatal(rc = get_str(&g, "bootstrap", false, &d->bootstrap, &s)))
        return rc;
    if (fatal(rc = get_int(&g, "embedded_brokers", 1, INT_MAX, &d->embedded_brokers)))
        return rc;
    if (fatal(rc = get_kvs(&g, "kafka", &d->kafka, &d->kafka_count)))
        return rc;
    if (fatal(rc = get_i64(&g, "shutdown_timeout_ms", 0, INT64_MAX, &d->shutdown_timeout_ms, NULL)))
        return rc;
    if (fatal(rc = get_i64(&g, "commit_interval_ms", 1, INT64_MAX, &d->commit_interval_ms, NULL)))
        return rc;
    if (fatal(rc = parse_http(&g, d)))
        return rc;
    return 0;
}

static int parse_topic(pctx_t *p, config_setting_t *list, size_t i, brook_decl_topic_t *t) {
    static const char *const keys[] = {"name", "partitions", "replication", "config", NULL};
    char path[PATH_MAX_LEN], spath[PATH_MAX_LEN];
    grp_t g = {p, NULL, path};
    config_setting_t *at;
    int rc;

    index_path(path, sizeof(path), "topics", i);
    if ((rc = item_group(p, list, i, path, &g.g)) != 0)
        return rc;
    t->line = line_of(g.g);
    check_unknown(&g, keys);
    if (fatal(rc = get_str(&g, "name", true, &t->name, &at)))
        return rc;
    join_path(spath, sizeof(spath), path, "name");
    if (rc == 0)
        check_topic_name(p, at, spath, t->name);
    if (fatal(rc = get_int(&g, "partitions", 1, INT_MAX, &t->partitions)))
        return rc;
    if (fatal(rc = get_int(&g, "replication", 1, INT_MAX, &t->replication)))
        return rc;
    if (fatal(rc = get_kvs(&g, "config", &t->config, &t->config_count)))
        return rc;
    return 0;
}

/* templates[].reply = { topic; partition; value; timeout_ms; } (docs/request-reply.md) */
static int parse_reply(const grp_t *tg, brook_decl_template_t *t) {
    static const char *const keys[] = {"topic", "partition", "value", "timeout_ms", NULL};
    char path[PATH_MAX_LEN], spath[PATH_MAX_LEN];
    brook_decl_reply_t *r = &t->reply;
    grp_t g;
    config_setting_t *at;
    int64_t partition = -1;
    int rc = get_group(tg, "reply", &g, path);

    if (rc != 0)
        return rc;
    r->declared = true;
    r->line = line_of(g.g);
    check_unknown(&g, keys);
    if (fatal(rc = get_str(&g, "topic", true, &r->topic, &at)))
        return rc;
    join_path(spath, sizeof(spath), path, "topic");
    if (rc == 0 && check_topic_name(g.p, at, spath, r->topic) == 0 && t->topic &&
        strcmp(t->topic, r->topic) == 0)
        decl_fail(g.p, at, spath,
                  "\"%s\" is the template's own topic (its requests would be read as replies)",
                  r->topic);
    if (fatal(rc = get_i64(&g, "partition", 0, INT32_MAX, &partition, NULL)))
        return rc;
    r->partition = (int32_t)partition;
    if (fatal(rc = get_serde(&g, "value", BROOK_SERDE_BYTES, &r->value)))
        return rc;
    if (fatal(rc = get_i64(&g, "timeout_ms", 1, INT32_MAX, &r->timeout_ms, NULL)))
        return rc;
    /* A request waits for its reply: one held back in a transaction until it commits would
     * wait for ever. */
    if (t->transactional)
        decl_fail(g.p, g.g, path,
                  "a transactional template cannot make requests (a request in a transaction "
                  "is seen only once it commits, after the reply it waits for)");
    return 0;
}

static int parse_template(pctx_t *p, config_setting_t *list, size_t i, bool registry,
                          brook_decl_template_t *t) {
    static const char *const keys[] = {"name",      "topic",         "key",   "value", "framing",
                                       "schema_id", "transactional", "reply", NULL};
    static const char *const framings[] = {"single_object", "confluent", NULL};
    char path[PATH_MAX_LEN], spath[PATH_MAX_LEN];
    grp_t g = {p, NULL, path};
    config_setting_t *at;
    int64_t schema_id = -1;
    int framing = 0; /* index in framings */
    bool framing_ok;
    int rc;

    index_path(path, sizeof(path), "templates", i);
    if ((rc = item_group(p, list, i, path, &g.g)) != 0)
        return rc;
    t->line = line_of(g.g);
    check_unknown(&g, keys);
    if (fatal(rc = get_str(&g, "name", true, &t->name, NULL)))
        return rc;
    if (fatal(rc = get_str(&g, "topic", true, &t->topic, &at)))
        return rc;
    join_path(spath, sizeof(spath), path, "topic");
    if (rc == 0)
        check_topic_name(p, at, spath, t->topic);
    if (fatal(rc = get_serde(&g, "key", BROOK_SERDE_STRING, &t->key)))
        return rc;
    if (fatal(rc = get_serde(&g, "value", BROOK_SERDE_BYTES, &t->value)))
        return rc;
    if (fatal(rc = get_enum(&g, "framing", framings, "framing", &framing)))
        return rc;
    framing_ok = rc >= 0;
    t->framing_declared = rc == 0;
    /* With a schema registry, Confluent framing with the registry's ids by default. */
    if (!t->framing_declared && registry)
        framing = 1;
    t->framing = framing == 1 ? BROOK_AVRO_FRAMING_CONFLUENT : BROOK_AVRO_FRAMING_SINGLE_OBJECT;
    if (fatal(rc = get_i64(&g, "schema_id", 0, INT32_MAX, &schema_id, &at)))
        return rc;
    join_path(spath, sizeof(spath), path, "schema_id");
    /* Whether a schema id belongs here depends on the framing: not checked against a bad one. */
    if (framing_ok && rc == 0 && t->framing != BROOK_AVRO_FRAMING_CONFLUENT)
        decl_fail(p, at, spath, "only used with framing \"confluent\"");
    else if (rc == 0 && registry)
        decl_fail(p, at, spath, "the schema registry gives the id (schema_registry is declared)");
    if (framing_ok && rc == 1 && t->framing == BROOK_AVRO_FRAMING_CONFLUENT && !registry)
        decl_fail(p, g.g, path,
                  "missing required setting \"schema_id\" (framing \"confluent\" without a "
                  "schema_registry)");
    t->schema_id = schema_id < 0 ? 0 : (int32_t)schema_id;
    if (fatal(rc = get_bool(&g, "transactional", &t->transactional)))
        return rc;
    if (fatal(rc = parse_reply(&g, t)))
        return rc;
    return 0;
}

static int parse_retry(const grp_t *lg, brook_decl_retry_t *r) {
    static const char *const keys[] = {"attempts",           "backoff", "mode", "not_retryable",
                                       "preserve_key_order", NULL};
    static const char *const bkeys[] = {"delay_ms", "multiplier", "max_delay_ms", NULL};
    static const char *const modes[] = {"blocking", "topics", NULL};
    char path[PATH_MAX_LEN], bpath[PATH_MAX_LEN], spath[PATH_MAX_LEN];
    grp_t g, b;
    config_setting_t *at;
    int mode = BROOK_RETRY_BLOCKING;
    bool max_given = false;
    int rc = get_group(lg, "retry", &g, path);

    if (rc != 0)
        return rc;
    r->declared = true;
    r->line = line_of(g.g);
    check_unknown(&g, keys);
    if (fatal(rc = get_int(&g, "attempts", 1, INT_MAX, &r->attempts)))
        return rc;
    if (fatal(rc = get_group(&g, "backoff", &b, bpath)))
        return rc;
    if (rc == 0) {
        bool delay_ok;
        check_unknown(&b, bkeys);
        if (fatal(rc = get_i64(&b, "delay_ms", 0, INT64_MAX, &r->delay_ms, NULL)))
            return rc;
        delay_ok = rc >= 0;
        if (fatal(rc = get_num(&b, "multiplier", &r->multiplier, &at)))
            return rc;
        if (rc == 0 && !(r->multiplier >= 1.0 && isfinite(r->multiplier))) {
            join_path(spath, sizeof(spath), bpath, "multiplier");
            decl_fail(g.p, at, spath, "must be at least 1.0, got %g", r->multiplier);
        }
        if (fatal(rc = get_i64(&b, "max_delay_ms", 0, INT64_MAX, &r->max_delay_ms, &at)))
            return rc;
        max_given = rc == 0;
        if (max_given && delay_ok && r->max_delay_ms < r->delay_ms) {
            join_path(spath, sizeof(spath), bpath, "max_delay_ms");
            decl_fail(g.p, at, spath, "must be at least delay_ms (%lld), got %lld",
                      (long long)r->delay_ms, (long long)r->max_delay_ms);
        }
    }
    /* A long fixed delay without an explicit cap should not be capped by the default. */
    if (!max_given && r->max_delay_ms < r->delay_ms)
        r->max_delay_ms = r->delay_ms;
    if (fatal(rc = get_enum(&g, "mode", modes, "retry mode", &mode)))
        return rc;
    r->mode = (brook_retry_mode_t)mode;
    if (fatal(rc = get_strs(&g, "not_retryable", &r->not_retryable, &r->not_retryable_count, NULL)))
        return rc;
    if (fatal(rc = get_bool(&g, "preserve_key_order", &r->preserve_key_order)))
        return rc;
    config_setting_t *pko = config_setting_get_member(g.g, "preserve_key_order");
    r->preserve_key_order_line = line_of(pko ? pko : g.g);
    return 0;
}

/* retry.preserve_key_order (docs/ordered-retries.md) parks records behind a key's retry record
 * and releases them from memory: it needs retry topics, and one record handled at a time with
 * its offset stored by Brook (not a transaction, a batch or the handler). */
static void check_key_order(const grp_t *g, const brook_decl_listener_t *l, const char *path) {
    if (!l->retry.preserve_key_order)
        return;
    config_setting_t *at =
        config_setting_get_member(config_setting_get_member(g->g, "retry"), "preserve_key_order");
    char spath[PATH_MAX_LEN];
    join_path(spath, sizeof(spath), path, "retry.preserve_key_order");
    if (l->retry.mode != BROOK_RETRY_TOPICS)
        decl_fail(g->p, at, spath,
                  "needs retry mode \"topics\" (blocking retries keep each partition in order "
                  "already)");
    else if (l->exactly_once)
        decl_fail(g->p, at, spath, "is not supported with exactly_once");
    else if (l->batch)
        decl_fail(g->p, at, spath, "is not supported for batch listeners");
    else if (l->ack != BROOK_ACK_RECORD)
        decl_fail(g->p, at, spath,
                  "needs ack \"record\" (a parked record is acknowledged by Brook)");
}

static int parse_dlt(const grp_t *lg, brook_decl_dlt_t *dlt) {
    static const char *const keys[] = {"enabled", "topic", NULL};
    char path[PATH_MAX_LEN], spath[PATH_MAX_LEN];
    grp_t g;
    config_setting_t *at;
    int rc = get_group(lg, "dlt", &g, path);

    if (rc != 0)
        return rc;
    dlt->line = line_of(g.g);
    check_unknown(&g, keys);
    if (fatal(rc = get_bool(&g, "enabled", &dlt->enabled)))
        return rc;
    if (fatal(rc = get_str(&g, "topic", false, &dlt->topic, &at)))
        return rc;
    join_path(spath, sizeof(spath), path, "topic");
    if (rc == 0)
        check_topic_name(g.p, at, spath, dlt->topic);
    return 0;
}

/* listeners[].transaction = { max_records = N; max_ms = M; } */
static int parse_transaction(const grp_t *lg, brook_decl_listener_t *l) {
    static const char *const keys[] = {"max_records", "max_ms", NULL};
    char path[PATH_MAX_LEN];
    grp_t g;
    l->tx_max_records = 100;
    l->tx_max_ms = 100;
    int rc = get_group(lg, "transaction", &g, path);
    if (rc != 0)
        return rc;
    check_unknown(&g, keys);
    if (fatal(rc = get_int(&g, "max_records", 1, 1000000, &l->tx_max_records)))
        return rc;
    if (fatal(rc = get_i64(&g, "max_ms", 1, 3600000, &l->tx_max_ms, NULL)))
        return rc;
    return 0;
}

/* listeners[].batch = { max_records = N; max_wait_ms = M; }: a batch listener. Checked after the
 * rest of the listener, for the settings it cannot be combined with. */
static int parse_batch(const grp_t *lg, brook_decl_listener_t *l) {
    static const char *const keys[] = {"max_records", "max_wait_ms", NULL};
    /* What a batch listener cannot be, and why. */
    static const struct {
        const char *name, *why;
    } refused[] = {
        {"exactly_once", "a batch listener cannot be exactly-once (not supported)"},
        {"filter", "a batch listener has no record filters (not supported)"},
        {"raw_filter", "a batch listener has no record filters (not supported)"},
        {"reply", "a batch listener cannot reply (not supported)"},
    };
    char path[PATH_MAX_LEN], spath[PATH_MAX_LEN];
    grp_t g;
    l->batch_max_records = 500;
    l->batch_max_wait_ms = 100;
    int rc = get_group(lg, "batch", &g, path);
    if (rc != 0)
        return rc;
    l->batch = true;
    l->batch_line = line_of(g.g);
    check_unknown(&g, keys);
    if (fatal(rc = get_int(&g, "max_records", 1, 1000000, &l->batch_max_records)))
        return rc;
    if (fatal(rc = get_i64(&g, "max_wait_ms", 0, 3600000, &l->batch_max_wait_ms, NULL)))
        return rc;
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        config_setting_t *s = config_setting_get_member(lg->g, refused[k].name);
        if (!s || (config_setting_type(s) == CONFIG_TYPE_BOOL && !config_setting_get_bool(s)))
            continue;
        join_path(spath, sizeof(spath), lg->path, refused[k].name);
        decl_fail(lg->p, s, spath, "%s", refused[k].why);
    }
    if (l->ack == BROOK_ACK_MANUAL || l->ack == BROOK_ACK_RECORD_SYNC) {
        join_path(spath, sizeof(spath), lg->path, "ack");
        decl_fail(lg->p, config_setting_get_member(lg->g, "ack"), spath,
                  "a batch listener stores its offsets after each batch: \"record\" (committed "
                  "every commit_interval_ms) or \"batch\" (committed after each batch), not \"%s\"",
                  brook_decl_ack_name(l->ack));
    }
    return 0;
}

/* The name of a C function the generated code binds (handler, filter). */
static int get_function(const grp_t *g, const char *name, bool required, char **out) {
    char path[PATH_MAX_LEN];
    config_setting_t *at;
    int rc = get_str(g, name, required, out, &at);
    join_path(path, sizeof(path), g->path, name);
    if (rc == 0 && !is_c_identifier(*out))
        decl_fail(g->p, at, path, "\"%s\" is not a C identifier", *out);
    else if (rc == 0 && (is_c_keyword(*out) || strncmp(*out, "__", 2) == 0 ||
                         ((*out)[0] == '_' && (*out)[1] >= 'A' && (*out)[1] <= 'Z')))
        decl_fail(g->p, at, path, "\"%s\" is a reserved C identifier", *out);
    return rc;
}

static int parse_listener(pctx_t *p, config_setting_t *list, size_t i, const char *service,
                          bool several, brook_decl_listener_t *l) {
    static const char *const keys[] = {
        "id",          "topics", "topic_pattern", "group", "key",   "value",        "handler",
        "concurrency", "ack",    "start_from",    "retry", "dlt",   "isolation",    "exactly_once",
        "transaction", "filter", "raw_filter",    "reply", "batch", "auto_startup", NULL};
    static const char *const acks[] = {"record", "batch", "manual", "record_sync", NULL};
    static const char *const isolations[] = {"read_committed", "read_uncommitted", NULL};
    static const char *const starts[] = {"earliest", "latest", NULL};
    char path[PATH_MAX_LEN], spath[PATH_MAX_LEN];
    grp_t g = {p, NULL, path};
    config_setting_t *topics, *pattern, *at;
    int ack = BROOK_ACK_RECORD, start = BROOK_START_EARLIEST;
    int rc;

    index_path(path, sizeof(path), "listeners", i);
    if ((rc = item_group(p, list, i, path, &g.g)) != 0)
        return rc;
    l->line = line_of(g.g);
    check_unknown(&g, keys);
    if (fatal(rc = get_str(&g, "id", true, &l->id, NULL)))
        return rc;

    topics = config_setting_get_member(g.g, "topics");
    pattern = config_setting_get_member(g.g, "topic_pattern");
    if (topics && pattern)
        decl_fail(p, g.g, path,
                  "both \"topics\" and \"topic_pattern\" given (exactly one is allowed)");
    if (!topics && !pattern)
        decl_fail(p, g.g, path, "missing required setting \"topics\" (or \"topic_pattern\")");
    if (fatal(rc = get_strs(&g, "topics", &l->topics, &l->topic_count, &at)))
        return rc;
    join_path(spath, sizeof(spath), path, "topics");
    if (rc == 0 && l->topic_count == 0)
        decl_fail(p, at, spath, "must not be empty");
    for (size_t k = 0; k < l->topic_count; k++) {
        char epath[PATH_MAX_LEN];
        index_path(epath, sizeof(epath), spath, k);
        check_topic_name(p, at, epath, l->topics[k]);
        for (size_t j = 0; j < k; j++)
            if (strcmp(l->topics[j], l->topics[k]) == 0) {
                decl_fail(p, at, epath, "duplicate topic \"%s\"", l->topics[k]);
                break;
            }
    }
    if (fatal(rc = get_str(&g, "topic_pattern", false, &l->topic_pattern, NULL)))
        return rc;

    if (fatal(rc = get_str(&g, "group", false, &l->group, NULL)))
        return rc;
    /* Default group: the service's name; with several listeners each gets its own,
     * "<service>.<id>", since members of one group rebalance together. */
    if (rc == 1 && l->id) {
        size_t len = strlen(service) + strlen(l->id) + 2;
        if (!(l->group = malloc(len)))
            return nomem(p);
        snprintf(l->group, len, several ? "%s.%s" : "%s", service, several ? l->id : "");
    }
    if (fatal(rc = get_serde(&g, "key", BROOK_SERDE_STRING, &l->key)))
        return rc;
    if (fatal(rc = get_serde(&g, "value", BROOK_SERDE_BYTES, &l->value)))
        return rc;
    if (fatal(rc = get_function(&g, "handler", true, &l->handler)) ||
        fatal(rc = get_function(&g, "filter", false, &l->filter)) ||
        fatal(rc = get_function(&g, "raw_filter", false, &l->raw_filter)))
        return rc;
    if (fatal(rc = get_int(&g, "concurrency", 1, 64, &l->concurrency)))
        return rc;
    if (fatal(rc = get_enum(&g, "ack", acks, "ack mode", &ack)))
        return rc;
    l->ack = (brook_ack_mode_t)ack;
    if (fatal(rc = get_enum(&g, "start_from", starts, "start position", &start)))
        return rc;
    l->start_from = (brook_start_from_t)start;
    if (fatal(rc = parse_retry(&g, &l->retry)))
        return rc;
    if (l->topic_pattern && l->retry.declared && l->retry.mode == BROOK_RETRY_TOPICS) {
        /* Retry topics are named after each source topic; a pattern has none to name, and
         * would match the retry topics themselves. */
        config_setting_t *retry = config_setting_get_member(g.g, "retry");
        config_setting_t *mode = config_setting_get_member(retry, "mode");
        join_path(spath, sizeof(spath), path, "retry.mode");
        decl_fail(p, mode ? mode : retry, spath,
                  "retry topics need a topic list, not topic_pattern (use \"blocking\")");
    }
    if (fatal(rc = parse_dlt(&g, &l->dlt)))
        return rc;
    int isolation = BROOK_ISOLATION_READ_COMMITTED;
    if (fatal(rc = get_enum(&g, "isolation", isolations, "isolation level", &isolation)))
        return rc;
    l->isolation = (brook_isolation_t)isolation;
    if (fatal(rc = get_bool(&g, "exactly_once", &l->exactly_once)))
        return rc;
    l->auto_startup = true;
    if (fatal(rc = get_bool(&g, "auto_startup", &l->auto_startup)))
        return rc;
    if (fatal(rc = parse_transaction(&g, l)))
        return rc;
    if (l->exactly_once && l->ack != BROOK_ACK_RECORD) {
        config_setting_t *a = config_setting_get_member(g.g, "ack");
        join_path(spath, sizeof(spath), path, "ack");
        decl_fail(p, a, spath,
                  "an exactly-once listener commits its offsets in its transactions; "
                  "leave ack at \"record\"");
    }
    if (fatal(rc = get_str(&g, "reply", false, &l->reply, &at)))
        return rc;
    l->reply_line = line_of(rc == 0 ? at : g.g);
    if (fatal(rc = parse_batch(&g, l)))
        return rc;
    check_key_order(&g, l, path);
    return 0;
}

/* Items named by `key` must be unique; the error names the second and the first. */
static int dup_fail(pctx_t *p, config_setting_t *list, size_t i, size_t first, const char *section,
                    const char *key, const char *what, const char *name) {
    config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
    char item[PATH_MAX_LEN], path[PATH_MAX_LEN];
    index_path(item, sizeof(item), section, i);
    join_path(path, sizeof(path), item, key);
    return decl_fail(p, config_setting_get_member(e, key), path,
                     "duplicate %s \"%s\" (first at line %d)", what, name,
                     elem_member_line(list, first, key));
}

static void init_listener(brook_decl_listener_t *l) {
    l->value.kind = BROOK_SERDE_BYTES;
    l->concurrency = 1;
    l->retry.attempts = 3;
    l->retry.delay_ms = 1000;
    l->retry.multiplier = 1.0;
    l->retry.max_delay_ms = 30000;
    l->dlt.enabled = true;
}

/* Listeners may share a handler only if it can have one prototype. Compared only between
 * listeners parsed without an error, whose key and value types are the declared ones. */
static void check_shared_handler(pctx_t *p, config_setting_t *list, const brook_decl_t *d,
                                 const bool *clean, size_t i) {
    const brook_decl_listener_t *l = &d->listeners[i];
    for (size_t j = 0; j < i; j++) {
        const brook_decl_listener_t *o = &d->listeners[j];
        if (clean[j] && strcmp(o->handler, l->handler) == 0 && o->batch != l->batch) {
            char item[PATH_MAX_LEN], path[PATH_MAX_LEN];
            index_path(item, sizeof(item), "listeners", i);
            join_path(path, sizeof(path), item, "handler");
            decl_fail(
                p, config_setting_get_member(config_setting_get_elem(list, (unsigned)i), "handler"),
                path, "handler \"%s\" of listener \"%s\" (line %d) is %s batch handler", l->handler,
                o->id, o->line, o->batch ? "a" : "not a");
            return;
        }
        if (clean[j] && strcmp(o->handler, l->handler) == 0 &&
            !(serde_equal(&o->key, &l->key) && serde_equal(&o->value, &l->value))) {
            char item[PATH_MAX_LEN], path[PATH_MAX_LEN];
            index_path(item, sizeof(item), "listeners", i);
            join_path(path, sizeof(path), item, "handler");
            decl_fail(
                p, config_setting_get_member(config_setting_get_elem(list, (unsigned)i), "handler"),
                path, "handler \"%s\" of listener \"%s\" (line %d) takes other key or value types",
                l->handler, o->id, o->line);
            return;
        }
    }
}

static const brook_decl_template_t *template_named(const brook_decl_t *d, const char *name,
                                                   size_t *index) {
    for (size_t k = 0; name && k < d->template_count; k++)
        if (d->templates[k].name && strcmp(d->templates[k].name, name) == 0) {
            if (index)
                *index = k;
            return &d->templates[k];
        }
    return NULL;
}

/* The reply value type a listener's handler fills ("" for none), for handlers shared by
 * listeners; NULL when its reply template is not declared. */
static const char *reply_type_of(const brook_decl_t *d, const brook_decl_listener_t *l) {
    const brook_decl_template_t *t = l->reply ? template_named(d, l->reply, NULL) : NULL;
    return !l->reply ? "" : t ? brook_decl_serde_name(&t->value) : NULL;
}

/* listeners[i].reply names a declared template whose key type is the listener's (a reply's
 * key is its request's) and that can send outside a transaction unless the listener is
 * exactly-once. The types are compared only when both were read without an error. */
static void check_listener_reply(pctx_t *p, config_setting_t *list, const brook_decl_t *d,
                                 const bool *tclean, bool lclean, size_t i) {
    const brook_decl_listener_t *l = &d->listeners[i];
    char item[PATH_MAX_LEN], path[PATH_MAX_LEN];
    size_t k = 0;
    index_path(item, sizeof(item), "listeners", i);
    join_path(path, sizeof(path), item, "reply");
    config_setting_t *at =
        config_setting_get_member(config_setting_get_elem(list, (unsigned)i), "reply");
    const brook_decl_template_t *t = template_named(d, l->reply, &k);
    if (!t) {
        decl_fail(p, at, path, "no template \"%s\" is declared", l->reply);
        return;
    }
    if (!tclean[k] || !lclean)
        return;
    if (!serde_equal(&t->key, &l->key))
        decl_fail(p, at, path,
                  "template \"%s\" sends key type \"%s\", the listener reads \"%s\" (a reply's "
                  "key is its request's)",
                  t->name, brook_decl_serde_name(&t->key), brook_decl_serde_name(&l->key));
    else if (t->transactional && !l->exactly_once)
        decl_fail(p, at, path,
                  "template \"%s\" is transactional: only an exactly-once listener can reply "
                  "through it",
                  t->name);
}

/* Listeners sharing a handler also fill the same reply type (or none). */
static void check_shared_reply(pctx_t *p, config_setting_t *list, const brook_decl_t *d,
                               const bool *clean, size_t i) {
    const brook_decl_listener_t *l = &d->listeners[i];
    const char *mine = reply_type_of(d, l);
    for (size_t j = 0; mine && j < i; j++) {
        const brook_decl_listener_t *o = &d->listeners[j];
        const char *theirs = reply_type_of(d, o);
        if (clean[j] && theirs && strcmp(o->handler, l->handler) == 0 && strcmp(mine, theirs)) {
            char item[PATH_MAX_LEN], path[PATH_MAX_LEN];
            index_path(item, sizeof(item), "listeners", i);
            join_path(path, sizeof(path), item, "handler");
            decl_fail(
                p, config_setting_get_member(config_setting_get_elem(list, (unsigned)i), "handler"),
                path, "handler \"%s\" of listener \"%s\" (line %d) %s", l->handler, o->id, o->line,
                *theirs ? "fills another reply type" : "sends no reply");
            return;
        }
    }
}

static int parse_root(pctx_t *p, config_setting_t *root, brook_decl_t *d) {
    static const char *const keys[] = {"service",   "schemas",   "writer_schemas",  "topics",
                                       "templates", "listeners", "schema_registry", NULL};
    grp_t g = {p, root, ""};
    config_setting_t *list;
    bool *clean = NULL, *tclean = NULL;
    size_t n;
    int rc;

    check_unknown(&g, keys);
    if (fatal(rc = parse_service(&g, d)))
        return rc;
    if (fatal(rc = parse_registry(&g, d)))
        return rc;
    if (fatal(rc = get_strs(&g, "schemas", &d->schemas, &d->schema_count, NULL)))
        return rc;
    if (fatal(
            rc = get_strs(&g, "writer_schemas", &d->writer_schemas, &d->writer_schema_count, NULL)))
        return rc;

    if (fatal(rc = get_items(&g, "topics", &list, &n)))
        return rc;
    if (n && !(d->topics = calloc(n, sizeof(*d->topics))))
        return nomem(p);
    for (size_t i = 0; i < n; i++) {
        brook_decl_topic_t *t = &d->topics[i];
        t->partitions = 1;
        t->replication = -1; /* the broker's default.replication.factor */
        d->topic_count = i + 1;
        if (fatal(rc = parse_topic(p, list, i, t)))
            return rc;
        for (size_t j = 0; t->name && j < i; j++)
            if (d->topics[j].name && strcmp(d->topics[j].name, t->name) == 0) {
                dup_fail(p, list, i, j, "topics", "name", "topic", t->name);
                break;
            }
    }

    if (fatal(rc = get_items(&g, "templates", &list, &n)))
        return rc;
    if (n && !(d->templates = calloc(n, sizeof(*d->templates))))
        return nomem(p);
    if (!(tclean = calloc(n ? n : 1, sizeof(*tclean))))
        return nomem(p);
    for (size_t i = 0; i < n; i++) {
        brook_decl_template_t *t = &d->templates[i];
        int before = p->errors;
        t->value.kind = BROOK_SERDE_BYTES;
        t->reply.partition = -1;
        t->reply.value.kind = BROOK_SERDE_BYTES;
        t->reply.timeout_ms = 5000;
        d->template_count = i + 1;
        if (fatal(rc = parse_template(p, list, i, d->registry.declared, t))) {
            free(tclean);
            return rc;
        }
        tclean[i] = p->errors == before;
        for (size_t j = 0; t->name && j < i; j++)
            if (d->templates[j].name && strcmp(d->templates[j].name, t->name) == 0) {
                dup_fail(p, list, i, j, "templates", "name", "template name", t->name);
                break;
            }
    }

    if (fatal(rc = get_items(&g, "listeners", &list, &n)) ||
        (n && !(d->listeners = calloc(n, sizeof(*d->listeners)))) ||
        (n && !(clean = calloc(n, sizeof(*clean))))) {
        free(tclean);
        return fatal(rc) ? rc : nomem(p);
    }
    for (size_t i = 0; i < n; i++) {
        brook_decl_listener_t *l = &d->listeners[i];
        int before = p->errors;
        init_listener(l);
        d->listener_count = i + 1;
        if (fatal(rc = parse_listener(p, list, i, d->name ? d->name : "", n > 1, l))) {
            free(clean);
            free(tclean);
            return rc;
        }
        clean[i] = p->errors == before;
        if (l->reply)
            check_listener_reply(p, list, d, tclean, clean[i], i);
        for (size_t j = 0; l->id && j < i; j++)
            if (d->listeners[j].id && strcmp(d->listeners[j].id, l->id) == 0) {
                dup_fail(p, list, i, j, "listeners", "id", "listener id", l->id);
                break;
            }
        if (clean[i])
            check_shared_handler(p, list, d, clean, i);
        if (clean[i] && p->errors == before)
            check_shared_reply(p, list, d, clean, i);
    }
    free(clean);
    free(tclean);
    return 0;
}

/* ---- entry points ------------------------------------------------------------------------ */

static int parse(pctx_t *p, const char *text, const char *base_dir, brook_decl_t **out) {
    config_t cfg;
    brook_decl_t *d;
    int rc;

    if (!(d = calloc(1, sizeof(*d))))
        return nomem(p);
    d->embedded_brokers = 1;
    d->shutdown_timeout_ms = 10000;
    d->commit_interval_ms = 1000;
    d->http_port = -1;
    d->registry.auto_register = true;
    d->registry.ssl_verify = true;
    d->registry.timeout_ms = 10000;
    d->registry.cache_capacity = 1000;
    if (!(d->source = strdup(p->source)) || !(d->base_dir = strdup(base_dir))) {
        brook_decl_destroy(d);
        return nomem(p);
    }

    config_init(&cfg);
    config_set_include_dir(&cfg, base_dir);
    if (!config_read_string(&cfg, text)) {
        /* Nothing can be read past a syntax error. */
        const char *file = config_error_file(&cfg) ? config_error_file(&cfg) : p->source;
        const char *what = config_error_text(&cfg) ? config_error_text(&cfg) : "syntax error";
        /* libconfig's own text is often just "syntax error"; do not say it twice. */
        if (strcmp(what, "syntax error") == 0)
            report(p, BROOK_ERR_DECL, "%s:%d: syntax error", file, config_error_line(&cfg));
        else
            report(p, BROOK_ERR_DECL, "%s:%d: syntax error: %s", file, config_error_line(&cfg),
                   what);
    } else {
        parse_root(p, config_root_setting(&cfg), d);
    }
    config_destroy(&cfg);
    if ((rc = p->first) != 0) {
        brook_decl_destroy(d);
        return rc;
    }
    *out = d;
    return 0;
}

int brook_decl_parse_string_diag(const char *text, const char *source, brook_decl_t **out,
                                 brook_error_t *err, brook_decl_diag_fn *diag, void *opaque) {
    pctx_t p = {source ? source : "<string>", err, diag, opaque, 0, 0};

    if (out)
        *out = NULL;
    if (!text || !out)
        return report(&p, BROOK_ERR_INVALID_ARG, "brook_decl_parse_string: NULL");
    return parse(&p, text, ".", out);
}

int brook_decl_parse_string(const char *text, const char *source, brook_decl_t **out,
                            brook_error_t *err) {
    return brook_decl_parse_string_diag(text, source, out, err, NULL, NULL);
}

static char *read_all(FILE *f) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
        if (cap - len - 1 == 0) {
            char *grown = realloc(buf, cap * 2);
            if (!grown)
                free(buf);
            buf = grown;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

int brook_decl_parse_file_diag(const char *path, brook_decl_t **out, brook_error_t *err,
                               brook_decl_diag_fn *diag, void *opaque) {
    pctx_t p = {path, err, diag, opaque, 0, 0};
    FILE *f;
    char *text, *dir;
    const char *slash;
    int rc;

    if (out)
        *out = NULL;
    if (!path || !out)
        return report(&p, BROOK_ERR_INVALID_ARG, "brook_decl_parse_file: NULL");
    if (!(f = fopen(path, "r")))
        return report(&p, BROOK_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    errno = 0;
    text = read_all(f);
    if (!text || ferror(f)) {
        int e = errno ? errno : ENOMEM;
        free(text);
        fclose(f);
        if (e == ENOMEM)
            return nomem(&p);
        return report(&p, BROOK_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    }
    fclose(f);

    slash = strrchr(path, '/');
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir) {
        free(text);
        return nomem(&p);
    }
    rc = parse(&p, text, dir, out);
    free(dir);
    free(text);
    return rc;
}

int brook_decl_parse_file(const char *path, brook_decl_t **out, brook_error_t *err) {
    return brook_decl_parse_file_diag(path, out, err, NULL, NULL);
}

static void clear_serde(brook_decl_serde_t *s) {
    free(s->type_name);
    s->type_name = NULL;
}

static void clear_retry(brook_decl_retry_t *r) {
    free_strs(r->not_retryable, r->not_retryable_count);
    r->not_retryable = NULL;
    r->not_retryable_count = 0;
}

static void free_registry(brook_decl_registry_t *r) {
    char **strs[] = {
        &r->url,          &r->username,    &r->password, &r->ca_location, &r->certificate_location,
        &r->key_location, &r->key_password};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

/* *out = a deep copy of r (out's strings freed first). */
static int copy_registry(brook_decl_registry_t *out, const brook_decl_registry_t *r) {
    free_registry(out);
    *out = *r;
    char **strs[] = {&out->url,
                     &out->username,
                     &out->password,
                     &out->ca_location,
                     &out->certificate_location,
                     &out->key_location,
                     &out->key_password};
    int rc = 0;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (*strs[i] && !(*strs[i] = strdup(*strs[i])))
            rc = BROOK_ERR_NOMEM;
    return rc;
}

void brook_decl_destroy(brook_decl_t *d) {
    if (!d)
        return;
    free_registry(&d->registry);
    free(d->source);
    free(d->base_dir);
    free(d->name);
    free(d->bootstrap);
    free(d->http_bind);
    free_kvs(d->kafka, d->kafka_count);
    free_strs(d->schemas, d->schema_count);
    free_strs(d->writer_schemas, d->writer_schema_count);
    for (size_t i = 0; i < d->topic_count; i++) {
        free(d->topics[i].name);
        free_kvs(d->topics[i].config, d->topics[i].config_count);
    }
    free(d->topics);
    for (size_t i = 0; i < d->template_count; i++) {
        free(d->templates[i].name);
        free(d->templates[i].topic);
        clear_serde(&d->templates[i].key);
        clear_serde(&d->templates[i].value);
        free(d->templates[i].reply.topic);
        clear_serde(&d->templates[i].reply.value);
    }
    free(d->templates);
    for (size_t i = 0; i < d->listener_count; i++) {
        brook_decl_listener_t *l = &d->listeners[i];
        free(l->id);
        free_strs(l->topics, l->topic_count);
        free(l->topic_pattern);
        free(l->group);
        free(l->handler);
        free(l->filter);
        free(l->raw_filter);
        clear_serde(&l->key);
        clear_serde(&l->value);
        clear_retry(&l->retry);
        free(l->dlt.topic);
        free(l->reply);
    }
    free(d->listeners);
    free(d);
}

/* ---- merge ------------------------------------------------------------------------------- */

static int merge_fail(const brook_decl_t *over, int line, brook_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int merge_fail(const brook_decl_t *over, int line, brook_error_t *err, const char *fmt,
                      ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return brook_error_set(err, BROOK_ERR_DECL, "%s:%d: %s", over->source, line > 0 ? line : 1,
                           what);
}

static bool str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool has_str(char *const *v, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* Both NULL, or equal strings. */
static bool same_str(const char *a, const char *b) {
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_set(char *const *a, size_t an, char *const *b, size_t bn) {
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (!has_str(b, bn, a[i]))
            return false;
    return true;
}

static void render_list(char *const *v, size_t n, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s\"%s\"", i ? ", " : "", v[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static const brook_decl_template_t *find_template(const brook_decl_t *d, const char *name) {
    for (size_t i = 0; i < d->template_count; i++)
        if (strcmp(d->templates[i].name, name) == 0)
            return &d->templates[i];
    return NULL;
}

static const brook_decl_listener_t *find_listener(const brook_decl_t *d, const char *id) {
    for (size_t i = 0; i < d->listener_count; i++)
        if (strcmp(d->listeners[i].id, id) == 0)
            return &d->listeners[i];
    return NULL;
}

/* "value type \"T\"" of a declared reply, "none" otherwise. */
static void reply_desc(const brook_decl_reply_t *r, char *out, size_t cap) {
    if (r->declared)
        snprintf(out, cap, "value type \"%s\"", brook_decl_serde_name(&r->value));
    else
        snprintf(out, cap, "none");
}

/* Everything that shapes generated code must be the same in both. Checked before anything
 * is changed, so a structural error leaves `base` as it was. */
static int merge_check(const brook_decl_t *base, const brook_decl_t *over, brook_error_t *err) {
    if (strcmp(base->name, over->name) != 0)
        return merge_fail(over, over->line, err, "service: name differs: \"%s\" vs embedded \"%s\"",
                          over->name, base->name);
    for (size_t i = 0; i < over->template_count; i++) {
        const brook_decl_template_t *o = &over->templates[i];
        const brook_decl_template_t *b = find_template(base, o->name);
        if (!b)
            return merge_fail(over, o->line, err,
                              "templates[%zu] (\"%s\"): not in the embedded declaration", i,
                              o->name);
        if (strcmp(o->topic, b->topic) != 0)
            return merge_fail(over, o->line, err,
                              "templates[%zu] (\"%s\"): topic differs: \"%s\" vs embedded \"%s\"",
                              i, o->name, o->topic, b->topic);
        if (!serde_equal(&o->key, &b->key))
            return merge_fail(over, o->line, err,
                              "templates[%zu] (\"%s\"): key differs: \"%s\" vs embedded \"%s\"", i,
                              o->name, brook_decl_serde_name(&o->key),
                              brook_decl_serde_name(&b->key));
        if (!serde_equal(&o->value, &b->value))
            return merge_fail(over, o->line, err,
                              "templates[%zu] (\"%s\"): value differs: \"%s\" vs embedded \"%s\"",
                              i, o->name, brook_decl_serde_name(&o->value),
                              brook_decl_serde_name(&b->value));
        /* A reply shapes the generated request function; its topic and partition are this
         * instance's to choose. */
        if (o->reply.declared != b->reply.declared ||
            (o->reply.declared && !serde_equal(&o->reply.value, &b->reply.value))) {
            char ot[160], bt[160];
            reply_desc(&o->reply, ot, sizeof(ot));
            reply_desc(&b->reply, bt, sizeof(bt));
            return merge_fail(over, o->reply.declared ? o->reply.line : o->line, err,
                              "templates[%zu] (\"%s\"): reply differs: %s vs embedded %s", i,
                              o->name, ot, bt);
        }
    }
    for (size_t i = 0; i < base->template_count; i++)
        if (!find_template(over, base->templates[i].name))
            return merge_fail(over, over->line, err,
                              "template \"%s\" of the embedded declaration is missing",
                              base->templates[i].name);
    for (size_t i = 0; i < over->listener_count; i++) {
        const brook_decl_listener_t *o = &over->listeners[i];
        const brook_decl_listener_t *b = find_listener(base, o->id);
        char ot[128], bt[128];
        if (!b)
            return merge_fail(over, o->line, err,
                              "listeners[%zu] (\"%s\"): not in the embedded declaration", i, o->id);
        if (strcmp(o->handler, b->handler) != 0)
            return merge_fail(over, o->line, err,
                              "listeners[%zu] (\"%s\"): handler differs: \"%s\" vs embedded \"%s\"",
                              i, o->id, o->handler, b->handler);
        if (o->batch != b->batch)
            return merge_fail(over, o->line, err,
                              "listeners[%zu] (\"%s\"): batch differs: %s vs embedded %s (it "
                              "changes the handler's prototype)",
                              i, o->id, o->batch ? "declared" : "none",
                              b->batch ? "declared" : "none");
        if (!same_str(o->filter, b->filter) || !same_str(o->raw_filter, b->raw_filter))
            return merge_fail(over, o->line, err,
                              "listeners[%zu] (\"%s\"): filters differ from the embedded "
                              "declaration's",
                              i, o->id);
        if (!same_set(o->topics, o->topic_count, b->topics, b->topic_count)) {
            render_list(o->topics, o->topic_count, ot, sizeof(ot));
            render_list(b->topics, b->topic_count, bt, sizeof(bt));
            return merge_fail(over, o->line, err,
                              "listeners[%zu] (\"%s\"): topics differ: [%s] vs embedded [%s]", i,
                              o->id, ot, bt);
        }
        if (!str_eq(o->topic_pattern, b->topic_pattern))
            return merge_fail(
                over, o->line, err,
                "listeners[%zu] (\"%s\"): topic_pattern differs: \"%s\" vs embedded \"%s\"", i,
                o->id, o->topic_pattern ? o->topic_pattern : "",
                b->topic_pattern ? b->topic_pattern : "");
        if (!serde_equal(&o->key, &b->key))
            return merge_fail(over, o->line, err,
                              "listeners[%zu] (\"%s\"): key differs: \"%s\" vs embedded \"%s\"", i,
                              o->id, brook_decl_serde_name(&o->key),
                              brook_decl_serde_name(&b->key));
        if (!serde_equal(&o->value, &b->value))
            return merge_fail(over, o->line, err,
                              "listeners[%zu] (\"%s\"): value differs: \"%s\" vs embedded \"%s\"",
                              i, o->id, brook_decl_serde_name(&o->value),
                              brook_decl_serde_name(&b->value));
        if (o->retry.preserve_key_order != b->retry.preserve_key_order)
            return merge_fail(over, o->retry.preserve_key_order_line, err,
                              "listeners[%zu] (\"%s\"): retry.preserve_key_order differs: %s vs "
                              "embedded %s (it changes the topics and the subscription)",
                              i, o->id, o->retry.preserve_key_order ? "true" : "false",
                              b->retry.preserve_key_order ? "true" : "false");
        if (!str_eq(o->reply, b->reply)) {
            const char *oq = o->reply ? "\"" : "", *bq = b->reply ? "\"" : "";
            snprintf(ot, sizeof(ot), "%s%s%s", oq, o->reply ? o->reply : "none", oq);
            snprintf(bt, sizeof(bt), "%s%s%s", bq, b->reply ? b->reply : "none", bq);
            return merge_fail(over, o->reply ? o->reply_line : o->line, err,
                              "listeners[%zu] (\"%s\"): reply differs: %s vs embedded %s", i, o->id,
                              ot, bt);
        }
    }
    for (size_t i = 0; i < base->listener_count; i++)
        if (!find_listener(over, base->listeners[i].id))
            return merge_fail(over, over->line, err,
                              "listener \"%s\" of the embedded declaration is missing",
                              base->listeners[i].id);
    return 0;
}

static int merge_kvs(brook_decl_kv_t **kv, size_t *n, const brook_decl_kv_t *from, size_t fn) {
    for (size_t i = 0; i < fn; i++)
        if (kv_set(kv, n, from[i].name, from[i].value, from[i].line) != 0)
            return BROOK_ERR_NOMEM;
    return 0;
}

/* Replaces *dst with a copy of src (either may be NULL). */
static int replace_str(char **dst, const char *src) {
    char *copy = NULL;
    if (src && !(copy = strdup(src)))
        return BROOK_ERR_NOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

static int copy_topic(brook_decl_topic_t *dst, const brook_decl_topic_t *src) {
    memset(dst, 0, sizeof(*dst));
    dst->partitions = src->partitions;
    dst->replication = src->replication;
    dst->line = src->line;
    if (replace_str(&dst->name, src->name) != 0 ||
        merge_kvs(&dst->config, &dst->config_count, src->config, src->config_count) != 0) {
        free(dst->name);
        free_kvs(dst->config, dst->config_count);
        return BROOK_ERR_NOMEM;
    }
    return 0;
}

static int merge_listener(brook_decl_listener_t *b, const brook_decl_listener_t *o) {
    char **nr = NULL;
    size_t nrn = o->retry.not_retryable_count;

    if (nrn && !(nr = calloc(nrn, sizeof(*nr))))
        return BROOK_ERR_NOMEM;
    for (size_t k = 0; k < nrn; k++)
        if (!(nr[k] = strdup(o->retry.not_retryable[k]))) {
            free_strs(nr, nrn);
            return BROOK_ERR_NOMEM;
        }
    if (replace_str(&b->group, o->group) != 0 || replace_str(&b->dlt.topic, o->dlt.topic) != 0) {
        free_strs(nr, nrn);
        return BROOK_ERR_NOMEM;
    }
    b->concurrency = o->concurrency;
    b->ack = o->ack;
    b->start_from = o->start_from;
    clear_retry(&b->retry);
    b->retry = o->retry;
    b->retry.not_retryable = nr;
    b->retry.not_retryable_count = nrn;
    b->dlt.enabled = o->dlt.enabled;
    b->dlt.line = o->dlt.line;
    b->isolation = o->isolation;
    b->exactly_once = o->exactly_once;
    b->auto_startup = o->auto_startup;
    b->tx_max_records = o->tx_max_records;
    b->tx_max_ms = o->tx_max_ms;
    b->batch_max_records = o->batch_max_records;
    b->batch_max_wait_ms = o->batch_max_wait_ms;
    return 0;
}

int brook_decl_merge(brook_decl_t *base, const brook_decl_t *over, brook_error_t *err) {
    int rc;

    if (!base || !over)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "brook_decl_merge: NULL");
    if (base == over)
        return 0; /* nothing to override */
    if ((rc = merge_check(base, over, err)) != 0)
        return rc;

    if (replace_str(&base->bootstrap, over->bootstrap) != 0 ||
        replace_str(&base->http_bind, over->http_bind) != 0)
        return out_of_memory(err);
    base->http_port = over->http_port;
    if (over->registry.declared && copy_registry(&base->registry, &over->registry) != 0)
        return out_of_memory(err);
    base->embedded_brokers = over->embedded_brokers;
    base->shutdown_timeout_ms = over->shutdown_timeout_ms;
    base->commit_interval_ms = over->commit_interval_ms;
    if (merge_kvs(&base->kafka, &base->kafka_count, over->kafka, over->kafka_count) != 0)
        return out_of_memory(err);

    for (size_t i = 0; i < over->topic_count; i++) {
        const brook_decl_topic_t *o = &over->topics[i];
        brook_decl_topic_t *b = NULL, *grown;
        for (size_t j = 0; j < base->topic_count && !b; j++)
            if (strcmp(base->topics[j].name, o->name) == 0)
                b = &base->topics[j];
        if (b) {
            b->partitions = o->partitions;
            b->replication = o->replication;
            if (merge_kvs(&b->config, &b->config_count, o->config, o->config_count) != 0)
                return out_of_memory(err);
            continue;
        }
        if (!(grown = realloc(base->topics, (base->topic_count + 1) * sizeof(*grown))))
            return out_of_memory(err);
        base->topics = grown;
        if (copy_topic(&base->topics[base->topic_count], o) != 0)
            return out_of_memory(err);
        base->topic_count++;
    }

    for (size_t i = 0; i < over->template_count; i++) {
        const brook_decl_template_t *o = &over->templates[i];
        brook_decl_template_t *b = (brook_decl_template_t *)find_template(base, o->name);
        if (o->framing_declared) {
            b->framing = o->framing;
            b->framing_declared = true;
            b->schema_id = o->schema_id;
        }
        b->transactional = o->transactional;
        if (o->reply.declared) {
            if (replace_str(&b->reply.topic, o->reply.topic) != 0)
                return out_of_memory(err);
            b->reply.partition = o->reply.partition;
            b->reply.timeout_ms = o->reply.timeout_ms;
            b->reply.line = o->reply.line;
        }
    }
    for (size_t i = 0; i < over->listener_count; i++) {
        const brook_decl_listener_t *o = &over->listeners[i];
        brook_decl_listener_t *b = (brook_decl_listener_t *)find_listener(base, o->id);
        if (merge_listener(b, o) != 0)
            return out_of_memory(err);
    }
    return 0;
}

/* ---- environment ------------------------------------------------------------------------- */

/* BROOK_HTTP_PORT turns the endpoint on (0: a free port) or moves it; BROOK_HTTP_BIND moves
 * its address. */
static int apply_http_env(brook_decl_t *d, brook_error_t *err) {
    const char *port = getenv("BROOK_HTTP_PORT"), *bind = getenv("BROOK_HTTP_BIND");
    if (port && *port) {
        char *end;
        errno = 0;
        long v = strtol(port, &end, 10);
        if (errno || *end || end == port || v < 0 || v > 65535)
            return brook_error_set(err, BROOK_ERR_DECL,
                                   "BROOK_HTTP_PORT: \"%s\" is not a port number (0 to 65535)",
                                   port);
        d->http_port = (int)v;
    }
    if (bind && *bind && replace_str(&d->http_bind, bind) != 0)
        return out_of_memory(err);
    return 0;
}

int brook_decl_apply_env(brook_decl_t *d, brook_error_t *err) {
    static const char prefix[] = "BROOK_KAFKA_";
    const char *bootstrap;
    int rc;

    if (!d)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "brook_decl_apply_env: NULL");
    bootstrap = getenv("BROOK_BOOTSTRAP");
    if (bootstrap && *bootstrap && replace_str(&d->bootstrap, bootstrap) != 0)
        return out_of_memory(err);
    if ((rc = apply_http_env(d, err)) != 0)
        return rc;
    const char *registry = getenv("BROOK_SCHEMA_REGISTRY_URL");
    if (registry && *registry && d->registry.declared && replace_str(&d->registry.url, registry))
        return out_of_memory(err);
    for (char **e = environ; e && *e; e++) {
        const char *eq, *p;
        char name[256];
        size_t n = 0;

        if (strncmp(*e, prefix, sizeof(prefix) - 1) != 0 || !(eq = strchr(*e, '=')))
            continue;
        for (p = *e + sizeof(prefix) - 1; p < eq && n < sizeof(name) - 1; p++)
            name[n++] = *p == '_' ? '.' : (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
        name[n] = '\0';
        if (n == 0)
            continue;
        if (kv_set(&d->kafka, &d->kafka_count, name, eq + 1, 0) != 0)
            return out_of_memory(err);
    }
    return 0;
}

const char *brook_decl_kafka_value(const brook_decl_t *d, const char *name) {
    for (size_t i = 0; i < d->kafka_count; i++)
        if (!strcmp(d->kafka[i].name, name))
            return d->kafka[i].value;
    return NULL;
}

bool brook_decl_is_embedded(const brook_decl_t *d) {
    return d && (!d->bootstrap || strcmp(d->bootstrap, "embedded") == 0);
}

const char *brook_decl_ack_name(brook_ack_mode_t ack) {
    switch (ack) {
    case BROOK_ACK_RECORD:
        return "record";
    case BROOK_ACK_BATCH:
        return "batch";
    case BROOK_ACK_MANUAL:
        return "manual";
    case BROOK_ACK_RECORD_SYNC:
        return "record_sync";
    }
    return "unknown";
}

size_t brook_decl_retry_delays(const brook_decl_retry_t *r, int64_t *out, size_t max) {
    size_t n;
    double delay;

    if (!r || r->attempts < 2)
        return 0;
    n = (size_t)r->attempts - 1;
    delay = (double)r->delay_ms;
    for (size_t i = 0; i < n && i < max && out; i++) {
        out[i] = delay >= (double)r->max_delay_ms ? r->max_delay_ms : (int64_t)delay;
        delay *= r->multiplier;
    }
    return n;
}
