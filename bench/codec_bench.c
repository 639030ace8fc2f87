/* Generated Avro codec vs avro-c's generic value API on the same record (codec_order.avsc).
 * Prints `bench: <name> <value> <unit>` and `ratio: <name> <value>` lines (ratio = avro-c time
 * / generated time; the aim is >= 10). avro-c gets its best case: one value reused, reset
 * between reads, one memory writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <avro.h>

#include "codec_bench.brook.h"

/* CPU time of the process: on a shared machine, wall time also counts other processes. */
static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The best of several rounds: other processes on the machine only ever make a round slower. */
#define ROUNDS 7
#define BEST(var, body)                                                                            \
    do {                                                                                           \
        var = 1e300;                                                                               \
        for (int round_ = 0; round_ < rounds; round_++) {                                          \
            double t0_ = now_ns();                                                                 \
            for (long i = 0; i < n; i++) {                                                         \
                body                                                                               \
            }                                                                                      \
            double t_ = (now_ns() - t0_) / (double)n;                                              \
            if (t_ < var)                                                                          \
                var = t_;                                                                          \
        }                                                                                          \
    } while (0)

static void fill(bench_Order *o) {
    static bench_Item items[3] = {{"SKU-000001", 2, 1999, NULL},
                                  {"SKU-000002", 1, 54900, NULL},
                                  {"SKU-000003", 12, 250, NULL}};
    static char *keys[] = {"channel", "region"};
    static char *values[] = {"web", "eu-west-1"};
    bench_Order_init(o);
    o->id = "ord-2f1c9a7e-0c1b-4b8e-9a43-1d2f3e4a5b6c";
    o->customer = "customer-000123456";
    o->created = 1700000000123;
    o->status = bench_Status_PAID;
    o->total = 578.73;
    o->quantity = 15;
    o->express = true;
    o->has_note = true;
    o->note = "leave at the door";
    o->items.n = 3;
    o->items.items = items;
    o->tags.n = 2;
    o->tags.keys = keys;
    o->tags.values = values;
}

/* An application's own record to an avro-c generic value, field by field (by position, the
 * fastest way the generic API offers): what encoding with avro-c takes besides the write. */
static void to_avro_c(const bench_Order *o, avro_value_t *v) {
    avro_value_t f, e, br, x;
    avro_value_get_by_index(v, 0, &f, NULL);
    avro_value_set_string(&f, o->id);
    avro_value_get_by_index(v, 1, &f, NULL);
    avro_value_set_string(&f, o->customer);
    avro_value_get_by_index(v, 2, &f, NULL);
    avro_value_set_long(&f, o->created);
    avro_value_get_by_index(v, 3, &f, NULL);
    avro_value_set_enum(&f, (int)o->status);
    avro_value_get_by_index(v, 4, &f, NULL);
    avro_value_set_double(&f, o->total);
    avro_value_get_by_index(v, 5, &f, NULL);
    avro_value_set_int(&f, o->quantity);
    avro_value_get_by_index(v, 6, &f, NULL);
    avro_value_set_boolean(&f, o->express);
    avro_value_get_by_index(v, 7, &f, NULL);
    if (o->has_note) {
        avro_value_set_branch(&f, 1, &br);
        avro_value_set_string(&br, o->note);
    } else {
        avro_value_set_branch(&f, 0, &br);
        avro_value_set_null(&br);
    }
    avro_value_get_by_index(v, 8, &f, NULL);
    for (size_t i = 0; i < o->items.n; i++) {
        avro_value_append(&f, &e, NULL);
        avro_value_get_by_index(&e, 0, &x, NULL);
        avro_value_set_string(&x, o->items.items[i].sku);
        avro_value_get_by_index(&e, 1, &x, NULL);
        avro_value_set_int(&x, o->items.items[i].qty);
        avro_value_get_by_index(&e, 2, &x, NULL);
        avro_value_set_long(&x, o->items.items[i].price_cents);
    }
    avro_value_get_by_index(v, 9, &f, NULL);
    for (size_t i = 0; i < o->tags.n; i++) {
        avro_value_add(&f, o->tags.keys[i], &e, NULL, NULL);
        avro_value_set_string(&e, o->tags.values[i]);
    }
}

/* What an application takes out of a generic value avro-c read, into its own record (strings
 * pointing into the value): what decoding with avro-c takes besides the read. */
#define APP_MAX 8
typedef struct {
    const char *id, *customer, *note;
    int64_t created;
    int status, express;
    double total;
    int32_t quantity;
    size_t n_items, n_tags;
    struct {
        const char *sku;
        int32_t qty;
        int64_t price_cents;
    } items[APP_MAX];
    const char *keys[APP_MAX], *values[APP_MAX];
} app_order;

static int from_avro_c(avro_value_t *v, app_order *o) {
    avro_value_t f, e, x;
    size_t sz;
    int rc = 0;
    rc |= avro_value_get_by_index(v, 0, &f, NULL) || avro_value_get_string(&f, &o->id, &sz);
    rc |= avro_value_get_by_index(v, 1, &f, NULL) || avro_value_get_string(&f, &o->customer, &sz);
    rc |= avro_value_get_by_index(v, 2, &f, NULL) || avro_value_get_long(&f, &o->created);
    rc |= avro_value_get_by_index(v, 3, &f, NULL) || avro_value_get_enum(&f, &o->status);
    rc |= avro_value_get_by_index(v, 4, &f, NULL) || avro_value_get_double(&f, &o->total);
    rc |= avro_value_get_by_index(v, 5, &f, NULL) || avro_value_get_int(&f, &o->quantity);
    rc |= avro_value_get_by_index(v, 6, &f, NULL) || avro_value_get_boolean(&f, &o->express);
    int branch = 0;
    rc |= avro_value_get_by_index(v, 7, &f, NULL) || avro_value_get_discriminant(&f, &branch);
    o->note = NULL;
    if (branch == 1)
        rc |= avro_value_get_current_branch(&f, &e) || avro_value_get_string(&e, &o->note, &sz);
    rc |= avro_value_get_by_index(v, 8, &f, NULL) || avro_value_get_size(&f, &o->n_items);
    for (size_t i = 0; i < o->n_items && i < APP_MAX; i++) {
        rc |= avro_value_get_by_index(&f, i, &e, NULL);
        rc |= avro_value_get_by_index(&e, 0, &x, NULL) ||
              avro_value_get_string(&x, &o->items[i].sku, &sz);
        rc |= avro_value_get_by_index(&e, 1, &x, NULL) || avro_value_get_int(&x, &o->items[i].qty);
        rc |= avro_value_get_by_index(&e, 2, &x, NULL) ||
              avro_value_get_long(&x, &o->items[i].price_cents);
    }
    rc |= avro_value_get_by_index(v, 9, &f, NULL) || avro_value_get_size(&f, &o->n_tags);
    for (size_t i = 0; i < o->n_tags && i < APP_MAX; i++)
        rc |= avro_value_get_by_index(&f, i, &e, &o->keys[i]) ||
              avro_value_get_string(&e, &o->values[i], &sz);
    return rc;
}

/* `codec_bench count OP N`: OP (gen_encode, gen_decode, avro_c_encode, avro_c_decode,
 * avro_c_fill_encode, avro_c_decode_take) N times and nothing else, for bench/instructions, which
 * runs it under callgrind for two N and takes the difference (set-up cancels out). */
static const char *count_op(int argc, char **argv, long *n) {
    if (argc < 4 || strcmp(argv[1], "count"))
        return NULL;
    *n = atol(argv[3]);
    return argv[2];
}

int main(int argc, char **argv) {
    long count_n = 0;
    const char *op = count_op(argc, argv, &count_n);
    long n = op ? count_n : argc > 1 ? atol(argv[1]) : 200000; /* per round */
    bench_Order o;
    fill(&o);
    brook_buf_t buf;
    brook_buf_init(&buf);
    bench_Order_encode(&o, &buf);
    size_t len = buf.len;
    if (argc > 1 && !strcmp(argv[1], "hex")) { /* the record's bytes, for fastavro_codec.py */
        for (size_t i = 0; i < len; i++)
            printf("%02x", buf.data[i]);
        printf("\n");
        brook_buf_free(&buf);
        return 0;
    }

    /* generated */
    volatile size_t sink = 0;
    double gen_enc = 0, gen_dec = 0, c_enc = 0, c_dec = 0, c_fill_enc = 0, c_dec_take = 0;
    int rounds = op ? 1 : ROUNDS;
    if (!op || !strcmp(op, "gen_encode"))
        BEST(gen_enc, {
            brook_buf_reset(&buf);
            bench_Order_encode(&o, &buf);
            sink += buf.len;
        });
    /* Decoded again and again into one value, as avro-c below reads into one generic value:
     * each decode empties the value and reuses its memory. */
    bench_Order d = {0}; /* never uninitialized */
    if (!op || !strcmp(op, "gen_decode"))
        BEST(gen_dec, {
            if (bench_Order_decode(&d, buf.data, buf.len, NULL) != 0)
                return 1;
            sink += d.items.n;
        });
    bench_Order_clear(&d);

    /* avro-c generic values */
    avro_schema_t schema;
    if (avro_schema_from_json_length(bench_Order_type.schema_json,
                                     strlen(bench_Order_type.schema_json), &schema))
        return 1;
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v, r;
    avro_generic_value_new(iface, &v);
    avro_generic_value_new(iface, &r);
    to_avro_c(&o, &v);
    char *abuf = malloc(len * 2 + 64);
    avro_writer_t w = avro_writer_memory(abuf, (int64_t)(len * 2 + 64));
    avro_value_write(w, &v);
    if ((size_t)avro_writer_tell(w) != len || memcmp(abuf, buf.data, len)) {
        fprintf(stderr, "avro-c and generated encodings differ\n");
        return 1;
    }
    if (!op || !strcmp(op, "avro_c_encode"))
        BEST(c_enc, {
            avro_writer_reset(w);
            avro_value_write(w, &v);
            sink += (size_t)avro_writer_tell(w);
        });
    if (!op || !strcmp(op, "avro_c_fill_encode"))
        BEST(c_fill_enc, {
            avro_value_reset(&v);
            to_avro_c(&o, &v);
            avro_writer_reset(w);
            avro_value_write(w, &v);
            sink += (size_t)avro_writer_tell(w);
        });
    avro_reader_t rd = avro_reader_memory(abuf, (int64_t)len);
    if (!op || !strcmp(op, "avro_c_decode"))
        BEST(c_dec, {
            avro_reader_reset(rd);
            avro_value_reset(&r);
            if (avro_value_read(rd, &r))
                return 1;
            sink += 1;
        });
    app_order a;
    if (!op || !strcmp(op, "avro_c_decode_take"))
        BEST(c_dec_take, {
            avro_reader_reset(rd);
            avro_value_reset(&r);
            if (avro_value_read(rd, &r) || from_avro_c(&r, &a))
                return 1;
            sink += a.n_items;
        });
    /* What avro-c reads is what was written. */
    avro_reader_reset(rd);
    avro_value_reset(&r);
    if (avro_value_read(rd, &r) || from_avro_c(&r, &a) || strcmp(a.id, o.id) ||
        strcmp(a.note, o.note) || a.n_items != 3 ||
        a.items[2].price_cents != o.items.items[2].price_cents || a.n_tags != 2 ||
        strcmp(a.values[1], o.tags.values[1])) {
        fprintf(stderr, "avro-c read back a different record\n");
        return 1;
    }

    if (!op) { /* a count prints nothing: callgrind counts it */
        printf("bench: codec_record_bytes %zu bytes\n", len);
        printf("bench: codec_encode_generated %.1f ns/op\n", gen_enc);
        printf("bench: codec_encode_avro_c %.1f ns/op\n", c_enc);
        printf("bench: codec_decode_generated %.1f ns/op\n", gen_dec);
        printf("bench: codec_decode_avro_c %.1f ns/op\n", c_dec);
        printf("bench: codec_encode_generated_throughput %.1f MB/s\n", (double)len / gen_enc * 1e3);
        printf("ratio: codec_encode %.1f\n", c_enc / gen_enc);
        printf("ratio: codec_decode %.1f\n", c_dec / gen_dec);
        printf("ratio: codec_roundtrip %.1f\n", (c_enc + c_dec) / (gen_enc + gen_dec));
        /* avro-c as an application uses it: its record into a generic value and written;
         * read and its fields taken out. */
        printf("bench: codec_encode_avro_c_with_fill %.1f ns/op\n", c_fill_enc);
        printf("bench: codec_decode_avro_c_with_take %.1f ns/op\n", c_dec_take);
        printf("ratio: codec_encode_with_fill %.1f\n", c_fill_enc / gen_enc);
        printf("ratio: codec_decode_with_take %.1f\n", c_dec_take / gen_dec);
    }
    avro_reader_free(rd);
    avro_writer_free(w);
    free(abuf);
    avro_value_decref(&v);
    avro_value_decref(&r);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    brook_buf_free(&buf);
    return sink == 0;
}
