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
        for (int round_ = 0; round_ < ROUNDS; round_++) {                                          \
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

static void to_avro_c(const bench_Order *o, avro_value_t *v) {
    avro_value_t f, e, br;
    avro_value_get_by_name(v, "id", &f, NULL);
    avro_value_set_string(&f, o->id);
    avro_value_get_by_name(v, "customer", &f, NULL);
    avro_value_set_string(&f, o->customer);
    avro_value_get_by_name(v, "created", &f, NULL);
    avro_value_set_long(&f, o->created);
    avro_value_get_by_name(v, "status", &f, NULL);
    avro_value_set_enum(&f, (int)o->status);
    avro_value_get_by_name(v, "total", &f, NULL);
    avro_value_set_double(&f, o->total);
    avro_value_get_by_name(v, "quantity", &f, NULL);
    avro_value_set_int(&f, o->quantity);
    avro_value_get_by_name(v, "express", &f, NULL);
    avro_value_set_boolean(&f, o->express);
    avro_value_get_by_name(v, "note", &f, NULL);
    avro_value_set_branch(&f, 1, &br);
    avro_value_set_string(&br, o->note);
    avro_value_get_by_name(v, "items", &f, NULL);
    for (size_t i = 0; i < o->items.n; i++) {
        avro_value_append(&f, &e, NULL);
        avro_value_t x;
        avro_value_get_by_name(&e, "sku", &x, NULL);
        avro_value_set_string(&x, o->items.items[i].sku);
        avro_value_get_by_name(&e, "qty", &x, NULL);
        avro_value_set_int(&x, o->items.items[i].qty);
        avro_value_get_by_name(&e, "price_cents", &x, NULL);
        avro_value_set_long(&x, o->items.items[i].price_cents);
    }
    avro_value_get_by_name(v, "tags", &f, NULL);
    for (size_t i = 0; i < o->tags.n; i++) {
        avro_value_add(&f, o->tags.keys[i], &e, NULL, NULL);
        avro_value_set_string(&e, o->tags.values[i]);
    }
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000; /* per round */
    bench_Order o;
    fill(&o);
    brook_buf_t buf;
    brook_buf_init(&buf);
    bench_Order_encode(&o, &buf);
    size_t len = buf.len;

    /* generated */
    volatile size_t sink = 0;
    double gen_enc, gen_dec, c_enc, c_dec;
    BEST(gen_enc, {
        brook_buf_reset(&buf);
        bench_Order_encode(&o, &buf);
        sink += buf.len;
    });
    bench_Order d = {0}; /* decode frees what the value owns: never uninitialized */
    BEST(gen_dec, {
        if (bench_Order_decode(&d, buf.data, buf.len, NULL) != 0)
            return 1;
        sink += d.items.n;
        bench_Order_clear(&d);
    });

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
    BEST(c_enc, {
        avro_writer_reset(w);
        avro_value_write(w, &v);
        sink += (size_t)avro_writer_tell(w);
    });
    avro_reader_t rd = avro_reader_memory(abuf, (int64_t)len);
    BEST(c_dec, {
        avro_reader_reset(rd);
        avro_value_reset(&r);
        if (avro_value_read(rd, &r))
            return 1;
        sink += 1;
    });

    printf("bench: codec_record_bytes %zu bytes\n", len);
    printf("bench: codec_encode_generated %.1f ns/op\n", gen_enc);
    printf("bench: codec_encode_avro_c %.1f ns/op\n", c_enc);
    printf("bench: codec_decode_generated %.1f ns/op\n", gen_dec);
    printf("bench: codec_decode_avro_c %.1f ns/op\n", c_dec);
    printf("bench: codec_encode_generated_throughput %.1f MB/s\n", (double)len / gen_enc * 1e3);
    printf("ratio: codec_encode %.1f\n", c_enc / gen_enc);
    printf("ratio: codec_decode %.1f\n", c_dec / gen_dec);
    printf("ratio: codec_roundtrip %.1f\n", (c_enc + c_dec) / (gen_enc + gen_dec));
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
