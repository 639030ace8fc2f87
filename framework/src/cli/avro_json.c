/*
 * Avro values as JSON (cli/cli.h), for any schema of the declarations: avro-c reads and writes
 * the binary datum as a generic value; this file walks that value to or from Avro's JSON
 * encoding with the runtime's JSON writers and readers (brook/avro.h), so the command prints
 * exactly what a generated T_to_json prints and reads what T_from_json reads.
 *
 * Not avro_value_to_json(): avro-c's JSON stops a bytes or fixed value at its first NUL byte,
 * names a union's record branch by its short name where Avro's JSON encoding wants the full
 * name, and fails on NaN and infinities; avro-c has no JSON reader.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "serde/avro_resolve.h"

#define MAX_DEPTH 64

/* Where in the value a walk is, for messages: "items[2].price". */
typedef struct {
    char text[512];
    size_t len;
} path_t;

__attribute__((format(printf, 2, 3))) static size_t path_push(path_t *p, const char *fmt, ...) {
    size_t was = p->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->text + p->len, sizeof(p->text) - p->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        p->len = p->len + (size_t)n < sizeof(p->text) ? p->len + (size_t)n : sizeof(p->text) - 1;
    return was;
}

static void path_pop(path_t *p, size_t was) {
    p->len = was;
    p->text[was] = 0;
}

/* The name a union branch has in Avro's JSON encoding: a named type's full name, else its
 * type's name ("string", "array", ...). */
static void branch_name(avro_schema_t s, char *out, size_t size) {
    while (is_avro_link(s)) /* a reference to a type being defined (recursion) */
        s = avro_schema_link_target(s);
    const char *ns = is_avro_named_type(s) ? avro_schema_namespace(s) : NULL;
    const char *name = is_avro_named_type(s) ? avro_schema_name(s) : avro_schema_type_name(s);
    snprintf(out, size, "%s%s%s", ns && *ns ? ns : "", ns && *ns ? "." : "", name ? name : "");
}

/* ---- to JSON -------------------------------------------------------------------------------- */

static int to_json(const avro_value_t *v, brook_buf_t *out, path_t *path, brook_error_t *err,
                   int depth);

/* Arrays, maps and records: their children in order, with keys for maps and records. */
static int children_to_json(const avro_value_t *v, brook_buf_t *out, bool keyed, path_t *path,
                            brook_error_t *err, int depth) {
    size_t n = 0;
    avro_value_get_size(v, &n);
    int rc = brook_avro_json_raw(out, keyed ? "{" : "[");
    for (size_t i = 0; !rc && i < n; i++) {
        avro_value_t child;
        const char *key = NULL;
        if (avro_value_get_by_index(v, i, &child, &key))
            return brook_error_set(err, BROOK_ERR_DECODE, "%s: %s", path->text, avro_strerror());
        if (i)
            rc = brook_avro_json_raw(out, ",");
        if (!rc && keyed)
            rc = brook_avro_json_string(out, key);
        if (!rc && keyed)
            rc = brook_avro_json_raw(out, ":");
        size_t was =
            keyed ? path_push(path, path->len ? ".%s" : "%s", key) : path_push(path, "[%zu]", i);
        if (!rc)
            rc = to_json(&child, out, path, err, depth + 1);
        path_pop(path, was);
    }
    return rc ? rc : brook_avro_json_raw(out, keyed ? "}" : "]");
}

static int to_json(const avro_value_t *v, brook_buf_t *out, path_t *path, brook_error_t *err,
                   int depth) {
    if (depth > MAX_DEPTH)
        return brook_error_set(err, BROOK_ERR_DECODE, "%s: nested too deeply", path->text);
    avro_schema_t schema = avro_value_get_schema(v);
    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        return brook_avro_json_raw(out, "null");
    case AVRO_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        return brook_avro_json_raw(out, b ? "true" : "false");
    }
    case AVRO_INT32: {
        int32_t i = 0;
        avro_value_get_int(v, &i);
        return brook_avro_json_long(out, i);
    }
    case AVRO_INT64: {
        int64_t l = 0;
        avro_value_get_long(v, &l);
        return brook_avro_json_long(out, l);
    }
    case AVRO_FLOAT: {
        float f = 0;
        avro_value_get_float(v, &f);
        return brook_avro_json_float(out, f);
    }
    case AVRO_DOUBLE: {
        double d = 0;
        avro_value_get_double(v, &d);
        return brook_avro_json_double(out, d);
    }
    case AVRO_BYTES:
    case AVRO_FIXED: {
        const void *b = NULL;
        size_t n = 0;
        if (avro_value_get_type(v) == AVRO_BYTES)
            avro_value_get_bytes(v, &b, &n);
        else
            avro_value_get_fixed(v, &b, &n);
        return brook_avro_json_bytes(out, b, n);
    }
    case AVRO_STRING: {
        const char *s = NULL;
        size_t n = 0; /* with its NUL */
        avro_value_get_string(v, &s, &n);
        if (!s || !n || !brook__cli_is_utf8(s, n - 1, false) || memchr(s, 0, n - 1))
            return brook_error_set(err, BROOK_ERR_DECODE, "%s: a string that is not UTF-8",
                                   path->text);
        return brook_avro_json_string(out, s);
    }
    case AVRO_ENUM: {
        int i = 0;
        avro_value_get_enum(v, &i);
        const char *symbol = avro_schema_enum_get(schema, i);
        if (!symbol)
            return brook_error_set(err, BROOK_ERR_DECODE, "%s: enum index %d out of range",
                                   path->text, i);
        return brook_avro_json_string(out, symbol);
    }
    case AVRO_ARRAY:
        return children_to_json(v, out, false, path, err, depth);
    case AVRO_MAP:
    case AVRO_RECORD:
        return children_to_json(v, out, true, path, err, depth);
    case AVRO_UNION: {
        avro_value_t branch;
        if (avro_value_get_current_branch(v, &branch))
            return brook_error_set(err, BROOK_ERR_DECODE, "%s: %s", path->text, avro_strerror());
        if (avro_value_get_type(&branch) == AVRO_NULL)
            return brook_avro_json_raw(out, "null");
        char name[512];
        branch_name(avro_value_get_schema(&branch), name, sizeof(name));
        int rc = brook_avro_json_raw(out, "{");
        if (!rc)
            rc = brook_avro_json_string(out, name);
        if (!rc)
            rc = brook_avro_json_raw(out, ":");
        if (!rc)
            rc = to_json(&branch, out, path, err, depth + 1);
        return rc ? rc : brook_avro_json_raw(out, "}");
    }
    default:
        return brook_error_set(err, BROOK_ERR_DECODE, "%s: unsupported Avro type", path->text);
    }
}

int brook__cli_avro_to_json(const brook__cli_schema_t *s, const void *data, size_t len,
                            brook_buf_t *out, brook_error_t *err) {
    /* Checked (bounds, counts, union branches, nothing left over) and re-encoded by the
     * runtime's reader first: avro-c then reads well-formed data only. */
    brook_buf_t checked;
    brook_buf_init(&checked);
    char why[sizeof(err->message)];
    if (brook__avro_resolver_convert(s->check, data, len, &checked, err)) {
        snprintf(why, sizeof(why), "%s", err ? err->message : "");
        brook_buf_free(&checked);
        return brook_error_set(err, BROOK_ERR_DECODE, "not a %s: %s", s->name, why);
    }
    avro_value_t v;
    if (avro_generic_value_new(s->iface, &v)) {
        brook_buf_free(&checked);
        return brook_error_set(err, BROOK_ERR_NOMEM, "%s", avro_strerror());
    }
    avro_reader_t r = avro_reader_memory((const char *)checked.data, (int64_t)checked.len);
    int rc = 0;
    if (!r) {
        rc = brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    } else if (avro_value_read(r, &v)) {
        rc = brook_error_set(err, BROOK_ERR_DECODE, "not a %s: %s", s->name, avro_strerror());
    } else {
        size_t start = out->len;
        path_t path = {"", 0};
        rc = to_json(&v, out, &path, err, 0);
        if (rc) {
            out->len = start;
            snprintf(why, sizeof(why), "%s", err ? err->message : "");
            rc = brook_error_set(err, BROOK_ERR_DECODE, "a %s: %s", s->name, why);
        }
    }
    if (r)
        avro_reader_free(r);
    avro_value_decref(&v);
    brook_buf_free(&checked);
    return rc;
}

/* ---- from JSON ------------------------------------------------------------------------------ */

typedef struct {
    brook_arena_t *arena; /* strings and bytes read from the JSON */
    path_t path;
    brook_error_t *err;
} reader_t;

static int wrong(reader_t *rd, const char *what) {
    return brook_error_set(rd->err, BROOK_ERR_ENCODE, "%s: %s", rd->path.text, what);
}

static int expected(reader_t *rd, const char *what) {
    char text[200];
    snprintf(text, sizeof(text), "expected %s", what);
    return wrong(rd, text);
}

static int from_json(reader_t *rd, const brook_json_t *j, avro_value_t *v, int depth);

static int record_from_json(reader_t *rd, const brook_json_t *j, avro_value_t *v, int depth) {
    avro_schema_t schema = avro_value_get_schema(v);
    if (!brook_avro_json_is_object(j))
        return expected(rd, "an object (a record)");
    size_t n = avro_schema_record_size(schema);
    for (size_t i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(schema, (int)i);
        const brook_json_t *f = brook_avro_json_field(j, name);
        size_t was = path_push(&rd->path, rd->path.len ? ".%s" : "%s", name);
        avro_value_t child;
        int rc = !f ? wrong(rd, "missing (a record's fields are all required)")
                 : avro_value_get_by_index(v, i, &child, NULL) ? expected(rd, "a field")
                                                               : from_json(rd, f, &child, depth);
        path_pop(&rd->path, was);
        if (rc)
            return rc;
    }
    for (void *it = brook_avro_json_object_iter(j); it;
         it = brook_avro_json_object_iter_next(j, it)) {
        const char *key = brook_avro_json_object_iter_key(it);
        if (avro_schema_record_field_get_index(schema, key) < 0) {
            size_t was = path_push(&rd->path, rd->path.len ? ".%s" : "%s", key);
            int rc = wrong(rd, "not a field of the record");
            path_pop(&rd->path, was);
            return rc;
        }
    }
    return 0;
}

static int union_from_json(reader_t *rd, const brook_json_t *j, avro_value_t *v, int depth) {
    avro_schema_t schema = avro_value_get_schema(v);
    size_t n = avro_schema_union_size(schema);
    const char *want = NULL;
    const brook_json_t *inner = NULL;
    bool null = brook_avro_json_is_null(j);
    if (!null && brook_avro_json_union(j, &want, &inner))
        return expected(rd, "null or {\"<branch>\": value} (Avro's JSON encoding of a union)");
    for (size_t i = 0; i < n; i++) {
        avro_schema_t b = avro_schema_union_branch(schema, (int)i);
        char name[512];
        branch_name(b, name, sizeof(name));
        bool match = null ? is_avro_null(b)
                          : !strcmp(name, want) ||
                                (is_avro_named_type(b) && !strcmp(avro_schema_name(b), want));
        if (!match)
            continue;
        avro_value_t branch;
        if (avro_value_set_branch(v, (int)i, &branch))
            return expected(rd, "a union branch");
        if (null)
            return avro_value_set_null(&branch) ? expected(rd, "null") : 0;
        size_t was = path_push(&rd->path, ".%s", want);
        int rc = from_json(rd, inner, &branch, depth);
        path_pop(&rd->path, was);
        return rc;
    }
    return expected(rd, null ? "a branch: the union has no null" : "a branch the union has");
}

static int enum_from_json(reader_t *rd, const brook_json_t *j, avro_value_t *v) {
    avro_schema_t schema = avro_value_get_schema(v);
    int n = avro_schema_enum_number_of_symbols(schema);
    const char **symbols = calloc(n > 0 ? (size_t)n : 1, sizeof(*symbols));
    if (!symbols)
        return brook_error_set(rd->err, BROOK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        symbols[i] = avro_schema_enum_get(schema, i);
    int index = 0;
    int rc = brook_avro_json_get_enum(j, symbols, (size_t)n, &index);
    free(symbols);
    if (rc || avro_value_set_enum(v, index))
        return expected(rd, "one of the enum's symbols");
    return 0;
}

static int list_from_json(reader_t *rd, const brook_json_t *j, avro_value_t *v, int depth) {
    size_t n;
    if (brook_avro_json_array_size(j, &n))
        return expected(rd, "an array");
    for (size_t i = 0; i < n; i++) {
        avro_value_t child;
        size_t was = path_push(&rd->path, "[%zu]", i);
        int rc = avro_value_append(v, &child, NULL)
                     ? expected(rd, "an item")
                     : from_json(rd, brook_avro_json_array_get(j, i), &child, depth);
        path_pop(&rd->path, was);
        if (rc)
            return rc;
    }
    return 0;
}

static int map_from_json(reader_t *rd, const brook_json_t *j, avro_value_t *v, int depth) {
    size_t n;
    if (brook_avro_json_object_size(j, &n))
        return expected(rd, "an object (a map)");
    for (void *it = brook_avro_json_object_iter(j); it;
         it = brook_avro_json_object_iter_next(j, it)) {
        const char *key = brook_avro_json_object_iter_key(it);
        avro_value_t child;
        size_t was = path_push(&rd->path, rd->path.len ? ".%s" : "%s", key);
        int rc = avro_value_add(v, key, &child, NULL, NULL)
                     ? expected(rd, "a map entry")
                     : from_json(rd, brook_avro_json_object_iter_value(it), &child, depth);
        path_pop(&rd->path, was);
        if (rc)
            return rc;
    }
    return 0;
}

static int from_json(reader_t *rd, const brook_json_t *j, avro_value_t *v, int depth) {
    if (++depth > MAX_DEPTH)
        return expected(rd, "less nesting");
    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        return brook_avro_json_is_null(j) && !avro_value_set_null(v) ? 0 : expected(rd, "null");
    case AVRO_BOOLEAN: {
        bool b;
        return !brook_avro_json_get_boolean(j, &b) && !avro_value_set_boolean(v, b)
                   ? 0
                   : expected(rd, "true or false");
    }
    case AVRO_INT32: {
        int32_t i;
        return !brook_avro_json_get_int(j, &i) && !avro_value_set_int(v, i)
                   ? 0
                   : expected(rd, "an int (a whole number of 32 bits)");
    }
    case AVRO_INT64: {
        int64_t l;
        return !brook_avro_json_get_long(j, &l) && !avro_value_set_long(v, l)
                   ? 0
                   : expected(rd, "a long (a whole number)");
    }
    case AVRO_FLOAT: {
        float f;
        return !brook_avro_json_get_float(j, &f) && !avro_value_set_float(v, f)
                   ? 0
                   : expected(rd, "a float (a number, \"NaN\" or \"Infinity\")");
    }
    case AVRO_DOUBLE: {
        double d;
        return !brook_avro_json_get_double(j, &d) && !avro_value_set_double(v, d)
                   ? 0
                   : expected(rd, "a double (a number, \"NaN\" or \"Infinity\")");
    }
    case AVRO_STRING: {
        char *s;
        return !brook_avro_json_get_string(j, &rd->arena, &s) && !avro_value_set_string(v, s)
                   ? 0
                   : expected(rd, "a string");
    }
    case AVRO_BYTES: {
        brook_bytes_t b;
        return !brook_avro_json_get_bytes(j, &rd->arena, &b) &&
                       !avro_value_set_bytes(v, b.data, b.len)
                   ? 0
                   : expected(rd, "a string of code points 0-255, one per byte (Avro bytes)");
    }
    case AVRO_FIXED: {
        int64_t size = avro_schema_fixed_size(avro_value_get_schema(v));
        uint8_t *b = size >= 0 ? brook_arena_alloc(&rd->arena, (size_t)size + 1) : NULL;
        return b && !brook_avro_json_get_fixed(j, b, (size_t)size) &&
                       !avro_value_set_fixed(v, b, (size_t)size)
                   ? 0
                   : expected(rd, "a string of code points 0-255 as long as the fixed's size");
    }
    case AVRO_ENUM:
        return enum_from_json(rd, j, v);
    case AVRO_ARRAY:
        return list_from_json(rd, j, v, depth);
    case AVRO_MAP:
        return map_from_json(rd, j, v, depth);
    case AVRO_RECORD:
        return record_from_json(rd, j, v, depth);
    case AVRO_UNION:
        return union_from_json(rd, j, v, depth);
    default:
        return expected(rd, "a type Brook knows");
    }
}

int brook__cli_avro_from_json(const brook__cli_schema_t *s, const brook_json_t *j, const char *root,
                              brook_buf_t *out, brook_error_t *err) {
    avro_value_t v;
    if (avro_generic_value_new(s->iface, &v))
        return brook_error_set(err, BROOK_ERR_NOMEM, "%s", avro_strerror());
    reader_t rd = {.err = err};
    path_push(&rd.path, "%s", root);
    int rc = from_json(&rd, j, &v, 0);
    size_t size = 0;
    if (!rc && (avro_value_sizeof(&v, &size) || brook_buf_reserve(out, size)))
        rc = brook_error_set(err, BROOK_ERR_ENCODE, "cannot encode a %s: %s", s->name,
                             avro_strerror());
    if (!rc) {
        avro_writer_t w = avro_writer_memory((const char *)out->data + out->len, (int64_t)size);
        if (!w || avro_value_write(w, &v))
            rc = brook_error_set(err, BROOK_ERR_ENCODE, "cannot encode a %s: %s", s->name,
                                 avro_strerror());
        else
            out->len += size;
        if (w)
            avro_writer_free(w);
    }
    brook_arena_free(&rd.arena);
    avro_value_decref(&v);
    return rc;
}
