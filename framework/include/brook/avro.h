/*
 * Brook's Avro support: the primitives that brookc-generated codecs are made of, schema
 * identity (CRC-64-AVRO) and message framing (single-object encoding, Confluent framing).
 *
 * Generated code includes this header and links libbrook; nothing else. The primitives are
 * static inline so that a generated encoder or decoder is straight-line code: every read is
 * bounds-checked against the end of the input, every write makes room in the brook_buf_t
 * first, or is part of a run of writes that made room for all of them at once (and allocates
 * nothing when the buffer already has room).
 *
 * Memory of decoded values: everything a decoder (or from_json) allocates for one value comes
 * from one arena (brook_arena_t) hung off the top-level value, so T_clear is a single free and
 * values built by hand (pointing at literals) are never freed by Brook.
 *
 * The generated code's runtime. Generated files call these functions and no others (the
 * generated API itself is described in docs/codegen.md; codegen_runtime_documented checks
 * this list against what brookc emits):
 *
 *   brook.h, public:
 *     brook_error_set brook_err2str brook_app_new brook_app_destroy brook_app_start
 *     brook_app_run brook_app_stop brook_app_register_type brook_app_register_writer_schema
 *     brook_app_set_handler brook_app_set_filter brook_app_set_opaque brook_app_get_opaque
 *     brook_app_template brook_ctx_app brook_template_send
 *     brook_template_request brook_ctx_reply brook_ctx_fail
 *     brook_app_set_batch_handler brook_batch_app
 *   this header, public (usable by hand-written code too):
 *     brook_arena_alloc brook_arena_free
 *     brook_avro_enc_begin brook_avro_enc_end brook_avro_put_long brook_avro_put_int
 *     brook_avro_put_boolean brook_avro_put_float brook_avro_put_double brook_avro_put_fixed
 *     brook_avro_put_bytes brook_avro_put_string
 *     brook_avro_get_long brook_avro_get_int brook_avro_get_boolean brook_avro_get_float
 *     brook_avro_get_double brook_avro_get_fixed brook_avro_get_bytes brook_avro_get_string
 *     brook_avro_get_block_count
 *     brook_avro_json_raw brook_avro_json_string brook_avro_json_bytes brook_avro_json_long
 *     brook_avro_json_double brook_avro_json_float brook_avro_json_parse brook_avro_json_free
 *     brook_avro_json_root brook_avro_json_field brook_avro_json_is_null
 *     brook_avro_json_is_object brook_avro_json_get_boolean brook_avro_json_get_long
 *     brook_avro_json_get_int brook_avro_json_get_double brook_avro_json_get_float
 *     brook_avro_json_get_string brook_avro_json_get_bytes brook_avro_json_get_fixed
 *     brook_avro_json_get_enum brook_avro_json_array_size brook_avro_json_array_get
 *     brook_avro_json_object_size brook_avro_json_object_iter brook_avro_json_object_iter_next
 *     brook_avro_json_object_iter_key brook_avro_json_object_iter_value brook_avro_json_union
 *   this header, internal:
 *     brook__avro_dec_begin brook__avro_dec_fail brook__avro_dec_error brook__avro_arena_grow
 *     brook__avro_put_long brook__avro_put_int brook__avro_put_float brook__avro_put_double
 *     brook__avro_put_data brook__avro_strlen brook__arena_reset
 *
 * The brook__avro_* and brook__arena_* names (those above and what they call) are the
 * generated code's runtime only, not for users: they stay as they are within one
 * BROOK_ABI_VERSION, which every generated file checks with #error, and may change with it.
 */
#ifndef BROOK_AVRO_H
#define BROOK_AVRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "brook/brook.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/* The hot path must be straight-line code: the primitives are always inlined. */
#if defined(__GNUC__)
#define BROOK__AVRO_INLINE static inline __attribute__((always_inline))
#else
#define BROOK__AVRO_INLINE static inline
#endif

#if defined(__GNUC__)
#define BROOK__AVRO_LIKELY(x) __builtin_expect(!!(x), 1)
#define BROOK__AVRO_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define BROOK__AVRO_LIKELY(x) (x)
#define BROOK__AVRO_UNLIKELY(x) (x)
#endif

/* Avro's float and double are little-endian: on a little-endian host they are stored as is. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BROOK__AVRO_LE 1
#else
#define BROOK__AVRO_LE 0
#endif

/* ---- arena ---------------------------------------------------------------------------------- */

/* A chain of blocks; the newest is first. Allocation is a pointer bump in the first block. */
typedef struct brook_arena_s {
    struct brook_arena_s *next;
    size_t cap;  /* usable bytes after the header */
    size_t used; /* bytes handed out */
    size_t pad_; /* keeps the header a multiple of 16 bytes */
} brook_arena_t;

/* The size of a value's first block: decoding a value whose Avro data is up to 3/4 of it (the
 * strings' region) takes one block of this size. */
#define BROOK__ARENA_FIRST 1024

/* Slow path of brook_arena_alloc: adds a block. NULL when out of memory. */
void *brook__arena_alloc_block(brook_arena_t **arena, size_t n);
/* Frees every block and sets *arena to NULL. NULL or an empty arena is fine. */
void brook_arena_free(brook_arena_t **arena);

/* Empties *arena for a new decode into the same value: a single block of up to 64 KiB is kept
 * (nothing of it handed out); more, or a bigger one, are freed. NULL is fine. */
BROOK__AVRO_INLINE void brook__arena_reset(brook_arena_t **arena) {
    if (!arena || !*arena)
        return;
    if ((*arena)->next || (*arena)->cap > ((size_t)64 << 10))
        brook_arena_free(arena);
    else
        (*arena)->used = 0;
}

/* n bytes, 16-byte aligned, valid until brook_arena_free(arena). NULL when out of memory. */
BROOK__AVRO_INLINE void *brook_arena_alloc(brook_arena_t **arena, size_t n) {
    brook_arena_t *a = *arena;
    n = (n + 15u) & ~(size_t)15u;
    if (a && a->cap - a->used >= n) {
        void *p = (uint8_t *)(a + 1) + a->used;
        a->used += n;
        return p;
    }
    return brook__arena_alloc_block(arena, n);
}

/* ---- writing (Avro binary) ------------------------------------------------------------------ */

#define BROOK__AVRO_ROOM(b, n)                                                                     \
    do {                                                                                           \
        if ((b)->cap - (b)->len < (n) && brook_buf_reserve((b), (n)))                              \
            return BROOK_ERR_NOMEM;                                                                \
    } while (0)

/* ---- unchecked writes: the caller made room first ------------------------------------------ */

/* Varint of z at p, which has room for 10 bytes; returns the end. One byte is the common
 * case (lengths, counts, union branches, small numbers): it is tested first. */
BROOK__AVRO_INLINE uint8_t *brook__avro_put_varint(uint8_t *p, uint64_t z) {
    if (BROOK__AVRO_LIKELY(z < 0x80)) {
        *p = (uint8_t)z;
        return p + 1;
    }
    if (z < 0x4000) {
        p[0] = (uint8_t)(z | 0x80);
        p[1] = (uint8_t)(z >> 7);
        return p + 2;
    }
    do {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    } while (z > 0x7f);
    *p++ = (uint8_t)z;
    return p;
}

/* Zigzag varint at p, which has room for 10 bytes; returns the end. */
BROOK__AVRO_INLINE uint8_t *brook__avro_put_long(uint8_t *p, int64_t v) {
    return brook__avro_put_varint(p, ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)));
}

/* An int at p, which has room for 5 bytes (the zigzag of an int32 fits in 32 bits). */
BROOK__AVRO_INLINE uint8_t *brook__avro_put_int(uint8_t *p, int32_t v) {
    uint32_t z = ((uint32_t)v << 1) ^ (0 - ((uint32_t)v >> 31));
    if (BROOK__AVRO_LIKELY(z < 0x80)) {
        *p = (uint8_t)z;
        return p + 1;
    }
    do {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    } while (z > 0x7f);
    *p++ = (uint8_t)z;
    return p;
}

BROOK__AVRO_INLINE uint8_t *brook__avro_put_float(uint8_t *p, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    if (BROOK__AVRO_LE) {
        memcpy(p, &u, 4);
    } else {
        for (int i = 0; i < 4; i++)
            p[i] = (uint8_t)(u >> (8 * i));
    }
    return p + 4;
}

/* 8 bytes, little-endian: a double's bits, a single-object header's fingerprint. */
BROOK__AVRO_INLINE void brook__avro_le64_put(uint8_t *p, uint64_t u) {
    if (BROOK__AVRO_LE) {
        memcpy(p, &u, 8);
    } else {
        for (int i = 0; i < 8; i++)
            p[i] = (uint8_t)(u >> (8 * i));
    }
}

BROOK__AVRO_INLINE uint64_t brook__avro_le64_get(const uint8_t *p) {
    uint64_t u = 0;
    if (BROOK__AVRO_LE) {
        memcpy(&u, p, 8);
    } else {
        for (int i = 0; i < 8; i++)
            u |= (uint64_t)p[i] << (8 * i);
    }
    return u;
}

BROOK__AVRO_INLINE uint8_t *brook__avro_put_double(uint8_t *p, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    brook__avro_le64_put(p, u);
    return p + 8;
}

/* memcpy for the short strings records are full of: up to 64 bytes it is two (possibly
 * overlapping) loads and stores inline, instead of a call into libc. Reads and writes exactly
 * [0, n) of both sides. */
BROOK__AVRO_INLINE void brook__avro_copy(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    if (n <= 16) {
        if (n >= 8) {
            uint64_t a, b;
            memcpy(&a, s, 8);
            memcpy(&b, s + n - 8, 8);
            memcpy(d, &a, 8);
            memcpy(d + n - 8, &b, 8);
        } else if (n >= 4) {
            uint32_t a, b;
            memcpy(&a, s, 4);
            memcpy(&b, s + n - 4, 4);
            memcpy(d, &a, 4);
            memcpy(d + n - 4, &b, 4);
        } else if (n) {
            d[0] = s[0];
            d[n / 2] = s[n / 2];
            d[n - 1] = s[n - 1];
        }
    } else if (n <= 32) {
        uint64_t a[2], b[2];
        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, b, 16);
    } else if (n <= 64) {
        uint64_t a[4], b[4];
        memcpy(a, s, 32);
        memcpy(b, s + n - 32, 32);
        memcpy(d, a, 32);
        memcpy(d + n - 32, b, 32);
    } else {
        memcpy(d, s, n);
    }
}

/* Length-prefixed data at p, which has room for n + 10 bytes. */
BROOK__AVRO_INLINE uint8_t *brook__avro_put_data(uint8_t *p, const void *data, size_t n) {
    p = brook__avro_put_varint(p, (uint64_t)n << 1);
    brook__avro_copy(p, data, n);
    return p + n;
}

/* strlen that takes NULL (written as the empty string).
 *
 * The strings of a record are short, and a call into libc's strlen for each of them was half
 * of an encoder's time (the call, and the length it returns being on the critical path of
 * every write after it). On x86-64 the first 64 bytes are scanned inline, 16 at a time, the
 * way libc's strlen does it: with aligned loads, which never cross a page, so the bytes they
 * read past the NUL are mapped (and their value is ignored). Sanitizers would see those bytes
 * as out of bounds (valgrind's memcheck does not: partial aligned loads are fine with it), so
 * sanitized builds call libc. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) ||                         \
    __has_feature(hwaddress_sanitizer)
#define BROOK__AVRO_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_HWADDRESS__)
#define BROOK__AVRO_SANITIZED 1
#endif
#if defined(__SSE2__) && defined(__GNUC__) && !defined(BROOK__AVRO_SANITIZED)
#include <emmintrin.h>
BROOK__AVRO_INLINE size_t brook__avro_strlen(const char *s) {
    if (!s)
        return 0;
    const char *a = (const char *)((uintptr_t)s & ~(uintptr_t)15);
    unsigned off = (unsigned)((uintptr_t)s & 15);
    const __m128i zero = _mm_setzero_si128();
    unsigned m =
        (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128((const __m128i *)a), zero)) >>
        off;
    if (m)
        return (size_t)__builtin_ctz(m);
    for (unsigned i = 16; i < 64; i += 16) {
        m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_load_si128((const __m128i *)(a + i)), zero));
        if (m)
            return i - off + (size_t)__builtin_ctz(m);
    }
    return 64 - off + strlen(a + 64);
}
#else
BROOK__AVRO_INLINE size_t brook__avro_strlen(const char *s) {
    return s ? strlen(s) : 0;
}
#endif

/* Longest bytes value a generated encoder sizes together with others before writing: the
 * sum of a few such lengths cannot overflow. Longer ones fail (no memory holds them). */
#define BROOK__AVRO_MAX_RUN_LEN (SIZE_MAX >> 8)

BROOK__AVRO_INLINE int brook_avro_write_long(brook_buf_t *b, int64_t v) {
    BROOK__AVRO_ROOM(b, 10);
    b->len = (size_t)(brook__avro_put_long(b->data + b->len, v) - b->data);
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_write_int(brook_buf_t *b, int32_t v) {
    return brook_avro_write_long(b, v);
}

BROOK__AVRO_INLINE int brook_avro_write_boolean(brook_buf_t *b, bool v) {
    BROOK__AVRO_ROOM(b, 1);
    b->data[b->len++] = v ? 1 : 0;
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_write_float(brook_buf_t *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    BROOK__AVRO_ROOM(b, 4);
    uint8_t *p = b->data + b->len;
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
    b->len += 4;
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_write_double(brook_buf_t *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    BROOK__AVRO_ROOM(b, 8);
    uint8_t *p = b->data + b->len;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
    b->len += 8;
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_write_fixed(brook_buf_t *b, const void *data, size_t n) {
    BROOK__AVRO_ROOM(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_write_bytes(brook_buf_t *b, const void *data, size_t n) {
    if (n > SIZE_MAX - 10)
        return BROOK_ERR_NOMEM;
    BROOK__AVRO_ROOM(b, n + 10);
    uint8_t *p = brook__avro_put_long(b->data + b->len, (int64_t)n);
    if (n)
        memcpy(p, data, n);
    b->len = (size_t)(p + n - b->data);
    return 0;
}

/* A NULL string is written as the empty string. */
BROOK__AVRO_INLINE int brook_avro_write_string(brook_buf_t *b, const char *s) {
    return brook_avro_write_bytes(b, s, s ? strlen(s) : 0);
}

/* ---- writing with a cursor (what generated encoders use) --------------------------------------
 */

/* Generated encoders keep the write position in a local pointer, passed along and returned,
 * rather than in brook_buf_t.len: stores through a byte pointer may alias any memory, so a
 * position kept in memory would make every primitive wait for the previous one's store.
 * Each put returns the new position, or NULL when out of memory. */
typedef struct brook_avro_enc_s {
    brook_buf_t *buf;
    uint8_t *end; /* buf->data + buf->cap */
} brook_avro_enc_t;

/* Makes room for n bytes at p (moving the buffer); the new position or NULL. */
uint8_t *brook__avro_enc_grow(brook_avro_enc_t *e, uint8_t *p, size_t n);

BROOK__AVRO_INLINE uint8_t *brook_avro_enc_begin(brook_avro_enc_t *e, brook_buf_t *out) {
    e->buf = out;
    if (out->cap - out->len < 64 && brook_buf_reserve(out, 64))
        return NULL;
    e->end = out->data + out->cap;
    return out->data + out->len;
}

/* Commits the bytes written up to p; 0, or BROOK_ERR_NOMEM when p is NULL. */
BROOK__AVRO_INLINE int brook_avro_enc_end(brook_avro_enc_t *e, uint8_t *p) {
    if (!p)
        return BROOK_ERR_NOMEM;
    e->buf->len = (size_t)(p - e->buf->data);
    return 0;
}

#define BROOK__AVRO_ENSURE(e, p, n)                                                                \
    do {                                                                                           \
        if ((size_t)((e)->end - (p)) < (n) && !((p) = brook__avro_enc_grow((e), (p), (n))))        \
            return NULL;                                                                           \
    } while (0)

BROOK__AVRO_INLINE uint8_t *brook_avro_put_long(uint8_t *p, brook_avro_enc_t *e, int64_t v) {
    BROOK__AVRO_ENSURE(e, p, 10);
    return brook__avro_put_long(p, v);
}

BROOK__AVRO_INLINE uint8_t *brook_avro_put_int(uint8_t *p, brook_avro_enc_t *e, int32_t v) {
    BROOK__AVRO_ENSURE(e, p, 5);
    return brook__avro_put_int(p, v);
}

BROOK__AVRO_INLINE uint8_t *brook_avro_put_boolean(uint8_t *p, brook_avro_enc_t *e, bool v) {
    BROOK__AVRO_ENSURE(e, p, 1);
    *p = v ? 1 : 0;
    return p + 1;
}

BROOK__AVRO_INLINE uint8_t *brook_avro_put_float(uint8_t *p, brook_avro_enc_t *e, float v) {
    BROOK__AVRO_ENSURE(e, p, 4);
    return brook__avro_put_float(p, v);
}

BROOK__AVRO_INLINE uint8_t *brook_avro_put_double(uint8_t *p, brook_avro_enc_t *e, double v) {
    BROOK__AVRO_ENSURE(e, p, 8);
    return brook__avro_put_double(p, v);
}

BROOK__AVRO_INLINE uint8_t *brook_avro_put_fixed(uint8_t *p, brook_avro_enc_t *e, const void *data,
                                                 size_t n) {
    BROOK__AVRO_ENSURE(e, p, n);
    if (n)
        memcpy(p, data, n);
    return p + n;
}

BROOK__AVRO_INLINE uint8_t *brook_avro_put_bytes(uint8_t *p, brook_avro_enc_t *e, const void *data,
                                                 size_t n) {
    if (n > SIZE_MAX - 10)
        return NULL;
    BROOK__AVRO_ENSURE(e, p, n + 10);
    return brook__avro_put_data(p, data, n);
}

/* A NULL string is written as the empty string. */
BROOK__AVRO_INLINE uint8_t *brook_avro_put_string(uint8_t *p, brook_avro_enc_t *e, const char *s) {
    return brook_avro_put_bytes(p, e, s, brook__avro_strlen(s));
}

/* ---- reading (Avro binary) ------------------------------------------------------------------ */

/* Deepest nesting of records a decoder follows (recursive schemas on hostile input). */
#define BROOK_AVRO_MAX_DEPTH 512
/* Most items one array or map block may announce when items can take no bytes. */
#define BROOK_AVRO_MAX_EMPTY_ITEMS (1u << 20)

typedef struct brook_avro_reader_s {
    const uint8_t *p;
    const uint8_t *start;
    const uint8_t *end;
    brook_arena_t **arena; /* where variable-size data goes */
    int depth;
} brook_avro_reader_t;

BROOK__AVRO_INLINE int brook_avro_read_long(brook_avro_reader_t *r, int64_t *out) {
    const uint8_t *p = r->p;
    if (p < r->end && *p < 0x80) { /* one byte: most counts, lengths and small numbers */
        uint64_t v = *p;
        r->p = p + 1;
        *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
        return 0;
    }
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (p >= r->end || shift > 63)
            return BROOK_ERR_DECODE;
        uint8_t c = *p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            break;
    }
    r->p = p;
    *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_read_int(brook_avro_reader_t *r, int32_t *out) {
    int64_t v;
    if (brook_avro_read_long(r, &v) || v < INT32_MIN || v > INT32_MAX)
        return BROOK_ERR_DECODE;
    *out = (int32_t)v;
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_read_boolean(brook_avro_reader_t *r, bool *out) {
    if (r->p >= r->end || *r->p > 1)
        return BROOK_ERR_DECODE;
    *out = *r->p++ != 0;
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_read_float(brook_avro_reader_t *r, float *out) {
    if (r->end - r->p < 4)
        return BROOK_ERR_DECODE;
    const uint8_t *p = r->p;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    memcpy(out, &u, 4);
    r->p += 4;
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_read_double(brook_avro_reader_t *r, double *out) {
    if (r->end - r->p < 8)
        return BROOK_ERR_DECODE;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)r->p[i] << (8 * i);
    memcpy(out, &u, 8);
    r->p += 8;
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_read_fixed(brook_avro_reader_t *r, void *out, size_t n) {
    if ((size_t)(r->end - r->p) < n)
        return BROOK_ERR_DECODE;
    if (n)
        memcpy(out, r->p, n);
    r->p += n;
    return 0;
}

/* Length-prefixed data copied into the arena with a NUL after it (bytes and strings alike). */
BROOK__AVRO_INLINE int brook__avro_read_len_data(brook_avro_reader_t *r, uint8_t **out,
                                                 size_t *len) {
    int64_t n;
    if (brook_avro_read_long(r, &n) || n < 0 || (uint64_t)n > (uint64_t)(r->end - r->p))
        return BROOK_ERR_DECODE;
    uint8_t *p = (uint8_t *)brook_arena_alloc(r->arena, (size_t)n + 1);
    if (!p)
        return BROOK_ERR_NOMEM;
    if (n)
        memcpy(p, r->p, (size_t)n);
    p[n] = 0;
    r->p += n;
    *out = p;
    *len = (size_t)n;
    return 0;
}

BROOK__AVRO_INLINE int brook_avro_read_bytes(brook_avro_reader_t *r, brook_bytes_t *out) {
    return brook__avro_read_len_data(r, &out->data, &out->len);
}

BROOK__AVRO_INLINE int brook_avro_read_string(brook_avro_reader_t *r, char **out) {
    size_t len;
    return brook__avro_read_len_data(r, (uint8_t **)out, &len);
}

/* Skips what brook_avro_read_string/bytes would read. */
BROOK__AVRO_INLINE int brook_avro_skip_bytes(brook_avro_reader_t *r) {
    int64_t n;
    if (brook_avro_read_long(r, &n) || n < 0 || (uint64_t)n > (uint64_t)(r->end - r->p))
        return BROOK_ERR_DECODE;
    r->p += n;
    return 0;
}

/* The item count of the next array or map block (0 ends the value). A negative count is
 * followed by the block's byte size, which is read and ignored. `min_item_size` (bytes the
 * smallest item takes) bounds the count by what is left of the input. */
BROOK__AVRO_INLINE int brook_avro_read_block_count(brook_avro_reader_t *r, size_t min_item_size,
                                                   size_t *out) {
    int64_t n;
    if (brook_avro_read_long(r, &n))
        return BROOK_ERR_DECODE;
    if (n < 0) {
        int64_t size;
        if (n == INT64_MIN || brook_avro_read_long(r, &size) || size < 0)
            return BROOK_ERR_DECODE;
        n = -n;
    }
    size_t left = (size_t)(r->end - r->p);
    if (min_item_size ? (uint64_t)n > left / min_item_size
                      : (uint64_t)n > BROOK_AVRO_MAX_EMPTY_ITEMS)
        return BROOK_ERR_DECODE;
    *out = (size_t)n;
    return 0;
}

/* ---- reading with a cursor (what generated decoders use) ------------------------------------ */

/* Generated decoders keep the read position in a local pointer, passed along and returned
 * (NULL once something failed), for the reason given for encoders above. Strings and bytes
 * are copied into one region taken at the start: each takes n + 1 bytes (the NUL) out of the
 * n + 1 or more it was read from, so all of them together fit in the input's length and a
 * copy needs no check. Arrays, maps and records held by pointer come from the arena. */
typedef struct brook_avro_dec_s {
    const uint8_t *start;
    const uint8_t *end;
    uint8_t *str;          /* the next string goes here */
    brook_arena_t **arena; /* where everything else goes */
    const uint8_t *at;     /* failure: where */
    int rc;                /* failure: BROOK_ERR_DECODE or BROOK_ERR_NOMEM */
    int depth;             /* records entered (recursive schemas only) */
} brook_avro_dec_t;

/* Records a failure at p; returns NULL. */
BROOK__AVRO_INLINE const uint8_t *brook__avro_dec_fail(brook_avro_dec_t *d, const uint8_t *p,
                                                       int rc) {
    d->at = p;
    d->rc = rc;
    return NULL;
}
/* The string region of brook__avro_dec_begin: the first block of *arena, which is empty
 * (NULL, or emptied by brook__arena_reset) and replaced. NULL when out of memory. */
uint8_t *brook__avro_dec_strings(brook_arena_t **arena, size_t len);

/* Starts decoding data[0, len): the first position, or NULL (d says why). `strings`: whether
 * the type holds any string, bytes or map (a region the input's size is then taken). */
BROOK__AVRO_INLINE const uint8_t *brook__avro_dec_begin(brook_avro_dec_t *d, const void *data,
                                                        size_t len, brook_arena_t **arena,
                                                        bool strings) {
    static const uint8_t empty[1] = {0};
    const uint8_t *p = data ? (const uint8_t *)data : empty;
    d->start = p;
    d->end = p + (data ? len : 0);
    d->str = NULL;
    d->arena = arena;
    d->at = p;
    d->rc = 0;
    d->depth = 0;
    if (!data && len)
        return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
    if (strings && len) {
        /* The strings' region: in the block the value kept (brook__arena_reset) when that leaves
         * a quarter of a first block for the arrays and maps, as a new one would. */
        brook_arena_t *a = *arena;
        if (a && !a->used && len < a->cap && a->cap - len >= BROOK__ARENA_FIRST / 4 + 15) {
            a->used = (len + 15u) & ~(size_t)15u;
            d->str = (uint8_t *)(a + 1);
        } else if (!(d->str = brook__avro_dec_strings(arena, len))) {
            return brook__avro_dec_fail(d, p, BROOK_ERR_NOMEM);
        }
    }
    return p;
}

/* Sets the error message of a failed generated decoder. Returns d->rc. */
int brook__avro_dec_error(brook_error_t *err, const brook_avro_dec_t *d, const char *type_name);

/* A varint of two bytes or more (at most 10, as brook_avro_read_long): the caller saw the
 * continuation bit in the first byte, or no byte left. With 10 bytes left, no byte needs a
 * bounds check; on a little-endian machine one of 3 to 8 bytes (every value below 2^56:
 * timestamps, amounts) is read as one word: the first byte without the continuation bit ends
 * it, and three shift-and-mask steps pack the 7-bit groups. */
BROOK__AVRO_INLINE const uint8_t *brook__avro_get_varint_long(const uint8_t *p, const uint8_t *end,
                                                              brook_avro_dec_t *d, uint64_t *out) {
    uint64_t v = 0;
    if (end - p >= 10) {
        if (p[1] < 0x80) { /* two bytes: below 2^14 */
            *out = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
            return p + 2;
        }
#if BROOK__AVRO_LE && defined(__GNUC__)
        {
            uint64_t w;
            memcpy(&w, p, 8);
            uint64_t last = ~w & 0x8080808080808080u; /* bytes without the continuation bit */
            if (BROOK__AVRO_LIKELY(last)) {
                unsigned bits = (unsigned)__builtin_ctzll(last) + 1; /* 8, 16, ..., 64 */
                w &= (~(uint64_t)0 >> (64 - bits)) & 0x7f7f7f7f7f7f7f7fu;
                w = (w & 0x007f007f007f007fu) | ((w & 0x7f007f007f007f00u) >> 1);
                w = (w & 0x00003fff00003fffu) | ((w & 0x3fff00003fff0000u) >> 2);
                w = (w & 0x000000000fffffffu) | ((w & 0x0fffffff00000000u) >> 4);
                *out = w;
                return p + bits / 8;
            }
        }
#endif
        for (unsigned i = 0; i < 10; i++) {
            uint64_t c = p[i];
            v |= (c & 0x7f) << (7 * i);
            if (c < 0x80) {
                *out = v;
                return p + i + 1;
            }
        }
        return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
    }
    const uint8_t *q = p;
    for (unsigned shift = 0;; shift += 7) {
        if (q >= end || shift > 63)
            return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
        uint8_t c = *q++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            break;
    }
    *out = v;
    return q;
}

BROOK__AVRO_INLINE const uint8_t *brook_avro_get_long(const uint8_t *p, const uint8_t *end,
                                                      brook_avro_dec_t *d, int64_t *out) {
    uint64_t v;
    if (BROOK__AVRO_LIKELY(p < end && *p < 0x80)) {
        v = *p++;
    } else if (!(p = brook__avro_get_varint_long(p, end, d, &v))) {
        *out = 0;
        return NULL;
    }
    *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
    return p;
}

BROOK__AVRO_INLINE const uint8_t *brook_avro_get_int(const uint8_t *p, const uint8_t *end,
                                                     brook_avro_dec_t *d, int32_t *out) {
    int64_t v;
    const uint8_t *q = brook_avro_get_long(p, end, d, &v);
    if (!q)
        return NULL;
    if (v < INT32_MIN || v > INT32_MAX)
        return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
    *out = (int32_t)v;
    return q;
}

BROOK__AVRO_INLINE const uint8_t *brook_avro_get_boolean(const uint8_t *p, const uint8_t *end,
                                                         brook_avro_dec_t *d, bool *out) {
    if (p >= end || *p > 1)
        return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
    *out = *p != 0;
    return p + 1;
}

BROOK__AVRO_INLINE const uint8_t *brook_avro_get_float(const uint8_t *p, const uint8_t *end,
                                                       brook_avro_dec_t *d, float *out) {
    if (end - p < 4)
        return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
    uint32_t u;
    if (BROOK__AVRO_LE)
        memcpy(&u, p, 4);
    else
        u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    memcpy(out, &u, 4);
    return p + 4;
}

BROOK__AVRO_INLINE const uint8_t *brook_avro_get_double(const uint8_t *p, const uint8_t *end,
                                                        brook_avro_dec_t *d, double *out) {
    if (end - p < 8)
        return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
    uint64_t u = brook__avro_le64_get(p);
    memcpy(out, &u, 8);
    return p + 8;
}

BROOK__AVRO_INLINE const uint8_t *brook_avro_get_fixed(const uint8_t *p, const uint8_t *end,
                                                       brook_avro_dec_t *d, void *out, size_t n) {
    if ((size_t)(end - p) < n)
        return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
    if (n)
        memcpy(out, p, n);
    return p + n;
}

/* Length-prefixed data copied into the string region with a NUL after it. */
BROOK__AVRO_INLINE const uint8_t *brook__avro_get_data(const uint8_t *p, const uint8_t *end,
                                                       brook_avro_dec_t *d, uint8_t **out,
                                                       size_t *len) {
    uint64_t n;
    const uint8_t *q = p;
    if (BROOK__AVRO_LIKELY(q < end && *q < 0x80)) { /* a length below 64 */
        n = *q++;
    } else if (!(q = brook__avro_get_varint_long(p, end, d, &n))) {
        return NULL;
    }
    if ((n & 1) || (n >>= 1) > (uint64_t)(end - q)) /* negative (zigzag) or too long */
        return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
    uint8_t *s = d->str;
    brook__avro_copy(s, q, (size_t)n);
    s[n] = 0;
    d->str = s + n + 1;
    *out = s;
    *len = (size_t)n;
    return q + n;
}

BROOK__AVRO_INLINE const uint8_t *brook_avro_get_bytes(const uint8_t *p, const uint8_t *end,
                                                       brook_avro_dec_t *d, brook_bytes_t *out) {
    return brook__avro_get_data(p, end, d, &out->data, &out->len);
}

BROOK__AVRO_INLINE const uint8_t *brook_avro_get_string(const uint8_t *p, const uint8_t *end,
                                                        brook_avro_dec_t *d, char **out) {
    size_t len;
    return brook__avro_get_data(p, end, d, (uint8_t **)out, &len);
}

/* brook_avro_read_block_count with a cursor. */
BROOK__AVRO_INLINE const uint8_t *brook_avro_get_block_count(const uint8_t *p, const uint8_t *end,
                                                             brook_avro_dec_t *d,
                                                             size_t min_item_size, size_t *out) {
    int64_t n;
    const uint8_t *q = brook_avro_get_long(p, end, d, &n);
    if (!q)
        return NULL;
    if (BROOK__AVRO_UNLIKELY(n < 0)) {
        int64_t size;
        if (n == INT64_MIN || !(q = brook_avro_get_long(q, end, d, &size)) || size < 0)
            return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
        n = -n;
    }
    size_t left = (size_t)(end - q);
    if (min_item_size ? (uint64_t)n > left / min_item_size
                      : (uint64_t)n > BROOK_AVRO_MAX_EMPTY_ITEMS)
        return brook__avro_dec_fail(d, p, BROOK_ERR_DECODE);
    *out = (size_t)n;
    return q;
}

/* A copy of an arena array of `n` items of `size` bytes grown to `need` items, the new ones
 * zeroed (arena memory is never freed item by item, so growing copies). NULL when out of
 * memory. */
BROOK__AVRO_INLINE void *brook__avro_arena_grow(brook_arena_t **arena, const void *items, size_t n,
                                                size_t need, size_t size) {
    if (need > SIZE_MAX / (size ? size : 1) - 1)
        return NULL;
    void *p = brook_arena_alloc(arena, need * size + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, items, n * size);
    memset((uint8_t *)p + n * size, 0, (need - n) * size);
    return p;
}

/* ---- schema identity and framing ------------------------------------------------------------ */

#define BROOK_AVRO_FRAMING_SINGLE_OBJECT 1
#define BROOK_AVRO_FRAMING_CONFLUENT 2

/* CRC-64-AVRO (the Avro spec's Rabin fingerprint) of data; of a schema's Parsing Canonical
 * Form, it is the schema's fingerprint. */
uint64_t brook_avro_crc64(const void *data, size_t len);

/* Appends the Parsing Canonical Form (Avro specification) of an Avro schema given in any
 * form to out: what a fingerprint is computed from. 0, or BROOK_ERR_SCHEMA with a message. */
int brook_avro_canonical_form(const char *schema_json, brook_buf_t *out, brook_error_t *err);
/* CRC-64-AVRO of the canonical form of schema_json (any form). 0 or BROOK_ERR_SCHEMA. */
int brook_avro_schema_fingerprint(const char *schema_json, uint64_t *out, brook_error_t *err);

/* Appends C3 01 and the fingerprint, 8 bytes little-endian. 0 or BROOK_ERR_NOMEM. */
int brook_avro_write_single_object_header(brook_buf_t *out, uint64_t fingerprint);
/* Appends 00 and the schema id, 4 bytes big-endian. 0 or BROOK_ERR_NOMEM. */
int brook_avro_write_confluent_header(brook_buf_t *out, int32_t schema_id);

typedef struct brook_avro_frame_s {
    int framing;            /* BROOK_AVRO_FRAMING_SINGLE_OBJECT or _CONFLUENT */
    uint64_t fingerprint;   /* single-object */
    int32_t schema_id;      /* Confluent */
    const uint8_t *payload; /* borrowed from data */
    size_t payload_len;
} brook_avro_frame_t;

/* Tells the framing by the first byte and splits header from payload. BROOK_ERR_DECODE (with a
 * message) for anything too short or not framed either way. */
int brook_avro_parse_frame(const void *data, size_t len, brook_avro_frame_t *out,
                           brook_error_t *err);

/* ---- Avro JSON encoding --------------------------------------------------------------------- */

/* Writers used by generated T_to_json. All return 0 or BROOK_ERR_NOMEM. */
int brook_avro_json_raw(brook_buf_t *b, const char *text);
/* A JSON string of UTF-8 text (NULL writes ""). */
int brook_avro_json_string(brook_buf_t *b, const char *s);
/* Avro bytes/fixed in JSON: a string whose code points 0-255 are the bytes (ISO-8859-1). */
int brook_avro_json_bytes(brook_buf_t *b, const void *data, size_t len);
int brook_avro_json_long(brook_buf_t *b, int64_t v);
/* NaN and infinities have no JSON number: they are written as the strings "NaN",
 * "Infinity", "-Infinity" (and accepted back as such). */
int brook_avro_json_double(brook_buf_t *b, double v);
int brook_avro_json_float(brook_buf_t *b, float v);

/* A parsed JSON document for generated T_from_json (jansson inside libbrook). Nodes are
 * borrowed from their document and valid until brook_avro_json_free. */
typedef struct brook_json_s brook_json_t;
brook_json_t *brook_avro_json_parse(const char *json, size_t len, brook_error_t *err);
void brook_avro_json_free(brook_json_t *doc);
/* Field of an object; NULL when absent or when j is not an object. */
const brook_json_t *brook_avro_json_field(const brook_json_t *j, const char *name);
bool brook_avro_json_is_null(const brook_json_t *j);
bool brook_avro_json_is_object(const brook_json_t *j);
int brook_avro_json_get_boolean(const brook_json_t *j, bool *out);
int brook_avro_json_get_long(const brook_json_t *j, int64_t *out);
int brook_avro_json_get_int(const brook_json_t *j, int32_t *out);
int brook_avro_json_get_double(const brook_json_t *j, double *out);
int brook_avro_json_get_float(const brook_json_t *j, float *out);
/* Strings and bytes are copied into the arena (NUL-terminated). */
int brook_avro_json_get_string(const brook_json_t *j, brook_arena_t **arena, char **out);
int brook_avro_json_get_bytes(const brook_json_t *j, brook_arena_t **arena, brook_bytes_t *out);
/* Exactly n bytes (fixed). */
int brook_avro_json_get_fixed(const brook_json_t *j, uint8_t *out, size_t n);
/* The symbol index of an enum string among symbols[0..n), or an error. */
int brook_avro_json_get_enum(const brook_json_t *j, const char *const *symbols, size_t n, int *out);
/* Arrays: 0 and the size, or an error when j is not an array. */
int brook_avro_json_array_size(const brook_json_t *j, size_t *out);
const brook_json_t *brook_avro_json_array_get(const brook_json_t *j, size_t i);
/* Objects as maps: the number of members, then an iterator over them in document order
 * (NULL at the end). */
int brook_avro_json_object_size(const brook_json_t *j, size_t *out);
void *brook_avro_json_object_iter(const brook_json_t *j);
void *brook_avro_json_object_iter_next(const brook_json_t *j, void *it);
const char *brook_avro_json_object_iter_key(void *it);
const brook_json_t *brook_avro_json_object_iter_value(void *it);
/* A non-null union value {"branch": value}: its branch name and value. */
int brook_avro_json_union(const brook_json_t *j, const char **branch, const brook_json_t **value);
/* Root node of a parsed document. */
const brook_json_t *brook_avro_json_root(const brook_json_t *doc);

/* ---- logical types -------------------------------------------------------------------------- */

/* decimal: big-endian two's complement unscaled value in bytes/fixed. Writes the minimal
 * encoding of `unscaled` into buf (at least 8 bytes) and returns its length. */
static inline size_t brook_avro_decimal_from_int64(int64_t unscaled, uint8_t *buf) {
    size_t n = 8;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)unscaled >> (8 * (7 - i)));
    size_t skip = 0;
    while (skip < 7 && ((buf[skip] == 0x00 && !(buf[skip + 1] & 0x80)) ||
                        (buf[skip] == 0xff && (buf[skip + 1] & 0x80))))
        skip++;
    if (skip)
        memmove(buf, buf + skip, n - skip);
    return n - skip;
}

/* The unscaled value of a decimal of up to 8 bytes; BROOK_ERR_DECODE when longer. */
static inline int brook_avro_decimal_to_int64(const uint8_t *data, size_t len, int64_t *out) {
    if (len == 0 || len > 8)
        return len == 0 ? (*out = 0, 0) : BROOK_ERR_DECODE;
    uint64_t v = (data[0] & 0x80) ? UINT64_MAX : 0;
    for (size_t i = 0; i < len; i++)
        v = (v << 8) | data[i];
    *out = (int64_t)v;
    return 0;
}

/* date: days since 1970-01-01 <-> proleptic Gregorian y/m/d (Howard Hinnant's algorithm). */
static inline int32_t brook_avro_date_from_ymd(int y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

static inline void brook_avro_date_to_ymd(int32_t days, int *y, unsigned *m, unsigned *d) {
    int z = days + 719468;
    const int era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)yoe + era * 400 + (*m <= 2);
}

/* time-millis/micros, timestamp-*, local-timestamp-*: scale between units. */
static inline int64_t brook_avro_millis_to_micros(int64_t ms) {
    return ms * 1000;
}
static inline int64_t brook_avro_micros_to_millis(int64_t us) {
    return us >= 0 ? us / 1000 : -((-us + 999) / 1000);
}

/* uuid: true when s is the 36-character textual form (8-4-4-4-12 hex digits). */
static inline bool brook_avro_uuid_valid(const char *s) {
    if (!s)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (!c)
            return false;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return s[36] == 0;
}

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* BROOK_AVRO_H */
