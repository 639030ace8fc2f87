/* The schema registry client against a real registry (the "registry" fixture, Apicurio's
 * Confluent-compatible API) and the real Kafka broker fixture:
 *
 *   python_to_brook    Python confluent_kafka's AvroSerializer writes; a listener decodes
 *                      every field
 *   brook_to_python    a template registers its schema and writes Confluent framing with the
 *                      registry's id; Python's AvroDeserializer reads every field
 *   evolution          a template registers version 1, Python registers version 2 (two fields
 *                      added with defaults) and writes with it; a listener built with version
 *                      1 decodes both, asking the registry once per id (its requests counted)
 *   incompatible       a schema the registry refuses stops the template's start; with
 *                      auto_register false, so does one it does not have
 *   unknown_id         a record whose id the registry does not know goes to the DLT, bytes
 *                      intact, with the reason
 *   registry_down      the registry is killed while records with an id the listener has not
 *                      fetched yet arrive, and restarted: they wait, none is lost, failed or
 *                      dead-lettered, and what follows them on their partition waits too
 *   registry_down_eos  the same with an exactly-once listener
 *
 *   registry_it TEST   runs one of them
 *
 * order(i) is defined as in py_avro.py. */
#include <pthread.h>

#include <jansson.h>

#include "regv1.brook.h"

#include "../interop/interop.h"

#define MAX_RECORDS 256

static brook_test_cluster_t *cluster;
static char registry_url[512];

/* ---- the fixture's tools ---- */

static char *run_out(char *const argv[], int timeout_ms) {
    ix_run_t r;
    ix_run(argv, NULL, 0, timeout_ms, &r);
    if (r.exit_code != 0)
        fail_msg("%s %s exited %d:\n%s%s", argv[0], argv[1], r.exit_code, r.out, r.err);
    char *out = strdup(r.out);
    ix_run_free(&r);
    return out;
}

/* py_avro.py with these arguments (NULL-terminated); its output. */
static char *py(const char *mode, ...) {
    char *argv[16] = {BROOK_REGISTRY_PYTHON, BROOK_REGISTRY_DIR "/py_avro.py", (char *)mode};
    int n = 3;
    va_list ap;
    va_start(ap, mode);
    for (char *a; n < 15 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run_out(argv, 120000);
}

static char *tool(const char *cmd) {
    char *argv[] = {BROOK_REGISTRY_TOOL, (char *)cmd, getenv("BROOK_TEST_REGISTRY"), NULL};
    return run_out(argv, 120000);
}

static long registry_requests(void) {
    char *out = tool("requests");
    long n = atol(out);
    free(out);
    return n;
}

/* ---- values ---- */

static void order(reg_Order *v, const char *prefix, int i, char *id, size_t id_size, char *coupon,
                  size_t coupon_size) {
    reg_Order_init(v);
    snprintf(id, id_size, "%s-%d", prefix, i);
    snprintf(coupon, coupon_size, "c\xc3\xa4-%d", i);
    v->id = id;
    v->amount = (int64_t)i * 100 + 7;
    v->currency = i % 2 ? reg_Currency_USD : reg_Currency_EUR;
    v->ratio = i / 4.0;
    v->has_coupon = i % 3 != 0;
    v->coupon = v->has_coupon ? coupon : NULL;
}

/* ---- what the listener saw ---- */

typedef struct {
    char key[32];
    char id[32];
    int64_t amount;
    int currency;
    double ratio;
    bool has_coupon;
    char coupon[32];
    int32_t schema_id;
} seen_t;

static struct {
    pthread_mutex_t lock;
    int count;
    seen_t recs[MAX_RECORDS];
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static brook_result_t on_order(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    const reg_Order *v = value;
    const brook_record_t *r = brook_ctx_record(ctx);
    pthread_mutex_lock(&seen.lock);
    if (seen.count < MAX_RECORDS) {
        seen_t *s = &seen.recs[seen.count++];
        snprintf(s->key, sizeof(s->key), "%s", key ? (const char *)key : "");
        snprintf(s->id, sizeof(s->id), "%s", v->id);
        s->amount = v->amount;
        s->currency = (int)v->currency;
        s->ratio = v->ratio;
        s->has_coupon = v->has_coupon;
        snprintf(s->coupon, sizeof(s->coupon), "%s", v->has_coupon ? v->coupon : "");
        const uint8_t *b = r->value;
        s->schema_id = r->value_len >= 5 ? (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                                                     (uint32_t)b[3] << 8 | b[4])
                                         : -1;
    }
    pthread_mutex_unlock(&seen.lock);
    return BROOK_OK;
}

static int seen_count(void) {
    pthread_mutex_lock(&seen.lock);
    int n = seen.count;
    pthread_mutex_unlock(&seen.lock);
    return n;
}

static bool seen_at_least(void *arg) {
    return seen_count() >= *(int *)arg;
}

/* The record with this key, asserted seen exactly once. */
static const seen_t *seen_once(const char *key) {
    const seen_t *found = NULL;
    for (int i = 0; i < seen.count; i++)
        if (!strcmp(seen.recs[i].key, key)) {
            if (found)
                fail_msg("%s handled twice", key);
            found = &seen.recs[i];
        }
    if (!found)
        fail_msg("%s not handled", key);
    return found;
}

/* Every field of what the listener decoded for order(prefix, i). */
static void assert_order(const seen_t *s, const char *prefix, int i) {
    reg_Order want;
    char id[32], coupon[32];
    order(&want, prefix, i, id, sizeof(id), coupon, sizeof(coupon));
    assert_string_equal(s->id, want.id);
    assert_int_equal(s->amount, want.amount);
    assert_int_equal(s->currency, (int)want.currency);
    assert_true(s->ratio == want.ratio);
    assert_int_equal(s->has_coupon, want.has_coupon);
    assert_string_equal(s->coupon, want.has_coupon ? want.coupon : "");
}

/* ---- apps ---- */

static brook_app_t *app_new(const char *extra) {
    char decl[4096];
    snprintf(decl, sizeof(decl),
             "service = { name = \"reg-svc\"; bootstrap = \"%s\"; };\n"
             "schema_registry = { url = \"%s\"; };\n%s",
             brook_test_bootstrap(cluster), registry_url, extra);
    brook_app_t *app = ix_app(decl);
    assert_int_equal(brook_app_register_type(app, &reg_Order_type), 0);
    return app;
}

/* A service with one listener "l" on `topic` (2 partitions), value reg.Order, 1 attempt, DLT;
 * `extra` goes into the listener's group. */
static brook_app_t *listener_app_with(const char *topic, int concurrency, const char *extra_l) {
    char extra[1024];
    snprintf(extra, sizeof(extra),
             "topics = ( { name = \"%s\"; partitions = 2; } );\n"
             "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; group = \"%s.g\";\n"
             "  value = \"reg.Order\"; handler = \"on_order\"; concurrency = %d;\n"
             "  retry = { attempts = 1; }; %s } );\n",
             topic, topic, topic, concurrency, extra_l);
    brook_app_t *app = app_new(extra);
    assert_int_equal(brook_app_set_handler(app, "l", on_order, NULL), 0);
    ix_start(app);
    return app;
}

static brook_app_t *listener_app(const char *topic, int concurrency) {
    return listener_app_with(topic, concurrency, "");
}

/* A service with one template "t" on `topic` (2 partitions). */
static brook_app_t *template_app(const char *topic) {
    char extra[1024];
    snprintf(extra, sizeof(extra),
             "topics = ( { name = \"%s\"; partitions = 2; } );\n"
             "templates = ( { name = \"t\"; topic = \"%s\"; value = \"reg.Order\"; } );\n",
             topic, topic);
    brook_app_t *app = app_new(extra);
    ix_start(app);
    return app;
}

static void send_orders(brook_app_t *app, const char *prefix, int first, int n) {
    brook_template_t *t = brook_app_template(app, "t");
    for (int i = first; i < first + n; i++) {
        reg_Order v;
        char id[32], coupon[32];
        order(&v, prefix, i, id, sizeof(id), coupon, sizeof(coupon));
        assert_int_equal(brook_template_send(t, id, &v, NULL), 0);
    }
    assert_int_equal(brook_template_flush(t, 30000), 0);
}

static void stop(brook_app_t *app) {
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

static brook_listener_stats_t stats(brook_app_t *app) {
    brook_listener_stats_t s;
    brook_listener_stats(brook_app_listener(app, "l"), &s);
    return s;
}

/* A counter of the app's /metrics text (its one sample), or -1. */
static long long metric(brook_app_t *app, const char *name) {
    brook_buf_t b;
    brook_buf_init(&b);
    assert_int_equal(brook_app_metrics(app, &b), 0);
    assert_int_equal(brook_buf_append(&b, "", 1), 0);
    long long v = -1;
    for (const char *line = (const char *)b.data; line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (!strncmp(line, name, strlen(name)) && line[strlen(name)] == '{')
            v = atoll(strchr(line, ' ') + 1);
    }
    brook_buf_free(&b);
    return v;
}

/* ---- tests ---- */

static void test_python_to_brook(void **state) {
    (void)state;
    const int n = 60;
    brook_app_t *app = listener_app("reg.py", 2);
    char *out = py("produce", brook_test_bootstrap(cluster), registry_url, "reg.py",
                   BROOK_REGISTRY_DIR "/schemas/v1/order.avsc", "60", NULL);
    free(out);
    int want = n;
    assert_true(brook_test_wait(seen_at_least, &want, 60000));
    stop(app);
    assert_int_equal(seen.count, n);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "py-%d", i);
        assert_order(seen_once(key), "py", i);
    }
}

static void test_brook_to_python(void **state) {
    (void)state;
    const int n = 40;
    brook_app_t *app = template_app("reg.out");
    send_orders(app, "b", 0, n);
    stop(app);
    char *id = py("latest", registry_url, "reg.out-value", NULL);
    int32_t registered = atoi(id);
    free(id);
    char *out = py("consume", brook_test_bootstrap(cluster), registry_url, "reg.out", "40", NULL);
    char **lines;
    size_t count = ix_lines(out, &lines);
    assert_int_equal(count, n);
    bool got[40] = {0};
    for (size_t k = 0; k < count; k++) {
        json_error_t jerr;
        json_t *j = json_loads(lines[k], 0, &jerr);
        if (!j)
            fail_msg("not JSON: %s", lines[k]);
        int i = atoi(json_string_value(json_object_get(j, "key")) + 2);
        assert_true(i >= 0 && i < n && !got[i]);
        got[i] = true;
        /* Confluent framing with the id the registry gave the template's schema. */
        assert_int_equal(json_integer_value(json_object_get(j, "schema_id")), registered);
        reg_Order want;
        char wid[32], coupon[32];
        order(&want, "b", i, wid, sizeof(wid), coupon, sizeof(coupon));
        json_t *v = json_object_get(j, "value");
        assert_int_equal(json_object_size(v), 5);
        assert_string_equal(json_string_value(json_object_get(v, "id")), want.id);
        assert_int_equal(json_integer_value(json_object_get(v, "amount")), want.amount);
        assert_string_equal(json_string_value(json_object_get(v, "currency")),
                            want.currency == reg_Currency_USD ? "USD" : "EUR");
        assert_true(json_real_value(json_object_get(v, "ratio")) == want.ratio ||
                    (json_is_integer(json_object_get(v, "ratio")) && want.ratio == 0));
        if (want.has_coupon)
            assert_string_equal(json_string_value(json_object_get(v, "coupon")), want.coupon);
        else
            assert_true(json_is_null(json_object_get(v, "coupon")));
        json_decref(j);
    }
    free(lines);
    free(out);
}

/* A template registers version 1; Python registers version 2 (accepted: its new fields have
 * defaults) and writes with it; a listener built with version 1 reads both. It has no
 * template, so the only requests it makes are for the two writer schemas: one each, whatever
 * the number of records and members. */
static void test_evolution(void **state) {
    (void)state;
    brook_app_t *writer = template_app("reg.evo");
    send_orders(writer, "b", 0, 30);
    stop(writer);
    char *out = py("produce", brook_test_bootstrap(cluster), registry_url, "reg.evo",
                   BROOK_REGISTRY_DIR "/schemas/v2/order.avsc", "50", NULL);
    free(out);
    char *v2 = py("latest", registry_url, "reg.evo-value", NULL);
    int32_t v2_id = atoi(v2);
    free(v2);

    long before = registry_requests();
    brook_app_t *app = listener_app("reg.evo", 2);
    int want = 80;
    assert_true(brook_test_wait(seen_at_least, &want, 60000));
    long long made = metric(app, "brook_schema_registry_requests_total");
    stop(app);
    long after = registry_requests();
    assert_int_equal(seen.count, 80);
    int v1_id = -1;
    for (int i = 0; i < 30; i++) {
        char key[32];
        snprintf(key, sizeof(key), "b-%d", i);
        const seen_t *s = seen_once(key);
        assert_order(s, "b", i);
        v1_id = s->schema_id;
    }
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof(key), "py-%d", i);
        const seen_t *s = seen_once(key);
        assert_order(s, "py", i);
        assert_int_equal(s->schema_id, v2_id);
    }
    assert_true(v1_id != v2_id);
    print_message("listener: %lld registry request(s) for 80 records; the registry served %ld\n",
                  made, after - before);
    assert_int_equal(made, 2);
    assert_int_equal(after - before, 2);
}

static void test_incompatible(void **state) {
    (void)state;
    /* Version 1 of reg.Order with amount a string: the template's (a long) cannot read it. */
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/bad.avsc", getenv("BROOK_TEST_REGISTRY"));
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"reg\",\"fields\":["
          "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"amount\",\"type\":\"string\"}]}",
          f);
    fclose(f);
    free(py("register", registry_url, "reg.bad-value", bad, NULL));

    brook_app_t *app = app_new("topics = ( { name = \"reg.bad\"; } );\n"
                               "templates = ( { name = \"t\"; topic = \"reg.bad\"; "
                               "value = \"reg.Order\"; } );\n");
    brook_error_t err = {0};
    assert_int_equal(brook_app_start(app, &err), BROOK_ERR_SCHEMA);
    print_message("start: %s\n", err.message);
    assert_non_null(strstr(err.message, "templates t"));
    assert_non_null(strstr(err.message, "\"reg.bad-value\" as incompatible"));
    brook_app_destroy(app);

    /* auto_register = false: a subject without the schema stops the start too. */
    char decl[2048];
    snprintf(decl, sizeof(decl),
             "service = { name = \"reg-svc\"; bootstrap = \"%s\"; };\n"
             "schema_registry = { url = \"%s\"; auto_register = false; };\n"
             "templates = ( { name = \"t\"; topic = \"reg.unregistered\"; "
             "value = \"reg.Order\"; } );\n",
             brook_test_bootstrap(cluster), registry_url);
    app = ix_app(decl);
    assert_int_equal(brook_app_register_type(app, &reg_Order_type), 0);
    assert_int_equal(brook_app_start(app, &err), BROOK_ERR_NOT_FOUND);
    print_message("start: %s\n", err.message);
    assert_non_null(strstr(err.message, "not registered under subject \"reg.unregistered-value\""));
    brook_app_destroy(app);
}

/* Confluent framing around order(i)'s binary, with `id`; version 2's fields appended when
 * `note` is set (a record's binary is its fields' in order). */
static void framed(brook_buf_t *out, int32_t id, const char *prefix, int i, const char *note) {
    reg_Order v;
    char oid[32], coupon[32];
    order(&v, prefix, i, oid, sizeof(oid), coupon, sizeof(coupon));
    brook_buf_reset(out);
    assert_int_equal(brook_avro_write_confluent_header(out, id), 0);
    assert_int_equal(reg_Order_encode(&v, out), 0);
    if (note) {
        size_t len = strlen(note);
        uint8_t b[2] = {(uint8_t)(len * 2), (uint8_t)(2 * (i % 5))}; /* zigzag, short */
        assert_int_equal(brook_buf_append(out, b, 1), 0);
        assert_int_equal(brook_buf_append(out, note, len), 0);
        assert_int_equal(brook_buf_append(out, b + 1, 1), 0);
    }
}

static void test_unknown_id(void **state) {
    (void)state;
    brook_app_t *app = listener_app("reg.unk", 1);
    brook_buf_t value;
    brook_buf_init(&value);
    framed(&value, 987654, "u", 1, NULL);
    assert_int_equal(
        brook_test_produce(cluster, "reg.unk", 0, "u-1", 3, value.data, value.len, NULL, 0), 0);
    brook_test_record_t *dlt = NULL;
    assert_int_equal(brook_test_consume(cluster, "reg.unk-dlt", 1, 60000, &dlt), 1);
    /* The DLT record can be read before its sender counts it: the stats once stopped. */
    assert_int_equal(brook_app_stop(app), 0);
    brook_listener_stats_t st = stats(app);
    brook_app_destroy(app);
    assert_int_equal(seen.count, 0);
    assert_int_equal(st.dead_lettered, 1);
    assert_int_equal(dlt[0].value_len, value.len);
    assert_memory_equal(dlt[0].value, value.data, value.len);
    const brook_header_t *fqcn = brook_test_record_header(&dlt[0], "kafka_dlt-exception-fqcn");
    const brook_header_t *msg = brook_test_record_header(&dlt[0], "kafka_dlt-exception-message");
    assert_non_null(fqcn);
    assert_non_null(msg);
    assert_memory_equal(fqcn->value, "brook.DeserializationError", fqcn->len);
    char text[512];
    snprintf(text, sizeof(text), "%.*s", (int)msg->len, (const char *)msg->value);
    print_message("DLT reason: %s\n", text);
    assert_non_null(strstr(text, "schema id 987654"));
    assert_non_null(strstr(text, "not in the schema registry"));
    brook_test_records_free(dlt, 1);
    brook_buf_free(&value);
}

static bool registry_failed_thrice(void *app) {
    return metric(app, "brook_schema_registry_failures_total") >= 3;
}

/* Mid-stream: the listener has handled records of one id; the registry goes down; records
 * of a new id arrive, each partition's followed by records of the known id. Those wait
 * behind them; after the restart every record is handled once and none went to the DLT. */
/* The records in `topic`, once the cluster can say (a topic just provisioned may not be known
 * to every broker yet). */
static int64_t records_in(const char *topic) {
    int64_t n = -1;
    if (!BROOK_TEST_WAIT_UNTIL((n = brook_test_end_offsets(cluster, topic)) >= 0, 30000))
        fail_msg("cannot count the records of %s: %s", topic, brook_err2str((int)n));
    return n;
}

static void registry_down(const char *topic, const char *extra_l) {
    char subject[256], dlt[256];
    snprintf(subject, sizeof(subject), "%s-value", topic);
    snprintf(dlt, sizeof(dlt), "%s-dlt", topic);
    brook_app_t *writer = template_app(topic);
    brook_app_t *app = listener_app_with(topic, 1, extra_l);
    int64_t dead_before = records_in(dlt);
    send_orders(writer, "a", 0, 20);
    int want = 20;
    assert_true(brook_test_wait(seen_at_least, &want, 60000));

    char *v2 =
        py("register", registry_url, subject, BROOK_REGISTRY_DIR "/schemas/v2/order.avsc", NULL);
    int32_t v2_id = atoi(v2);
    free(v2);
    free(tool("kill"));
    brook_buf_t value;
    brook_buf_init(&value);
    for (int i = 0; i < 20; i++) {
        char key[32], note[32];
        snprintf(key, sizeof(key), "n-%d", i);
        snprintf(note, sizeof(note), "note-%d", i);
        framed(&value, v2_id, "n", i, note);
        assert_int_equal(brook_test_produce(cluster, topic, i % 2, key, strlen(key), value.data,
                                            value.len, NULL, 0),
                         0);
    }
    brook_buf_free(&value);
    send_orders(writer, "a", 20, 20); /* the template knows its id: no registry needed */
    assert_true(brook_test_wait(registry_failed_thrice, app, 60000));
    brook_listener_stats_t st = stats(app);
    print_message("registry down: %d handled, %llu failed, %llu dead-lettered\n", seen_count(),
                  (unsigned long long)st.failed, (unsigned long long)st.dead_lettered);
    /* The records of the known id behind the waiting ones wait too (a-20.. on both
     * partitions), so nothing beyond the first 20 was handled. */
    assert_int_equal(seen_count(), 20);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.dead_lettered, 0);

    free(tool("restart"));
    want = 60;
    assert_true(brook_test_wait(seen_at_least, &want, 60000));
    st = stats(app);
    stop(app);
    stop(writer);
    assert_int_equal(seen.count, 60);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.dead_lettered, 0);
    for (int i = 0; i < 40; i++) {
        char key[32];
        snprintf(key, sizeof(key), "a-%d", i);
        assert_order(seen_once(key), "a", i);
    }
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof(key), "n-%d", i);
        const seen_t *s = seen_once(key);
        assert_order(s, "n", i);
        assert_int_equal(s->schema_id, v2_id);
    }
    assert_int_equal(records_in(dlt), dead_before);
}

static void test_registry_down(void **state) {
    (void)state;
    registry_down("reg.down", "");
}

/* The same with an exactly-once listener: a record that waits ends its member's transaction
 * like any other record it has not handled yet. */
static void test_registry_down_eos(void **state) {
    (void)state;
    registry_down("reg.down-eos", "exactly_once = true;");
}

static int setup(void **state) {
    (void)state;
    const char *dir = getenv("BROOK_TEST_REGISTRY");
    if (!dir || !getenv("BROOK_TEST_KAFKA"))
        fail_msg("runs on the registry and Kafka fixtures (BROOK_TEST_REGISTRY, BROOK_TEST_KAFKA)");
    char *url = tool("url");
    snprintf(registry_url, sizeof(registry_url), "%.*s", (int)strcspn(url, "\n"), url);
    free(url);
    cluster = brook_test_cluster_new(1);
    return cluster ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    brook_test_cluster_destroy(cluster);
    return 0;
}

static int reset(void **state) {
    (void)state;
    seen.count = 0;
    return 0;
}

int main(int argc, char **argv) {
    const struct CMUnitTest all[] = {
        cmocka_unit_test_setup(test_python_to_brook, reset),
        cmocka_unit_test_setup(test_brook_to_python, reset),
        cmocka_unit_test_setup(test_evolution, reset),
        cmocka_unit_test_setup(test_incompatible, reset),
        cmocka_unit_test_setup(test_unknown_id, reset),
        cmocka_unit_test_setup(test_registry_down, reset),
        cmocka_unit_test_setup(test_registry_down_eos, reset),
    };
    static const char *const names[] = {"python_to_brook",  "brook_to_python", "evolution",
                                        "incompatible",     "unknown_id",      "registry_down",
                                        "registry_down_eos"};
    struct CMUnitTest one[1];
    size_t n = sizeof(all) / sizeof(all[0]);
    if (argc > 1) {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(argv[1], names[i])) {
                one[0] = all[i];
                return _cmocka_run_group_tests(names[i], one, 1, setup, teardown);
            }
        fprintf(stderr, "registry_it: no test %s\n", argv[1]);
        return 2;
    }
    return cmocka_run_group_tests(all, setup, teardown);
}
