/*
 * The schemas of the --decl files (cli/cli.h): every Avro named type of their `schemas` and
 * `writer_schemas`, each made standalone (the named types it uses defined inline where first
 * used, as brookc's descriptors are), with its Parsing Canonical Form and fingerprint
 * (brook_avro_canonical_form: the runtime's) and an avro-c schema parsed from that form for
 * avro-c's generic values.
 *
 * A declaration's schema files may use types defined in its other files (brookc reads them
 * together); a writer schema file is read on its own, falling back to the declaration's.
 *
 * `brook consume` adds the writer schemas a schema registry gives it for Confluent ids no
 * template declares, one per id, kept apart from the declarations' types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "serde/avro_resolve.h"

struct brook__cli_catalog_s {
    brook__cli_schema_t *items;
    size_t count;
    /* Confluent schema ids the declarations' templates give their types. */
    struct {
        int32_t id;
        const char *type; /* borrowed from a declaration */
    } * ids;
    size_t id_count;
    /* Writer schemas of other ids, as the schema registry gave them (brook__cli_catalog_add_id);
     * each allocated on its own, so what the lookups returned stays where it is. */
    struct {
        int32_t id;
        brook__cli_schema_t *schema;
    } * fetched;
    size_t fetched_count;
};

/* A named definition in a scope: its full name and its JSON (borrowed from the document). */
typedef struct {
    char *name;
    json_t *def;
} named_t;

typedef struct {
    named_t *items;
    size_t count;
} scope_t;

static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

static bool is_primitive(const char *t) {
    for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
        if (!strcmp(t, primitives[i]))
            return true;
    return false;
}

static bool is_named_kind(const char *t) {
    return !strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") || !strcmp(t, "fixed");
}

/* `name` in namespace `ns` (the enclosing one unless the definition names its own). */
static char *full_name(const char *name, const char *ns) {
    char *r;
    if (strchr(name, '.') || !ns || !*ns)
        return strdup(name);
    return asprintf(&r, "%s.%s", ns, name) < 0 ? NULL : r;
}

/* The namespace a full name gives what is defined inside it. */
static char *namespace_of(const char *full) {
    const char *dot = strrchr(full, '.');
    return dot ? strndup(full, (size_t)(dot - full)) : strdup("");
}

static void scope_free(scope_t *s) {
    for (size_t i = 0; i < s->count; i++)
        free(s->items[i].name);
    free(s->items);
    memset(s, 0, sizeof(*s));
}

static json_t *scope_find(const scope_t *s, const char *name) {
    for (size_t i = s->count; i-- > 0;)
        if (!strcmp(s->items[i].name, name))
            return s->items[i].def;
    return NULL;
}

/* Records every named type defined in j (namespace ns). */
static void scope_collect(scope_t *s, json_t *j, const char *ns, int depth) {
    if (depth > 64)
        return;
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            scope_collect(s, json_array_get(j, i), ns, depth + 1);
        return;
    }
    if (!json_is_object(j))
        return;
    json_t *type = json_object_get(j, "type");
    if (!json_is_string(type)) {
        scope_collect(s, type, ns, depth + 1);
        return;
    }
    const char *t = json_string_value(type);
    if (!strcmp(t, "array") || !strcmp(t, "map")) {
        scope_collect(s, json_object_get(j, !strcmp(t, "array") ? "items" : "values"), ns,
                      depth + 1);
        return;
    }
    json_t *name = json_object_get(j, "name");
    if (!is_named_kind(t) || !json_is_string(name))
        return;
    json_t *own_ns = json_object_get(j, "namespace");
    char *full =
        full_name(json_string_value(name), json_is_string(own_ns) ? json_string_value(own_ns) : ns);
    named_t *items = full ? realloc(s->items, (s->count + 1) * sizeof(*items)) : NULL;
    if (!items) {
        free(full);
        return;
    }
    s->items = items;
    s->items[s->count++] = (named_t){full, j};
    char *inner = namespace_of(full);
    json_t *fields = json_object_get(j, "fields");
    for (size_t i = 0; inner && i < json_array_size(fields); i++)
        scope_collect(s, json_object_get(json_array_get(fields, i), "type"), inner, depth + 1);
    free(inner);
}

/* ---- standalone schemas --------------------------------------------------------------------- */

typedef struct {
    const scope_t *scopes[2]; /* where names are looked up, in order */
    char **defined;           /* names already defined in the output */
    size_t defined_count;
    brook_error_t *err;
} inline_t;

static bool defined(const inline_t *in, const char *name) {
    for (size_t i = 0; i < in->defined_count; i++)
        if (!strcmp(in->defined[i], name))
            return true;
    return false;
}

static json_t *inline_schema(inline_t *in, json_t *j, const char *ns, int depth);

/* The definition `def` of `full`, with every type it uses inlined or named in full. */
static json_t *inline_named(inline_t *in, json_t *def, const char *full, int depth) {
    char **d = realloc(in->defined, (in->defined_count + 1) * sizeof(*d));
    if (!d || !(d[in->defined_count] = strdup(full))) {
        if (d)
            in->defined = d;
        return NULL;
    }
    in->defined = d;
    in->defined_count++;
    const char *kind = json_string_value(json_object_get(def, "type"));
    json_t *out = json_pack("{s:s, s:s}", "type", kind, "name", full);
    if (!out)
        return NULL;
    if (!strcmp(kind, "enum")) {
        json_object_set(out, "symbols", json_object_get(def, "symbols"));
    } else if (!strcmp(kind, "fixed")) {
        json_object_set(out, "size", json_object_get(def, "size"));
    } else {
        char *inner = namespace_of(full);
        json_t *fields = json_array(), *src = json_object_get(def, "fields");
        json_object_set_new(out, "fields", fields);
        for (size_t i = 0; inner && i < json_array_size(src); i++) {
            json_t *f = json_array_get(src, i);
            json_t *type = inline_schema(in, json_object_get(f, "type"), inner, depth + 1);
            if (!type) {
                free(inner);
                json_decref(out);
                return NULL;
            }
            json_array_append_new(
                fields, json_pack("{s:O, s:o}", "name", json_object_get(f, "name"), "type", type));
        }
        free(inner);
    }
    return out;
}

/* A reference to a named type: its definition the first time, its full name after. As in the
 * Parsing Canonical Form, a short name is looked up in the enclosing namespace, then in none. */
static json_t *inline_ref(inline_t *in, const char *name, const char *ns, int depth) {
    char *names[2] = {full_name(name, ns), strchr(name, '.') ? NULL : strdup(name)};
    json_t *r = NULL;
    bool found = false;
    for (int k = 0; k < 2 && !found; k++) {
        if (!names[k])
            continue;
        json_t *def = NULL;
        for (int s = 0; s < 2 && !def; s++)
            def = in->scopes[s] ? scope_find(in->scopes[s], names[k]) : NULL;
        if ((found = defined(in, names[k])))
            r = json_string(names[k]);
        else if ((found = def != NULL))
            r = inline_named(in, def, names[k], depth);
    }
    if (!found)
        brook_error_set(in->err, BROOK_ERR_SCHEMA, "unknown type \"%s\"",
                        names[0] ? names[0] : name);
    free(names[0]);
    free(names[1]);
    return r;
}

static json_t *inline_schema(inline_t *in, json_t *j, const char *ns, int depth) {
    if (depth > 64) {
        brook_error_set(in->err, BROOK_ERR_SCHEMA, "schema nested too deeply");
        return NULL;
    }
    if (json_is_string(j)) {
        const char *t = json_string_value(j);
        return is_primitive(t) ? json_string(t) : inline_ref(in, t, ns, depth);
    }
    if (json_is_array(j)) {
        json_t *out = json_array();
        for (size_t i = 0; out && i < json_array_size(j); i++) {
            json_t *b = inline_schema(in, json_array_get(j, i), ns, depth + 1);
            if (!b) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, b);
        }
        return out;
    }
    json_t *type = json_object_get(j, "type");
    if (!json_is_string(type)) {
        if (!type)
            brook_error_set(in->err, BROOK_ERR_SCHEMA, "schema without a type");
        return type ? inline_schema(in, type, ns, depth + 1) : NULL;
    }
    const char *t = json_string_value(type);
    if (!strcmp(t, "array") || !strcmp(t, "map")) {
        bool arr = !strcmp(t, "array");
        json_t *inner = inline_schema(in, json_object_get(j, arr ? "items" : "values"), ns, depth);
        return inner ? json_pack("{s:s, s:o}", "type", t, arr ? "items" : "values", inner) : NULL;
    }
    json_t *name = json_object_get(j, "name");
    if (!is_named_kind(t) || !json_is_string(name))
        return inline_schema(in, type, ns, depth + 1); /* primitive, or {"type": "ns.Name"} */
    json_t *own_ns = json_object_get(j, "namespace");
    char *full =
        full_name(json_string_value(name), json_is_string(own_ns) ? json_string_value(own_ns) : ns);
    json_t *r = !full               ? NULL
                : defined(in, full) ? json_string(full)
                                    : inline_named(in, j, full, depth);
    free(full);
    return r;
}

/* ---- the catalog ---------------------------------------------------------------------------- */

static void schema_clear(brook__cli_schema_t *s) {
    free(s->name);
    free(s->canonical);
    if (s->iface)
        avro_value_iface_decref(s->iface);
    if (s->schema)
        avro_schema_decref(s->schema);
    brook__avro_resolver_destroy(s->check);
}

void brook__cli_catalog_free(brook__cli_catalog_t *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        schema_clear(&c->items[i]);
    for (size_t i = 0; i < c->fetched_count; i++) {
        schema_clear(c->fetched[i].schema);
        free(c->fetched[i].schema);
    }
    free(c->items);
    free(c->ids);
    free(c->fetched);
    free(c);
}

/* s's avro-c schema and generic class and its bounds-checked reader, from s->canonical (`len`
 * bytes). 0, or BROOK_ERR_SCHEMA saying why after `what`. */
static int schema_load(brook__cli_schema_t *s, size_t len, const char *what, brook_error_t *err) {
    char why[sizeof(err->message)];
    if (avro_schema_from_json_length(s->canonical, len, &s->schema)) {
        s->schema = NULL;
        return brook_error_set(err, BROOK_ERR_SCHEMA, "%s: avro-c cannot read it: %s", what,
                               avro_strerror());
    }
    if (!(s->iface = avro_generic_class_from_schema(s->schema)))
        return brook_error_set(err, BROOK_ERR_SCHEMA, "%s: %s", what, avro_strerror());
    if (!(s->check = brook__avro_resolver_new(s->canonical, s->canonical, err))) {
        snprintf(why, sizeof(why), "%s", err ? err->message : "invalid");
        return brook_error_set(err, BROOK_ERR_SCHEMA, "%s: %s", what, why);
    }
    return 0;
}

/* Adds the named type `name` of scope `own` (then `outer`) to the catalog, unless a type with
 * the same fingerprint is in it. */
static int add_type(brook__cli_catalog_t *c, const scope_t *own, const scope_t *outer,
                    const char *name, bool writer_only, const char *file, brook_error_t *err) {
    inline_t in = {{own, outer}, NULL, 0, err};
    json_t *standalone = inline_ref(&in, name, "", 0);
    for (size_t i = 0; i < in.defined_count; i++)
        free(in.defined[i]);
    free(in.defined);
    char why[sizeof(err->message)];
    snprintf(why, sizeof(why), "%s", err && err->message[0] ? err->message : "out of memory");
    if (!standalone)
        return brook_error_set(err, BROOK_ERR_SCHEMA, "%s: %s: %s", file, name, why);
    char *text = json_dumps(standalone, JSON_COMPACT);
    json_decref(standalone);
    brook_buf_t pcf;
    brook_buf_init(&pcf);
    int rc = text ? brook_avro_canonical_form(text, &pcf, err) : BROOK_ERR_NOMEM;
    free(text);
    if (!rc)
        rc = brook_buf_append(&pcf, "", 1);
    if (rc) {
        brook_buf_free(&pcf);
        snprintf(why, sizeof(why), "%s", err ? err->message : "invalid");
        return brook_error_set(err, BROOK_ERR_SCHEMA, "%s: %s: %s", file, name, why);
    }
    uint64_t fp = brook_avro_crc64(pcf.data, pcf.len - 1);
    if (brook__cli_catalog_fingerprint(c, fp)) {
        brook_buf_free(&pcf);
        return 0;
    }
    brook__cli_schema_t s = {.fingerprint = fp, .writer_only = writer_only};
    s.canonical = (char *)pcf.data; /* taken */
    char what[sizeof(err->message)];
    snprintf(what, sizeof(what), "%s: %s", file, name);
    if (!(s.name = strdup(name)))
        rc = brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    else
        rc = schema_load(&s, pcf.len - 1, what, err);
    brook__cli_schema_t *items = rc ? NULL : realloc(c->items, (c->count + 1) * sizeof(*items));
    if (!items) {
        schema_clear(&s);
        return rc ? rc : brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    }
    c->items = items;
    c->items[c->count++] = s;
    return 0;
}

static json_t *load_schema(const brook_decl_t *d, const char *rel, char *path, size_t size,
                           brook_error_t *err) {
    snprintf(path, size, "%s%s%s", rel[0] == '/' ? "" : d->base_dir, rel[0] == '/' ? "" : "/", rel);
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        brook_error_set(err, BROOK_ERR_SCHEMA, "%s:%d: %s (a schema of %s)", path, jerr.line,
                        jerr.text, d->source);
    return j;
}

/* Every named type of d's schemas, then of each writer schema file. */
static int add_decl(brook__cli_catalog_t *c, const brook_decl_t *d, brook_error_t *err) {
    json_t **docs = calloc(d->schema_count + 1, sizeof(*docs));
    scope_t main = {0};
    char path[4096];
    int rc = docs ? 0 : BROOK_ERR_NOMEM;
    for (size_t i = 0; !rc && i < d->schema_count; i++) {
        if (!(docs[i] = load_schema(d, d->schemas[i], path, sizeof(path), err)))
            rc = BROOK_ERR_SCHEMA;
        else
            scope_collect(&main, docs[i], "", 0);
    }
    for (size_t i = 0; !rc && i < main.count; i++)
        rc = add_type(c, &main, NULL, main.items[i].name, false, d->source, err);
    for (size_t i = 0; !rc && i < d->writer_schema_count; i++) {
        json_t *w = load_schema(d, d->writer_schemas[i], path, sizeof(path), err);
        scope_t own = {0};
        if (!w) {
            rc = BROOK_ERR_SCHEMA;
            break;
        }
        scope_collect(&own, w, "", 0);
        for (size_t k = 0; !rc && k < own.count; k++)
            rc = add_type(c, &own, &main, own.items[k].name, true, path, err);
        scope_free(&own);
        json_decref(w);
    }
    scope_free(&main);
    for (size_t i = 0; docs && i < d->schema_count; i++)
        json_decref(docs[i]);
    free(docs);
    return rc;
}

static void add_ids(brook__cli_catalog_t *c, const brook_decl_t *d) {
    /* With a schema registry, the templates' ids are the registry's: they declare none. */
    for (size_t i = 0; !d->registry.declared && i < d->template_count; i++) {
        const brook_decl_template_t *t = &d->templates[i];
        if (t->framing != BROOK_AVRO_FRAMING_CONFLUENT || t->value.kind != BROOK_SERDE_AVRO)
            continue;
        void *ids = realloc(c->ids, (c->id_count + 1) * sizeof(*c->ids));
        if (!ids)
            return;
        c->ids = ids;
        c->ids[c->id_count].id = t->schema_id;
        c->ids[c->id_count++].type = t->value.type_name;
    }
}

brook__cli_catalog_t *brook__cli_catalog(brook__cli_t *cli) {
    if (cli->catalog)
        return cli->catalog;
    brook__cli_catalog_t *c = calloc(1, sizeof(*c));
    if (!c) {
        brook__cli_fail(BROOK_CLI_USAGE, "out of memory");
        return NULL;
    }
    brook_error_t err = {0};
    for (size_t i = 0; i < cli->decl_count; i++) {
        if (add_decl(c, cli->decls[i], &err)) {
            brook__cli_fail(BROOK_CLI_USAGE, "%s", err.message);
            brook__cli_catalog_free(c);
            return NULL;
        }
        add_ids(c, cli->decls[i]);
    }
    return cli->catalog = c;
}

size_t brook__cli_catalog_size(const brook__cli_catalog_t *c) {
    return c ? c->count : 0;
}

const brook__cli_schema_t *brook__cli_catalog_fingerprint(const brook__cli_catalog_t *c,
                                                          uint64_t fingerprint) {
    for (size_t i = 0; c && i < c->count; i++)
        if (c->items[i].fingerprint == fingerprint)
            return &c->items[i];
    return NULL;
}

const brook__cli_schema_t *brook__cli_catalog_name(const brook__cli_catalog_t *c,
                                                   const char *name) {
    for (size_t i = 0; c && i < c->count; i++)
        if (!c->items[i].writer_only && !strcmp(c->items[i].name, name))
            return &c->items[i];
    return NULL;
}

const brook__cli_schema_t *brook__cli_catalog_schema_id(const brook__cli_catalog_t *c, int32_t id) {
    for (size_t i = 0; c && i < c->id_count; i++)
        if (c->ids[i].id == id)
            return brook__cli_catalog_name(c, c->ids[i].type);
    for (size_t i = 0; c && i < c->fetched_count; i++)
        if (c->fetched[i].id == id)
            return c->fetched[i].schema;
    return NULL;
}

/* What `*_schema` calls a writer schema: a named type's full name, else its canonical form (a
 * primitive's without the quotes: string). */
static char *display_name(const brook__cli_schema_t *s) {
    char *r = NULL;
    if (is_avro_named_type(s->schema)) {
        const char *ns = avro_schema_namespace(s->schema), *name = avro_schema_name(s->schema);
        return asprintf(&r, "%s%s%s", ns && *ns ? ns : "", ns && *ns ? "." : "", name) < 0 ? NULL
                                                                                           : r;
    }
    size_t n = strlen(s->canonical);
    return s->canonical[0] == '"' && n >= 2 ? strndup(s->canonical + 1, n - 2)
                                            : strdup(s->canonical);
}

const brook__cli_schema_t *brook__cli_catalog_add_id(brook__cli_catalog_t *c, int32_t id,
                                                     const char *schema_json, brook_error_t *err) {
    char what[64], why[sizeof(err->message)];
    snprintf(what, sizeof(what), "schema id %d", (int)id);
    brook_buf_t pcf;
    brook_buf_init(&pcf);
    int rc = brook_avro_canonical_form(schema_json, &pcf, err);
    if (!rc)
        rc = brook_buf_append(&pcf, "", 1);
    if (rc) {
        brook_buf_free(&pcf);
        snprintf(why, sizeof(why), "%s", err && err->message[0] ? err->message : "out of memory");
        brook_error_set(err, BROOK_ERR_SCHEMA, "%s: %s", what, why);
        return NULL;
    }
    brook__cli_schema_t *s = calloc(1, sizeof(*s));
    void *grown = s ? realloc(c->fetched, (c->fetched_count + 1) * sizeof(*c->fetched)) : NULL;
    if (!grown) {
        free(s);
        brook_buf_free(&pcf);
        brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->fetched = grown;
    s->canonical = (char *)pcf.data; /* taken */
    s->fingerprint = brook_avro_crc64(pcf.data, pcf.len - 1);
    s->writer_only = true;
    rc = schema_load(s, pcf.len - 1, what, err);
    if (!rc && !(s->name = display_name(s)))
        rc = brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    if (rc) {
        schema_clear(s);
        free(s);
        return NULL;
    }
    c->fetched[c->fetched_count].id = id;
    c->fetched[c->fetched_count++].schema = s;
    return s;
}
