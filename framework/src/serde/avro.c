/* Avro support shared by generated codecs: arena, CRC-64-AVRO, framing, JSON encoding. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "brook/avro.h"
#include "core/core.h"

/* ---- arena ------------------------------------------------------------------------------------
 */

/* One spare first block per thread: decoding a value and clearing it, over and over, then
 * costs no malloc/free at all. */
static _Thread_local brook_arena_t *spare_block BROOK__TLS_FAST;
static _Thread_local bool spare_registered BROOK__TLS_FAST;
/* The key only makes a thread's spare block freed when the thread exits (and atexit frees
 * the exiting thread's), so that leak checkers see nothing. It is set once per thread, to a
 * marker: the destructor frees whatever block the thread holds then. */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static bool spare_ok;

static void spare_destroy(void *p) {
    (void)p;
    free(spare_block);
    spare_block = NULL;
    spare_registered = false;
}

static void spare_atexit(void) {
    free(spare_block);
    spare_block = NULL;
}

static void spare_init(void) {
    spare_ok = pthread_key_create(&spare_key, spare_destroy) == 0 && atexit(spare_atexit) == 0;
}

/* Whether this thread may keep a spare block (registers the thread the first time). */
static bool spare_register(void) {
    if (spare_registered)
        return true;
    pthread_once(&spare_once, spare_init);
    if (!spare_ok || pthread_setspecific(spare_key, &spare_key))
        return false;
    spare_registered = true;
    return true;
}

/* The thread's spare block as an empty arena with n bytes used, or NULL when there is none. */
static brook_arena_t *spare_take(size_t n) {
    brook_arena_t *a = spare_block;
    if (!a)
        return NULL;
    spare_block = NULL;
    a->next = NULL;
    a->used = n;
    return a;
}

void *brook__arena_alloc_block(brook_arena_t **arena, size_t n) {
    brook_arena_t *head = *arena;
    if (!head && n <= BROOK__ARENA_FIRST) {
        brook_arena_t *a = spare_take(n);
        if (a) {
            *arena = a;
            return a + 1;
        }
    }
    size_t cap = head ? head->cap * 2 : BROOK__ARENA_FIRST;
    if (cap > ((size_t)1 << 24))
        cap = (size_t)1 << 24;
    if (cap < n)
        cap = n;
    if (cap > SIZE_MAX - sizeof(brook_arena_t))
        return NULL;
    brook_arena_t *a = malloc(sizeof(brook_arena_t) + cap);
    if (!a)
        return NULL;
    a->cap = cap;
    a->used = n;
    a->pad_ = 0;
    if (head && cap == n && head->cap - head->used > 0) {
        /* A big one-off block goes behind the current one, which keeps its free space. */
        a->next = head->next;
        head->next = a;
    } else {
        a->next = head;
        *arena = a;
    }
    return a + 1;
}

void brook_arena_free(brook_arena_t **arena) {
    if (!arena)
        return;
    brook_arena_t *a = *arena;
    while (a) {
        brook_arena_t *next = a->next;
        if (a->cap == BROOK__ARENA_FIRST && !spare_block && spare_register())
            spare_block = a;
        else
            free(a);
        a = next;
    }
    *arena = NULL;
}

/* The string region comes first in the value's first block; what is left of the block serves
 * the arrays and maps. When that leaves a quarter of a first block or more, the block is a
 * first block (the spare one, if the thread has it); otherwise it is the region's size plus a
 * first block's. *arena is empty: NULL, or the one block the value kept from its previous decode
 * (brook__arena_reset), here too small (brook__avro_dec_begin took it otherwise) and replaced. */
uint8_t *brook__avro_dec_strings(brook_arena_t **arena, size_t len) {
    if (len > SIZE_MAX / 2)
        return NULL;
    size_t n = (len + 15u) & ~(size_t)15u;
    brook_arena_free(arena);
    bool small = n + BROOK__ARENA_FIRST / 4 <= BROOK__ARENA_FIRST;
    brook_arena_t *a = small ? spare_take(n) : NULL;
    if (!a) {
        size_t cap = small ? BROOK__ARENA_FIRST : n + BROOK__ARENA_FIRST;
        a = malloc(sizeof(brook_arena_t) + cap);
        if (!a)
            return NULL;
        a->cap = cap;
        a->used = n;
        a->pad_ = 0;
        a->next = NULL;
    }
    *arena = a;
    return (uint8_t *)(a + 1);
}

int brook__avro_dec_error(brook_error_t *err, const brook_avro_dec_t *d, const char *type_name) {
    if (d->rc == BROOK_ERR_NOMEM)
        return brook_error_set(err, d->rc, "%s: out of memory while decoding", type_name);
    return brook_error_set(err, BROOK_ERR_DECODE,
                           "%s: invalid or truncated Avro data at byte %zu of %zu", type_name,
                           (size_t)(d->at - d->start), (size_t)(d->end - d->start));
}

uint8_t *brook__avro_enc_grow(brook_avro_enc_t *e, uint8_t *p, size_t n) {
    brook_buf_t *b = e->buf;
    b->len = (size_t)(p - b->data);
    if (brook_buf_reserve(b, n))
        return NULL;
    e->end = b->data + b->cap;
    return b->data + b->len;
}

/* ---- CRC-64-AVRO ---------------------------------------------------------------------------- */

#define BROOK_AVRO_CRC64_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc64_table[256];
static int crc64_ready;

static void crc64_init(void) {
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (BROOK_AVRO_CRC64_EMPTY & (0 - (fp & 1)));
        crc64_table[i] = fp;
    }
    __atomic_store_n(&crc64_ready, 1, __ATOMIC_RELEASE);
}

uint64_t brook_avro_crc64(const void *data, size_t len) {
    /* The table is the same whichever thread builds it; racing builders write equal values. */
    if (!__atomic_load_n(&crc64_ready, __ATOMIC_ACQUIRE))
        crc64_init();
    const uint8_t *p = data;
    uint64_t fp = BROOK_AVRO_CRC64_EMPTY;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ crc64_table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* ---- Parsing Canonical Form ------------------------------------------------------------------ */

typedef struct {
    char **names;
    size_t n;
} pcf_seen_t;

static const char *pcf_prims[] = {"null",   "boolean", "int",    "long", "float",
                                  "double", "bytes",   "string", NULL};

static bool pcf_is_prim(const char *t) {
    for (const char **p = pcf_prims; *p; p++)
        if (!strcmp(*p, t))
            return true;
    return false;
}

static int pcf_quoted(brook_buf_t *b, const char *s) {
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    int rc = t ? brook_buf_append(b, t, strlen(t)) : BROOK_ERR_NOMEM;
    free(t);
    json_decref(j);
    return rc;
}

/* name resolved against the enclosing namespace; caller frees */
static char *pcf_fullname(const char *name, const char *ns_attr, const char *ns) {
    const char *space = ns_attr ? ns_attr : ns;
    if (strchr(name, '.') || !space || !*space)
        return strdup(name);
    char *r = malloc(strlen(space) + strlen(name) + 2);
    if (r)
        sprintf(r, "%s.%s", space, name);
    return r;
}

static int pcf_write(brook_buf_t *b, json_t *j, const char *ns, pcf_seen_t *seen,
                     brook_error_t *err, int depth) {
    if (depth > 256)
        return brook_error_set(err, BROOK_ERR_SCHEMA, "schema nested too deeply");
    if (json_is_string(j)) {
        const char *t = json_string_value(j);
        if (pcf_is_prim(t))
            return pcf_quoted(b, t);
        /* a short name means the enclosing namespace's type, else the null namespace's */
        char *full = pcf_fullname(t, NULL, ns);
        if (!full)
            return BROOK_ERR_NOMEM;
        bool known = false;
        for (size_t i = 0; i < seen->n && !known; i++)
            known = !strcmp(seen->names[i], full);
        for (size_t i = 0; i < seen->n && !known && !strchr(t, '.'); i++) {
            if (!strcmp(seen->names[i], t)) {
                free(full);
                full = strdup(t);
                known = true;
            }
        }
        int rc = full ? pcf_quoted(b, full) : BROOK_ERR_NOMEM;
        free(full);
        return rc;
    }
    if (json_is_array(j)) {
        int rc = brook_buf_append(b, "[", 1);
        for (size_t i = 0; !rc && i < json_array_size(j); i++) {
            if (i)
                rc = brook_buf_append(b, ",", 1);
            if (!rc)
                rc = pcf_write(b, json_array_get(j, i), ns, seen, err, depth + 1);
        }
        return rc ? rc : brook_buf_append(b, "]", 1);
    }
    if (!json_is_object(j))
        return brook_error_set(err, BROOK_ERR_SCHEMA, "a schema is a string, object or array");
    json_t *type = json_object_get(j, "type");
    if (!json_is_string(type)) {
        if (!type)
            return brook_error_set(err, BROOK_ERR_SCHEMA, "schema object without \"type\"");
        return pcf_write(b, type, ns, seen, err, depth + 1);
    }
    const char *t = json_string_value(type);
    if (pcf_is_prim(t))
        return pcf_quoted(b, t);
    if (!strcmp(t, "array") || !strcmp(t, "map")) {
        bool arr = !strcmp(t, "array");
        json_t *it = json_object_get(j, arr ? "items" : "values");
        if (!it)
            return brook_error_set(err, BROOK_ERR_SCHEMA, "%s without %s", t,
                                   arr ? "items" : "values");
        int rc = brook_avro_json_raw(b, arr ? "{\"type\":\"array\",\"items\":"
                                            : "{\"type\":\"map\",\"values\":");
        if (!rc)
            rc = pcf_write(b, it, ns, seen, err, depth + 1);
        return rc ? rc : brook_buf_append(b, "}", 1);
    }
    bool record = !strcmp(t, "record") || !strcmp(t, "error");
    if (!record && strcmp(t, "enum") && strcmp(t, "fixed")) /* {"type": "ns.Name"} */
        return pcf_write(b, type, ns, seen, err, depth + 1);
    json_t *name = json_object_get(j, "name");
    json_t *nsj = json_object_get(j, "namespace");
    if (!json_is_string(name))
        return brook_error_set(err, BROOK_ERR_SCHEMA, "%s without a name", t);
    char *full = pcf_fullname(json_string_value(name),
                              json_is_string(nsj) ? json_string_value(nsj) : NULL, ns);
    if (!full)
        return BROOK_ERR_NOMEM;
    for (size_t i = 0; i < seen->n; i++) {
        if (!strcmp(seen->names[i], full)) {
            int rc = pcf_quoted(b, full);
            free(full);
            return rc;
        }
    }
    char **names = realloc(seen->names, (seen->n + 1) * sizeof(char *));
    if (!names) {
        free(full);
        return BROOK_ERR_NOMEM;
    }
    seen->names = names;
    seen->names[seen->n++] = full;
    int rc = brook_avro_json_raw(b, "{\"name\":");
    if (!rc)
        rc = pcf_quoted(b, full);
    if (!rc)
        rc = brook_avro_json_raw(b, ",\"type\":");
    if (!rc)
        rc = pcf_quoted(b, t);
    if (rc)
        return rc;
    if (record) {
        /* the record's namespace is the enclosing one of its fields */
        char *rns = strdup(full);
        if (!rns)
            return BROOK_ERR_NOMEM;
        char *dot = strrchr(rns, '.');
        if (dot)
            *dot = 0;
        else
            rns[0] = 0;
        json_t *fields = json_object_get(j, "fields");
        rc = brook_avro_json_raw(b, ",\"fields\":[");
        for (size_t i = 0; !rc && i < json_array_size(fields); i++) {
            json_t *f = json_array_get(fields, i);
            json_t *fname = json_object_get(f, "name");
            if (!json_is_string(fname) || !json_object_get(f, "type")) {
                rc = brook_error_set(err, BROOK_ERR_SCHEMA, "field without name or type");
                break;
            }
            rc = brook_avro_json_raw(b, i ? ",{\"name\":" : "{\"name\":");
            if (!rc)
                rc = pcf_quoted(b, json_string_value(fname));
            if (!rc)
                rc = brook_avro_json_raw(b, ",\"type\":");
            if (!rc)
                rc = pcf_write(b, json_object_get(f, "type"), rns, seen, err, depth + 1);
            if (!rc)
                rc = brook_buf_append(b, "}", 1);
        }
        free(rns);
        if (!rc)
            rc = brook_buf_append(b, "]", 1);
    } else if (!strcmp(t, "enum")) {
        json_t *syms = json_object_get(j, "symbols");
        rc = brook_avro_json_raw(b, ",\"symbols\":[");
        for (size_t i = 0; !rc && i < json_array_size(syms); i++) {
            if (!json_is_string(json_array_get(syms, i)))
                return brook_error_set(err, BROOK_ERR_SCHEMA, "enum %s: a symbol is not a string",
                                       full);
            if (i)
                rc = brook_buf_append(b, ",", 1);
            if (!rc)
                rc = pcf_quoted(b, json_string_value(json_array_get(syms, i)));
        }
        if (!rc)
            rc = brook_buf_append(b, "]", 1);
    } else {
        json_t *size = json_object_get(j, "size");
        if (!json_is_integer(size))
            return brook_error_set(err, BROOK_ERR_SCHEMA, "fixed without an integer size");
        rc = brook_avro_json_raw(b, ",\"size\":");
        if (!rc)
            rc = brook_avro_json_long(b, (int64_t)json_integer_value(size));
    }
    return rc ? rc : brook_buf_append(b, "}", 1);
}

int brook_avro_canonical_form(const char *schema_json, brook_buf_t *out, brook_error_t *err) {
    json_error_t jerr;
    json_t *j =
        schema_json ? json_loads(schema_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr) : NULL;
    if (!j)
        return brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema JSON: %s",
                               schema_json ? jerr.text : "NULL");
    pcf_seen_t seen = {NULL, 0};
    size_t start = out->len;
    int rc = pcf_write(out, j, "", &seen, err, 0);
    for (size_t i = 0; i < seen.n; i++)
        free(seen.names[i]);
    free(seen.names);
    json_decref(j);
    if (rc) {
        out->len = start;
        return rc == BROOK_ERR_NOMEM ? brook_error_set(err, rc, "out of memory") : BROOK_ERR_SCHEMA;
    }
    return 0;
}

int brook_avro_schema_fingerprint(const char *schema_json, uint64_t *out, brook_error_t *err) {
    brook_buf_t b;
    brook_buf_init(&b);
    int rc = brook_avro_canonical_form(schema_json, &b, err);
    if (!rc)
        *out = brook_avro_crc64(b.data, b.len);
    brook_buf_free(&b);
    return rc;
}

/* ---- framing ----------------------------------------------------------------------------------
 */

int brook_avro_write_single_object_header(brook_buf_t *out, uint64_t fingerprint) {
    if (brook_buf_reserve(out, 10))
        return BROOK_ERR_NOMEM;
    uint8_t *h = out->data + out->len;
    h[0] = 0xC3;
    h[1] = 0x01;
    brook__avro_le64_put(h + 2, fingerprint);
    out->len += 10;
    return 0;
}

int brook_avro_write_confluent_header(brook_buf_t *out, int32_t schema_id) {
    uint32_t id = (uint32_t)schema_id;
    uint8_t h[5] = {0x00, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                    (uint8_t)id};
    return brook_buf_append(out, h, sizeof h);
}

int brook_avro_parse_frame(const void *data, size_t len, brook_avro_frame_t *out,
                           brook_error_t *err) {
    const uint8_t *p = data;
    memset(out, 0, sizeof *out);
    if (!p || len == 0)
        return brook_error_set(err, BROOK_ERR_DECODE, "empty Avro message (no framing)");
    if (p[0] == 0xC3) {
        if (len < 10 || p[1] != 0x01)
            return brook_error_set(err, BROOK_ERR_DECODE,
                                   "bad Avro single-object header (%zu bytes)", len);
        out->framing = BROOK_AVRO_FRAMING_SINGLE_OBJECT;
        out->fingerprint = brook__avro_le64_get(p + 2);
        out->payload = p + 10;
        out->payload_len = len - 10;
        return 0;
    }
    if (p[0] == 0x00) {
        if (len < 5)
            return brook_error_set(err, BROOK_ERR_DECODE,
                                   "bad Confluent header (%zu bytes, need 5)", len);
        out->framing = BROOK_AVRO_FRAMING_CONFLUENT;
        out->schema_id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
                                   (uint32_t)p[3] << 8 | (uint32_t)p[4]);
        out->payload = p + 5;
        out->payload_len = len - 5;
        return 0;
    }
    return brook_error_set(err, BROOK_ERR_DECODE,
                           "not an Avro message: first byte 0x%02x is neither C3 (single-object) "
                           "nor 00 (Confluent)",
                           p[0]);
}

/* ---- JSON writing -----------------------------------------------------------------------------
 */

int brook_avro_json_raw(brook_buf_t *b, const char *text) {
    return brook_buf_append(b, text, strlen(text));
}

static int json_escape_cp(brook_buf_t *b, unsigned cp) {
    char tmp[8];
    switch (cp) {
    case '"':
        return brook_buf_append(b, "\\\"", 2);
    case '\\':
        return brook_buf_append(b, "\\\\", 2);
    case '\n':
        return brook_buf_append(b, "\\n", 2);
    case '\r':
        return brook_buf_append(b, "\\r", 2);
    case '\t':
        return brook_buf_append(b, "\\t", 2);
    case '\b':
        return brook_buf_append(b, "\\b", 2);
    case '\f':
        return brook_buf_append(b, "\\f", 2);
    default:
        snprintf(tmp, sizeof tmp, "\\u%04x", cp);
        return brook_buf_append(b, tmp, 6);
    }
}

int brook_avro_json_string(brook_buf_t *b, const char *s) {
    if (brook_buf_append(b, "\"", 1))
        return BROOK_ERR_NOMEM;
    if (s) {
        const char *run = s;
        for (const char *p = s; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (c < 0x20 || c == '"' || c == '\\') {
                if (brook_buf_append(b, run, (size_t)(p - run)) || json_escape_cp(b, c))
                    return BROOK_ERR_NOMEM;
                run = p + 1;
            }
        }
        if (brook_buf_append(b, run, strlen(run)))
            return BROOK_ERR_NOMEM;
    }
    return brook_buf_append(b, "\"", 1);
}

int brook_avro_json_bytes(brook_buf_t *b, const void *data, size_t len) {
    const uint8_t *p = data;
    if (brook_buf_append(b, "\"", 1))
        return BROOK_ERR_NOMEM;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        int rc;
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f)
            rc = json_escape_cp(b, c);
        else
            rc = brook_buf_append(b, &c, 1);
        if (rc)
            return rc;
    }
    return brook_buf_append(b, "\"", 1);
}

int brook_avro_json_long(brook_buf_t *b, int64_t v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    return brook_buf_append(b, tmp, (size_t)n);
}

static int json_nonfinite(brook_buf_t *b, double v) {
    if (isnan(v))
        return brook_avro_json_raw(b, "\"NaN\"");
    return brook_avro_json_raw(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
}

int brook_avro_json_double(brook_buf_t *b, double v) {
    if (!isfinite(v))
        return json_nonfinite(b, v);
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);
    /* Keep it a floating-point literal so readers do not take it for an integer. */
    if (!strpbrk(tmp, ".eEn"))
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ".0");
    return brook_buf_append(b, tmp, (size_t)n);
}

int brook_avro_json_float(brook_buf_t *b, float v) {
    if (!isfinite(v))
        return json_nonfinite(b, v);
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.9g", (double)v);
    if (!strpbrk(tmp, ".eEn"))
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ".0");
    return brook_buf_append(b, tmp, (size_t)n);
}

/* ---- JSON reading -----------------------------------------------------------------------------
 */

/* brook_json_t is a json_t; the document is its root. */
#define J(j) ((json_t *)(j))

brook_json_t *brook_avro_json_parse(const char *json, size_t len, brook_error_t *err) {
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        brook_error_set(err, BROOK_ERR_DECODE, "invalid JSON at line %d column %d: %s", jerr.line,
                        jerr.column, jerr.text);
        return NULL;
    }
    return (brook_json_t *)root;
}

void brook_avro_json_free(brook_json_t *doc) {
    if (doc)
        json_decref(J(doc));
}

const brook_json_t *brook_avro_json_root(const brook_json_t *doc) {
    return doc;
}

const brook_json_t *brook_avro_json_field(const brook_json_t *j, const char *name) {
    if (!j || !json_is_object(J(j)))
        return NULL;
    return (const brook_json_t *)json_object_get(J(j), name);
}

bool brook_avro_json_is_null(const brook_json_t *j) {
    return j && json_is_null(J(j));
}

bool brook_avro_json_is_object(const brook_json_t *j) {
    return j && json_is_object(J(j));
}

int brook_avro_json_get_boolean(const brook_json_t *j, bool *out) {
    if (!j || !json_is_boolean(J(j)))
        return BROOK_ERR_DECODE;
    *out = json_is_true(J(j));
    return 0;
}

int brook_avro_json_get_long(const brook_json_t *j, int64_t *out) {
    if (!j || !json_is_integer(J(j)))
        return BROOK_ERR_DECODE;
    *out = (int64_t)json_integer_value(J(j));
    return 0;
}

int brook_avro_json_get_int(const brook_json_t *j, int32_t *out) {
    int64_t v;
    if (brook_avro_json_get_long(j, &v) || v < INT32_MIN || v > INT32_MAX)
        return BROOK_ERR_DECODE;
    *out = (int32_t)v;
    return 0;
}

int brook_avro_json_get_double(const brook_json_t *j, double *out) {
    if (!j)
        return BROOK_ERR_DECODE;
    if (json_is_number(J(j))) {
        *out = json_number_value(J(j));
        return 0;
    }
    if (json_is_string(J(j))) {
        const char *s = json_string_value(J(j));
        if (!strcmp(s, "NaN"))
            *out = NAN;
        else if (!strcmp(s, "Infinity"))
            *out = INFINITY;
        else if (!strcmp(s, "-Infinity"))
            *out = -INFINITY;
        else
            return BROOK_ERR_DECODE;
        return 0;
    }
    return BROOK_ERR_DECODE;
}

int brook_avro_json_get_float(const brook_json_t *j, float *out) {
    double d;
    if (brook_avro_json_get_double(j, &d))
        return BROOK_ERR_DECODE;
    *out = (float)d;
    return 0;
}

int brook_avro_json_get_string(const brook_json_t *j, brook_arena_t **arena, char **out) {
    if (!j || !json_is_string(J(j)))
        return BROOK_ERR_DECODE;
    size_t n = json_string_length(J(j));
    char *p = brook_arena_alloc(arena, n + 1);
    if (!p)
        return BROOK_ERR_NOMEM;
    memcpy(p, json_string_value(J(j)), n + 1);
    *out = p;
    return 0;
}

/* Decodes UTF-8 code points 0..255 into bytes (Avro's JSON form of bytes and fixed). */
static int latin1_decode(const char *s, size_t n, uint8_t *out, size_t *out_len) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x80) {
            out[k++] = c;
        } else if ((c & 0xfe) == 0xc2 && i + 1 < n && ((uint8_t)s[i + 1] & 0xc0) == 0x80) {
            out[k++] = (uint8_t)(((c & 0x03) << 6) | ((uint8_t)s[i + 1] & 0x3f));
            i++;
        } else {
            return BROOK_ERR_DECODE;
        }
    }
    *out_len = k;
    return 0;
}

int brook_avro_json_get_bytes(const brook_json_t *j, brook_arena_t **arena, brook_bytes_t *out) {
    if (!j || !json_is_string(J(j)))
        return BROOK_ERR_DECODE;
    size_t n = json_string_length(J(j));
    uint8_t *p = brook_arena_alloc(arena, n + 1);
    if (!p)
        return BROOK_ERR_NOMEM;
    size_t len;
    if (latin1_decode(json_string_value(J(j)), n, p, &len))
        return BROOK_ERR_DECODE;
    p[len] = 0;
    out->data = p;
    out->len = len;
    return 0;
}

int brook_avro_json_get_fixed(const brook_json_t *j, uint8_t *out, size_t n) {
    if (!j || !json_is_string(J(j)))
        return BROOK_ERR_DECODE;
    size_t sn = json_string_length(J(j));
    uint8_t *tmp = malloc(sn + 1);
    if (!tmp)
        return BROOK_ERR_NOMEM;
    size_t len;
    int rc = latin1_decode(json_string_value(J(j)), sn, tmp, &len);
    if (!rc && len != n)
        rc = BROOK_ERR_DECODE;
    if (!rc && n)
        memcpy(out, tmp, n);
    free(tmp);
    return rc;
}

int brook_avro_json_get_enum(const brook_json_t *j, const char *const *symbols, size_t n,
                             int *out) {
    if (!j || !json_is_string(J(j)))
        return BROOK_ERR_DECODE;
    const char *s = json_string_value(J(j));
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(s, symbols[i])) {
            *out = (int)i;
            return 0;
        }
    }
    return BROOK_ERR_DECODE;
}

int brook_avro_json_array_size(const brook_json_t *j, size_t *out) {
    if (!j || !json_is_array(J(j)))
        return BROOK_ERR_DECODE;
    *out = json_array_size(J(j));
    return 0;
}

const brook_json_t *brook_avro_json_array_get(const brook_json_t *j, size_t i) {
    return (const brook_json_t *)json_array_get(J(j), i);
}

int brook_avro_json_object_size(const brook_json_t *j, size_t *out) {
    if (!j || !json_is_object(J(j)))
        return BROOK_ERR_DECODE;
    *out = json_object_size(J(j));
    return 0;
}

void *brook_avro_json_object_iter(const brook_json_t *j) {
    return json_object_iter(J(j));
}

void *brook_avro_json_object_iter_next(const brook_json_t *j, void *it) {
    return json_object_iter_next(J(j), it);
}

const char *brook_avro_json_object_iter_key(void *it) {
    return json_object_iter_key(it);
}

const brook_json_t *brook_avro_json_object_iter_value(void *it) {
    return (const brook_json_t *)json_object_iter_value(it);
}

int brook_avro_json_union(const brook_json_t *j, const char **branch, const brook_json_t **value) {
    if (!j || !json_is_object(J(j)) || json_object_size(J(j)) != 1)
        return BROOK_ERR_DECODE;
    void *it = json_object_iter(J(j));
    *branch = json_object_iter_key(it);
    *value = (const brook_json_t *)json_object_iter_value(it);
    return 0;
}
