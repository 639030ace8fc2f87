/*
 * Topic provisioning on real brokers, which the embedded cluster cannot show (it has no
 * CreateTopics): declared topics created through the Admin API with their partitions,
 * replication and config; retry and DLT topics with their source's partitions; an existing
 * topic with another partition count left alone, with a warning. Runs on three brokers.
 */
#include "../integration/itest.h"

#include <librdkafka/rdkafka.h>

/* Partition count and the replica count of partition 0, or -1. Brokers learn of a new topic
 * one after another: asks until every partition has a leader, for up to 30 s. */
static int describe_topic_once(const char *topic, int *replicas);
static int describe_topic(const char *topic, int *replicas) {
    int n = -1;
    BROOK_TEST_WAIT_UNTIL((n = describe_topic_once(topic, replicas)) >= 0, 30000);
    return n;
}

static int describe_topic_once(const char *topic, int *replicas) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brook_test_bootstrap(cluster), NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    int n = -1;
    *replicas = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == 0) {
        if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
            n = md->topics[0].partition_cnt;
            *replicas = md->topics[0].partitions[0].replica_cnt;
            for (int i = 0; i < md->topics[0].partition_cnt; i++)
                if (md->topics[0].partitions[i].leader < 0)
                    n = *replicas = -1;
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return n;
}

/* One topic config value through DescribeConfigs, copied into out ("" when absent); false
 * when the broker asked does not know the topic yet. */
static bool topic_config_once(const char *topic, const char *name, char *out, size_t size);
static void topic_config(const char *topic, const char *name, char *out, size_t size) {
    assert_true(BROOK_TEST_WAIT_UNTIL(topic_config_once(topic, name, out, size), 30000));
}

static bool topic_config_once(const char *topic, const char *name, char *out, size_t size) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brook_test_bootstrap(cluster), NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    assert_non_null(ev);
    assert_int_equal(rd_kafka_event_error(ev), 0);
    size_t nres, nent;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    assert_int_equal(nres, 1);
    bool known = !rd_kafka_ConfigResource_error(rs[0]);
    const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(rs[0], &nent);
    out[0] = 0;
    for (size_t i = 0; i < nent; i++)
        if (!strcmp(rd_kafka_ConfigEntry_name(ents[i]), name) &&
            rd_kafka_ConfigEntry_value(ents[i]))
            snprintf(out, size, "%s", rd_kafka_ConfigEntry_value(ents[i]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_destroy(rk);
    return known;
}

static brook_result_t ok(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    return BROOK_OK;
}

/* Declared topics get what they declare; their retry and DLT topics the source's partitions
 * and replication; a topic without replication the broker's default (3 on this cluster). */
static void test_declared_topics_created(void **state) {
    assert_int_equal(brook_test_broker_count(cluster), 3);
    const char *decl =
        "service = { name = \"pv\"; };\n"
        "topics = (\n"
        "  { name = \"pv.orders\"; partitions = 4; replication = 3;\n"
        "    config = { min_insync_replicas = 2; retention_ms = \"3600000\"; }; },\n"
        "  { name = \"pv.single\"; partitions = 2; replication = 1; },\n"
        "  { name = \"pv.default\"; partitions = 3; } );\n"
        "listeners = ( { id = \"l\"; topics = [ \"pv.orders\" ]; value = \"string\";\n"
        "  handler = \"ok\"; retry = { attempts = 2; mode = \"topics\";\n"
        "  backoff = { delay_ms = 100; }; }; dlt = { enabled = true; }; } );\n";
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", ok, NULL), 0);
    it_start(app);
    int replicas;
    assert_int_equal(describe_topic("pv.orders", &replicas), 4);
    assert_int_equal(replicas, 3);
    char v[64];
    topic_config("pv.orders", "min.insync.replicas", v, sizeof(v));
    assert_string_equal(v, "2");
    topic_config("pv.orders", "retention.ms", v, sizeof(v));
    assert_string_equal(v, "3600000");
    assert_int_equal(describe_topic("pv.single", &replicas), 2);
    assert_int_equal(replicas, 1);
    assert_int_equal(describe_topic("pv.default", &replicas), 3);
    assert_int_equal(replicas, 3);
    assert_int_equal(describe_topic("pv.orders-retry", &replicas), 4);
    assert_int_equal(replicas, 3);
    assert_int_equal(describe_topic("pv.orders-dlt", &replicas), 4);
    assert_int_equal(replicas, 3);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);

    /* A second start finds everything in place and creates nothing. */
    app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", ok, NULL), 0);
    it_start(app);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

static char warning[512];
static void sink(brook_log_level_t level, const char *component, const char *message, void *op) {
    if (level == BROOK_LOG_WARN && strstr(message, "pv.small"))
        snprintf(warning, sizeof(warning), "%s", message);
}

/* A topic that exists with other partitions than declared is left as it is, with a warning. */
static void test_partition_mismatch_warns(void **state) {
    assert_int_equal(brook_test_create_topic(cluster, "pv.small", 2), 0);
    brook_log_set_sink(sink, NULL);
    brook_app_t *app = it_app("service = { name = \"pv2\"; };\n"
                              "topics = ( { name = \"pv.small\"; partitions = 5; } );\n");
    it_start(app);
    brook_log_set_sink(NULL, NULL);
    assert_string_equal(warning, "topic pv.small has 2 partitions, declared 5");
    int replicas;
    assert_int_equal(describe_topic("pv.small", &replicas), 2);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declared_topics_created),
        cmocka_unit_test(test_partition_mismatch_warns),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
