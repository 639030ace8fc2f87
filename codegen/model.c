/*
 * The schema model: .avsc files parsed with jansson (which keeps doc, logicalType, defaults),
 * named types resolved across files, checked with avro-c, and given C names.
 *
 * jansson does not keep positions, so an error's line is found by looking for the offending
 * name, quoted, in the file's text: exact for what a schema file normally contains.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "brookc.h"

/* ---- small helpers ------------------------------------------------------------------------ */

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "brookc: out of memory\n");
        exit(2);
    }
    return p;
}

void *xrealloc(void *p, size_t size) {
    p = realloc(p, size ? size : 1);
    if (!p) {
        fprintf(stderr, "brookc: out of memory\n");
        exit(2);
    }
    return p;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s);
    char *p = xcalloc(1, n + 1);
    memcpy(p, s, n);
    return p;
}

void sb_put(sb_t *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = xrealloc(b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void sb_puts(sb_t *b, const char *s) {
    sb_put(b, s, strlen(s));
}

void sb_printf(sb_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "brookc: out of memory\n");
        exit(2);
    }
    sb_put(b, s, (size_t)n);
    free(s);
}

char *sb_take(sb_t *b) {
    char *s = b->s ? b->s : xstrdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

char *xprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "brookc: out of memory\n");
        exit(2);
    }
    return s;
}

static int ndiag;

void diag(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (line > 0)
        fprintf(stderr, "%s:%d: ", file, line);
    else
        fprintf(stderr, "%s: ", file);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    ndiag++;
}

int diag_count(void) {
    return ndiag;
}

const char *kind_name(kind_t k) {
    static const char *names[] = {"null",   "boolean", "int",    "long",   "float",
                                  "double", "bytes",   "string", "record", "enum",
                                  "array",  "map",     "union",  "fixed",  "reference"};
    return names[k];
}

static const char *c_reserved[] = {
    /* C11 keywords */
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict",
    "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
    "unsigned", "void", "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex",
    "_Generic", "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local",
    /* macros and names of the headers generated code includes */
    "bool", "true", "false", "NULL", "errno", "assert", "offsetof", "stdin", "stdout", "stderr",
    "EOF", "complex", "imaginary", "alignas", "alignof", "noreturn", "static_assert",
    "thread_local", "unix", "linux", "main", "memset", "memcpy", "strlen", "strcmp", "free",
    "malloc", "calloc", "realloc", "abort", "exit", "size_t", "int8_t", "int16_t", "int32_t",
    "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "INT32_MIN", "INT32_MAX", "INT64_MIN",
    "INT64_MAX", "SIZE_MAX", "NAN", "INFINITY",
    /* C++ keywords, so the header also works there */
    "class", "namespace", "template", "this", "new", "delete", "operator", "private", "protected",
    "public", "virtual", "friend", "throw", "try", "catch", "typename", "using", "explicit",
    "export", "mutable", "and", "or", "not", "xor", NULL};

/* Generated code's own locals: no type or function may take these names. */
static const char *c_locals[] = {"v",      "out",  "r",   "a",   "j",   "err",   "data",
                                 "len",    "json", "svc", "ctx", "key", "value", "opts",
                                 "opaque", "tpl",  "doc", "rc",  NULL};

bool is_c_local(const char *s) {
    for (const char **k = c_locals; *k; k++)
        if (!strcmp(*k, s))
            return true;
    return false;
}

bool is_c_reserved(const char *s) {
    for (const char **k = c_reserved; *k; k++)
        if (!strcmp(*k, s))
            return true;
    /* Reserved to the implementation, and Brook's own prefixes. */
    if (s[0] == '_' && (s[1] == '_' || isupper((unsigned char)s[1])))
        return true;
    if (!strncmp(s, "brook_", 6) || !strncmp(s, "BROOK_", 6))
        return true;
    return false;
}

bool is_c_identifier(const char *s) {
    if (!s || !*s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_') || (unsigned char)*p > 127)
            return false;
    return true;
}

static bool is_avro_name(const char *s) {
    return is_c_identifier(s);
}

/* ---- parsing -------------------------------------------------------------------------------- */

typedef struct {
    model_t *m;
    const char *file; /* display name */
    const char *text;
    bool writer;
} pctx_t;

/* Line of the nth occurrence (1-based) of "needle" (quoted) in text; 0 when absent. */
static int find_line(const char *text, const char *needle, int nth) {
    if (!text || !needle)
        return 0;
    char *q = xprintf("\"%s\"", needle);
    const char *p = text;
    const char *hit = NULL;
    while (nth-- > 0) {
        hit = strstr(p, q);
        if (!hit)
            break;
        p = hit + 1;
    }
    free(q);
    if (!hit)
        return 0;
    int line = 1;
    for (const char *c = text; c < hit; c++)
        line += *c == '\n';
    return line;
}

static int count_occurrences(const char *text, const char *needle) {
    char *q = xprintf("\"%s\"", needle);
    int n = 0;
    for (const char *p = strstr(text, q); p; p = strstr(p + 1, q))
        n++;
    free(q);
    return n;
}

static schema_t *new_schema(kind_t k, pctx_t *c, int line) {
    schema_t *s = xcalloc(1, sizeof *s);
    s->kind = k;
    s->file = c->file;
    s->line = line;
    s->null_index = -1;
    return s;
}

static kind_t primitive_kind(const char *name) {
    static const struct {
        const char *name;
        kind_t kind;
    } prims[] = {{"null", K_NULL},   {"boolean", K_BOOLEAN}, {"int", K_INT},
                 {"long", K_LONG},   {"float", K_FLOAT},     {"double", K_DOUBLE},
                 {"bytes", K_BYTES}, {"string", K_STRING}};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (!strcmp(prims[i].name, name))
            return prims[i].kind;
    return K_REF;
}

static const char *jstr(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static schema_t *parse_node(pctx_t *c, json_t *j, const char *ns, int line_hint);

/* Registers a named type; reports a duplicate. */
static void define(pctx_t *c, schema_t *s, const char *short_name) {
    schema_t *old = model_find(c->m, s->fullname);
    if (old && !(c->writer && !old->is_writer)) {
        int nth = old->file == c->file ? 2 : 1;
        int line = find_line(c->text, short_name, nth);
        diag(c->file, line ? line : s->line, "duplicate name \"%s\" (first defined at %s:%d)",
             s->fullname, old->file, old->line);
        return;
    }
    if (c->writer)
        return; /* writer schemas are versions of existing types, not new ones */
    c->m->named = xrealloc(c->m->named, (c->m->nnamed + 1) * sizeof(schema_t *));
    c->m->named[c->m->nnamed++] = s;
}

static bool parse_name(pctx_t *c, json_t *j, const char *ns, schema_t *s, const char **shortp) {
    const char *name = jstr(j, "name");
    if (!name) {
        diag(c->file, s->line, "%s schema without a \"name\"", jstr(j, "type"));
        return false;
    }
    const char *jns = jstr(j, "namespace");
    const char *dot = strrchr(name, '.');
    char *full;
    if (dot)
        full = xstrdup(name);
    else if (jns && *jns)
        full = xprintf("%s.%s", jns, name);
    else if (!jns && ns && *ns)
        full = xprintf("%s.%s", ns, name);
    else
        full = xstrdup(name);
    /* every dotted component must be a name */
    char *copy = xstrdup(full);
    for (char *save = NULL, *part = strtok_r(copy, ".", &save); part;
         part = strtok_r(NULL, ".", &save)) {
        if (!is_avro_name(part)) {
            diag(c->file, find_line(c->text, name, 1), "invalid name \"%s\"", full);
            free(copy);
            return false;
        }
    }
    if (!full[0] || full[0] == '.' || full[strlen(full) - 1] == '.' || strstr(full, "..")) {
        diag(c->file, find_line(c->text, name, 1), "invalid name \"%s\"", full);
        free(copy);
        return false;
    }
    free(copy);
    if (primitive_kind(dot ? dot + 1 : name) != K_REF) {
        diag(c->file, find_line(c->text, name, 1), "a named type cannot be called \"%s\"", name);
        return false;
    }
    s->fullname = full;
    s->line = find_line(c->text, name, 1) ? find_line(c->text, name, 1) : s->line;
    *shortp = name;
    return true;
}

static char *namespace_of(const char *fullname) {
    const char *dot = strrchr(fullname, '.');
    if (!dot)
        return xstrdup("");
    char *ns = xstrdup(fullname);
    ns[dot - fullname] = 0;
    return ns;
}

static void parse_logical(schema_t *s, json_t *j) {
    const char *lt = jstr(j, "logicalType");
    if (!lt)
        return;
    s->logical = xstrdup(lt);
    json_t *p = json_object_get(j, "precision");
    json_t *sc = json_object_get(j, "scale");
    s->precision = json_is_integer(p) ? (int)json_integer_value(p) : 0;
    s->scale = json_is_integer(sc) ? (int)json_integer_value(sc) : 0;
}

static schema_t *parse_object(pctx_t *c, json_t *j, const char *ns, int line) {
    json_t *type = json_object_get(j, "type");
    if (!type) {
        diag(c->file, line, "schema object without a \"type\"");
        return NULL;
    }
    if (!json_is_string(type)) /* {"type": {...}} or {"type": [...]} */
        return parse_node(c, type, ns, line);
    const char *t = json_string_value(type);
    kind_t pk = primitive_kind(t);
    if (pk != K_REF) {
        schema_t *s = new_schema(pk, c, line);
        parse_logical(s, j);
        return s;
    }
    const char *doc = jstr(j, "doc");
    if (!strcmp(t, "record") || !strcmp(t, "error")) {
        schema_t *s = new_schema(K_RECORD, c, line);
        const char *shortname;
        if (!parse_name(c, j, ns, s, &shortname))
            return NULL;
        s->doc = doc ? xstrdup(doc) : NULL;
        s->aliases = json_object_get(j, "aliases");
        define(c, s, shortname);
        char *rns = namespace_of(s->fullname);
        json_t *fields = json_object_get(j, "fields");
        if (!json_is_array(fields)) {
            diag(c->file, s->line, "record \"%s\" has no \"fields\" array", s->fullname);
            return NULL;
        }
        s->nfields = json_array_size(fields);
        s->fields = xcalloc(s->nfields, sizeof(field_t));
        for (size_t i = 0; i < s->nfields; i++) {
            json_t *f = json_array_get(fields, i);
            field_t *fd = &s->fields[i];
            const char *fname = json_is_object(f) ? jstr(f, "name") : NULL;
            if (!fname || !is_avro_name(fname)) {
                diag(c->file, fname ? find_line(c->text, fname, 1) : s->line,
                     "record \"%s\": field %zu has %s name%s%s%s", s->fullname, i,
                     fname ? "an invalid" : "no", fname ? " \"" : "", fname ? fname : "",
                     fname ? "\"" : "");
                return NULL;
            }
            for (size_t k = 0; k < i; k++)
                if (!strcmp(s->fields[k].name, fname))
                    diag(c->file, find_line(c->text, fname, 2),
                         "record \"%s\": duplicate field \"%s\"", s->fullname, fname);
            fd->name = xstrdup(fname);
            fd->line = find_line(c->text, fname, 1);
            fd->doc = jstr(f, "doc") ? xstrdup(jstr(f, "doc")) : NULL;
            fd->def = json_object_get(f, "default");
            fd->aliases = json_object_get(f, "aliases");
            json_t *ft = json_object_get(f, "type");
            if (!ft) {
                diag(c->file, fd->line, "record \"%s\": field \"%s\" has no type", s->fullname,
                     fname);
                return NULL;
            }
            fd->type = parse_node(c, ft, rns, fd->line);
            if (!fd->type)
                return NULL;
        }
        free(rns);
        return s;
    }
    if (!strcmp(t, "enum")) {
        schema_t *s = new_schema(K_ENUM, c, line);
        const char *shortname;
        if (!parse_name(c, j, ns, s, &shortname))
            return NULL;
        s->doc = doc ? xstrdup(doc) : NULL;
        s->aliases = json_object_get(j, "aliases");
        define(c, s, shortname);
        json_t *syms = json_object_get(j, "symbols");
        if (!json_is_array(syms) || json_array_size(syms) == 0) {
            diag(c->file, s->line, "enum \"%s\" needs a non-empty \"symbols\" array", s->fullname);
            return NULL;
        }
        s->nsymbols = json_array_size(syms);
        s->symbols = xcalloc(s->nsymbols, sizeof(char *));
        for (size_t i = 0; i < s->nsymbols; i++) {
            json_t *y = json_array_get(syms, i);
            if (!json_is_string(y) || !is_avro_name(json_string_value(y))) {
                diag(c->file, s->line, "enum \"%s\": symbol %zu is not a valid name", s->fullname,
                     i);
                return NULL;
            }
            s->symbols[i] = xstrdup(json_string_value(y));
            for (size_t k = 0; k < i; k++)
                if (!strcmp(s->symbols[k], s->symbols[i]))
                    diag(c->file, find_line(c->text, s->symbols[i], 2),
                         "enum \"%s\": duplicate symbol \"%s\"", s->fullname, s->symbols[i]);
        }
        const char *d = jstr(j, "default");
        if (d) {
            bool found = false;
            for (size_t i = 0; i < s->nsymbols; i++)
                found |= !strcmp(s->symbols[i], d);
            if (!found)
                diag(c->file, s->line, "enum \"%s\": default \"%s\" is not a symbol", s->fullname,
                     d);
            s->enum_default = xstrdup(d);
        }
        return s;
    }
    if (!strcmp(t, "fixed")) {
        schema_t *s = new_schema(K_FIXED, c, line);
        const char *shortname;
        if (!parse_name(c, j, ns, s, &shortname))
            return NULL;
        s->doc = doc ? xstrdup(doc) : NULL;
        s->aliases = json_object_get(j, "aliases");
        define(c, s, shortname);
        json_t *size = json_object_get(j, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0 ||
            json_integer_value(size) > (1 << 24)) {
            diag(c->file, s->line, "fixed \"%s\" needs a \"size\" between 0 and 16777216",
                 s->fullname);
            return NULL;
        }
        s->size = (size_t)json_integer_value(size);
        parse_logical(s, j);
        return s;
    }
    if (!strcmp(t, "array") || !strcmp(t, "map")) {
        bool arr = !strcmp(t, "array");
        schema_t *s = new_schema(arr ? K_ARRAY : K_MAP, c, line);
        json_t *it = json_object_get(j, arr ? "items" : "values");
        if (!it) {
            diag(c->file, line, "%s schema without \"%s\"", t, arr ? "items" : "values");
            return NULL;
        }
        s->items = parse_node(c, it, ns, line);
        return s->items ? s : NULL;
    }
    /* a reference written as {"type": "ns.Name"} */
    return parse_node(c, type, ns, line);
}

static schema_t *parse_node(pctx_t *c, json_t *j, const char *ns, int line) {
    if (json_is_string(j)) {
        const char *t = json_string_value(j);
        kind_t k = primitive_kind(t);
        schema_t *s = new_schema(k, c, line);
        if (k == K_REF) {
            s->ref_name = xstrdup(t);
            s->ref_ns = xstrdup(ns ? ns : "");
            int l = find_line(c->text, t, 1);
            s->line = l ? l : line;
        }
        return s;
    }
    if (json_is_array(j)) {
        schema_t *s = new_schema(K_UNION, c, line);
        s->nbranches = json_array_size(j);
        s->branches = xcalloc(s->nbranches, sizeof(schema_t *));
        for (size_t i = 0; i < s->nbranches; i++) {
            s->branches[i] = parse_node(c, json_array_get(j, i), ns, line);
            if (!s->branches[i])
                return NULL;
            if (s->branches[i]->kind == K_UNION) {
                diag(c->file, line, "a union cannot contain a union directly");
                return NULL;
            }
        }
        if (s->nbranches == 0) {
            diag(c->file, line, "empty union");
            return NULL;
        }
        return s;
    }
    if (json_is_object(j))
        return parse_object(c, j, ns, line);
    diag(c->file, line, "a schema must be a string, an object or an array");
    return NULL;
}

schema_t *model_find(const model_t *m, const char *fullname) {
    for (size_t i = 0; i < m->nnamed; i++)
        if (!strcmp(m->named[i]->fullname, fullname))
            return m->named[i];
    return NULL;
}

/* ---- resolution ----------------------------------------------------------------------------- */

typedef struct {
    model_t *m;
    const char *text_of_file; /* for error lines */
} rctx_t;

static schema_t *resolve(model_t *m, schema_t *s, char **texts, char **names, size_t nfiles);

static schema_t *lookup_ref(model_t *m, schema_t *ref) {
    schema_t *t = NULL;
    if (!strchr(ref->ref_name, '.') && ref->ref_ns && *ref->ref_ns) {
        char *full = xprintf("%s.%s", ref->ref_ns, ref->ref_name);
        t = model_find(m, full);
        free(full);
    }
    if (!t)
        t = model_find(m, ref->ref_name);
    return t;
}

static schema_t *resolve(model_t *m, schema_t *s, char **texts, char **names, size_t nfiles) {
    if (!s)
        return NULL;
    if (s->kind == K_REF) {
        schema_t *t = lookup_ref(m, s);
        if (!t) {
            diag(s->file, s->line, "unknown type \"%s\"%s%s%s", s->ref_name,
                 *s->ref_ns ? " (namespace \"" : "", *s->ref_ns ? s->ref_ns : "",
                 *s->ref_ns ? "\")" : "");
            return s;
        }
        return t;
    }
    if (s->mark)
        return s;
    s->mark = 1;
    for (size_t i = 0; i < s->nfields; i++)
        s->fields[i].type = resolve(m, s->fields[i].type, texts, names, nfiles);
    if (s->items)
        s->items = resolve(m, s->items, texts, names, nfiles);
    for (size_t i = 0; i < s->nbranches; i++)
        s->branches[i] = resolve(m, s->branches[i], texts, names, nfiles);
    if (s->kind == K_UNION) {
        /* no two branches of the same unnamed kind, no named type twice */
        for (size_t i = 0; i < s->nbranches; i++)
            for (size_t k = 0; k < i; k++) {
                schema_t *a = s->branches[i], *b = s->branches[k];
                if (a->kind == K_REF || b->kind == K_REF)
                    continue;
                bool named = a->kind == K_RECORD || a->kind == K_ENUM || a->kind == K_FIXED;
                if (named ? a == b : a->kind == b->kind)
                    diag(s->file, s->line, "union has two branches of type %s",
                         named ? a->fullname : kind_name(a->kind));
            }
        if (s->nbranches == 2 &&
            (s->branches[0]->kind == K_NULL) != (s->branches[1]->kind == K_NULL))
            s->null_index = s->branches[0]->kind == K_NULL ? 0 : 1;
    }
    return s;
}

char *read_file(const char *path) {
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

void model_load(model_t *m, char **paths, char **display, size_t n) {
    schema_t **roots = xcalloc(n, sizeof(schema_t *));
    char **texts = xcalloc(n, sizeof(char *));
    m->files = display;
    m->nfiles = n;
    for (size_t i = 0; i < n; i++) {
        texts[i] = read_file(paths[i]);
        if (!texts[i]) {
            diag(display[i], 0, "cannot read schema file");
            continue;
        }
        json_error_t jerr;
        json_t *j =
            json_loads(texts[i], JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!j) {
            diag(display[i], jerr.line, "invalid schema JSON: %s", jerr.text);
            continue;
        }
        pctx_t c = {m, display[i], texts[i], false};
        roots[i] = parse_node(&c, j, "", 1);
    }
    if (diag_count())
        return;
    for (size_t i = 0; i < n; i++)
        roots[i] = resolve(m, roots[i], texts, display, n);
    for (size_t i = 0; i < m->nnamed; i++)
        m->named[i]->mark = 0;
    (void)count_occurrences;
}

/* Parses a writer schema file on its own (its named types are versions of existing ones) and
 * returns the full name of its top-level type. */
schema_t *model_writer_type(model_t *m, const char *path, const char *display, char **text_out);
schema_t *model_writer_type(model_t *m, const char *path, const char *display, char **text_out) {
    char *text = read_file(path);
    if (!text) {
        diag(display, 0, "cannot read writer schema file");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j) {
        diag(display, jerr.line, "invalid schema JSON: %s", jerr.text);
        return NULL;
    }
    const char *name = json_is_object(j) ? jstr(j, "name") : NULL;
    if (!name) {
        diag(display, 1, "a writer schema must be a named record, enum or fixed");
        return NULL;
    }
    const char *ns = jstr(j, "namespace");
    char *full = strchr(name, '.') || !ns || !*ns ? xstrdup(name) : xprintf("%s.%s", ns, name);
    schema_t *t = model_find(m, full);
    if (!t) {
        diag(display, find_line(text, name, 1),
             "writer schema defines \"%s\", which no schema of the service defines", full);
        return NULL;
    }
    avro_schema_t as;
    if (avro_schema_from_json_length(text, strlen(text), &as)) {
        diag(display, 0, "invalid writer schema: %s", avro_strerror());
        return NULL;
    }
    avro_schema_decref(as);
    *text_out = text;
    return t;
}

/* ---- canonical and full forms ------------------------------------------------------------------
 */

static void json_quoted(sb_t *b, const char *s) {
    json_t *j = json_string(s);
    char *t = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    sb_puts(b, t);
    free(t);
    json_decref(j);
}

typedef struct seen {
    const schema_t **v;
    size_t n;
} seen_t;

static bool seen_add(seen_t *s, const schema_t *x) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == x)
            return false;
    s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->v[s->n++] = x;
    return true;
}

/* The forms a schema is written in: Avro's Parsing Canonical Form; that plus what resolution
 * needs (defaults, aliases, enum default); a document's (defaults, enum default, doc, logical
 * types, short names with namespaces, no aliases). */
typedef enum { FORM_CANONICAL, FORM_FULL, FORM_DOC } form_t;

static void put_doc(sb_t *b, const char *doc, form_t form) {
    if (form == FORM_DOC && doc) {
        sb_puts(b, ",\"doc\":");
        json_quoted(b, doc);
    }
}

/* A named type's name: its full name, or (FORM_DOC) its short name and then its namespace,
 * the only spelling AsyncAPI's schema of Avro accepts. */
static void put_name(sb_t *b, const char *fullname, form_t form) {
    const char *dot = strrchr(fullname, '.');
    if (form != FORM_DOC) {
        json_quoted(b, fullname);
        return;
    }
    json_quoted(b, dot ? dot + 1 : fullname);
    sb_puts(b, ",\"namespace\":");
    char *ns = namespace_of(fullname);
    json_quoted(b, ns);
    free(ns);
}

/* A logical type's attributes (FORM_DOC), after the type's own. */
static void put_logical(sb_t *b, const schema_t *s, form_t form) {
    if (form != FORM_DOC || !s->logical)
        return;
    sb_puts(b, ",\"logicalType\":");
    json_quoted(b, s->logical);
    if (!strcmp(s->logical, "decimal"))
        sb_printf(b, ",\"precision\":%d,\"scale\":%d", s->precision, s->scale);
}

static void write_form(sb_t *b, const schema_t *s, seen_t *seen, form_t form) {
    bool full = form != FORM_CANONICAL;
    bool aliases = form == FORM_FULL;
    switch (s->kind) {
    case K_RECORD:
    case K_ENUM:
    case K_FIXED:
        if (!seen_add(seen, s)) {
            json_quoted(b, s->fullname);
            return;
        }
        sb_puts(b, "{\"name\":");
        put_name(b, s->fullname, form);
        sb_printf(b, ",\"type\":\"%s\"", kind_name(s->kind));
        put_doc(b, s->doc, form);
        if (s->kind == K_RECORD) {
            sb_puts(b, ",\"fields\":[");
            for (size_t i = 0; i < s->nfields; i++) {
                sb_puts(b, i ? ",{\"name\":" : "{\"name\":");
                json_quoted(b, s->fields[i].name);
                sb_puts(b, ",\"type\":");
                write_form(b, s->fields[i].type, seen, form);
                put_doc(b, s->fields[i].doc, form);
                if (full && s->fields[i].def) {
                    char *d = json_dumps(s->fields[i].def, JSON_ENCODE_ANY | JSON_COMPACT);
                    sb_printf(b, ",\"default\":%s", d);
                    free(d);
                }
                if (aliases && json_is_array(s->fields[i].aliases)) {
                    char *d = json_dumps(s->fields[i].aliases, JSON_COMPACT);
                    sb_printf(b, ",\"aliases\":%s", d);
                    free(d);
                }
                sb_puts(b, "}");
            }
            sb_puts(b, "]");
        } else if (s->kind == K_ENUM) {
            sb_puts(b, ",\"symbols\":[");
            for (size_t i = 0; i < s->nsymbols; i++) {
                if (i)
                    sb_puts(b, ",");
                json_quoted(b, s->symbols[i]);
            }
            sb_puts(b, "]");
            if (full && s->enum_default) {
                sb_puts(b, ",\"default\":");
                json_quoted(b, s->enum_default);
            }
        } else {
            sb_printf(b, ",\"size\":%zu", s->size);
            put_logical(b, s, form);
        }
        if (aliases && json_is_array(s->aliases)) {
            char *d = json_dumps(s->aliases, JSON_COMPACT);
            sb_printf(b, ",\"aliases\":%s", d);
            free(d);
        }
        sb_puts(b, "}");
        return;
    case K_ARRAY:
        sb_puts(b, "{\"type\":\"array\",\"items\":");
        write_form(b, s->items, seen, form);
        sb_puts(b, "}");
        return;
    case K_MAP:
        sb_puts(b, "{\"type\":\"map\",\"values\":");
        write_form(b, s->items, seen, form);
        sb_puts(b, "}");
        return;
    case K_UNION:
        sb_puts(b, "[");
        for (size_t i = 0; i < s->nbranches; i++) {
            if (i)
                sb_puts(b, ",");
            write_form(b, s->branches[i], seen, form);
        }
        sb_puts(b, "]");
        return;
    case K_REF:
        json_quoted(b, s->ref_name);
        return;
    default:
        if (form == FORM_DOC && s->logical) {
            sb_printf(b, "{\"type\":\"%s\"", kind_name(s->kind));
            put_logical(b, s, form);
            sb_puts(b, "}");
        } else {
            sb_printf(b, "\"%s\"", kind_name(s->kind));
        }
        return;
    }
}

static char *form_json(const schema_t *s, form_t form) {
    sb_t b = {0};
    seen_t seen = {0};
    write_form(&b, s, &seen, form);
    free(seen.v);
    return sb_take(&b);
}

char *model_pcf(const schema_t *s) {
    return form_json(s, FORM_CANONICAL);
}

char *model_full_json(const schema_t *s) {
    return form_json(s, FORM_FULL);
}

char *model_doc_json(const schema_t *s) {
    return form_json(s, FORM_DOC);
}

void model_validate_avro(model_t *m) {
    for (size_t i = 0; i < m->nnamed; i++) {
        schema_t *s = m->named[i];
        /* the canonical form: avro-c cannot parse every valid default (e.g. "\u0000") */
        char *json = model_pcf(s);
        avro_schema_t as;
        if (avro_schema_from_json_length(json, strlen(json), &as)) {
            diag(s->file, s->line, "invalid schema \"%s\": %s", s->fullname, avro_strerror());
        } else {
            avro_schema_decref(as);
        }
        free(json);
    }
}

/* ---- defaults ---------------------------------------------------------------------------------
 */

/* Checks a default value against its type (Avro: a union's default is of its first branch). */
static bool default_ok(const schema_t *s, json_t *d, int depth) {
    if (depth > 64)
        return true;
    switch (s->kind) {
    case K_NULL:
        return json_is_null(d);
    case K_BOOLEAN:
        return json_is_boolean(d);
    case K_INT:
        return json_is_integer(d) && json_integer_value(d) >= INT32_MIN &&
               json_integer_value(d) <= INT32_MAX;
    case K_LONG:
        return json_is_integer(d);
    case K_FLOAT:
    case K_DOUBLE:
        return json_is_number(d);
    case K_BYTES:
    case K_STRING:
        return json_is_string(d);
    case K_FIXED:
        return json_is_string(d);
    case K_ENUM:
        if (!json_is_string(d))
            return false;
        for (size_t i = 0; i < s->nsymbols; i++)
            if (!strcmp(s->symbols[i], json_string_value(d)))
                return true;
        return false;
    case K_ARRAY: {
        if (!json_is_array(d))
            return false;
        for (size_t i = 0; i < json_array_size(d); i++)
            if (!default_ok(s->items, json_array_get(d, i), depth + 1))
                return false;
        return true;
    }
    case K_MAP: {
        if (!json_is_object(d))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) if (!default_ok(s->items, v, depth + 1)) return false;
        return true;
    }
    case K_UNION:
        return default_ok(s->branches[0], d, depth + 1);
    case K_RECORD:
        if (!json_is_object(d))
            return false;
        for (size_t i = 0; i < s->nfields; i++) {
            json_t *v = json_object_get(d, s->fields[i].name);
            if (v ? !default_ok(s->fields[i].type, v, depth + 1) : !s->fields[i].def)
                return false;
        }
        return true;
    default:
        return true;
    }
}

/* ---- C names -------------------------------------------------------------------------------- */

/* A set of names: open addressing on an FNV-1a hash, so that naming thousands of types is
 * linear (a list searched for each name was quadratic: 84 % of brookc's time on 1,000 types). */
typedef struct {
    char **v; /* cap slots, NULL when empty */
    size_t n, cap;
} nameset_t;

static size_t ns_hash(const char *x) {
    uint64_t h = 14695981039346656037u;
    for (const unsigned char *p = (const unsigned char *)x; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return (size_t)h;
}

/* The slot of x, or of the empty slot where it would go. */
static size_t ns_slot(const nameset_t *s, const char *x) {
    size_t i = ns_hash(x) & (s->cap - 1);
    while (s->v[i] && strcmp(s->v[i], x))
        i = (i + 1) & (s->cap - 1);
    return i;
}

static bool ns_has(const nameset_t *s, const char *x) {
    return s->cap && s->v[ns_slot(s, x)];
}

static void ns_add(nameset_t *s, const char *x) {
    if (2 * (s->n + 1) > s->cap) {
        nameset_t bigger = {xcalloc(s->cap ? 2 * s->cap : 16, sizeof(char *)), s->n,
                            s->cap ? 2 * s->cap : 16};
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i])
                bigger.v[ns_slot(&bigger, s->v[i])] = s->v[i];
        free(s->v);
        *s = bigger;
    }
    size_t i = ns_slot(s, x);
    if (!s->v[i]) {
        s->v[i] = xstrdup(x);
        s->n++;
    }
}

static void ns_free(nameset_t *s) {
    for (size_t i = 0; i < s->cap; i++)
        free(s->v[i]);
    free(s->v);
}

static const char *type_suffixes[] = {"",         "_init",      "_clear", "_encode",   "_decode",
                                      "_to_json", "_from_json", "_type",  "__enc",     "__dec",
                                      "__json",   "__from",     "__init", "__symbols", NULL};

static bool type_name_free(const nameset_t *used, const char *c) {
    if (is_c_reserved(c) || is_c_local(c))
        return false;
    for (const char **s = type_suffixes; *s; s++) {
        char *x = xprintf("%s%s", c, *s);
        bool taken = ns_has(used, x);
        free(x);
        if (taken)
            return false;
    }
    return true;
}

/* `want` made usable: a keyword or macro gets a trailing '_', a reserved prefix a leading
 * "x_"; the result is never reserved, and neither is it with a "_<n>" suffix. */
static char *safe_ident(const char *want) {
    if (!is_c_reserved(want))
        return xstrdup(want);
    if (want[0] == '_' || !strncmp(want, "brook_", 6) || !strncmp(want, "BROOK_", 6))
        return xprintf("x_%s", want);
    return xprintf("%s_", want);
}

/* A unique member name in set for `want`. */
static char *member_name(nameset_t *set, const char *want) {
    char *base = safe_ident(want);
    char *c = xstrdup(base);
    for (int k = 2; ns_has(set, c); k++) {
        free(c);
        c = xprintf("%s_%d", base, k);
    }
    free(base);
    ns_add(set, c);
    return c;
}

static void name_union_members(schema_t *u) {
    if (u->kind == K_ARRAY || u->kind == K_MAP) {
        name_union_members(u->items);
        return;
    }
    if (u->kind != K_UNION || u->branch_mem)
        return;
    nameset_t set = {0};
    u->branch_mem = xcalloc(u->nbranches, sizeof(char *));
    for (size_t i = 0; i < u->nbranches; i++) {
        schema_t *b = u->branches[i];
        if (b->kind == K_NULL)
            continue;
        const char *want = (b->kind == K_RECORD || b->kind == K_ENUM || b->kind == K_FIXED)
                               ? b->cname
                               : kind_name(b->kind);
        u->branch_mem[i] = member_name(&set, want);
        name_union_members(b);
    }
    ns_free(&set);
}

void model_assign_names(model_t *m) {
    nameset_t used = {0};
    for (size_t i = 0; i < m->nnamed; i++) {
        schema_t *s = m->named[i];
        char *base = xstrdup(s->fullname);
        for (char *p = base; *p; p++)
            if (*p == '.')
                *p = '_';
        char *c = safe_ident(base);
        if (is_c_local(c)) {
            free(c);
            c = xprintf("%s_", base);
        }
        free(base);
        base = xstrdup(c);
        for (int k = 2; !type_name_free(&used, c) && k < 100000; k++) {
            free(c);
            c = xprintf("%s_%d", base, k);
        }
        for (const char **suf = type_suffixes; *suf; suf++) {
            char *x = xprintf("%s%s", c, *suf);
            ns_add(&used, x);
            free(x);
        }
        s->cname = c;
        free(base);
    }
    for (size_t i = 0; i < m->nnamed; i++) {
        schema_t *s = m->named[i];
        if (s->kind == K_ENUM) {
            s->csymbols = xcalloc(s->nsymbols, sizeof(char *));
            for (size_t k = 0; k < s->nsymbols; k++) {
                char *base = xprintf("%s_%s", s->cname, s->symbols[k]);
                char *c = xstrdup(base);
                for (int n = 2; ns_has(&used, c); n++) {
                    free(c);
                    c = xprintf("%s_%d", base, n);
                }
                ns_add(&used, c);
                s->csymbols[k] = c;
                free(base);
            }
        }
        if (s->kind == K_RECORD) {
            nameset_t members = {0};
            ns_add(&members, "brook_arena_");
            /* fields keep their names first; the has_ flags make way */
            for (size_t k = 0; k < s->nfields; k++)
                s->fields[k].cname = member_name(&members, s->fields[k].name);
            for (size_t k = 0; k < s->nfields; k++) {
                field_t *f = &s->fields[k];
                if (schema_is_optional(f->type)) {
                    char *h = xprintf("has_%s", f->cname);
                    f->has_cname = member_name(&members, h);
                    free(h);
                }
                if (f->def && !default_ok(f->type, f->def, 0))
                    diag(s->file, f->line,
                         "record \"%s\": default of field \"%s\" does not "
                         "match its type",
                         s->fullname, f->name);
            }
            ns_free(&members);
        }
    }
    ns_free(&used);
    for (size_t i = 0; i < m->nnamed; i++)
        for (size_t k = 0; k < m->named[i]->nfields; k++)
            name_union_members(m->named[i]->fields[k].type);
}

bool schema_is_optional(const schema_t *s) {
    return s->kind == K_UNION && s->null_index >= 0;
}

schema_t *schema_optional_value(const schema_t *s) {
    return s->branches[1 - s->null_index];
}

/* ---- C text escaping ------------------------------------------------------------------------- */

/* A C string literal for arbitrary bytes: printable ASCII as is, the rest as octal escapes;
 * '?' escaped against trigraphs. */
char *c_string_literal(const char *s, size_t len) {
    sb_t b = {0};
    sb_puts(&b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '?')
            sb_printf(&b, "\\%c", c);
        else if (c == '\n')
            sb_puts(&b, "\\n");
        else if (c >= 0x20 && c < 0x7f)
            sb_put(&b, (const char *)&c, 1);
        else
            sb_printf(&b, "\\%03o", c);
    }
    sb_puts(&b, "\"");
    return sb_take(&b);
}

/* Text safe inside a block comment: no comment end, no control characters, one line. */
char *c_comment_text(const char *s) {
    sb_t b = {0};
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '*' && p[1] == '/') {
            sb_puts(&b, "* /");
            p++;
        } else if (c == '/' && p[1] == '*') {
            sb_puts(&b, "/ *");
            p++;
        } else if (c == '\n' || c == '\r' || c == '\t')
            sb_puts(&b, " ");
        else if (c == '\\' && (p[1] == 0 || p[1] == '\n'))
            sb_puts(&b, "\\ ");
        else if (c < 0x20 || c == 0x7f)
            continue;
        else
            sb_put(&b, (const char *)&c, 1);
    }
    return sb_take(&b);
}
