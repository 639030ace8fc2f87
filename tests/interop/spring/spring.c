/* Brook side by side with a Spring for Apache Kafka service (tests/interop/spring/peer), live,
 * on the real Kafka cluster of the test fixture:
 *
 *   typed_to_spring       a template's Avro records (every type of test.All, both framings)
 *                         checked field by field by a Spring @KafkaListener
 *   typed_from_spring     Spring KafkaTemplate's records, checked field by field by a listener
 *   dlt_to_spring         Brook's dead-letter records read by Spring with its header names
 *   retryable_to_brook    Spring @RetryableTopic retry and DLT records read by a listener
 *                         through brook_record_failure_info()
 *   spring_resumes_brook  records Brook put in its retry topic resumed by Spring's retry
 *                         topics, on to Spring's DLT
 *   partitioning          the same keys from Spring's default partitioner and from Brook land
 *                         on the same partitions
 *
 *   spring_interop TEST   runs one of them (each is its own ctest test)
 *
 * Values are compared field by field on both sides: Spring compares what it decoded with the
 * Avro JSON of what was sent (carried in an "expected-json" header) using Avro's own
 * GenericData, and reports the decoded value as Avro JSON, which Brook reads back into
 * test.All and compares with what it sent. */
#include <pthread.h>

#include <librdkafka/rdkafka.h>

#include "spring.brook.h"

#include "../interop.h"
#include "all_values.h"
#include "spring_peer.h"

static brook_test_cluster_t *cluster;
static char work[1024]; /* this test's folder: schemas, inputs, the peer's events and log */
static sp_peer_t peer;
static brook_app_t *app;

#define VARIANTS 5

/* ---- values ---- */

static void all_value(test_All *v, int variant) {
    static char *big;
    if (!big)
        big = big_string(3000);
    fill(v, variant, big);
}

static void to_json(const test_All *v, brook_buf_t *out) {
    brook_buf_reset(out);
    assert_int_equal(test_All_to_json(v, out), 0);
    assert_int_equal(brook_buf_append(out, "", 1), 0); /* NUL, not counted below */
    out->len--;
}

/* Fails naming every field of `got_json` (Avro JSON of a test.All) that differs from `want`:
 * both are read into test.All and written again by the generated code, field by field with
 * sorted keys, so the comparison is of values, not of two JSON writers' spellings (nor of the
 * order of a map's entries, which Java's HashMap does not keep). */
static void assert_same_all(const test_All *want, const char *got_json, size_t got_len,
                            const char *what) {
    test_All got = {0}; /* from_json fills a zeroed (or cleared) value */
    brook_error_t err = {0};
    if (test_All_from_json(&got, got_json, got_len, &err))
        fail_msg("%s: not a test.All: %s\n%.*s", what, err.message, (int)got_len, got_json);
    brook_buf_t a = {0}, b = {0};
    to_json(want, &a);
    to_json(&got, &b);
    json_t *wj = json_loads((const char *)a.data, JSON_ALLOW_NUL, NULL),
           *gj = json_loads((const char *)b.data, JSON_ALLOW_NUL, NULL);
    assert_non_null(wj);
    assert_non_null(gj);
    assert_int_equal(json_object_size(wj), json_object_size(gj));
    const char *name;
    json_t *wv;
    char diffs[4096] = "";
    json_object_foreach(wj, name, wv) {
        char *ws = json_dumps(wv, JSON_ENCODE_ANY | JSON_SORT_KEYS),
             *gs = json_dumps(json_object_get(gj, name), JSON_ENCODE_ANY | JSON_SORT_KEYS);
        if (!gs || strcmp(ws, gs))
            snprintf(diffs + strlen(diffs), sizeof(diffs) - strlen(diffs),
                     "\n  %s: sent %.200s, got %.200s", name, ws, gs ? gs : "(absent)");
        free(ws);
        free(gs);
    }
    if (*diffs)
        fail_msg("%s: values differ:%s", what, diffs);
    json_decref(wj);
    json_decref(gj);
    brook_buf_free(&a);
    brook_buf_free(&b);
    test_All_clear(&got);
}

static void write_text(const char *name, const char *text, size_t len) {
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", work, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* test.All's schema for the peer: the descriptor's self-contained canonical form, so Spring
 * computes the same single-object fingerprint from it. Returns "--peer.schemas=PATH". */
static const char *schemas_arg(void) {
    static char arg[1300];
    write_text("all.avsc", test_All_type.schema_json, strlen(test_All_type.schema_json));
    snprintf(arg, sizeof(arg), "--peer.schemas=%s/all.avsc", work);
    return arg;
}

static const char *work_arg(const char *option, const char *file) {
    static char arg[4][1300];
    static int k;
    k = (k + 1) % 4;
    snprintf(arg[k], sizeof(arg[k]), "--%s=%s/%s", option, work, file);
    return arg[k];
}

static void start_app(const char *decl) {
    app = ix_app(decl);
    assert_int_equal(brook_app_register_type(app, &test_All_type), 0);
}

/* ---- handled records, as a listener saw them ---- */

typedef struct {
    char key[64];
    char topic[128];
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    int attempt;
    char *json; /* the decoded value as Avro JSON (malloc'ed), NULL for none */
    brook_failure_info_t info;
    char original_topic[128], fqcn[128], cause_fqcn[128], message[512];
    char *stacktrace; /* malloc'ed */
} seen_t;

static struct {
    pthread_mutex_t lock;
    int n;
    seen_t v[256];
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void copy_text(char *dst, size_t size, brook_text_t t) {
    snprintf(dst, size, "%.*s", (int)t.len, t.data ? t.data : "");
}

static void remember(brook_ctx_t *ctx, const char *key, const test_All *value) {
    const brook_record_t *r = brook_ctx_record(ctx);
    seen_t s = {0};
    snprintf(s.key, sizeof(s.key), "%s", key ? key : "");
    snprintf(s.topic, sizeof(s.topic), "%s", r->topic);
    s.partition = r->partition;
    s.offset = r->offset;
    s.timestamp = r->timestamp;
    s.attempt = brook_ctx_attempt(ctx);
    if (value) {
        brook_buf_t b = {0};
        to_json(value, &b);
        s.json = strndup((const char *)b.data, b.len);
        brook_buf_free(&b);
    }
    brook_record_failure_info(r, &s.info);
    copy_text(s.original_topic, sizeof(s.original_topic), s.info.original_topic);
    copy_text(s.fqcn, sizeof(s.fqcn), s.info.exception_fqcn);
    copy_text(s.cause_fqcn, sizeof(s.cause_fqcn), s.info.exception_cause_fqcn);
    copy_text(s.message, sizeof(s.message), s.info.exception_message);
    s.stacktrace = strndup(s.info.exception_stacktrace.data ? s.info.exception_stacktrace.data : "",
                           s.info.exception_stacktrace.len);
    memset(&s.info.original_topic, 0, sizeof(s.info.original_topic)); /* borrowed: gone */
    pthread_mutex_lock(&seen.lock);
    if (seen.n < 256)
        seen.v[seen.n++] = s;
    pthread_mutex_unlock(&seen.lock);
}

static int seen_count(void) {
    pthread_mutex_lock(&seen.lock);
    int n = seen.n;
    pthread_mutex_unlock(&seen.lock);
    return n;
}

/* The first record seen with this key (and topic, unless NULL); NULL if none. */
static seen_t *seen_find(const char *key, const char *topic) {
    seen_t *found = NULL;
    pthread_mutex_lock(&seen.lock);
    for (int i = 0; i < seen.n && !found; i++)
        if (!strcmp(seen.v[i].key, key) && (!topic || !strcmp(seen.v[i].topic, topic)))
            found = &seen.v[i];
    pthread_mutex_unlock(&seen.lock);
    return found;
}

static brook_result_t on_seen(brook_ctx_t *ctx, const void *key, const void *value, void *o) {
    remember(ctx, key, value);
    return BROOK_OK;
}

static int variant_of(const char *key) {
    const char *dash = strrchr(key, '-');
    assert_non_null(dash);
    return atoi(dash + 1);
}

/* ---- typed: Brook -> Spring ---- */

static void test_typed_to_spring(void **state) {
    const char *topic = "spring.typed.brook";
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"typed-to-spring\"; };\n"
             "topics = ( { name = \"%s\"; partitions = 3; } );\n"
             "templates = (\n"
             "  { name = \"so\"; topic = \"%s\"; value = \"test.All\"; },\n"
             "  { name = \"cf\"; topic = \"%s\"; value = \"test.All\"; framing = \"confluent\";"
             " schema_id = 7; } );\n",
             topic, topic, topic);
    start_app(decl);
    ix_start(app);
    sp_start(&peer, work, "peer", brook_test_bootstrap(cluster), "avro-check",
             "--peer.topic=spring.typed.brook", "--peer.group=spring-typed-check", schemas_arg(),
             "--peer.confluent-ids=7:test.All", NULL);
    sp_wait(&peer, "ready", 1, 120000);

    /* Each variant in each framing, one topic: Spring tells the framing by the first byte. */
    const char *framings[] = {"so", "cf"};
    brook_buf_t json = {0};
    for (int f = 0; f < 2; f++)
        for (int v = 0; v < VARIANTS; v++) {
            test_All value;
            all_value(&value, v);
            to_json(&value, &json);
            char key[32];
            snprintf(key, sizeof(key), "%s-%d", framings[f], v);
            brook_header_t h = {"expected-json", json.data, json.len};
            brook_send_opts_t o = BROOK_SEND_OPTS_INIT;
            o.headers = &h;
            o.header_count = 1;
            assert_int_equal(
                brook_template_send(brook_app_template(app, framings[f]), key, &value, &o), 0);
            test_All_clear(&value);
        }
    brook_buf_free(&json);
    assert_int_equal(brook_template_flush(brook_app_template(app, "so"), 30000), 0);

    sp_wait(&peer, "record", 2 * VARIANTS, 60000);
    for (size_t i = 0; i < 2 * VARIANTS; i++) {
        json_t *ev = sp_event(&peer, "record", i);
        const char *key = sp_str(ev, "key"), *err = sp_str(ev, "error");
        if (*err)
            fail_msg("Spring could not decode %s: %s", key, err);
        assert_string_equal(sp_str(ev, "framing"),
                            !strncmp(key, "so-", 3) ? "single-object" : "confluent");
        assert_string_equal(sp_str(ev, "type"), "test.All");
        /* Spring's field-by-field comparison: every field of test.All, none differing. */
        assert_int_equal(sp_int(ev, "fields"), 38);
        json_t *mism = json_object_get(ev, "mismatches");
        if (json_array_size(mism)) {
            char *s = json_dumps(mism, 0);
            fail_msg("Spring found fields of %s differing from what was sent: %s", key, s);
        }
        /* And Brook's, of what Spring decoded. */
        char *decoded = json_dumps(json_object_get(ev, "decoded"), JSON_ENCODE_ANY);
        assert_non_null(decoded);
        test_All want;
        all_value(&want, variant_of(key));
        assert_same_all(&want, decoded, strlen(decoded), key);
        test_All_clear(&want);
        free(decoded);
    }
    print_message("Spring decoded %d test.All records (%d variants, single-object and Confluent "
                  "framing), every field equal\n",
                  2 * VARIANTS, VARIANTS);
    assert_int_equal(sp_stop(&peer, SIGTERM), 0);
}

/* ---- typed: Spring -> Brook ---- */

static void test_typed_from_spring(void **state) {
    const char *topic = "spring.typed.spring";
    char decl[1024];
    /* The "ids" template is never used to send: it declares schema id 7 for test.All, which
     * is how a listener knows that id until Brook has a registry client. */
    snprintf(decl, sizeof(decl),
             "service = { name = \"typed-from-spring\"; };\n"
             "topics = ( { name = \"%s\"; partitions = 3; } );\n"
             "templates = ( { name = \"ids\"; topic = \"%s\"; value = \"test.All\";"
             " framing = \"confluent\"; schema_id = 7; } );\n"
             "listeners = ( { id = \"in\"; topics = [ \"%s\" ]; value = \"test.All\";"
             " handler = \"on_seen\"; } );\n",
             topic, topic, topic);
    start_app(decl);
    assert_int_equal(brook_app_set_handler(app, "in", on_seen, NULL), 0);
    ix_start(app);

    /* What Spring sends: each variant's Avro JSON, read by Avro's JsonDecoder there. */
    brook_buf_t lines = {0}, json = {0};
    const char *framings[] = {"single-object", "confluent"};
    for (int f = 0; f < 2; f++)
        for (int v = 0; v < VARIANTS; v++) {
            test_All value;
            all_value(&value, v);
            to_json(&value, &json);
            char head[160];
            int n = snprintf(head, sizeof(head),
                             "{\"key\":\"%s-%d\",\"type\":\"test.All\",\"framing\":\"%s\",%s"
                             "\"value\":",
                             f ? "cf" : "so", v, framings[f], f ? "\"id\":7," : "");
            assert_int_equal(brook_buf_append(&lines, head, (size_t)n), 0);
            assert_int_equal(brook_buf_append(&lines, json.data, json.len), 0);
            assert_int_equal(brook_buf_append(&lines, "}\n", 2), 0);
            test_All_clear(&value);
        }
    write_text("input.jsonl", (const char *)lines.data, lines.len);
    brook_buf_free(&lines);
    brook_buf_free(&json);
    assert_true(brook_test_wait_assigned(app, 60000));

    sp_start(&peer, work, "peer", brook_test_bootstrap(cluster), "avro-send",
             "--peer.topic=spring.typed.spring", work_arg("peer.input", "input.jsonl"),
             schemas_arg(), "--peer.confluent-ids=7:test.All", NULL);
    sp_wait(&peer, "done", 1, 120000);
    assert_int_equal(sp_wait_exit(&peer, 30000), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(seen_count() >= 2 * VARIANTS, 30000));

    for (size_t i = 0; i < 2 * VARIANTS; i++) {
        json_t *ev = sp_event(&peer, "sent", i);
        assert_non_null(ev);
        const char *key = sp_str(ev, "key");
        seen_t *s = seen_find(key, NULL);
        if (!s)
            fail_msg("Spring sent %s; the listener never got it", key);
        assert_int_equal(s->partition, sp_int(ev, "partition"));
        assert_int_equal(s->offset, sp_int(ev, "offset"));
        test_All want;
        all_value(&want, variant_of(key));
        assert_same_all(&want, s->json, strlen(s->json), key);
        test_All_clear(&want);
    }
    assert_int_equal(seen_count(), 2 * VARIANTS);
    print_message("the listener decoded %d records Spring's KafkaTemplate sent, every field "
                  "equal\n",
                  2 * VARIANTS);
}

/* ---- Brook's DLT read by Spring ---- */

static brook_result_t on_charge(brook_ctx_t *ctx, const void *key, const void *value, void *o) {
    const char *k = key;
    if (brook_ctx_attempt(ctx) == 1)
        remember(ctx, k, value);
    if (!strncmp(k, "declined", 8))
        return brook_ctx_fail(ctx, "shop.PaymentDeclined", "card of %s declined", k);
    if (!strncmp(k, "flaky", 5))
        return brook_ctx_fail(ctx, "shop.GatewayTimeout", "gateway timed out for %s", k);
    return BROOK_OK;
}

static void hex(const void *data, size_t len, char *out) {
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", ((const uint8_t *)data)[i]);
    out[2 * len] = 0;
}

/* The record of `recs` with this key; fails the test when there is none. */
static brook_test_record_t *by_key(brook_test_record_t *recs, size_t n, const char *key) {
    for (size_t i = 0; i < n; i++)
        if (recs[i].key && !strcmp(recs[i].key, key))
            return &recs[i];
    fail_msg("no record with key %s", key);
    return NULL;
}

/* brook_record_failure_info of a record read by the test fixture. */
static void failure_info(const brook_test_record_t *r, brook_failure_info_t *info) {
    brook_record_t view = {
        .topic = r->topic, .headers = r->headers, .header_count = r->header_count};
    brook_record_failure_info(&view, info);
}

/* Sends variant i of test.All keyed keys[i] through the app's template "out", and waits
 * until all are delivered. */
static void send_all(const char *const *keys, int n) {
    brook_template_t *out = brook_app_template(app, "out");
    for (int i = 0; i < n; i++) {
        test_All v;
        all_value(&v, i);
        assert_int_equal(brook_template_send(out, keys[i], &v, NULL), 0);
        test_All_clear(&v);
    }
    assert_int_equal(brook_template_flush(out, 30000), 0);
}

static void test_dlt_to_spring(void **state) {
    const char *topic = "spring.dlt";
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"dlt-to-spring\"; };\n"
             "topics = ( { name = \"%s\"; partitions = 3; } );\n"
             "templates = ( { name = \"out\"; topic = \"%s\"; value = \"test.All\"; } );\n"
             "listeners = ( { id = \"charge\"; group = \"dlt-to-spring.charge\";"
             " topics = [ \"%s\" ]; value = \"test.All\"; handler = \"on_charge\";\n"
             "  retry = { attempts = 2; backoff = { delay_ms = 100; };"
             " not_retryable = [ \"shop.PaymentDeclined\" ]; }; } );\n",
             topic, topic, topic);
    start_app(decl);
    assert_int_equal(brook_app_set_handler(app, "charge", on_charge, NULL), 0);
    ix_start(app);
    const char *keys[] = {"declined-0", "flaky-1", "ok-2", "declined-3"};
    send_all(keys, 4);
    static const char poison[] = "not avro at all";
    assert_int_equal(
        brook_test_produce(cluster, topic, -1, "poison-4", 8, poison, sizeof(poison) - 1, NULL, 0),
        0);
    assert_true(
        BROOK_TEST_WAIT_UNTIL(brook_test_end_offsets(cluster, "spring.dlt-dlt") == 4, 60000));

    /* Where each record was: what the DLT's original-* headers must say. */
    brook_test_record_t *orig;
    assert_int_equal(brook_test_consume(cluster, topic, 5, 20000, &orig), 5);

    sp_start(&peer, work, "peer", brook_test_bootstrap(cluster), "dlt-read",
             "--peer.topic=spring.dlt-dlt", "--peer.group=spring-dlt-reader", schemas_arg(), NULL);
    sp_wait(&peer, "dlt", 4, 120000);
    for (size_t i = 0; i < 4; i++) {
        json_t *ev = sp_event(&peer, "dlt", i);
        const char *key = sp_str(ev, "key");
        brook_test_record_t *o = by_key(orig, 5, key);
        assert_string_equal(sp_str(ev, "original_topic"), topic);
        assert_int_equal(sp_int(ev, "original_partition"), o->partition);
        assert_int_equal(sp_int(ev, "original_offset"), o->offset);
        assert_int_equal(sp_int(ev, "original_timestamp"), o->timestamp);
        assert_string_equal(sp_str(ev, "original_timestamp_type"), "CreateTime");
        assert_string_equal(sp_str(ev, "original_consumer_group"), "dlt-to-spring.charge");
        char fqcn[64], msg[128], trace[256];
        if (!strncmp(key, "poison", 6)) {
            snprintf(fqcn, sizeof(fqcn), "brook.DeserializationError");
            /* Spring gets the bytes as they were; they decode as nothing. */
            char want[64];
            hex(poison, sizeof(poison) - 1, want);
            assert_string_equal(sp_str(ev, "value_hex"), want);
            assert_true(json_is_null(json_object_get(ev, "decoded")));
            snprintf(msg, sizeof(msg), "%s", sp_str(ev, "exception_message"));
            assert_true(strlen(msg) > 0);
        } else {
            bool declined = !strncmp(key, "declined", 8);
            snprintf(fqcn, sizeof(fqcn), declined ? "shop.PaymentDeclined" : "shop.GatewayTimeout");
            snprintf(msg, sizeof(msg),
                     declined ? "card of %s declined" : "gateway timed out for %s", key);
            assert_string_equal(sp_str(ev, "exception_message"), msg);
            char *decoded = json_dumps(json_object_get(ev, "decoded"), JSON_ENCODE_ANY);
            test_All want;
            all_value(&want, variant_of(key));
            assert_same_all(&want, decoded, strlen(decoded), key);
            test_All_clear(&want);
            free(decoded);
        }
        assert_string_equal(sp_str(ev, "exception_fqcn"), fqcn);
        snprintf(trace, sizeof(trace), "%s: %s\n\tat on_charge(listener charge)", fqcn, msg);
        assert_string_equal(sp_str(ev, "exception_stacktrace"), trace);
    }
    brook_test_records_free(orig, 5);
    print_message("Spring read the 4 dead letters' original topic/partition/offset/timestamp, "
                  "group, exception and stack trace as Brook wrote them\n");
    assert_int_equal(sp_stop(&peer, SIGTERM), 0);
}

/* ---- Spring's retry topics and DLT read by Brook ---- */

/* Spring's handle event for key on topic, or NULL. */
static json_t *spring_handled(const char *key, const char *topic) {
    sp_poll_events(&peer);
    size_t i;
    json_t *ev;
    json_array_foreach(peer.seen, i, ev) {
        if (!strcmp(sp_str(ev, "event"), "handle") && !strcmp(sp_str(ev, "key"), key) &&
            !strcmp(sp_str(ev, "topic"), topic))
            return ev;
    }
    return NULL;
}

static void test_retryable_to_brook(void **state) {
    const char *topic = "spring.sretry";
    /* attempts 3, 500 ms then 1000 ms: spring.sretry-retry-500, -retry-1000, -dlt. */
    sp_start(&peer, work, "peer", brook_test_bootstrap(cluster), "retryable",
             "--peer.topic=spring.sretry", "--peer.group=spring-sretry", "--peer.attempts=3",
             "--peer.delay-ms=500", "--peer.multiplier=2.0", "--peer.partitions=2", schemas_arg(),
             NULL);
    sp_wait(&peer, "ready", 1, 120000);
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"spring-watch\"; };\n"
             "templates = ( { name = \"out\"; topic = \"%s\"; value = \"test.All\"; } );\n"
             "listeners = ( { id = \"watch\"; topics = [ \"%s-retry-500\", \"%s-retry-1000\","
             " \"%s-dlt\" ]; value = \"test.All\"; handler = \"on_seen\"; } );\n",
             topic, topic, topic, topic);
    start_app(decl);
    assert_int_equal(brook_app_set_handler(app, "watch", on_seen, NULL), 0);
    ix_start(app);
    assert_true(brook_test_wait_assigned(app, 60000));
    const char *keys[] = {"fail-0", "once-1", "ok-2"};
    send_all(keys, 3);
    brook_test_record_t *orig;
    assert_int_equal(brook_test_consume(cluster, topic, 3, 20000, &orig), 3);

    /* fail-0: retry-500, retry-1000, DLT; once-1: retry-500 (then handled); ok-2: nothing. */
    sp_wait(&peer, "dlt-handled", 1, 60000);
    assert_true(BROOK_TEST_WAIT_UNTIL(seen_count() >= 4, 30000));
    struct {
        const char *key, *topic;
        int attempts;
    } want[] = {{"fail-0", "spring.sretry-retry-500", 2},
                {"once-1", "spring.sretry-retry-500", 2},
                {"fail-0", "spring.sretry-retry-1000", 3},
                {"fail-0", "spring.sretry-dlt", -1}};
    for (int i = 0; i < 4; i++) {
        seen_t *s = seen_find(want[i].key, want[i].topic);
        if (!s)
            fail_msg("no %s in %s", want[i].key, want[i].topic);
        brook_test_record_t *o = by_key(orig, 3, want[i].key);
        /* The facts Spring's forward wrote, read through brook_record_failure_info. */
        assert_string_equal(s->original_topic, topic);
        assert_int_equal(s->info.original_partition, o->partition);
        assert_int_equal(s->info.original_offset, o->offset);
        assert_int_equal(s->info.original_timestamp, o->timestamp);
        assert_int_equal(s->info.first_timestamp, o->timestamp);
        assert_string_equal(s->cause_fqcn, "java.lang.IllegalStateException");
        assert_true(strlen(s->fqcn) > 0);
        char cause[96];
        snprintf(cause, sizeof(cause), "java.lang.IllegalStateException: peer failed %s",
                 want[i].key);
        if (!strstr(s->stacktrace, cause))
            fail_msg("%s in %s: stack trace without '%s':\n%.500s", want[i].key, want[i].topic,
                     cause, s->stacktrace);
        /* The value went through unchanged. */
        test_All v;
        all_value(&v, variant_of(want[i].key));
        assert_same_all(&v, s->json, strlen(s->json), want[i].key);
        test_All_clear(&v);
        if (want[i].attempts < 0)
            continue;
        /* Spring, resuming the same record, read the same attempt and due time. */
        json_t *ev = spring_handled(want[i].key, want[i].topic);
        assert_non_null(ev);
        assert_int_equal(s->info.attempts, want[i].attempts);
        assert_int_equal(sp_int(ev, "attempt"), want[i].attempts);
        assert_int_equal(s->info.backoff_timestamp, sp_int(ev, "backoff_ts"));
        assert_int_equal(s->info.first_timestamp, sp_int(ev, "original_ts"));
    }
    assert_null(seen_find("ok-2", NULL));
    assert_null(seen_find("once-1", "spring.sretry-retry-1000"));
    brook_test_records_free(orig, 3);
    print_message("a listener read Spring's retry and DLT records' attempts, due times, origin "
                  "and exception as Spring itself reads them\n");
    assert_int_equal(sp_stop(&peer, SIGTERM), 0);
}

/* ---- Spring resumes what Brook put in its retry topic ---- */

static brook_result_t on_decline(brook_ctx_t *ctx, const void *key, const void *value, void *o) {
    remember(ctx, key, value);
    return brook_ctx_fail(ctx, "shop.GatewayTimeout", "gateway timed out for %s",
                          (const char *)key);
}

/* Commits the end of every partition of topic for group: a group that starts there. */
static void commit_end(const char *group, const char *topic, int partitions) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brook_test_bootstrap(cluster), NULL, 0);
    rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++) {
        int64_t lo, hi;
        assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000), 0);
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = hi;
    }
    assert_int_equal(rd_kafka_commit(rk, l, 0), 0);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

static void test_spring_resumes_brook(void **state) {
    const char *topic = "spring.bretry";
    /* The same topology on both sides: attempts 3, 3000 ms then 4500 ms. */
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"brook-retries\"; };\n"
             "topics = ( { name = \"%s\"; partitions = 2; } );\n"
             "templates = ( { name = \"out\"; topic = \"%s\"; value = \"test.All\"; } );\n"
             "listeners = ( { id = \"charge\"; group = \"brook-retries.charge\";"
             " topics = [ \"%s\" ]; value = \"test.All\"; handler = \"on_decline\";\n"
             "  retry = { attempts = 3; mode = \"topics\";"
             " backoff = { delay_ms = 3000; multiplier = 1.5; }; }; } );\n",
             topic, topic, topic);
    start_app(decl);
    assert_int_equal(brook_app_set_handler(app, "charge", on_decline, NULL), 0);
    ix_start(app);
    const char *keys[] = {"ok-0", "ok-1", "fail-2", "fail-3"};
    send_all(keys, 4);
    /* Brook fails each once and forwards it to spring.bretry-retry-3000; then it stops, well
     * before the records are due. */
    assert_true(BROOK_TEST_WAIT_UNTIL(
        brook_test_end_offsets(cluster, "spring.bretry-retry-3000") == 4, 30000));
    brook_app_destroy(app);
    app = NULL;
    brook_test_record_t *orig, *fwd;
    assert_int_equal(brook_test_consume(cluster, topic, 4, 20000, &orig), 4);
    assert_int_equal(brook_test_consume(cluster, "spring.bretry-retry-3000", 4, 20000, &fwd), 4);

    /* Spring's main-topic container starts after Brook's records (they are Brook's to
     * handle); its retry-topic containers start from the beginning. */
    commit_end("spring-bretry", topic, 2);
    sp_start(&peer, work, "peer", brook_test_bootstrap(cluster), "retryable",
             "--peer.topic=spring.bretry", "--peer.group=spring-bretry", "--peer.attempts=3",
             "--peer.delay-ms=3000", "--peer.multiplier=1.5", "--peer.partitions=2", schemas_arg(),
             NULL);
    sp_wait(&peer, "dlt-handled", 2, 120000);

    for (int i = 0; i < 4; i++) {
        const char *key = fwd[i].key;
        brook_failure_info_t info;
        failure_info(&fwd[i], &info);
        assert_int_equal(info.attempts, 2);
        assert_true(info.backoff_timestamp > 0);
        json_t *ev = spring_handled(key, "spring.bretry-retry-3000");
        if (!ev)
            fail_msg("Spring never handled %s from Brook's retry topic", key);
        /* Spring read Brook's attempt and due time, and waited for it. */
        assert_int_equal(sp_int(ev, "partition"), fwd[i].partition);
        assert_int_equal(sp_int(ev, "offset"), fwd[i].offset);
        assert_int_equal(sp_int(ev, "attempt"), 2);
        assert_int_equal(sp_int(ev, "backoff_ts"), info.backoff_timestamp);
        assert_true(sp_int(ev, "now_ms") >= info.backoff_timestamp);
        assert_string_equal(sp_str(ev, "result"), strncmp(key, "ok", 2) ? "fail" : "ok");
        char *decoded = json_dumps(json_object_get(ev, "decoded"), JSON_ENCODE_ANY);
        test_All v;
        all_value(&v, variant_of(key));
        assert_same_all(&v, decoded, strlen(decoded), key);
        test_All_clear(&v);
        free(decoded);
        if (!strncmp(key, "ok", 2))
            continue;
        /* The failed ones went on through Spring's next retry topic as attempt 3. */
        ev = spring_handled(key, "spring.bretry-retry-4500");
        assert_non_null(ev);
        assert_int_equal(sp_int(ev, "attempt"), 3);
        assert_int_equal(sp_int(ev, "original_ts"), info.first_timestamp);
    }
    /* Spring's DLT records still say where the record came from first. */
    brook_test_record_t *dlt;
    assert_int_equal(brook_test_consume(cluster, "spring.bretry-dlt", 2, 20000, &dlt), 2);
    for (int i = 0; i < 2; i++) {
        brook_test_record_t *o = by_key(orig, 4, dlt[i].key);
        assert_int_equal(strncmp(dlt[i].key, "fail", 4), 0);
        brook_failure_info_t info;
        failure_info(&dlt[i], &info);
        assert_int_equal(info.original_topic.len, strlen(topic));
        assert_memory_equal(info.original_topic.data, topic, strlen(topic));
        assert_int_equal(info.original_partition, o->partition);
        assert_int_equal(info.original_offset, o->offset);
        assert_int_equal(info.first_timestamp, o->timestamp);
        assert_int_equal(info.original_group.len, strlen("brook-retries.charge"));
    }
    brook_test_records_free(dlt, 2);
    brook_test_records_free(fwd, 4);
    brook_test_records_free(orig, 4);
    print_message("Spring resumed Brook's retry records at Brook's attempt and due time and "
                  "took the failed ones on to its DLT\n");
    assert_int_equal(sp_stop(&peer, SIGTERM), 0);
}

/* ---- partitioning ---- */

#define KEYS 1000

static int32_t brook_partition[KEYS];

static void on_delivery(brook_template_t *tpl, int err, const char *topic, int32_t partition,
                        int64_t offset, void *msg_opaque, void *opaque) {
    brook_partition[(intptr_t)msg_opaque] = err ? -2 : partition;
}

static void key_of(int i, char *out, size_t size) {
    /* ASCII, UTF-8 and long keys. */
    if (i % 10 == 7)
        snprintf(out, size, "k\xc3\xa9y-\xe2\x82\xac-%d", i);
    else if (i % 10 == 9)
        snprintf(out, size, "order-%d-%0120d", i, i);
    else
        snprintf(out, size, "order-%d", i);
}

static void test_partitioning(void **state) {
    assert_int_equal(brook_test_create_topic(cluster, "spring.keys.spring", 12), 0);
    assert_int_equal(brook_test_create_topic(cluster, "spring.keys.brook", 12), 0);
    brook_buf_t lines = {0};
    char key[256];
    for (int i = 0; i < KEYS; i++) {
        key_of(i, key, sizeof(key));
        assert_int_equal(brook_buf_append(&lines, key, strlen(key)), 0);
        assert_int_equal(brook_buf_append(&lines, "\n", 1), 0);
    }
    write_text("keys.txt", (const char *)lines.data, lines.len);
    brook_buf_free(&lines);
    sp_start(&peer, work, "peer", brook_test_bootstrap(cluster), "keys-send",
             "--peer.topic=spring.keys.spring", work_arg("peer.input", "keys.txt"), NULL);

    app = ix_app("service = { name = \"keys\"; };\n"
                 "templates = ( { name = \"k\"; topic = \"spring.keys.brook\";"
                 " value = \"string\"; } );\n");
    brook_template_t *tpl = brook_app_template(app, "k");
    assert_int_equal(brook_template_set_delivery_cb(tpl, on_delivery, NULL), 0);
    ix_start(app);
    for (int i = 0; i < KEYS; i++) {
        brook_partition[i] = -1;
        key_of(i, key, sizeof(key));
        brook_send_opts_t o = BROOK_SEND_OPTS_INIT;
        o.msg_opaque = (void *)(intptr_t)i;
        assert_int_equal(brook_template_send(tpl, key, key, &o), 0);
    }
    assert_int_equal(brook_template_flush(tpl, 30000), 0);

    sp_wait(&peer, "done", 1, 120000);
    assert_int_equal(sp_wait_exit(&peer, 30000), 0);
    int used[12] = {0};
    for (int i = 0; i < KEYS; i++) {
        json_t *ev = sp_event(&peer, "sent", (size_t)i);
        key_of(i, key, sizeof(key));
        assert_string_equal(sp_str(ev, "key"), key);
        if (sp_int(ev, "partition") != brook_partition[i])
            fail_msg("key '%s': Spring's partitioner chose %lld, Brook %d", key,
                     (long long)sp_int(ev, "partition"), brook_partition[i]);
        used[brook_partition[i]]++;
    }
    for (int p = 0; p < 12; p++)
        assert_true(used[p] > 0);
    print_message("%d keys: Spring's default partitioner and Brook chose the same partition "
                  "for each (12 partitions, all used)\n",
                  KEYS);
}

/* ---- running one test ---- */

static int setup(void **state) {
    if (!getenv("BROOK_TEST_KAFKA") && !getenv("BROOK_TEST_BOOTSTRAP"))
        fail_msg("the Spring tests run on the real Kafka fixture (BROOK_TEST_KAFKA); "
                 "run them through ctest");
    cluster = brook_test_cluster_new(1);
    assert_non_null(cluster);
    assert_false(brook_test_is_embedded(cluster));
    return 0;
}

static int teardown(void **state) {
    if (peer.seen)
        sp_free(&peer);
    brook_app_destroy(app);
    app = NULL;
    for (int i = 0; i < seen.n; i++) {
        free(seen.v[i].json);
        free(seen.v[i].stacktrace);
    }
    seen.n = 0;
    brook_test_cluster_destroy(cluster);
    return 0;
}

int main(int argc, char **argv) {
    const struct CMUnitTest all[] = {
        cmocka_unit_test_setup_teardown(test_typed_to_spring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_from_spring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dlt_to_spring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retryable_to_brook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spring_resumes_brook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partitioning, setup, teardown),
    };
    const char *names[] = {"typed_to_spring",    "typed_from_spring",    "dlt_to_spring",
                           "retryable_to_brook", "spring_resumes_brook", "partitioning"};
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; argc == 2 && i < sizeof(all) / sizeof(all[0]); i++)
        if (!strcmp(argv[1], names[i])) {
            snprintf(work, sizeof(work), "%s/%s", BROOK_SPRING_WORK, names[i]);
            mkdir(BROOK_SPRING_WORK, 0755);
            mkdir(work, 0755);
            return _cmocka_run_group_tests(names[i], &all[i], 1, NULL, NULL);
        }
    fprintf(stderr,
            "usage: %s TEST (typed_to_spring, typed_from_spring, dlt_to_spring, "
            "retryable_to_brook, spring_resumes_brook, partitioning)\n",
            argv[0]);
    return 2;
}
