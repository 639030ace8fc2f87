/* Poison pills: values a listener cannot decode (garbage, truncated Avro, a writer schema it does
 * not know) go to the DLT as they were, named brook.DeserializationError, without retries, and
 * the records behind them are handled. The Avro type is a hand-made descriptor, as brookc
 * would generate it for
 *   {"type":"record","name":"Msg","namespace":"rt","fields":[{"name":"text","type":"string"}]}
 */
#include "brook/avro.h"
#include "retry_it.h"

#define MSG_SCHEMA                                                                                 \
    "{\"name\":\"rt.Msg\",\"type\":\"record\",\"fields\":[{\"name\":\"text\",\"type\":\"string\"}" \
    "]}"

typedef struct {
    char *text;
} rt_Msg;

static void msg_init(void *v) {
    ((rt_Msg *)v)->text = NULL;
}

static void msg_clear(void *v) {
    free(((rt_Msg *)v)->text);
    ((rt_Msg *)v)->text = NULL;
}

static int msg_encode(const void *v, brook_buf_t *out) {
    const char *s = ((const rt_Msg *)v)->text;
    size_t n = strlen(s);
    uint64_t z = (uint64_t)n << 1; /* zigzag of a non-negative length */
    uint8_t b[10];
    size_t k = 0;
    do {
        b[k++] = (uint8_t)((z & 0x7f) | (z > 0x7f ? 0x80 : 0));
        z >>= 7;
    } while (z);
    if (brook_buf_append(out, b, k) || brook_buf_append(out, s, n))
        return BROOK_ERR_NOMEM;
    return 0;
}

/* Bounds-checked: never reads past len, rejects a length longer than what is left. Frees what
 * an earlier decode into v allocated (brook_type_t.decode). */
static int msg_decode(void *v, const void *data, size_t len, brook_error_t *err) {
    msg_clear(v);
    const uint8_t *p = data, *end = p + len;
    uint64_t z = 0;
    int shift = 0;
    for (;;) {
        if (p == end || shift > 63)
            return brook_error_set(err, BROOK_ERR_DECODE, "rt.Msg: truncated length");
        uint8_t c = *p++;
        z |= (uint64_t)(c & 0x7f) << shift;
        shift += 7;
        if (!(c & 0x80))
            break;
    }
    int64_t n = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    if (n < 0 || (uint64_t)n > (uint64_t)(end - p))
        return brook_error_set(err, BROOK_ERR_DECODE, "rt.Msg: text of %lld bytes, %zu left",
                               (long long)n, (size_t)(end - p));
    char *s = malloc((size_t)n + 1);
    if (!s)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    memcpy(s, p, (size_t)n);
    s[n] = 0;
    ((rt_Msg *)v)->text = s;
    return 0;
}

static brook_type_t msg_type = {
    .magic = BROOK_TYPE_MAGIC,
    .name = "rt.Msg",
    .schema_json = MSG_SCHEMA,
    .size = sizeof(rt_Msg),
    .init = msg_init,
    .clear = msg_clear,
    .encode = msg_encode,
    .decode = msg_decode,
};

static rt_log_t calls;

static brook_result_t on_msg(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    const rt_Msg *m = value;
    rt_log_call(op, ctx, m ? m->text : NULL);
    return BROOK_OK;
}

/* Single-object encoding of rt.Msg{text}, with the given fingerprint. */
static void framed(brook_buf_t *b, uint64_t fingerprint, const char *text) {
    brook_buf_init(b);
    assert_int_equal(brook_avro_write_single_object_header(b, fingerprint), 0);
    rt_Msg m = {(char *)text};
    assert_int_equal(msg_encode(&m, b), 0);
}

static void test_poison_pills_go_to_dlt(void **state) {
    rt_log_init(&calls);
    msg_type.fingerprint = brook_avro_crc64(MSG_SCHEMA, strlen(MSG_SCHEMA));
    const char *topic = "rt.poison";
    brook_app_t *app = it_app("service = { name = \"rt-poison\"; commit_interval_ms = 200; };\n"
                              "topics = ( { name = \"rt.poison\"; partitions = 2; } );\n"
                              "listeners = ( { id = \"l\"; topics = [ \"rt.poison\" ];\n"
                              "  key = \"string\"; value = \"rt.Msg\"; handler = \"on_msg\";\n"
                              "  retry = { attempts = 3; backoff = { delay_ms = 100; }; };\n"
                              "  dlt = { enabled = true; }; } );\n");
    assert_int_equal(brook_app_register_type(app, &msg_type), 0);
    assert_int_equal(brook_app_set_handler(app, "l", on_msg, &calls), 0);
    it_start(app);

    /* The pills, all on partition 1, each followed by a good record. */
    brook_buf_t truncated, unknown, good;
    framed(&truncated, msg_type.fingerprint, "twenty characters...");
    truncated.len -= 15; /* the length says 20, 5 bytes are left */
    framed(&unknown, msg_type.fingerprint ^ 0x5a5a5a5a5a5a5a5aULL, "who wrote me?");
    static const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 'x', 0xff};
    struct {
        const char *name;
        const void *bytes;
        size_t len;
    } pills[] = {
        {"garbage", garbage, sizeof(garbage)},
        {"truncated", truncated.data, truncated.len},
        {"unknown-fingerprint", unknown.data, unknown.len},
    };
    for (int i = 0; i < 3; i++) {
        char ok[32];
        brook_header_t h = {"pill", pills[i].name, strlen(pills[i].name)};
        assert_int_equal(brook_test_produce(cluster, topic, 1, pills[i].name, strlen(pills[i].name),
                                            pills[i].bytes, pills[i].len, &h, 1),
                         0);
        snprintf(ok, sizeof(ok), "good-%d", i);
        framed(&good, msg_type.fingerprint, ok);
        assert_int_equal(
            brook_test_produce(cluster, topic, 1, "k", 1, good.data, good.len, NULL, 0), 0);
        brook_buf_free(&good);
    }
    assert_true(BROOK_TEST_WAIT_UNTIL(rt_count(&calls, "good-2") == 1, 30000));
    assert_true(
        BROOK_TEST_WAIT_UNTIL(brook_test_end_offsets(cluster, "rt.poison-dlt") == 3, 10000));
    assert_int_equal(brook_app_stop(app), 0);

    /* The handler saw the good ones only, once each, in order. */
    for (int i = 0; i < 3; i++) {
        char ok[32];
        snprintf(ok, sizeof(ok), "good-%d", i);
        assert_int_equal(rt_count(&calls, ok), 1);
    }
    assert_int_equal(calls.n, 3);

    brook_test_record_t *orig, *dead;
    size_t no = brook_test_consume(cluster, topic, 6, 10000, &orig);
    size_t nd = brook_test_consume(cluster, "rt.poison-dlt", 3, 10000, &dead);
    assert_int_equal(no, 6);
    assert_int_equal(nd, 3);
    for (int i = 0; i < 3; i++) {
        /* In order on the DLT's partition 1: the raw bytes, as they came. */
        const brook_test_record_t *d = &dead[i], *o = &orig[2 * i];
        assert_int_equal(d->partition, 1);
        assert_int_equal(d->value_len, pills[i].len);
        assert_memory_equal(d->value, pills[i].bytes, pills[i].len);
        rt_assert_header_str(d, "pill", pills[i].name);
        rt_assert_dlt_headers(d, o, "brook.DeserializationError", NULL, "rt-poison", false);
        const brook_header_t *m = brook_test_record_header(d, "kafka_dlt-exception-message");
        print_message("%s: %.*s\n", pills[i].name, (int)m->len, (const char *)m->value);
        assert_true(m->len > 0);
    }
    brook_test_records_free(orig, no);
    brook_test_records_free(dead, nd);

    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "l"), &st);
    assert_int_equal(st.handled, 3);
    assert_int_equal(st.retried, 0); /* retrying cannot help a pill */
    assert_int_equal(st.dead_lettered, 3);
    brook_app_destroy(app);
    brook_buf_free(&truncated);
    brook_buf_free(&unknown);
    rt_log_free(&calls);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poison_pills_go_to_dlt),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
