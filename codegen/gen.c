/*
 * The emitters: walk the model and render templates/ blocks into <unit>.brook.h/.c.
 *
 * Value layout (docs/codegen.md, "The generated API"): records are structs; a record held inside
 * another by value unless that would make the type infinite (recursive schemas), then by pointer.
 * Arrays {n, items}, maps {n, keys, values}, optional fields has_x + x, other unions
 * {branch, value.<member>}.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/avro.h"
#include "brookc.h"

#define V(n, val)                                                                                  \
    { n, val }
#define TEND                                                                                       \
    { NULL, NULL }

static char *chomp(char *s);

/* ---- graph helpers ----------------------------------------------------------------------------
 */

static int walk_gen;

/* Adds the records s holds by value (through unions, not arrays or maps) to the walk. */
static bool reaches_walk(const schema_t *s, const schema_t *target, bool top);

static bool reaches_value(const schema_t *t, const schema_t *target) {
    if (t->kind == K_UNION) {
        for (size_t i = 0; i < t->nbranches; i++)
            if (reaches_value(t->branches[i], target))
                return true;
        return false;
    }
    if (t->kind == K_RECORD)
        return reaches_walk(t, target, false);
    return false;
}

static bool reaches_walk(const schema_t *s, const schema_t *target, bool top) {
    if (!top && s == target)
        return true;
    if (s->mark == walk_gen)
        return false;
    ((schema_t *)s)->mark = walk_gen;
    for (size_t i = 0; i < s->nfields; i++)
        if (reaches_value(s->fields[i].type, target))
            return true;
    return false;
}

/* True when record `owner` must hold record `t` by pointer: t holds owner by value. */
static bool needs_ptr(const schema_t *owner, const schema_t *t) {
    if (t->kind != K_RECORD || !owner)
        return false;
    if (t == owner)
        return true;
    walk_gen++;
    return reaches_walk(t, owner, true) || t == owner;
}

/* Whether a value of s can hold `target` (any depth, through anything) or, with target NULL,
 * a string, bytes or map: walk_gen must have been advanced. */
static bool holds_walk(const schema_t *s, const schema_t *target) {
    switch (s->kind) {
    case K_STRING:
    case K_BYTES:
    case K_MAP:
        if (!target)
            return true;
        return s->kind == K_MAP && holds_walk(s->items, target);
    case K_ARRAY:
        return holds_walk(s->items, target);
    case K_UNION:
        for (size_t i = 0; i < s->nbranches; i++)
            if (holds_walk(s->branches[i], target))
                return true;
        return false;
    case K_RECORD:
        if (s == target)
            return true;
        if (s->mark == walk_gen)
            return false;
        ((schema_t *)s)->mark = walk_gen;
        for (size_t i = 0; i < s->nfields; i++)
            if (holds_walk(s->fields[i].type, target))
                return true;
        return false;
    default:
        return false;
    }
}

/* Records that can hold themselves: only their decoders count the depth. */
static bool is_recursive(const schema_t *s) {
    if (s->kind != K_RECORD)
        return false;
    walk_gen++;
    ((schema_t *)s)->mark = walk_gen;
    for (size_t i = 0; i < s->nfields; i++)
        if (holds_walk(s->fields[i].type, s))
            return true;
    return false;
}

/* Roughly how many values a codec of s reads or writes (nested records counted in). */
static size_t codec_weight(const schema_t *s, int depth) {
    if (depth > 8)
        return 1000;
    switch (s->kind) {
    case K_RECORD: {
        size_t n = 1;
        for (size_t i = 0; i < s->nfields; i++)
            n += codec_weight(s->fields[i].type, depth + 1);
        return n;
    }
    case K_ARRAY:
    case K_MAP:
        return 1 + codec_weight(s->items, depth + 1);
    case K_UNION: {
        size_t n = 1;
        for (size_t i = 0; i < s->nbranches; i++)
            n += codec_weight(s->branches[i], depth + 1);
        return n;
    }
    default:
        return 1;
    }
}

/* Codecs of small records that cannot hold themselves are inlined into their callers (an
 * array of them then costs no call per item); the rest are plain static functions. */
static bool codec_inline(const schema_t *s) {
    return s->kind == K_RECORD && !is_recursive(s) && codec_weight(s, 0) <= 16;
}

/* Whether decoding s copies strings (its decoder then takes a string region). */
static bool holds_strings(const schema_t *s) {
    walk_gen++;
    return holds_walk(s, NULL);
}

static size_t min_size(const schema_t *s, int depth) {
    switch (s->kind) {
    case K_NULL:
        return 0;
    case K_FLOAT:
        return 4;
    case K_DOUBLE:
        return 8;
    case K_FIXED:
        return s->size;
    case K_RECORD: {
        if (depth > 32)
            return 0;
        size_t n = 0;
        for (size_t i = 0; i < s->nfields; i++)
            n += min_size(s->fields[i].type, depth + 1);
        return n;
    }
    default:
        return 1;
    }
}

static bool is_named(const schema_t *s) {
    return s->kind == K_RECORD || s->kind == K_ENUM || s->kind == K_FIXED;
}

/* ---- C types ----------------------------------------------------------------------------------
 */

static char *ctype(const schema_t *owner, const schema_t *s);

static char *decl_of(const char *type, const char *name) {
    size_t n = strlen(type);
    return xprintf("%s%s%s", type, n && type[n - 1] == '*' ? "" : " ", name);
}

static char *ctype(const schema_t *owner, const schema_t *s) {
    switch (s->kind) {
    case K_NULL:
        return xstrdup("char");
    case K_BOOLEAN:
        return xstrdup("bool");
    case K_INT:
        return xstrdup("int32_t");
    case K_LONG:
        return xstrdup("int64_t");
    case K_FLOAT:
        return xstrdup("float");
    case K_DOUBLE:
        return xstrdup("double");
    case K_BYTES:
        return xstrdup("brook_bytes_t");
    case K_STRING:
        return xstrdup("char *");
    case K_RECORD:
        return needs_ptr(owner, s) ? xprintf("%s *", s->cname) : xstrdup(s->cname);
    case K_ENUM:
    case K_FIXED:
        return xstrdup(s->cname);
    case K_ARRAY: {
        char *e = ctype(NULL, s->items); /* items live on the heap: no pointer needed */
        char *d = decl_of(e, "*items");
        char *r = xprintf("struct { size_t n; %s; }", d);
        free(e);
        free(d);
        return r;
    }
    case K_MAP: {
        char *e = ctype(NULL, s->items);
        char *d = decl_of(e, "*values");
        char *r = xprintf("struct { size_t n; char **keys; %s; }", d);
        free(e);
        free(d);
        return r;
    }
    case K_UNION: {
        if (schema_is_optional(s)) {
            char *e = ctype(owner, schema_optional_value(s));
            char *d = decl_of(e, "value");
            char *r = xprintf("struct { bool has; %s; }", d);
            free(e);
            free(d);
            return r;
        }
        sb_t b = {0};
        sb_puts(&b, "struct { int branch;");
        bool any = false;
        for (size_t i = 0; i < s->nbranches; i++) {
            if (s->branches[i]->kind == K_NULL)
                continue;
            if (!any)
                sb_puts(&b, " union {");
            any = true;
            char *e = ctype(owner, s->branches[i]);
            char *d = decl_of(e, s->branch_mem[i]);
            sb_printf(&b, " %s;", d);
            free(e);
            free(d);
        }
        if (any)
            sb_puts(&b, " } value;");
        sb_puts(&b, " }");
        return sb_take(&b);
    }
    default:
        return xstrdup("void *");
    }
}

/* ---- statements --------------------------------------------------------------------------------
 */

typedef enum { D_ENC, D_DEC, D_JSON, D_FROM } dir_t;

static const char *dir_prefix(dir_t d) {
    return d == D_ENC ? "enc" : d == D_DEC ? "dec" : d == D_JSON ? "json" : "from";
}

static char *json_branch_name(const schema_t *b) {
    return xstrdup(is_named(b) ? b->fullname : kind_name(b->kind));
}

/* ---- runs (encoders) ----------------------------------------------------------------------------
 */

/* Consecutive values whose encoded size is bounded by a constant plus the lengths of their
 * strings and bytes are written as one run (encf.run): the lengths first, then one check that
 * the buffer has room for all of them, then writes without checks. */
typedef struct {
    sb_t lens;    /* statements computing the lengths */
    sb_t puts;    /* the unchecked writes */
    sb_t vars;    /* the variable part of the size: "l_0 + l_1 + " */
    size_t fixed; /* the constant part */
    int nvar;
    bool any;
} run_t;

/* Most strings and bytes in one run: each is below BROOK__AVRO_MAX_RUN_LEN (bytes are checked,
 * strings are bounded by the address space), so the size of a run cannot overflow. */
#define RUN_MAX_VARS 64

/* Whether s can be part of a run. */
static bool enc_flat(const schema_t *s) {
    switch (s->kind) {
    case K_NULL:
    case K_BOOLEAN:
    case K_INT:
    case K_LONG:
    case K_FLOAT:
    case K_DOUBLE:
    case K_BYTES:
    case K_STRING:
    case K_ENUM:
    case K_FIXED:
        return true;
    case K_UNION:
        return schema_is_optional(s) && enc_flat(schema_optional_value(s));
    default:
        return false;
    }
}

/* Adds the writes of `v` (flat schema s; `has` its flag when optional) to the run. */
static void run_add(run_t *r, const schema_t *s, const char *v, const char *has) {
    const schema_t *val = s;
    bool opt = s->kind == K_UNION;
    if (opt)
        val = schema_optional_value(s);
    if (val->kind == K_NULL)
        return;
    r->any = true;
    char l[24], size[32], blk[64];
    snprintf(l, sizeof l, "l_%d", r->nvar);
    size_t n = 0;
    switch (val->kind) {
    case K_BOOLEAN:
        n = 1;
        break;
    case K_INT:
    case K_ENUM:
        n = 5;
        break;
    case K_LONG:
        n = 10;
        break;
    case K_FLOAT:
        n = 4;
        break;
    case K_DOUBLE:
        n = 8;
        break;
    case K_FIXED:
        n = val->size;
        break;
    case K_STRING:
    case K_BYTES: {
        bool str = val->kind == K_STRING;
        char *len = chomp(
            tmpl_str(str ? "encf.string_len" : "encf.bytes_len", (tvar_t[]){V("v", v), TEND}));
        tmpl_render(&r->lens, opt ? "encf.len_optional" : "encf.len",
                    (tvar_t[]){V("l", l), V("len", len), V("has", has), TEND});
        if (!str)
            tmpl_render(&r->lens, "encf.len_check", (tvar_t[]){V("l", l), TEND});
        sb_printf(&r->vars, "%s + ", l);
        r->nvar++;
        n = 10;
        free(len);
        break;
    }
    default:
        break;
    }
    r->fixed += n + (opt ? 1 : 0);
    snprintf(size, sizeof size, "%zu", val->size);
    snprintf(blk, sizeof blk, "encf.%s", kind_name(val->kind));
    char *put = tmpl_str(blk, (tvar_t[]){V("v", v), V("l", l), V("size", size), TEND});
    if (opt) {
        /* the branch index, zigzag-encoded: one byte */
        char some[16], none[16];
        snprintf(some, sizeof some, "%d", 2 * (1 - s->null_index));
        snprintf(none, sizeof none, "%d", 2 * s->null_index);
        tmpl_render(
            &r->puts, "encf.optional",
            (tvar_t[]){V("has", has), V("some", some), V("none", none), V("body", put), TEND});
    } else {
        sb_puts(&r->puts, put);
    }
    free(put);
}

/* Renders the run (if it writes anything) onto out and empties it. */
static void run_flush(sb_t *out, run_t *r) {
    if (r->any) {
        char *lens = chomp(sb_take(&r->lens));
        char *puts = chomp(sb_take(&r->puts));
        char *vars = sb_take(&r->vars);
        char *size = xprintf("%s%zu", vars, r->fixed);
        tmpl_render(out, "encf.run",
                    (tvar_t[]){V("lens", lens), V("size", size), V("puts", puts), TEND});
        free(lens);
        free(puts);
        free(vars);
        free(size);
    }
    free(sb_take(&r->lens));
    free(sb_take(&r->puts));
    free(sb_take(&r->vars));
    *r = (run_t){0};
}

/* Adds v to the run, first flushing the run when it is full. */
static void run_push(sb_t *out, run_t *r, const schema_t *s, const char *v, const char *has) {
    if (r->nvar >= RUN_MAX_VARS)
        run_flush(out, r);
    run_add(r, s, v, has);
}

/* Statements for value `v` of schema s in direction d. `j` is the JSON node variable (from).
 * `has` is the has-expression when s is optional. */
static char *stmts(dir_t d, const schema_t *owner, const schema_t *s, const char *v,
                   const char *has, const char *j, int depth) {
    char blk[64];
    char i[24], n[24], t[24], jn[24], br[24], it[24], k[24], kl[24];
    snprintf(i, sizeof i, "i_%d", depth);
    snprintf(n, sizeof n, "n_%d", depth);
    snprintf(t, sizeof t, "t_%d", depth);
    snprintf(jn, sizeof jn, "j_%d", depth);
    snprintf(br, sizeof br, "br_%d", depth);
    snprintf(it, sizeof it, "it_%d", depth);
    snprintf(k, sizeof k, "k_%d", depth);
    snprintf(kl, sizeof kl, "kl_%d", depth);
    const char *pre = dir_prefix(d);
    switch (s->kind) {
    case K_NULL:
        if (d == D_JSON)
            return tmpl_str("json.null", (tvar_t[]){TEND});
        if (d == D_FROM)
            return tmpl_str("from.null", (tvar_t[]){V("j", j), TEND});
        return xstrdup("");
    case K_BOOLEAN:
    case K_INT:
    case K_LONG:
    case K_FLOAT:
    case K_DOUBLE:
    case K_BYTES:
    case K_STRING:
        snprintf(blk, sizeof blk, "%s.%s", pre, kind_name(s->kind));
        return tmpl_str(blk, (tvar_t[]){V("v", v), V("j", j), TEND});
    case K_FIXED: {
        char size[32];
        snprintf(size, sizeof size, "%zu", s->size);
        snprintf(blk, sizeof blk, "%s.fixed", pre);
        return tmpl_str(blk, (tvar_t[]){V("v", v), V("j", j), V("size", size), TEND});
    }
    case K_ENUM: {
        char count[32];
        snprintf(count, sizeof count, "%zu", s->nsymbols);
        snprintf(blk, sizeof blk, "%s.enum", pre);
        return tmpl_str(blk, (tvar_t[]){V("v", v), V("j", j), V("t", t), V("type", s->cname),
                                        V("count", count), TEND});
    }
    case K_RECORD:
        snprintf(blk, sizeof blk, "%s.record%s", pre, needs_ptr(owner, s) ? "_ptr" : "");
        return tmpl_str(blk, (tvar_t[]){V("v", v), V("j", j), V("type", s->cname), TEND});
    case K_ARRAY:
    case K_MAP: {
        bool arr = s->kind == K_ARRAY;
        char *ev = xprintf("%s.%s[%s]", v, arr ? "items" : "values", i);
        char *body;
        if (d == D_ENC) {
            /* a map's key and a flat value make one run */
            static const schema_t string_schema = {.kind = K_STRING};
            char *kv = xprintf("%s.keys[%s]", v, i);
            char *hv = xprintf("%s.has", ev);
            char *vv = xprintf("%s.value", ev);
            bool opt = schema_is_optional(s->items);
            sb_t b = {0};
            run_t r = {0};
            if (!arr)
                run_push(&b, &r, &string_schema, kv, NULL);
            if (enc_flat(s->items)) {
                run_push(&b, &r, s->items, opt ? vv : ev, hv);
                run_flush(&b, &r);
            } else {
                run_flush(&b, &r);
                char *x = stmts(d, NULL, s->items, opt ? vv : ev, hv, jn, depth + 1);
                sb_puts(&b, x);
                free(x);
            }
            body = chomp(sb_take(&b));
            free(kv);
            free(hv);
            free(vv);
        } else if (schema_is_optional(s->items)) {
            char *hv = xprintf("%s.has", ev);
            char *vv = xprintf("%s.value", ev);
            body = stmts(d, NULL, s->items, vv, hv, jn, depth + 1);
            free(hv);
            free(vv);
        } else {
            body = stmts(d, NULL, s->items, ev, NULL, jn, depth + 1);
        }
        char minsize[32];
        snprintf(minsize, sizeof minsize, "%zu", min_size(s->items, 0) + (arr ? 0 : 1));
        snprintf(blk, sizeof blk, "%s.%s", pre, arr ? "array" : "map");
        char *r = tmpl_str(blk, (tvar_t[]){V("v", v), V("j", j), V("i", i), V("n", n), V("jn", jn),
                                           V("it", it), V("k", k), V("kl", kl),
                                           V("minsize", minsize), V("body", body), TEND});
        free(ev);
        free(body);
        return r;
    }
    case K_UNION: {
        if (schema_is_optional(s)) {
            /* `v` is the value, `has` the flag */
            const schema_t *val = schema_optional_value(s);
            char some[16], none[16];
            snprintf(some, sizeof some, "%d", 1 - s->null_index);
            snprintf(none, sizeof none, "%d", s->null_index);
            char *body = stmts(d, owner, val, v, NULL, jn, depth + 1);
            char *bn = json_branch_name(val);
            char *lit = NULL;
            if (d == D_JSON) {
                char *x = xprintf("{\"%s\":", bn);
                lit = c_string_literal(x, strlen(x));
                free(x);
            } else {
                lit = c_string_literal(bn, strlen(bn));
            }
            snprintf(blk, sizeof blk, "%s.optional", pre);
            char *r =
                tmpl_str(blk, (tvar_t[]){V("v", v), V("has", has), V("j", j), V("jn", jn),
                                         V("br", br), V("t", t), V("some", some), V("none", none),
                                         V("branch", lit), V("body", body), TEND});
            free(body);
            free(bn);
            free(lit);
            return r;
        }
        sb_t cases = {0};
        char *null_case = NULL;
        for (size_t b = 0; b < s->nbranches; b++) {
            const schema_t *bs = s->branches[b];
            char idx[32];
            snprintf(idx, sizeof idx, "%zu", b);
            if (bs->kind == K_NULL) {
                if (d == D_ENC || d == D_DEC)
                    tmpl_render(&cases, d == D_ENC ? "enc.union_case" : "dec.union_case",
                                (tvar_t[]){V("idx", idx), V("body", ""), TEND});
                else if (d == D_JSON)
                    tmpl_render(&cases, "json.union_null_case", (tvar_t[]){V("idx", idx), TEND});
                else
                    null_case =
                        tmpl_str("from.union_null", (tvar_t[]){V("v", v), V("idx", idx), TEND});
                continue;
            }
            char *bv = xprintf("%s.value.%s", v, s->branch_mem[b]);
            char *body = stmts(d, owner, bs, bv, NULL, jn, depth + 1);
            char *bn = json_branch_name(bs);
            char *x = d == D_JSON ? xprintf("{\"%s\":", bn) : xstrdup(bn);
            char *lit = c_string_literal(x, strlen(x));
            snprintf(blk, sizeof blk, "%s.union_case", pre);
            tmpl_render(&cases, blk,
                        (tvar_t[]){V("v", v), V("idx", idx), V("br", br), V("branch", lit),
                                   V("body", body), TEND});
            free(bv);
            free(body);
            free(bn);
            free(x);
            free(lit);
        }
        if (!null_case)
            null_case = tmpl_str("from.union_nonull", (tvar_t[]){TEND});
        char *cs = sb_take(&cases);
        snprintf(blk, sizeof blk, "%s.union", pre);
        char *r =
            tmpl_str(blk, (tvar_t[]){V("v", v), V("j", j), V("jn", jn), V("br", br), V("t", t),
                                     V("cases", cs), V("null_case", null_case), TEND});
        free(cs);
        free(null_case);
        return r;
    }
    default:
        return xstrdup("");
    }
}

/* ---- defaults ------------------------------------------------------------------------------- */

static char *int_literal(json_int_t x, bool is_long) {
    if (is_long && x == INT64_MIN)
        return xstrdup("INT64_MIN");
    if (!is_long && x == INT32_MIN)
        return xstrdup("INT32_MIN");
    return is_long ? xprintf("INT64_C(%" JSON_INTEGER_FORMAT ")", x)
                   : xprintf("%" JSON_INTEGER_FORMAT, x);
}

static char *real_literal(double x, bool is_float) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.17g", x);
    if (!strpbrk(tmp, ".eE"))
        strcat(tmp, ".0");
    return xprintf("%s%s", tmp, is_float ? "f" : "");
}

/* Latin-1 bytes of a JSON default string (Avro's JSON form of bytes and fixed). */
static char *latin1_bytes(const char *s, size_t n, size_t *len) {
    size_t k = 0;
    char *out = xcalloc(1, n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xc2 && c <= 0xc3 && i + 1 < n) {
            out[k++] = (char)(((c & 0x03) << 6) | ((unsigned char)s[i + 1] & 0x3f));
            i++;
        } else {
            out[k++] = (char)c;
        }
    }
    *len = k;
    return out;
}

static void init_stmts(sb_t *b, const schema_t *owner, const schema_t *s, const char *v,
                       const char *has, json_t *def, int depth);

static void init_record_fields(sb_t *b, const schema_t *rec, const char *base, json_t *def,
                               int depth) {
    for (size_t i = 0; i < rec->nfields; i++) {
        const field_t *f = &rec->fields[i];
        json_t *d = def ? json_object_get(def, f->name) : NULL;
        if (!d)
            d = f->def;
        if (f->type->kind == K_NULL)
            continue;
        char *fv = xprintf("%s%s", base, f->cname);
        char *hv = f->has_cname ? xprintf("%s%s", base, f->has_cname) : NULL;
        init_stmts(b, rec, f->type, fv, hv, d, depth);
        free(fv);
        free(hv);
    }
}

static void init_stmts(sb_t *b, const schema_t *owner, const schema_t *s, const char *v,
                       const char *has, json_t *def, int depth) {
    if (depth > 16)
        return;
    if (!def) {
        if (s->kind == K_RECORD && !needs_ptr(owner, s))
            sb_printf(b, "%s__init(&%s, a);\n", s->cname, v);
        return;
    }
    switch (s->kind) {
    case K_BOOLEAN:
        sb_printf(b, "%s = %s;\n", v, json_is_true(def) ? "true" : "false");
        return;
    case K_INT:
    case K_LONG: {
        char *l = int_literal(json_integer_value(def), s->kind == K_LONG);
        sb_printf(b, "%s = %s;\n", v, l);
        free(l);
        return;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        char *l = real_literal(json_number_value(def), s->kind == K_FLOAT);
        sb_printf(b, "%s = %s;\n", v, l);
        free(l);
        return;
    }
    case K_STRING: {
        const char *x = json_string_value(def);
        char *l = c_string_literal(x, json_string_length(def));
        sb_printf(b, "%s = (char *)%s;\n", v, l);
        free(l);
        return;
    }
    case K_BYTES:
    case K_FIXED: {
        size_t n;
        char *raw = latin1_bytes(json_string_value(def), json_string_length(def), &n);
        char *l = c_string_literal(raw, n);
        if (s->kind == K_BYTES)
            sb_printf(b, "%s.data = (uint8_t *)%s;\n%s.len = %zu;\n", v, l, v, n);
        else if (n == s->size && n > 0)
            sb_printf(b, "memcpy(%s.bytes, %s, %zu);\n", v, l, n);
        free(raw);
        free(l);
        return;
    }
    case K_ENUM:
        for (size_t i = 0; i < s->nsymbols; i++)
            if (!strcmp(s->symbols[i], json_string_value(def)))
                sb_printf(b, "%s = %s;\n", v, s->csymbols[i]);
        return;
    case K_RECORD:
        if (needs_ptr(owner, s)) {
            sb_printf(b, "%s = (%s *)brook_arena_alloc(a, sizeof(%s));\nif (%s) {\n", v, s->cname,
                      s->cname, v);
            char *base = xprintf("%s->", v);
            sb_t inner = {0};
            sb_printf(&inner, "%s__init(%s, a);\n", s->cname, v);
            init_record_fields(&inner, s, base, def, depth + 1);
            char *t = sb_take(&inner);
            for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"))
                sb_printf(b, "    %s\n", line);
            sb_puts(b, "}\n");
            free(t);
            free(base);
        } else {
            char *base = xprintf("%s.", v);
            sb_printf(b, "%s__init(&%s, a);\n", s->cname, v);
            init_record_fields(b, s, base, def, depth + 1);
            free(base);
        }
        return;
    case K_ARRAY:
    case K_MAP: {
        bool arr = s->kind == K_ARRAY;
        size_t n = arr ? json_array_size(def) : json_object_size(def);
        if (n == 0)
            return;
        const char *items = arr ? "items" : "values";
        sb_printf(b, "%s.%s = brook_arena_alloc(a, %zu * sizeof(*%s.%s));\n", v, items, n, v,
                  items);
        if (!arr)
            sb_printf(b, "%s.keys = brook_arena_alloc(a, %zu * sizeof(char *));\n", v, n);
        sb_printf(b, "if (%s.%s%s%s%s) {\n", v, items, arr ? "" : " && ", arr ? "" : v,
                  arr ? "" : ".keys");
        sb_t inner = {0};
        sb_printf(&inner, "memset(%s.%s, 0, %zu * sizeof(*%s.%s));\n%s.n = %zu;\n", v, items, n, v,
                  items, v, n);
        size_t idx = 0;
        const char *key;
        json_t *val;
        json_t *vals = arr ? def : NULL;
        void *iter = arr ? NULL : json_object_iter(def);
        for (idx = 0; idx < n; idx++) {
            if (arr) {
                val = json_array_get(vals, idx);
            } else {
                key = json_object_iter_key(iter);
                val = json_object_iter_value(iter);
                iter = json_object_iter_next(def, iter);
                char *kl = c_string_literal(key, strlen(key));
                sb_printf(&inner, "%s.keys[%zu] = (char *)%s;\n", v, idx, kl);
                free(kl);
            }
            char *ev = xprintf("%s.%s[%zu]", v, items, idx);
            if (schema_is_optional(s->items)) {
                char *hv = xprintf("%s.has", ev);
                char *vv = xprintf("%s.value", ev);
                init_stmts(&inner, NULL, s->items, vv, hv, val, depth + 1);
                free(hv);
                free(vv);
            } else {
                init_stmts(&inner, NULL, s->items, ev, NULL, val, depth + 1);
            }
            free(ev);
        }
        char *t = sb_take(&inner);
        for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"))
            sb_printf(b, "    %s\n", line);
        sb_puts(b, "}\n");
        free(t);
        return;
    }
    case K_UNION: {
        /* a union's default is a value of its first branch */
        const schema_t *first = s->branches[0];
        if (first->kind == K_NULL)
            return;
        if (schema_is_optional(s)) {
            sb_printf(b, "%s = true;\n", has);
            init_stmts(b, owner, first, v, NULL, def, depth + 1);
        } else {
            sb_printf(b, "%s.branch = 0;\n", v);
            char *bv = xprintf("%s.value.%s", v, s->branch_mem[0]);
            init_stmts(b, owner, first, bv, NULL, def, depth + 1);
            free(bv);
        }
        return;
    }
    default:
        return;
    }
}

/* ---- text helpers ------------------------------------------------------------------------------
 */

static char *indent_block(const char *text, int spaces) {
    sb_t b = {0};
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n)
            sb_printf(&b, "%*s", spaces, "");
        sb_put(&b, p, n);
        sb_puts(&b, "\n");
        p = e ? e + 1 : p + n;
    }
    return sb_take(&b);
}

static char *chomp(char *s) {
    size_t n = strlen(s);
    while (n && s[n - 1] == '\n')
        s[--n] = 0;
    return s;
}

/* A C initializer for text: adjacent string literals, one per line of the text, or a byte
 * array when the text is longer than ISO C's minimum literal length. */
static char *c_text_initializer(const char *text) {
    size_t len = strlen(text);
    sb_t b = {0};
    if (len > 4000) {
        sb_puts(&b, "{");
        for (size_t i = 0; i <= len; i++) {
            if (i % 12 == 0)
                sb_puts(&b, "\n    ");
            sb_printf(&b, "0x%02x,%s", (unsigned char)text[i],
                      (i % 12 == 11 || i == len) ? "" : " ");
        }
        sb_puts(&b, "\n}");
        return sb_take(&b);
    }
    if (len == 0)
        return xstrdup("\"\"");
    const char *p = text;
    bool first = true;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
        char *l = c_string_literal(p, n);
        sb_printf(&b, "%s%s", first ? "" : "\n    ", l);
        free(l);
        first = false;
        p += n;
    }
    return sb_take(&b);
}

static char *doc_comment(const char *doc) {
    if (!doc || !*doc)
        return xstrdup("");
    char *t = c_comment_text(doc);
    char *r = chomp(tmpl_str("h.doc", (tvar_t[]){V("text", t), TEND}));
    free(t);
    return r;
}

static const char *logical_note(const schema_t *s) {
    return s->logical ? s->logical : NULL;
}

/* ---- per-type rendering ---------------------------------------------------------------------- */

static void render_guarded(sb_t *out, const schema_t *s, char *body);

static void render_members(sb_t *out, const schema_t *rec) {
    for (size_t i = 0; i < rec->nfields; i++) {
        const field_t *f = &rec->fields[i];
        char *doc = doc_comment(f->doc);
        char *comment = NULL;
        const schema_t *vt = schema_is_optional(f->type) ? schema_optional_value(f->type) : f->type;
        if (logical_note(vt)) {
            char *t = c_comment_text(vt->logical);
            comment = xprintf(" /* logicalType %s */", t);
            free(t);
        } else if (f->type->kind == K_NULL) {
            comment = xstrdup("");
        } else {
            comment = xstrdup("");
        }
        if (f->type->kind == K_NULL) {
            /* a null field carries no data */
            free(doc);
            free(comment);
            continue;
        }
        if (schema_is_optional(f->type)) {
            char *hd = xprintf("bool %s", f->has_cname);
            tmpl_render(out, "h.member",
                        (tvar_t[]){V("doc", doc), V("decl", hd), V("comment", ""), TEND});
            free(hd);
            char *ct = ctype(rec, vt);
            char *d = decl_of(ct, f->cname);
            tmpl_render(out, "h.member",
                        (tvar_t[]){V("doc", ""), V("decl", d), V("comment", comment), TEND});
            free(ct);
            free(d);
        } else {
            char *ct = ctype(rec, f->type);
            char *d = decl_of(ct, f->cname);
            tmpl_render(out, "h.member",
                        (tvar_t[]){V("doc", doc), V("decl", d), V("comment", comment), TEND});
            free(ct);
            free(d);
        }
        free(doc);
        free(comment);
    }
}

static void emit_struct(sb_t *out, schema_t *s) {
    if (s->emitted || s->mark == -1)
        return;
    s->mark = -1; /* visiting */
    /* records this one holds by value come first */
    for (size_t i = 0; i < s->nfields; i++) {
        schema_t *stack[64];
        size_t sp = 0;
        stack[sp++] = s->fields[i].type;
        while (sp) {
            schema_t *t = stack[--sp];
            if (t->kind == K_UNION) {
                for (size_t k = 0; k < t->nbranches && sp < 64; k++)
                    stack[sp++] = t->branches[k];
            } else if (t->kind == K_RECORD && !needs_ptr(s, t)) {
                emit_struct(out, t);
            }
        }
    }
    char *doc = doc_comment(s->doc);
    sb_t members = {0};
    render_members(&members, s);
    char *m = chomp(sb_take(&members));
    render_guarded(out, s,
                   tmpl_str("h.record",
                            (tvar_t[]){V("doc", doc), V("type", s->cname), V("members", m), TEND}));
    sb_puts(out, "\n");
    free(doc);
    free(m);
    s->emitted = true;
    s->mark = 0;
}

static char *fp_hex(const char *pcf) {
    return xprintf("0x%016" PRIx64, brook_avro_crc64(pcf, strlen(pcf)));
}

/* The include guard of one type's declarations in a header: its C name and fingerprint. Two
 * headers that declare the same type from the same schema (say, the units of two brookc runs)
 * can then be included together, while two versions of a type under one C name still clash
 * at compile time instead of one silently hiding the other. */
static char *type_guard(const schema_t *s) {
    char *pcf = model_pcf(s);
    char *g = xprintf("BROOK_TYPE_%s_%016" PRIx64, s->cname, brook_avro_crc64(pcf, strlen(pcf)));
    free(pcf);
    return g;
}

/* Renders `body` (a complete declaration of type s) inside s's include guard. */
static void render_guarded(sb_t *out, const schema_t *s, char *body) {
    char *g = type_guard(s);
    tmpl_render(out, "h.guarded", (tvar_t[]){V("guard", g), V("body", chomp(body)), TEND});
    free(g);
    free(body);
}

static void render_type_source(gen_t *g, sb_t *out, schema_t *s) {
    char *pcf = model_pcf(s);
    char *fp = fp_hex(pcf);
    char *schema_init = c_text_initializer(pcf);
    char *full = model_full_json(s);
    char *full_init = c_text_initializer(full);
    bool rec = s->kind == K_RECORD;
    sb_t enc = {0}, dec = {0}, json = {0}, from = {0}, init = {0};
    run_t run = {0};
    if (rec) {
        tmpl_render(&json, "c.record_json_begin", (tvar_t[]){TEND});
        tmpl_render(&from, "c.record_from_begin", (tvar_t[]){V("type", s->cname), TEND});
        for (size_t i = 0; i < s->nfields; i++) {
            const field_t *f = &s->fields[i];
            char *fv = xprintf("v->%s", f->cname);
            char *hv = f->has_cname ? xprintf("v->%s", f->has_cname) : NULL;
            char *e;
            if (enc_flat(f->type)) {
                run_push(&enc, &run, f->type, fv, hv);
                e = xstrdup("");
            } else {
                run_flush(&enc, &run);
                e = stmts(D_ENC, s, f->type, fv, hv, "j", 0);
            }
            char *dd = stmts(D_DEC, s, f->type, fv, hv, "j", 0);
            char *js = chomp(stmts(D_JSON, s, f->type, fv, hv, "j", 0));
            char *fr = chomp(stmts(D_FROM, s, f->type, fv, hv, "j_f", 1));
            sb_puts(&enc, e);
            sb_puts(&dec, dd);
            char *key = xprintf("%s\"%s\":", i ? "," : "", f->name);
            char *keylit = c_string_literal(key, strlen(key));
            tmpl_render(&json, "c.record_json_field",
                        (tvar_t[]){V("key", keylit), V("body", js), TEND});
            char *namelit = c_string_literal(f->name, strlen(f->name));
            bool required = !f->def && !schema_is_optional(f->type) && f->type->kind != K_NULL;
            char *missing = required ? chomp(tmpl_str("c.record_from_required", (tvar_t[]){TEND}))
                                     : xstrdup("");
            tmpl_render(&from, "c.record_from_field",
                        (tvar_t[]){V("jn", "j_f"), V("key", namelit), V("body", fr),
                                   V("missing", missing), TEND});
            free(fv);
            free(hv);
            free(e);
            free(dd);
            free(js);
            free(fr);
            free(key);
            free(keylit);
            free(namelit);
            free(missing);
        }
        run_flush(&enc, &run);
        tmpl_render(&json, "c.record_json_end", (tvar_t[]){TEND});
        init_record_fields(&init, s, "v->", NULL, 0);
    } else {
        char *e = stmts(D_ENC, NULL, s, "(*v)", NULL, "j", 0);
        char *dd = stmts(D_DEC, NULL, s, "(*v)", NULL, "j", 0);
        char *js = stmts(D_JSON, NULL, s, "(*v)", NULL, "j", 0);
        char *fr = stmts(D_FROM, NULL, s, "(*v)", NULL, "j", 0);
        sb_puts(&enc, e);
        sb_puts(&dec, dd);
        sb_puts(&json, js);
        sb_puts(&from, fr);
        free(e);
        free(dd);
        free(js);
        free(fr);
    }
    char *encs = chomp(sb_take(&enc)), *decs = chomp(sb_take(&dec));
    char *jsons = chomp(sb_take(&json)), *froms = chomp(sb_take(&from));
    char *inits = chomp(sb_take(&init));
    bool deep = is_recursive(s);
    char *enter = deep ? chomp(tmpl_str("c.dec_enter", (tvar_t[]){TEND})) : xstrdup("");
    char *leave = deep ? chomp(tmpl_str("c.dec_leave", (tvar_t[]){TEND})) : xstrdup("");
    char *init_public = rec ? xprintf("%s__init(v, &v->brook_arena_);", s->cname)
                            : xprintf("%s__init(v, NULL);", s->cname);
    char *clear_public = rec ? xprintf("brook_arena_free(&v->brook_arena_);\n"
                                       "memset(v, 0, sizeof *v);")
                             : xstrdup("memset(v, 0, sizeof *v);");
    /* Decoding again into a value keeps its arena's block (brook__arena_reset). */
    char *reset_public = rec ? xprintf("brook__arena_reset(&v->brook_arena_);\n"
                                       "brook_arena_t *arena_ = v->brook_arena_;\n"
                                       "memset(v, 0, sizeof *v);\n"
                                       "v->brook_arena_ = arena_;")
                             : xstrdup("memset(v, 0, sizeof *v);");
    const char *arena = rec ? "&v->brook_arena_" : "NULL";
    tmpl_render(out, "c.type",
                (tvar_t[]){V("type", s->cname), V("fullname", s->fullname),
                           V("schema", schema_init), V("resolution", full_init), V("fp_hex", fp),
                           V("init", inits), V("enc", encs), V("dec", decs), V("dec_enter", enter),
                           V("dec_leave", leave), V("json", jsons), V("from", froms),
                           V("init_public", init_public), V("clear_public", clear_public),
                           V("reset_public", reset_public), V("arena", arena),
                           V("strings", holds_strings(s) ? "true" : "false"),
                           V("codec", codec_inline(s) ? "BROOK__AVRO_INLINE" : "static"), TEND});
    (void)g;
    free(pcf);
    free(fp);
    free(schema_init);
    free(full);
    free(full_init);
    free(encs);
    free(decs);
    free(jsons);
    free(froms);
    free(inits);
    free(enter);
    free(leave);
    free(init_public);
    free(clear_public);
    free(reset_public);
}

/* ---- service glue ------------------------------------------------------------------------------
 */

schema_t *decl_serde_type(model_t *model, model_t *scope, const char *display,
                          const brook_decl_serde_t *sd, const char *what, int line) {
    /* a service uses the types of its own schemas, also when its units share them */
    schema_t *t = model_find(scope ? scope : model, sd->type_name);
    if (t)
        t = model_find(model, sd->type_name);
    if (!t)
        diag(display, sd->line ? sd->line : line,
             "%s: type \"%s\" is not defined by any schema of the service", what, sd->type_name);
    return t;
}

/* The C type of a declared key or value. A type no schema of the service defines is reported
 * (once per setting: each is looked up once) and given as "const void *". */
static char *serde_ctype(gen_t *g, const brook_decl_serde_t *sd, const char *what, int line) {
    switch (sd->kind) {
    case BROOK_SERDE_STRING:
    case BROOK_SERDE_JSON:
        return xstrdup("const char *");
    case BROOK_SERDE_BYTES:
        return xstrdup("const brook_bytes_t *");
    case BROOK_SERDE_AVRO: {
        schema_t *t = decl_serde_type(g->model, g->scope, g->decl_display, sd, what, line);
        return t ? xprintf("const %s *", t->cname) : xstrdup("const void *");
    }
    }
    return xstrdup("const void *");
}

/* A C identifier for a declared name (template name, listener id): non-identifier characters
 * become '_', unique within `used`. */
static char *ident_for(const char *name, char ***used, size_t *nused) {
    char *base = xstrdup(name);
    for (char *p = base; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    char *c = xstrdup(base);
    for (int k = 2;; k++) {
        bool taken = false;
        for (size_t i = 0; i < *nused; i++)
            taken |= !strcmp((*used)[i], c);
        if (!taken)
            break;
        free(c);
        c = xprintf("%s_%d", base, k);
    }
    free(base);
    *used = xrealloc(*used, (*nused + 1) * sizeof(char *));
    (*used)[(*nused)++] = c;
    return c;
}

static char *pad(size_t n) {
    char *p = xcalloc(1, n + 1);
    memset(p, ' ', n);
    return p;
}

/* The C type of a reply to fill or receive (docs/request-reply.md): T * for an Avro type,
 * brook_buf_t * for string, json and bytes. */
static char *reply_ctype(gen_t *g, const brook_decl_serde_t *sd, const char *what, int line) {
    if (sd->kind != BROOK_SERDE_AVRO)
        return xstrdup("brook_buf_t *");
    schema_t *t = decl_serde_type(g->model, g->scope, g->decl_display, sd, what, line);
    return t ? xprintf("%s *", t->cname) : xstrdup("void *");
}

/* How a replying listener's handler fills its reply, for its prototype's comment. */
static const char *reply_fill(const brook_decl_serde_t *sd) {
    return sd->kind == BROOK_SERDE_AVRO
               ? "The reply is initialized: point its fields at memory that outlives this call\n"
                 " * (the request's values, literals, brook_arena_alloc(&reply->brook_arena_, n),\n"
                 " * which is freed with the reply)."
               : "Append the reply's value to the (empty) buffer.";
}

/* The reply template of listener l, or NULL (the parser checked that it is declared). */
static const brook_decl_template_t *reply_template(const brook_decl_t *d,
                                                   const brook_decl_listener_t *l) {
    for (size_t i = 0; l->reply && i < d->template_count; i++)
        if (!strcmp(d->templates[i].name, l->reply))
            return &d->templates[i];
    return NULL;
}

static void render_service(gen_t *g, char **h_out, char **c_out) {
    brook_decl_t *d = g->decl;
    const char *unit = g->unit;
    sb_t h_tpl = {0}, h_hand = {0}, c_members = {0}, c_tramp = {0}, c_bind = {0}, c_lookup = {0},
         c_sends = {0}, c_wdefs = {0}, c_wreg = {0};
    char **used = NULL;
    size_t nused = 0;
    for (size_t i = 0; i < d->template_count; i++) {
        const brook_decl_template_t *t = &d->templates[i];
        char *what = xprintf("templates[%zu] \"%s\"", i, t->name);
        char *key = serde_ctype(g, &t->key, what, t->line);
        char *val = serde_ctype(g, &t->value, what, t->line);
        char *cname = ident_for(t->name, &used, &nused);
        char *p = pad(strlen("int ") + strlen(unit) + 1 + strlen(cname) + strlen("_send_ex("));
        tvar_t vars[] = {
            V("unit", unit), V("name", t->name), V("topic", t->topic), V("cname", cname),
            V("key", key),   V("value", val),    V("pad", p),          TEND};
        tmpl_render(&h_tpl, "h.template", vars);
        tmpl_render(&c_members, "c.template_member", vars);
        tmpl_render(&c_lookup, "c.lookup_template", vars);
        sb_puts(&c_sends, "\n");
        tmpl_render(&c_sends, "c.send", vars);
        if (t->reply.declared) {
            char *rwhat = xprintf("templates[%zu] \"%s\" reply", i, t->name);
            char *rt = reply_ctype(g, &t->reply.value, rwhat, t->reply.line);
            size_t head = strlen("int ") + strlen(unit) + 1 + strlen(cname);
            char *rp = pad(head + strlen("_request(")), *rpx = pad(head + strlen("_request_ex("));
            tvar_t rv[] = {V("unit", unit),
                           V("name", t->name),
                           V("cname", cname),
                           V("key", key),
                           V("value", val),
                           V("reply", rt),
                           V("reply_topic", t->reply.topic),
                           V("pad", rp),
                           V("pad_ex", rpx),
                           TEND};
            tmpl_render(&h_tpl, "h.request", rv);
            sb_puts(&c_sends, "\n");
            tmpl_render(&c_sends, "c.request", rv);
            free(rwhat);
            free(rt);
            free(rp);
            free(rpx);
        }
        free(what);
        free(key);
        free(val);
        free(p);
    }
    char **lused = NULL;
    size_t nlused = 0;
    bool from_batch = false; /* <unit>_from_batch emitted (with the first batch listener) */
    for (size_t i = 0; i < d->listener_count; i++) {
        const brook_decl_listener_t *l = &d->listeners[i];
        char *what = xprintf("listeners[%zu] \"%s\"", i, l->id);
        if (!is_c_identifier(l->handler) || is_c_reserved(l->handler) || is_c_local(l->handler)) {
            diag(g->decl_display, l->line, "%s: handler \"%s\" is not a usable C identifier", what,
                 l->handler ? l->handler : "");
            /* its types are checked all the same: they are another mistake, if any */
            free(serde_ctype(g, &l->key, what, l->line));
            free(serde_ctype(g, &l->value, what, l->line));
            free(what);
            continue;
        }
        char *key = serde_ctype(g, &l->key, what, l->line);
        char *val = serde_ctype(g, &l->value, what, l->line);
        char *cname = ident_for(l->id, &lused, &nlused);
        char *p = pad(strlen("static brook_result_t ") + strlen(unit) + strlen("__on_") +
                      strlen(cname) + 1);
        /* A replying listener's handler also fills the reply, of its template's value type (a
         * type no schema defines was reported with the template). */
        const brook_decl_template_t *rtpl = reply_template(d, l);
        char *rt = NULL;
        if (rtpl && rtpl->value.kind == BROOK_SERDE_AVRO) {
            schema_t *st = model_find(g->model, rtpl->value.type_name);
            rt = st ? xprintf("%s *", st->cname) : xstrdup("void *");
        } else if (rtpl) {
            rt = xstrdup("brook_buf_t *");
        }
        /* One prototype per handler, naming every listener that uses it. The declaration
         * parser has checked that listeners sharing a handler declare the same key and value
         * types. */
        bool first = true;
        for (size_t k = 0; k < i; k++)
            if (d->listeners[k].handler && !strcmp(d->listeners[k].handler, l->handler))
                first = false;
        if (l->batch && !from_batch) {
            from_batch = true;
            tmpl_render(&h_hand, "h.from_batch", (tvar_t[]){V("unit", unit), TEND});
            tmpl_render(&c_tramp, "c.from_batch", (tvar_t[]){V("unit", unit), TEND});
            sb_puts(&c_tramp, "\n");
        }
        if (first) {
            sb_t ids = {0};
            size_t count = 0;
            for (size_t k = i; k < d->listener_count; k++) {
                if (!d->listeners[k].handler || strcmp(d->listeners[k].handler, l->handler))
                    continue;
                sb_printf(&ids, "%s\"%s\"", count ? ", " : "", d->listeners[k].id);
                count++;
            }
            char *idl = sb_take(&ids);
            char *ci = c_comment_text(idl);
            char *hpad = pad(strlen("brook_result_t ") + strlen(l->handler) + 1);
            tmpl_render(&h_hand,
                        l->batch ? "h.batch_handler"
                        : rt     ? "h.reply_handler"
                                 : "h.handler",
                        (tvar_t[]){V("plural", count > 1 ? "s" : ""), V("listeners", ci),
                                   V("handler", l->handler), V("key", key), V("value", val),
                                   V("reply", rt ? rt : ""),
                                   V("fill", rtpl ? reply_fill(&rtpl->value) : ""), V("hpad", hpad),
                                   TEND});
            free(hpad);
            free(idl);
            free(ci);
        }
        char *idlit = c_comment_text(l->id);
        tvar_t vars[] = {V("unit", unit), V("cname", cname),        V("handler", l->handler),
                         V("key", key),   V("value", val),          V("id", l->id),
                         V("pad", p),     V("reply", rt ? rt : ""), TEND};
        tmpl_render(&c_tramp,
                    l->batch ? "c.batch_trampoline"
                    : rt     ? "c.reply_trampoline"
                             : "c.trampoline",
                    vars);
        sb_puts(&c_tramp, "\n");
        tmpl_render(&c_bind, l->batch ? "c.bind_batch_handler" : "c.bind_handler", vars);
        /* Its filters: a prototype per function (at its first use), a trampoline and a
         * binding per listener. */
        for (int raw = 0; raw < 2; raw++) {
            const char *fn = raw ? l->raw_filter : l->filter;
            if (!fn)
                continue;
            bool first_use = true;
            for (size_t k = 0; k < i && first_use; k++) {
                const char *o = raw ? d->listeners[k].raw_filter : d->listeners[k].filter;
                first_use = !o || strcmp(o, fn);
            }
            tvar_t fv[] = {V("unit", unit),
                           V("cname", cname),
                           V("filter", fn),
                           V("key", key),
                           V("value", val),
                           V("id", l->id),
                           V("kind", raw ? "raw_filter" : "filter"),
                           V("stage", raw ? "BROOK_FILTER_RAW" : "BROOK_FILTER_DECODED"),
                           TEND};
            if (first_use)
                tmpl_render(&h_hand, raw ? "h.raw_filter" : "h.filter", fv);
            tmpl_render(&c_tramp, raw ? "c.raw_filter_trampoline" : "c.filter_trampoline", fv);
            sb_puts(&c_tramp, "\n");
            tmpl_render(&c_bind, "c.bind_filter", fv);
        }
        free(idlit);
        free(what);
        free(key);
        free(val);
        free(p);
        free(rt);
    }
    for (size_t i = 0; i < g->nwriters; i++) {
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", i);
        char *text = c_text_initializer(g->writer_texts[i]);
        char *path = c_comment_text(g->writer_paths[i]);
        tvar_t vars[] = {V("unit", unit),
                         V("idx", idx),
                         V("text", text),
                         V("path", path),
                         V("fullname", g->writer_types[i]->fullname),
                         TEND};
        tmpl_render(&c_wdefs, "c.writer_schema", vars);
        tmpl_render(&c_wreg, "c.register_writer", vars);
        free(text);
        free(path);
    }
    char *decl_text = c_text_initializer(g->decl_text);
    char *ht = chomp(sb_take(&h_tpl)), *hh = chomp(sb_take(&h_hand));
    char *name_c = c_comment_text(d->name);
    *h_out = tmpl_str("h.service", (tvar_t[]){V("unit", unit), V("name", name_c),
                                              V("templates", ht), V("handlers", hh), TEND});
    char *cm = chomp(sb_take(&c_members)), *ctr = sb_take(&c_tramp), *cb = chomp(sb_take(&c_bind));
    char *cl = chomp(sb_take(&c_lookup)), *cs = sb_take(&c_sends), *cw = sb_take(&c_wdefs);
    char *cwr = chomp(sb_take(&c_wreg));
    char *base_c = c_comment_text(g->decl_base);
    char *base_lit = c_string_literal(g->decl_base, strlen(g->decl_base));
    /* the template quotes decl_base itself: strip the literal's quotes */
    base_lit[strlen(base_lit) - 1] = 0;
    *c_out = tmpl_str("c.service",
                      (tvar_t[]){V("unit", unit), V("name", name_c), V("decl_base", base_lit + 1),
                                 V("decl_text", decl_text), V("writer_schemas", cw),
                                 V("template_members", cm), V("trampolines", ctr),
                                 V("register_writers", cwr), V("bind_handlers", cb),
                                 V("lookup_templates", cl), V("sends", cs), TEND});
    free(decl_text);
    free(ht);
    free(hh);
    free(name_c);
    free(cm);
    free(ctr);
    free(cb);
    free(cl);
    free(cs);
    free(cw);
    free(cwr);
    free(base_c);
    free(base_lit);
}

/* ---- the unit ----------------------------------------------------------------------------------
 */

/* The banner's list of inputs: the declaration file, schema files and writer schemas. */
static char *banner_inputs(const gen_t *g, const model_t *m) {
    sb_t inputs = {0};
    if (g->decl_display) {
        char *t = c_comment_text(g->decl_display);
        tmpl_render(&inputs, "h.input", (tvar_t[]){V("path", t), TEND});
        free(t);
    }
    for (size_t i = 0; i < m->nfiles; i++) {
        char *t = c_comment_text(m->files[i]);
        tmpl_render(&inputs, "h.input", (tvar_t[]){V("path", t), TEND});
        free(t);
    }
    for (size_t i = 0; i < g->nwriters; i++) {
        char *t = c_comment_text(g->writer_paths[i]);
        tmpl_render(&inputs, "h.input", (tvar_t[]){V("path", t), TEND});
        free(t);
    }
    return chomp(sb_take(&inputs));
}

static char *header_guard(const char *unit) {
    char *guard = xprintf("BROOK_GENERATED_%s_BROOK_H", unit);
    for (char *p = guard; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return guard;
}

/* One service of a multi-declaration run: its header includes the shared types unit's header
 * and its source defines only the service glue, so that any number of services link into one
 * binary with each type defined once. <unit>_types[] points at the shared descriptors. */
void gen_service_unit(gen_t *g, char **h_out, char **c_out) {
    char *ins = banner_inputs(g, g->scope);
    sb_t table = {0};
    for (size_t i = 0; i < g->scope->nnamed; i++) {
        schema_t *s = model_find(g->model, g->scope->named[i]->fullname);
        tmpl_render(&table, "c.table_entry", (tvar_t[]){V("type", s->cname), TEND});
    }
    char *hs = NULL, *cs = NULL;
    render_service(g, &hs, &cs);
    char *guard = header_guard(g->unit);
    char abi[16];
    snprintf(abi, sizeof abi, "%d", BROOK_ABI_VERSION);
    char *ta = chomp(sb_take(&table));
    chomp(hs);
    chomp(cs);
    *h_out =
        tmpl_str("h.service_file", (tvar_t[]){V("unit", g->unit), V("version", BROOK_VERSION_STR),
                                              V("inputs", ins), V("guard", guard), V("abi", abi),
                                              V("types", g->types_unit), V("service", hs), TEND});
    *c_out =
        tmpl_str("c.service_file",
                 (tvar_t[]){V("unit", g->unit), V("version", BROOK_VERSION_STR), V("inputs", ins),
                            V("abi", abi), V("table", ta), V("service", cs), TEND});
    free(ins);
    free(guard);
    free(ta);
    free(hs);
    free(cs);
}

void gen_unit(gen_t *g, char **h_out, char **c_out) {
    model_t *m = g->model;
    char *ins = banner_inputs(g, m);

    sb_t fwd = {0}, types = {0}, protos = {0}, guards = {0};
    for (size_t i = 0; i < m->nnamed; i++) {
        schema_t *s = m->named[i];
        if (s->kind != K_ENUM)
            render_guarded(&fwd, s, tmpl_str("h.forward", (tvar_t[]){V("type", s->cname), TEND}));
    }
    for (size_t i = 0; i < m->nnamed; i++) {
        schema_t *s = m->named[i];
        char *doc = doc_comment(s->doc);
        if (s->kind == K_ENUM) {
            sb_t syms = {0};
            for (size_t k = 0; k < s->nsymbols; k++) {
                char idx[32];
                snprintf(idx, sizeof idx, "%zu", k);
                bool is_def = s->enum_default && !strcmp(s->enum_default, s->symbols[k]);
                tmpl_render(&syms, "h.enum_symbol",
                            (tvar_t[]){V("csym", s->csymbols[k]), V("idx", idx),
                                       V("comment", is_def ? " /* default */" : ""), TEND});
            }
            char *sy = chomp(sb_take(&syms));
            render_guarded(&types, s,
                           tmpl_str("h.enum", (tvar_t[]){V("doc", doc), V("type", s->cname),
                                                         V("symbols", sy), TEND}));
            sb_puts(&types, "\n");
            free(sy);
        } else if (s->kind == K_FIXED) {
            char size[32];
            snprintf(size, sizeof size, "%zu", s->size ? s->size : 1);
            char *comment = s->logical ? xprintf(" /* logicalType %s%s */", s->logical,
                                                 s->size ? "" : "; size 0, one unused byte")
                                       : xstrdup(s->size ? "" : " /* size 0: one unused byte */");
            render_guarded(
                &types, s,
                tmpl_str("h.fixed", (tvar_t[]){V("doc", doc), V("type", s->cname), V("size", size),
                                               V("comment", comment), TEND}));
            sb_puts(&types, "\n");
            free(comment);
        }
        free(doc);
    }
    for (size_t i = 0; i < m->nnamed; i++)
        m->named[i]->mark = 0;
    for (size_t i = 0; i < m->nnamed; i++)
        if (m->named[i]->kind == K_RECORD)
            emit_struct(&types, m->named[i]);
    for (size_t i = 0; i < m->nnamed; i++) {
        schema_t *s = m->named[i];
        char *pcf = model_pcf(s);
        char *fp = fp_hex(pcf);
        render_guarded(
            &protos, s,
            tmpl_str("h.protos", (tvar_t[]){V("type", s->cname), V("fullname", s->fullname),
                                            V("fp_hex", fp), TEND}));
        sb_puts(&protos, "\n");
        char *guard = type_guard(s);
        tmpl_render(&guards, "h.define_guard", (tvar_t[]){V("guard", guard), TEND});
        free(guard);
        free(pcf);
        free(fp);
    }

    sb_t statics = {0}, bodies = {0}, table = {0};
    for (size_t i = 0; i < m->nnamed; i++) {
        tmpl_render(
            &statics, "c.static_protos",
            (tvar_t[]){V("type", m->named[i]->cname),
                       V("codec", codec_inline(m->named[i]) ? "BROOK__AVRO_INLINE" : "static"),
                       TEND});
        tmpl_render(&table, "c.table_entry", (tvar_t[]){V("type", m->named[i]->cname), TEND});
    }
    for (size_t k = 0; k < m->nnamed; k++) {
        schema_t *s = m->named[k];
        if (s->kind == K_ENUM) {
            sb_t syms = {0};
            for (size_t i = 0; i < s->nsymbols; i++) {
                char *l = c_string_literal(s->symbols[i], strlen(s->symbols[i]));
                tmpl_render(&syms, "c.symbol", (tvar_t[]){V("literal", l), TEND});
                free(l);
            }
            char *sy = chomp(sb_take(&syms));
            tmpl_render(&statics, "c.symbols",
                        (tvar_t[]){V("type", s->cname), V("symbols", sy), TEND});

            free(sy);
        }
    }
    for (size_t i = 0; i < m->nnamed; i++)
        render_type_source(g, &bodies, m->named[i]);

    char *hs = xstrdup(""), *cs = xstrdup("");
    if (g->decl) {
        free(hs);
        free(cs);
        render_service(g, &hs, &cs);
    }
    char *guard = header_guard(g->unit);
    char abi[16];
    snprintf(abi, sizeof abi, "%d", BROOK_ABI_VERSION);
    char *fw = chomp(sb_take(&fwd)), *ty = chomp(sb_take(&types)), *pr = chomp(sb_take(&protos));
    char *gu = chomp(sb_take(&guards));
    char *svc_h = chomp(hs);
    char *svc_h2 = *svc_h ? xprintf("\n%s", svc_h) : xstrdup("");
    *h_out = tmpl_str("h.file", (tvar_t[]){V("unit", g->unit), V("version", BROOK_VERSION_STR),
                                           V("inputs", ins), V("guard", guard), V("abi", abi),
                                           V("forwards", fw), V("types", ty), V("protos", pr),
                                           V("guards", gu), V("service", svc_h2), TEND});
    char *st = sb_take(&statics), *bo = sb_take(&bodies), *ta = chomp(sb_take(&table));
    *c_out =
        tmpl_str("c.file", (tvar_t[]){V("unit", g->unit), V("version", BROOK_VERSION_STR),
                                      V("inputs", ins), V("abi", abi), V("statics", st),
                                      V("bodies", bo), V("table", ta), V("service", cs), TEND});
    free(ins);
    free(guard);
    free(fw);
    free(ty);
    free(pr);
    free(gu);
    free(svc_h);
    free(svc_h2);
    free(st);
    free(bo);
    free(ta);
    free(cs);
    (void)indent_block;
}
