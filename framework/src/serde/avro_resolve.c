/*
 * Schema resolution, the slow path of schema evolution: data written with an older (or newer)
 * schema is transcoded, value by value, into the binary of the reader's schema, so that the
 * generated decoder of the reader type reads it. Avro's rules (specification, "Schema
 * Resolution"): fields matched by name or reader alias, writer-only fields skipped, reader-only
 * fields filled from their defaults, int->long->float->double and string<->bytes promotion,
 * enum symbols by name with the reader's enum default for unknown ones, unions on either side.
 *
 * Both schemas are parsed with jansson (avro-c cannot parse every valid default, such as a
 * string with "\u0000", and ignores reader defaults and enum defaults when resolving). The
 * compatibility of the two schemas is checked once, in brook__avro_resolver_new; a resolver is
 * immutable afterwards, so brook__avro_resolver_convert may run on many threads at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "serde/avro_resolve.h"
#include "brook/avro.h"

typedef enum {
    RK_NULL,
    RK_BOOLEAN,
    RK_INT,
    RK_LONG,
    RK_FLOAT,
    RK_DOUBLE,
    RK_BYTES,
    RK_STRING,
    RK_RECORD,
    RK_ENUM,
    RK_ARRAY,
    RK_MAP,
    RK_UNION,
    RK_FIXED,
    RK_REF,
} rkind_t;

typedef struct rnode rnode_t;
typedef struct {
    char *name;
    rnode_t *type;
    json_t *def; /* borrowed from the schema document */
    json_t *aliases;
} rfield_t;

struct rnode {
    rkind_t kind;
    char *fullname; /* named */
    char *ref;      /* RK_REF until linked */
    char *ref_ns;
    json_t *aliases;
    rfield_t *fields;
    size_t nfields;
    char **symbols;
    size_t nsymbols;
    const char *enum_default;
    rnode_t *items;
    rnode_t **branches;
    size_t nbranches;
    size_t size;
    rnode_t *next_alloc; /* every node of a schema, for freeing */
};

typedef struct {
    json_t *doc;
    rnode_t *root;
    rnode_t *all;
    rnode_t **named;
    size_t nnamed;
} rschema_t;

/* A pair of writer/reader named types found compatible (or being checked: recursion). */
typedef struct {
    const rnode_t *w, *r;
} rpair_t;

struct brook__avro_resolver_s {
    rschema_t writer, reader;
    rpair_t *pairs;
    size_t npairs;
};

#define MAX_DEPTH 512

/* ---- parsing ------------------------------------------------------------------------------ */

static const char *prim_names[] = {"null",  "boolean", "int",   "long",
                                   "float", "double",  "bytes", "string"};

static rnode_t *rnew(rschema_t *s, rkind_t k) {
    rnode_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = k;
    n->next_alloc = s->all;
    s->all = n;
    return n;
}

static char *full_name(const char *name, const char *ns_attr, const char *ns) {
    char *r;
    if (strchr(name, '.') || (ns_attr ? !*ns_attr : (!ns || !*ns))) {
        r = strdup(name);
    } else {
        const char *space = ns_attr ? ns_attr : ns;
        r = malloc(strlen(space) + strlen(name) + 2);
        if (r)
            sprintf(r, "%s.%s", space, name);
    }
    return r;
}

static const char *short_name(const char *full) {
    const char *d = strrchr(full, '.');
    return d ? d + 1 : full;
}

static rnode_t *rparse(rschema_t *s, json_t *j, const char *ns, brook_error_t *err, int depth);
static const char *kname(const rnode_t *n);

static int add_named(rschema_t *s, rnode_t *n) {
    rnode_t **v = realloc(s->named, (s->nnamed + 1) * sizeof(*v));
    if (!v)
        return -1;
    s->named = v;
    s->named[s->nnamed++] = n;
    return 0;
}

static rnode_t *rparse(rschema_t *s, json_t *j, const char *ns, brook_error_t *err, int depth) {
    if (depth > 200) {
        brook_error_set(err, BROOK_ERR_SCHEMA, "schema nested too deeply");
        return NULL;
    }
    if (json_is_string(j)) {
        const char *t = json_string_value(j);
        for (int k = 0; k < 8; k++)
            if (!strcmp(t, prim_names[k]))
                return rnew(s, (rkind_t)k);
        rnode_t *n = rnew(s, RK_REF);
        if (n) {
            n->ref = strdup(t);
            n->ref_ns = strdup(ns ? ns : "");
        }
        return n;
    }
    if (json_is_array(j)) {
        rnode_t *n = rnew(s, RK_UNION);
        if (!n)
            return NULL;
        n->nbranches = json_array_size(j);
        n->branches = calloc(n->nbranches ? n->nbranches : 1, sizeof(rnode_t *));
        for (size_t i = 0; i < n->nbranches; i++) {
            rnode_t *b = rparse(s, json_array_get(j, i), ns, err, depth + 1);
            if (!(n->branches[i] = b))
                return NULL;
            /* The specification's two rules for unions: no union directly in a union, and at
             * most one branch of each unnamed type. */
            if (b->kind == RK_UNION) {
                brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema: a union in a union");
                return NULL;
            }
            bool named = b->kind == RK_RECORD || b->kind == RK_ENUM || b->kind == RK_FIXED ||
                         b->kind == RK_REF;
            for (size_t k = 0; k < i && !named; k++)
                if (n->branches[k]->kind == b->kind) {
                    brook_error_set(err, BROOK_ERR_SCHEMA,
                                    "invalid schema: a union with two %s branches", kname(b));
                    return NULL;
                }
        }
        return n;
    }
    if (!json_is_object(j)) {
        brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema: not a string, object or array");
        return NULL;
    }
    json_t *type = json_object_get(j, "type");
    if (!json_is_string(type)) {
        if (type)
            return rparse(s, type, ns, err, depth + 1);
        brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema: object without \"type\"");
        return NULL;
    }
    const char *t = json_string_value(type);
    for (int k = 0; k < 8; k++)
        if (!strcmp(t, prim_names[k]))
            return rnew(s, (rkind_t)k);
    rkind_t k = !strcmp(t, "record") || !strcmp(t, "error") ? RK_RECORD
                : !strcmp(t, "enum")                        ? RK_ENUM
                : !strcmp(t, "fixed")                       ? RK_FIXED
                : !strcmp(t, "array")                       ? RK_ARRAY
                : !strcmp(t, "map")                         ? RK_MAP
                                                            : RK_REF;
    if (k == RK_REF)
        return rparse(s, type, ns, err, depth + 1);
    rnode_t *n = rnew(s, k);
    if (!n)
        return NULL;
    if (k == RK_ARRAY || k == RK_MAP) {
        json_t *it = json_object_get(j, k == RK_ARRAY ? "items" : "values");
        if (!it) {
            brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema: %s without items", t);
            return NULL;
        }
        n->items = rparse(s, it, ns, err, depth + 1);
        return n->items ? n : NULL;
    }
    json_t *name = json_object_get(j, "name");
    if (!json_is_string(name)) {
        brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema: %s without a name", t);
        return NULL;
    }
    json_t *nsj = json_object_get(j, "namespace");
    n->fullname =
        full_name(json_string_value(name), json_is_string(nsj) ? json_string_value(nsj) : NULL, ns);
    n->aliases = json_object_get(j, "aliases");
    if (!n->fullname || add_named(s, n))
        return NULL;
    if (k == RK_FIXED) {
        json_t *size = json_object_get(j, "size");
        n->size = json_is_integer(size) && json_integer_value(size) >= 0
                      ? (size_t)json_integer_value(size)
                      : 0;
        return n;
    }
    if (k == RK_ENUM) {
        json_t *syms = json_object_get(j, "symbols");
        n->nsymbols = json_array_size(syms);
        n->symbols = calloc(n->nsymbols ? n->nsymbols : 1, sizeof(char *));
        for (size_t i = 0; i < n->nsymbols; i++) {
            if (!(n->symbols[i] = (char *)json_string_value(json_array_get(syms, i)))) {
                brook_error_set(err, BROOK_ERR_SCHEMA,
                                "invalid schema: enum %s has a symbol that is not a string",
                                n->fullname);
                return NULL;
            }
        }
        json_t *d = json_object_get(j, "default");
        n->enum_default = json_is_string(d) ? json_string_value(d) : NULL;
        return n;
    }
    /* record: its fields' names resolve in its namespace */
    const char *dot = strrchr(n->fullname, '.');
    char *rns = strdup(n->fullname);
    if (!rns)
        return NULL;
    if (dot)
        rns[dot - n->fullname] = 0;
    else
        rns[0] = 0;
    json_t *fields = json_object_get(j, "fields");
    n->nfields = json_array_size(fields);
    n->fields = calloc(n->nfields ? n->nfields : 1, sizeof(rfield_t));
    for (size_t i = 0; i < n->nfields; i++) {
        json_t *f = json_array_get(fields, i);
        json_t *fname = json_object_get(f, "name");
        n->fields[i].name = (char *)json_string_value(fname);
        n->fields[i].def = json_object_get(f, "default");
        n->fields[i].aliases = json_object_get(f, "aliases");
        if (!n->fields[i].name ||
            !(n->fields[i].type = rparse(s, json_object_get(f, "type"), rns, err, depth + 1))) {
            if (!n->fields[i].name)
                brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema: field without a name");
            free(rns);
            return NULL;
        }
        /* Fields are matched by name: a second one of a name would be read into the first. */
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(n->fields[k].name, n->fields[i].name)) {
                brook_error_set(err, BROOK_ERR_SCHEMA,
                                "invalid schema: record %s has two fields named \"%s\"",
                                n->fullname, n->fields[i].name);
                free(rns);
                return NULL;
            }
        }
    }
    free(rns);
    return n;
}

static rnode_t *find_named(rschema_t *s, const char *name, const char *ns) {
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->nnamed; i++) {
            const char *full = s->named[i]->fullname;
            if (pass == 0 && !strchr(name, '.') && ns && *ns) {
                size_t nl = strlen(ns);
                if (!strncmp(full, ns, nl) && full[nl] == '.' && !strcmp(full + nl + 1, name))
                    return s->named[i];
            } else if (pass == 1 && !strcmp(full, name)) {
                return s->named[i];
            }
        }
    }
    return NULL;
}

/* Replaces references by the named types they name. */
static rnode_t *rlink(rschema_t *s, rnode_t *n, brook_error_t *err) {
    if (n->kind == RK_REF) {
        rnode_t *t = find_named(s, n->ref, n->ref_ns);
        if (!t)
            brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema: unknown type \"%s\"", n->ref);
        return t;
    }
    return n;
}

static int rlink_all(rschema_t *s, brook_error_t *err) {
    for (rnode_t *n = s->all; n; n = n->next_alloc) {
        for (size_t i = 0; i < n->nfields; i++)
            if (!(n->fields[i].type = rlink(s, n->fields[i].type, err)))
                return -1;
        if (n->items && !(n->items = rlink(s, n->items, err)))
            return -1;
        for (size_t i = 0; i < n->nbranches; i++)
            if (!(n->branches[i] = rlink(s, n->branches[i], err)))
                return -1;
    }
    return 0;
}

static int rschema_load(rschema_t *s, const char *json, const char *what, brook_error_t *err) {
    json_error_t jerr;
    s->doc = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!s->doc)
        return brook_error_set(err, BROOK_ERR_SCHEMA, "invalid %s schema JSON: %s (line %d)", what,
                               jerr.text, jerr.line);
    s->root = rparse(s, s->doc, "", err, 0);
    if (!s->root || rlink_all(s, err))
        return err && err->code ? err->code : BROOK_ERR_SCHEMA;
    s->root = rlink(s, s->root, err);
    return s->root ? 0 : BROOK_ERR_SCHEMA;
}

static void rschema_free(rschema_t *s) {
    rnode_t *n = s->all;
    while (n) {
        rnode_t *next = n->next_alloc;
        free(n->fullname);
        free(n->ref);
        free(n->ref_ns);
        free(n->fields);
        free(n->symbols);
        free(n->branches);
        free(n);
        n = next;
    }
    free(s->named);
    if (s->doc)
        json_decref(s->doc);
}

/* ---- compatibility ------------------------------------------------------------------------- */

static bool names_match(const rnode_t *w, const rnode_t *r) {
    if (!strcmp(short_name(w->fullname), short_name(r->fullname)))
        return true;
    size_t i;
    json_t *a;
    json_array_foreach(r->aliases, i, a) {
        if (json_is_string(a) &&
            (!strcmp(json_string_value(a), w->fullname) ||
             !strcmp(short_name(json_string_value(a)), short_name(w->fullname))))
            return true;
    }
    return false;
}

static bool promotable(rkind_t w, rkind_t r) {
    if (w == r)
        return true;
    switch (w) {
    case RK_INT:
        return r == RK_LONG || r == RK_FLOAT || r == RK_DOUBLE;
    case RK_LONG:
        return r == RK_FLOAT || r == RK_DOUBLE;
    case RK_FLOAT:
        return r == RK_DOUBLE;
    case RK_STRING:
        return r == RK_BYTES;
    case RK_BYTES:
        return r == RK_STRING;
    default:
        return false;
    }
}

static int check(brook__avro_resolver_t *res, const rnode_t *w, const rnode_t *r, char *path,
                 size_t path_cap, brook_error_t *err);

static const char *kname(const rnode_t *n) {
    static const char *names[] = {"null",   "boolean", "int",    "long",   "float",
                                  "double", "bytes",   "string", "record", "enum",
                                  "array",  "map",     "union",  "fixed",  "reference"};
    return n->fullname ? n->fullname : names[n->kind];
}

/* The reader union branch a writer value of schema w goes to: an exact match first, then a
 * promotion. -1 when none. */
static int pick_branch(brook__avro_resolver_t *res, const rnode_t *w, const rnode_t *ru) {
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ru->nbranches; i++) {
            const rnode_t *b = ru->branches[i];
            if (b->kind == RK_UNION)
                continue;
            if (pass == 0 && b->kind == w->kind && (!w->fullname || names_match(w, b)))
                return (int)i;
            if (pass == 1 && !w->fullname && !b->fullname && promotable(w->kind, b->kind))
                return (int)i;
        }
    }
    (void)res;
    return -1;
}

static const rfield_t *reader_field_for(const rnode_t *r, const char *wname) {
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->nfields; i++)
        if (!strcmp(r->fields[i].name, wname))
            return &r->fields[i];
    for (size_t i = 0; i < r->nfields; i++) {
        size_t k;
        json_t *a;
        json_array_foreach(r->fields[i].aliases, k, a) {
            if (json_is_string(a) && !strcmp(json_string_value(a), wname))
                return &r->fields[i];
        }
    }
    return NULL;
}

/* The writer field feeding reader field rf: same name, else one named by rf's aliases. */
static const rfield_t *writer_field_for(const rnode_t *w, const rfield_t *rf) {
    for (size_t i = 0; i < w->nfields; i++)
        if (!strcmp(w->fields[i].name, rf->name))
            return &w->fields[i];
    size_t k;
    json_t *a;
    json_array_foreach(rf->aliases, k, a) {
        for (size_t i = 0; i < w->nfields; i++)
            if (json_is_string(a) && !strcmp(json_string_value(a), w->fields[i].name))
                return &w->fields[i];
    }
    return NULL;
}

static int check(brook__avro_resolver_t *res, const rnode_t *w, const rnode_t *r, char *path,
                 size_t path_cap, brook_error_t *err) {
    if (w->kind == RK_UNION) {
        /* every writer branch must be readable (Avro reports errors only for data that occurs,
         * but a branch that can never be read is a schema mistake worth reporting early) */
        for (size_t i = 0; i < w->nbranches; i++) {
            int rc = check(res, w->branches[i], r, path, path_cap, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (r->kind == RK_UNION) {
        int b = pick_branch(res, w, r);
        if (b < 0)
            return brook_error_set(err, BROOK_ERR_SCHEMA,
                                   "incompatible writer schema: %s: writer %s matches no branch "
                                   "of the reader's union",
                                   *path ? path : "value", kname(w));
        return check(res, w, r->branches[b], path, path_cap, err);
    }
    if (!promotable(w->kind, r->kind))
        return brook_error_set(err, BROOK_ERR_SCHEMA,
                               "incompatible writer schema: %s: writer %s cannot be read as %s",
                               *path ? path : "value", kname(w), kname(r));
    if (w->fullname && !names_match(w, r))
        return brook_error_set(err, BROOK_ERR_SCHEMA,
                               "incompatible writer schema: %s: writer type %s does not match "
                               "reader type %s",
                               *path ? path : "value", w->fullname, r->fullname);
    switch (w->kind) {
    case RK_FIXED:
        if (w->size != r->size)
            return brook_error_set(err, BROOK_ERR_SCHEMA,
                                   "incompatible writer schema: %s: fixed %s has size %zu, "
                                   "reader expects %zu",
                                   *path ? path : "value", w->fullname, w->size, r->size);
        return 0;
    case RK_ENUM:
        if (!r->enum_default)
            for (size_t i = 0; i < w->nsymbols; i++) {
                bool found = false;
                for (size_t k = 0; k < r->nsymbols && !found; k++)
                    found = !strcmp(w->symbols[i], r->symbols[k]);
                if (!found)
                    return brook_error_set(err, BROOK_ERR_SCHEMA,
                                           "incompatible writer schema: %s: enum %s symbol %s is "
                                           "unknown to the reader, which has no default",
                                           *path ? path : "value", w->fullname, w->symbols[i]);
            }
        return 0;
    case RK_ARRAY:
    case RK_MAP:
        return check(res, w->items, r->items, path, path_cap, err);
    case RK_RECORD: {
        for (size_t i = 0; i < res->npairs; i++)
            if (res->pairs[i].w == w && res->pairs[i].r == r)
                return 0; /* already checked, or being checked (recursive types) */
        rpair_t *p = realloc(res->pairs, (res->npairs + 1) * sizeof(*p));
        if (!p)
            return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        res->pairs = p;
        res->pairs[res->npairs++] = (rpair_t){w, r};
        size_t plen = strlen(path);
        for (size_t i = 0; i < r->nfields; i++) {
            const rfield_t *rf = &r->fields[i];
            snprintf(path + plen, path_cap - plen, "%s%s", plen ? "." : "", rf->name);
            const rfield_t *wf = writer_field_for(w, rf);
            int rc = 0;
            if (wf)
                rc = check(res, wf->type, rf->type, path, path_cap, err);
            else if (!rf->def)
                rc = brook_error_set(err, BROOK_ERR_SCHEMA,
                                     "incompatible writer schema: %s: the writer has no field "
                                     "\"%s\" and the reader's has no default",
                                     path, rf->name);
            path[plen] = 0;
            if (rc)
                return rc;
        }
        return 0;
    }
    default:
        return 0;
    }
}

/* ---- transcoding -------------------------------------------------------------------------- */

typedef struct {
    brook_avro_reader_t in;
    brook_error_t *err;
    int depth;
    size_t steps, max_steps; /* values read (and skipped) so far, and how many are allowed */
} tctx_t;

/* Values cost work whatever bytes they take, and some take none: an array block of a million
 * nulls is three bytes, and a record of two fields of a record of two fields ... of nulls,
 * thirty deep, is a billion values in no bytes at all. Both are written by the writer schema
 * (a schema registry's), so a value may hold at most this many values plus MAX_STEPS_PER_BYTE
 * per byte of its binary: a few bytes cannot hold a partition for hours. */
#define MAX_STEPS_PER_BYTE 1024
#define MAX_FREE_STEPS BROOK_AVRO_MAX_EMPTY_ITEMS

static int fail(tctx_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(tctx_t *t, const char *fmt, ...) {
    if (t->err) {
        va_list ap;
        va_start(ap, fmt);
        t->err->code = BROOK_ERR_DECODE;
        vsnprintf(t->err->message, sizeof t->err->message, fmt, ap);
        va_end(ap);
    }
    return BROOK_ERR_DECODE;
}

#define TRUNC(t)                                                                                   \
    fail(t, "invalid or truncated data for the writer schema at byte %zu",                         \
         (size_t)((t)->in.p - (t)->in.start))

static int skip(tctx_t *t, const rnode_t *w);

static int skip_blocks(tctx_t *t, const rnode_t *w, bool map) {
    for (;;) {
        int64_t n;
        if (brook_avro_read_long(&t->in, &n))
            return TRUNC(t);
        if (n == 0)
            return 0;
        if (n < 0) {
            int64_t size;
            if (n == INT64_MIN || brook_avro_read_long(&t->in, &size) || size < 0 ||
                (uint64_t)size > (uint64_t)(t->in.end - t->in.p))
                return TRUNC(t);
            t->in.p += size;
            continue;
        }
        /* Nulls take no bytes: nothing to skip, however many a block claims. Other items
         * take at least a byte (a map entry its key's length), so a count beyond what is
         * left is corrupt; an item that can be empty (a fieldless record, fixed(0)) is bounded
         * like the generated decoders bound it. */
        if (!map && w->items->kind == RK_NULL)
            continue;
        size_t left = (size_t)(t->in.end - t->in.p);
        if ((uint64_t)n > left && (map || (uint64_t)n > BROOK_AVRO_MAX_EMPTY_ITEMS))
            return TRUNC(t);
        for (int64_t i = 0; i < n; i++) {
            if (map && brook_avro_skip_bytes(&t->in))
                return TRUNC(t);
            int rc = skip(t, w->items);
            if (rc)
                return rc;
        }
    }
}

static int skip(tctx_t *t, const rnode_t *w) {
    if (++t->depth > MAX_DEPTH)
        return fail(t, "data nested too deeply");
    if (++t->steps > t->max_steps)
        return fail(t, "more than %zu values in %zu bytes", t->max_steps,
                    (size_t)(t->in.end - t->in.start));
    int rc = 0;
    int64_t x;
    bool b;
    switch (w->kind) {
    case RK_NULL:
        break;
    case RK_BOOLEAN:
        rc = brook_avro_read_boolean(&t->in, &b);
        break;
    case RK_INT:
    case RK_LONG:
    case RK_ENUM:
        rc = brook_avro_read_long(&t->in, &x);
        break;
    case RK_FLOAT:
        rc = (size_t)(t->in.end - t->in.p) < 4 ? -1 : (t->in.p += 4, 0);
        break;
    case RK_DOUBLE:
        rc = (size_t)(t->in.end - t->in.p) < 8 ? -1 : (t->in.p += 8, 0);
        break;
    case RK_BYTES:
    case RK_STRING:
        rc = brook_avro_skip_bytes(&t->in);
        break;
    case RK_FIXED:
        rc = (size_t)(t->in.end - t->in.p) < w->size ? -1 : (t->in.p += w->size, 0);
        break;
    case RK_RECORD:
        for (size_t i = 0; i < w->nfields && !rc; i++)
            rc = skip(t, w->fields[i].type);
        t->depth--;
        return rc;
    case RK_ARRAY:
    case RK_MAP:
        rc = skip_blocks(t, w, w->kind == RK_MAP);
        t->depth--;
        return rc;
    case RK_UNION:
        if (brook_avro_read_long(&t->in, &x) || x < 0 || (uint64_t)x >= w->nbranches)
            return TRUNC(t);
        rc = skip(t, w->branches[x]);
        t->depth--;
        return rc;
    default:
        break;
    }
    t->depth--;
    return rc ? TRUNC(t) : 0;
}

/* Avro binary of a default value (JSON) in schema r. */
static int write_default(tctx_t *t, const rnode_t *r, json_t *d, brook_buf_t *out, int depth) {
    if (depth > MAX_DEPTH)
        return fail(t, "default nested too deeply");
    switch (r->kind) {
    case RK_NULL:
        return 0;
    case RK_BOOLEAN:
        return brook_avro_write_boolean(out, json_is_true(d));
    case RK_INT:
    case RK_LONG:
        return brook_avro_write_long(out, (int64_t)json_integer_value(d));
    case RK_FLOAT:
        return brook_avro_write_float(out, (float)json_number_value(d));
    case RK_DOUBLE:
        return brook_avro_write_double(out, json_number_value(d));
    case RK_STRING:
        return brook_avro_write_bytes(out, json_string_value(d), json_string_length(d));
    case RK_BYTES:
    case RK_FIXED: {
        const char *s = json_string_value(d);
        size_t n = json_string_length(d), k = 0;
        uint8_t *tmp = malloc(n + 1);
        if (!tmp)
            return BROOK_ERR_NOMEM;
        for (size_t i = 0; s && i < n; i++) {
            uint8_t c = (uint8_t)s[i];
            if ((c & 0xfe) == 0xc2 && i + 1 < n) {
                tmp[k++] = (uint8_t)(((c & 3) << 6) | ((uint8_t)s[i + 1] & 0x3f));
                i++;
            } else {
                tmp[k++] = c;
            }
        }
        int rc = r->kind == RK_BYTES ? brook_avro_write_bytes(out, tmp, k)
                                     : brook_avro_write_fixed(out, tmp, k);
        free(tmp);
        return rc;
    }
    case RK_ENUM:
        for (size_t i = 0; i < r->nsymbols; i++)
            if (json_is_string(d) && !strcmp(r->symbols[i], json_string_value(d)))
                return brook_avro_write_long(out, (int64_t)i);
        return fail(t, "enum default \"%s\" is not a symbol of %s",
                    json_is_string(d) ? json_string_value(d) : "?", r->fullname);
    case RK_ARRAY: {
        size_t n = json_array_size(d);
        int rc = n ? brook_avro_write_long(out, (int64_t)n) : 0;
        for (size_t i = 0; i < n && !rc; i++)
            rc = write_default(t, r->items, json_array_get(d, i), out, depth + 1);
        return rc ? rc : brook_avro_write_long(out, 0);
    }
    case RK_MAP: {
        size_t n = json_object_size(d);
        int rc = n ? brook_avro_write_long(out, (int64_t)n) : 0;
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) {
            if (!rc)
                rc = brook_avro_write_string(out, k);
            if (!rc)
                rc = write_default(t, r->items, v, out, depth + 1);
        }
        return rc ? rc : brook_avro_write_long(out, 0);
    }
    case RK_UNION: {
        int rc = brook_avro_write_long(out, 0);
        return rc ? rc : write_default(t, r->branches[0], d, out, depth + 1);
    }
    case RK_RECORD:
        for (size_t i = 0; i < r->nfields; i++) {
            json_t *v = json_object_get(d, r->fields[i].name);
            if (!v)
                v = r->fields[i].def;
            if (!v)
                return fail(t, "default of %s lacks field %s", r->fullname, r->fields[i].name);
            int rc = write_default(t, r->fields[i].type, v, out, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    default:
        return 0;
    }
}

static int convert(tctx_t *t, const rnode_t *w, const rnode_t *r, brook_buf_t *out);

static int convert_blocks(tctx_t *t, const rnode_t *w, const rnode_t *r, brook_buf_t *out) {
    bool map = w->kind == RK_MAP;
    for (;;) {
        size_t n;
        if (brook_avro_read_block_count(&t->in, map ? 1 : (w->items->kind == RK_NULL ? 0 : 1), &n))
            return TRUNC(t);
        if (brook_avro_write_long(out, (int64_t)n))
            return BROOK_ERR_NOMEM;
        if (n == 0)
            return 0;
        for (size_t i = 0; i < n; i++) {
            if (map) {
                int64_t len;
                if (brook_avro_read_long(&t->in, &len) || len < 0 ||
                    (uint64_t)len > (uint64_t)(t->in.end - t->in.p))
                    return TRUNC(t);
                if (brook_avro_write_bytes(out, t->in.p, (size_t)len))
                    return BROOK_ERR_NOMEM;
                t->in.p += len;
            }
            int rc = convert(t, w->items, r->items, out);
            if (rc)
                return rc;
        }
    }
}

static int convert(tctx_t *t, const rnode_t *w, const rnode_t *r, brook_buf_t *out) {
    if (++t->depth > MAX_DEPTH)
        return fail(t, "data nested too deeply");
    if (++t->steps > t->max_steps)
        return fail(t, "more than %zu values in %zu bytes", t->max_steps,
                    (size_t)(t->in.end - t->in.start));
    int rc = 0;
    if (w->kind == RK_UNION) {
        int64_t b;
        if (brook_avro_read_long(&t->in, &b) || b < 0 || (uint64_t)b >= w->nbranches)
            return TRUNC(t);
        rc = convert(t, w->branches[b], r, out);
        t->depth--;
        return rc;
    }
    if (r->kind == RK_UNION) {
        int b = pick_branch(NULL, w, r);
        if (b < 0)
            return fail(t, "writer %s matches no branch of the reader's union", kname(w));
        if (brook_avro_write_long(out, b))
            return BROOK_ERR_NOMEM;
        rc = convert(t, w, r->branches[b], out);
        t->depth--;
        return rc;
    }
    switch (w->kind) {
    case RK_NULL:
        break;
    case RK_BOOLEAN: {
        bool v;
        if (brook_avro_read_boolean(&t->in, &v))
            return TRUNC(t);
        rc = brook_avro_write_boolean(out, v);
        break;
    }
    case RK_INT:
    case RK_LONG: {
        int64_t v;
        if (w->kind == RK_INT) {
            int32_t i;
            if (brook_avro_read_int(&t->in, &i))
                return TRUNC(t);
            v = i;
        } else if (brook_avro_read_long(&t->in, &v)) {
            return TRUNC(t);
        }
        if (r->kind == RK_FLOAT)
            rc = brook_avro_write_float(out, (float)v);
        else if (r->kind == RK_DOUBLE)
            rc = brook_avro_write_double(out, (double)v);
        else
            rc = brook_avro_write_long(out, v);
        break;
    }
    case RK_FLOAT: {
        float f;
        if (brook_avro_read_float(&t->in, &f))
            return TRUNC(t);
        rc = r->kind == RK_DOUBLE ? brook_avro_write_double(out, (double)f)
                                  : brook_avro_write_float(out, f);
        break;
    }
    case RK_DOUBLE: {
        double d;
        if (brook_avro_read_double(&t->in, &d))
            return TRUNC(t);
        rc = brook_avro_write_double(out, d);
        break;
    }
    case RK_BYTES:
    case RK_STRING: { /* the same encoding either way */
        int64_t len;
        if (brook_avro_read_long(&t->in, &len) || len < 0 ||
            (uint64_t)len > (uint64_t)(t->in.end - t->in.p))
            return TRUNC(t);
        rc = brook_avro_write_bytes(out, t->in.p, (size_t)len);
        t->in.p += len;
        break;
    }
    case RK_FIXED:
        if ((size_t)(t->in.end - t->in.p) < w->size)
            return TRUNC(t);
        rc = brook_avro_write_fixed(out, t->in.p, w->size);
        t->in.p += w->size;
        break;
    case RK_ENUM: {
        int32_t i;
        if (brook_avro_read_int(&t->in, &i) || i < 0 || (size_t)i >= w->nsymbols)
            return TRUNC(t);
        const char *sym = w->symbols[i];
        int found = -1;
        for (size_t k = 0; k < r->nsymbols && found < 0; k++)
            if (!strcmp(r->symbols[k], sym))
                found = (int)k;
        for (size_t k = 0; k < r->nsymbols && found < 0 && r->enum_default; k++)
            if (!strcmp(r->symbols[k], r->enum_default))
                found = (int)k;
        if (found < 0)
            return fail(t, "enum %s: symbol %s is unknown to the reader", w->fullname, sym);
        rc = brook_avro_write_long(out, found);
        break;
    }
    case RK_ARRAY:
    case RK_MAP:
        rc = convert_blocks(t, w, r, out);
        break;
    case RK_RECORD: {
        /* Writer fields arrive in writer order; the reader's go out in reader order. */
        brook_buf_t *parts = calloc(r->nfields ? r->nfields : 1, sizeof(brook_buf_t));
        bool *have = calloc(r->nfields ? r->nfields : 1, sizeof(bool));
        if (!parts || !have) {
            free(parts);
            free(have);
            return BROOK_ERR_NOMEM;
        }
        for (size_t i = 0; i < w->nfields && !rc; i++) {
            const rfield_t *rf = reader_field_for(r, w->fields[i].name);
            /* The pairs check() accepted: a reader field takes the writer field of its name,
             * else the first one its aliases name; any other writer field is skipped (two
             * writer fields an alias could match must not both land in one reader field). */
            if (rf && writer_field_for(w, rf) != &w->fields[i])
                rf = NULL;
            if (!rf) {
                rc = skip(t, w->fields[i].type);
                continue;
            }
            size_t idx = (size_t)(rf - r->fields);
            rc = convert(t, w->fields[i].type, rf->type, &parts[idx]);
            have[idx] = true;
        }
        for (size_t i = 0; i < r->nfields && !rc; i++) {
            if (have[i])
                rc = brook_buf_append(out, parts[i].data, parts[i].len);
            else if (r->fields[i].def)
                rc = write_default(t, r->fields[i].type, r->fields[i].def, out, 0);
            else
                rc = fail(t, "record %s: no value and no default for field %s", r->fullname,
                          r->fields[i].name);
        }
        for (size_t i = 0; i < r->nfields; i++)
            brook_buf_free(&parts[i]);
        free(parts);
        free(have);
        break;
    }
    default:
        break;
    }
    t->depth--;
    return rc;
}

/* ---- API ---------------------------------------------------------------------------------- */

void brook__avro_resolver_destroy(brook__avro_resolver_t *r) {
    if (!r)
        return;
    rschema_free(&r->writer);
    rschema_free(&r->reader);
    free(r->pairs);
    free(r);
}

brook__avro_resolver_t *brook__avro_resolver_new(const char *writer_schema_json,
                                                 const char *reader_schema_json,
                                                 brook_error_t *err) {
    brook__avro_resolver_t *r = calloc(1, sizeof(*r));
    if (!r) {
        brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (err)
        err->code = 0;
    char path[512] = "";
    if (!writer_schema_json || !reader_schema_json ||
        rschema_load(&r->writer, writer_schema_json, "writer", err) ||
        rschema_load(&r->reader, reader_schema_json, "reader", err) ||
        check(r, r->writer.root, r->reader.root, path, sizeof path, err)) {
        if (err && !err->code)
            brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema");
        brook__avro_resolver_destroy(r);
        return NULL;
    }
    return r;
}

int brook__avro_resolver_convert(brook__avro_resolver_t *r, const void *data, size_t len,
                                 brook_buf_t *out, brook_error_t *err) {
    /* No data and no length (an empty brook_buf_t) is an empty input: NULL + 0 is undefined. */
    static const uint8_t empty[1];
    const uint8_t *in = data ? (const uint8_t *)data : empty;
    tctx_t t = {{in, in, in + (data ? len : 0), NULL, 0}, err, 0, 0, MAX_FREE_STEPS};
    t.max_steps += len < (SIZE_MAX - MAX_FREE_STEPS) / MAX_STEPS_PER_BYTE
                       ? len * MAX_STEPS_PER_BYTE
                       : SIZE_MAX - MAX_FREE_STEPS;
    size_t start = out->len;
    int rc = data || !len ? convert(&t, r->writer.root, r->reader.root, out)
                          : fail(&t, "no data (NULL, %zu bytes)", len);
    if (!rc && t.in.p != t.in.end)
        rc = fail(&t, "%zu bytes after the value", (size_t)(t.in.end - t.in.p));
    if (rc) {
        out->len = start;
        if (rc == BROOK_ERR_NOMEM)
            brook_error_set(err, rc, "out of memory while resolving");
        return rc;
    }
    return 0;
}
