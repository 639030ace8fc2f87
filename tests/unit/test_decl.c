/* Declaration parser (decl.c): the DESIGN.md example, defaults, every kind of error with its
 * exact message (each reported once, all of a file in one parse), merging an override file,
 * the environment, retry delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/decl.h"

#define DATA BROOK_TEST_DATA "/decl/"

static brook_decl_t *parse_ok(const char *text) {
    brook_decl_t *d = NULL;
    brook_error_t err = {0};
    int rc = brook_decl_parse_string(text, "svc.brook", &d, &err);
    if (rc != 0)
        fail_msg("unexpected error %d: %s", rc, err.message);
    assert_non_null(d);
    return d;
}

static const char *kv_get(const brook_decl_kv_t *kv, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].name, name) == 0)
            return kv[i].value;
    return NULL;
}

/* ---- the example of DESIGN.md section 2 ---------------------------------------------------- */

static void test_design_example(void **state) {
    brook_decl_t *d = NULL;
    brook_error_t err = {0};
    (void)state;

    assert_int_equal(brook_decl_parse_file(DATA "payment-service.brook", &d, &err), 0);
    assert_string_equal(d->source, DATA "payment-service.brook");
    assert_string_equal(d->base_dir, BROOK_TEST_DATA "/decl");
    assert_string_equal(d->name, "payment-service");
    assert_string_equal(d->bootstrap, "embedded");
    assert_true(brook_decl_is_embedded(d));
    assert_int_equal(d->line, 2);
    assert_int_equal(d->embedded_brokers, 1);
    assert_int_equal(d->kafka_count, 1);
    assert_string_equal(d->kafka[0].name, "linger.ms");
    assert_string_equal(d->kafka[0].value, "5");
    assert_int_equal(d->kafka[0].line, 5);
    assert_int_equal(d->shutdown_timeout_ms, 10000);
    assert_int_equal(d->commit_interval_ms, 1000);

    assert_int_equal(d->schema_count, 2);
    assert_string_equal(d->schemas[0], "schemas/order_placed.avsc");
    assert_string_equal(d->schemas[1], "schemas/payment.avsc");

    assert_int_equal(d->topic_count, 1);
    assert_string_equal(d->topics[0].name, "orders.placed");
    assert_int_equal(d->topics[0].partitions, 6);
    assert_int_equal(d->topics[0].replication, 3);
    assert_int_equal(d->topics[0].config_count, 1);
    assert_string_equal(d->topics[0].config[0].name, "min.insync.replicas");
    assert_string_equal(d->topics[0].config[0].value, "2");
    assert_int_equal(d->topics[0].line, 12);

    assert_int_equal(d->template_count, 1);
    const brook_decl_template_t *t = &d->templates[0];
    assert_string_equal(t->name, "payments");
    assert_string_equal(t->topic, "payments.completed");
    assert_int_equal(t->key.kind, BROOK_SERDE_STRING);
    assert_null(t->key.type_name);
    assert_int_equal(t->value.kind, BROOK_SERDE_AVRO);
    assert_string_equal(t->value.type_name, "shop.PaymentCompleted");
    assert_int_equal(t->framing, BROOK_AVRO_FRAMING_SINGLE_OBJECT);
    assert_int_equal(t->schema_id, 0);
    assert_false(t->transactional);
    assert_int_equal(t->line, 16);

    assert_int_equal(d->listener_count, 1);
    const brook_decl_listener_t *l = &d->listeners[0];
    assert_string_equal(l->id, "charge");
    assert_int_equal(l->topic_count, 1);
    assert_string_equal(l->topics[0], "orders.placed");
    assert_null(l->topic_pattern);
    assert_string_equal(l->group, "payment-service");
    assert_int_equal(l->key.kind, BROOK_SERDE_STRING);
    assert_int_equal(l->value.kind, BROOK_SERDE_AVRO);
    assert_string_equal(l->value.type_name, "shop.OrderPlaced");
    assert_int_equal(l->value.line, 21);
    assert_string_equal(l->handler, "on_order_placed");
    assert_int_equal(l->concurrency, 3);
    assert_int_equal(l->ack, BROOK_ACK_RECORD);
    assert_int_equal(l->start_from, BROOK_START_EARLIEST);
    assert_true(l->retry.declared);
    assert_int_equal(l->retry.attempts, 4);
    assert_int_equal(l->retry.delay_ms, 1000);
    assert_true(l->retry.multiplier == 2.0);
    assert_int_equal(l->retry.max_delay_ms, 8000);
    assert_int_equal(l->retry.mode, BROOK_RETRY_TOPICS);
    assert_int_equal(l->retry.not_retryable_count, 1);
    assert_string_equal(l->retry.not_retryable[0], "shop.InvalidOrder");
    assert_int_equal(l->retry.line, 23);
    assert_true(l->dlt.enabled);
    assert_null(l->dlt.topic);
    assert_int_equal(l->dlt.line, 25);
    assert_int_equal(l->line, 20);

    int64_t delays[8];
    assert_int_equal(brook_decl_retry_delays(&l->retry, delays, 8), 3);
    assert_int_equal(delays[0], 1000);
    assert_int_equal(delays[1], 2000);
    assert_int_equal(delays[2], 4000);
    brook_decl_destroy(d);
}

/* ---- defaults -------------------------------------------------------------------------------- */

static void test_defaults(void **state) {
    (void)state;
    brook_decl_t *d =
        parse_ok("service = { name = \"svc\"; };\n"
                 "listeners = ( { id = \"a\"; topics = \"t\"; handler = \"h\"; } );\n");
    assert_string_equal(d->source, "svc.brook");
    assert_string_equal(d->base_dir, ".");
    assert_null(d->bootstrap);
    assert_true(brook_decl_is_embedded(d));
    assert_int_equal(d->embedded_brokers, 1);
    assert_int_equal(d->kafka_count, 0);
    assert_int_equal(d->shutdown_timeout_ms, 10000);
    assert_int_equal(d->commit_interval_ms, 1000);
    assert_int_equal(d->schema_count, 0);
    assert_int_equal(d->topic_count, 0);
    assert_int_equal(d->template_count, 0);
    assert_int_equal(d->listener_count, 1);

    const brook_decl_listener_t *l = &d->listeners[0];
    assert_int_equal(l->topic_count, 1); /* a single string is a list of one */
    assert_string_equal(l->topics[0], "t");
    assert_string_equal(l->group, "svc");
    assert_int_equal(l->key.kind, BROOK_SERDE_STRING);
    assert_int_equal(l->value.kind, BROOK_SERDE_BYTES);
    assert_int_equal(l->concurrency, 1);
    assert_int_equal(l->ack, BROOK_ACK_RECORD);
    assert_int_equal(l->start_from, BROOK_START_EARLIEST);
    assert_false(l->exactly_once);
    assert_int_equal(l->isolation, BROOK_ISOLATION_READ_COMMITTED);
    assert_true(l->auto_startup);
    assert_int_equal(l->tx_max_records, 100);
    assert_int_equal(l->tx_max_ms, 100);
    assert_false(l->retry.declared);
    assert_int_equal(l->retry.attempts, 3);
    assert_int_equal(l->retry.delay_ms, 1000);
    assert_true(l->retry.multiplier == 1.0);
    assert_int_equal(l->retry.max_delay_ms, 30000);
    assert_int_equal(l->retry.mode, BROOK_RETRY_BLOCKING);
    assert_int_equal(l->retry.not_retryable_count, 0);
    assert_true(l->dlt.enabled);
    assert_null(l->dlt.topic);

    int64_t delays[4];
    assert_int_equal(brook_decl_retry_delays(&l->retry, delays, 4), 2);
    assert_int_equal(delays[0], 1000);
    assert_int_equal(delays[1], 1000);
    brook_decl_destroy(d);

    /* A topic and a template with nothing but what they require. */
    d = parse_ok("service = { name = \"svc\"; };\n"
                 "topics = ( { name = \"t\"; } );\n"
                 "templates = [ ];\n"
                 "listeners = ( );\n");
    assert_int_equal(d->topic_count, 1);
    assert_int_equal(d->topics[0].partitions, 1);
    assert_int_equal(d->topics[0].replication, -1) /* the broker decides */;
    assert_int_equal(d->topics[0].config_count, 0);
    brook_decl_destroy(d);

    d = parse_ok("service = { name = \"svc\"; };\n"
                 "templates = ( { name = \"p\"; topic = \"t\"; } );\n");
    assert_int_equal(d->templates[0].key.kind, BROOK_SERDE_STRING);
    assert_int_equal(d->templates[0].value.kind, BROOK_SERDE_BYTES);
    assert_int_equal(d->templates[0].framing, BROOK_AVRO_FRAMING_SINGLE_OBJECT);
    assert_false(d->templates[0].transactional);
    brook_decl_destroy(d);
}

/* Everything the example does not use. */
static void test_every_setting(void **state) {
    (void)state;
    brook_decl_t *d = parse_ok(
        "service = {\n"
        "  name = \"svc\"; bootstrap = \"k1:9092,k2:9092\"; embedded_brokers = 3;\n"
        "  kafka = { client_id = \"me\"; queue_buffering_max_kbytes = 5000000000L;\n"
        "            sticky_ratio = 0.25; enable_idempotence = false; };\n"
        "  shutdown_timeout_ms = 0; commit_interval_ms = 250;\n"
        "};\n"
        "schemas = ( \"a.avsc\" );\n"
        "topics = ( { name = \"in\"; config = { cleanup_policy = \"compact\"; }; } );\n"
        "templates = ( { name = \"out\"; topic = \"out\"; key = \"bytes\"; value = \"x.y.Z\";\n"
        "                framing = \"confluent\"; schema_id = 42; transactional = true; } );\n"
        "listeners = (\n"
        "  { id = \"p\"; topic_pattern = \"^in\\\\..*\"; group = \"g\"; key = \"json\";\n"
        "    value = \"json\"; handler = \"_on_p2\"; concurrency = 64; ack = \"record_sync\";\n"
        "    start_from = \"latest\";\n"
        "    retry = { attempts = 5; backoff = { delay_ms = 100; multiplier = 3; };\n"
        "              not_retryable = ( \"a.B\", \"C\" ); };\n"
        "    dlt = { enabled = false; topic = \"in.dead\"; }; },\n"
        "  { id = \"q\"; topics = ( \"in\", \"other\" ); handler = \"on_q\"; ack = \"manual\";\n"
        "    retry = { backoff = { delay_ms = 60000; }; }; },\n"
        "  { id = \"r\"; topics = [ \"in\" ]; handler = \"on_r\"; ack = \"batch\";\n"
        "    retry = { attempts = 1; }; }\n"
        ");\n");
    assert_string_equal(d->bootstrap, "k1:9092,k2:9092");
    assert_false(brook_decl_is_embedded(d));
    assert_int_equal(d->embedded_brokers, 3);
    assert_int_equal(d->kafka_count, 4);
    assert_string_equal(kv_get(d->kafka, d->kafka_count, "client.id"), "me");
    assert_string_equal(kv_get(d->kafka, d->kafka_count, "queue.buffering.max.kbytes"),
                        "5000000000");
    assert_string_equal(kv_get(d->kafka, d->kafka_count, "sticky.ratio"), "0.25");
    assert_string_equal(kv_get(d->kafka, d->kafka_count, "enable.idempotence"), "false");
    assert_int_equal(d->shutdown_timeout_ms, 0);
    assert_int_equal(d->commit_interval_ms, 250);
    assert_int_equal(d->schema_count, 1);
    assert_string_equal(d->topics[0].config[0].name, "cleanup.policy");
    assert_string_equal(d->topics[0].config[0].value, "compact");

    const brook_decl_template_t *t = &d->templates[0];
    assert_int_equal(t->key.kind, BROOK_SERDE_BYTES);
    assert_int_equal(t->value.kind, BROOK_SERDE_AVRO);
    assert_string_equal(t->value.type_name, "x.y.Z");
    assert_int_equal(t->framing, BROOK_AVRO_FRAMING_CONFLUENT);
    assert_int_equal(t->schema_id, 42);
    assert_true(t->transactional);

    const brook_decl_listener_t *l = &d->listeners[0];
    assert_int_equal(l->topic_count, 0);
    assert_null(l->topics);
    assert_string_equal(l->topic_pattern, "^in\\..*");
    assert_string_equal(l->group, "g");
    assert_int_equal(l->key.kind, BROOK_SERDE_JSON);
    assert_int_equal(l->value.kind, BROOK_SERDE_JSON);
    assert_string_equal(l->handler, "_on_p2");
    assert_int_equal(l->concurrency, 64);
    assert_int_equal(l->ack, BROOK_ACK_RECORD_SYNC);
    assert_string_equal(brook_decl_ack_name(l->ack), "record_sync");
    assert_int_equal(l->start_from, BROOK_START_LATEST);
    assert_int_equal(l->retry.attempts, 5);
    assert_true(l->retry.multiplier == 3.0);
    assert_int_equal(l->retry.max_delay_ms, 30000);
    assert_int_equal(l->retry.not_retryable_count, 2);
    assert_string_equal(l->retry.not_retryable[1], "C");
    assert_false(l->dlt.enabled);
    assert_string_equal(l->dlt.topic, "in.dead");

    /* 100, 300, 900, 2700 — then capped at max_delay_ms. */
    int64_t delays[8];
    assert_int_equal(brook_decl_retry_delays(&l->retry, delays, 8), 4);
    assert_int_equal(delays[0], 100);
    assert_int_equal(delays[1], 300);
    assert_int_equal(delays[2], 900);
    assert_int_equal(delays[3], 2700);
    /* Only `max` entries are written; the count is still attempts - 1. */
    delays[1] = -1;
    assert_int_equal(brook_decl_retry_delays(&l->retry, delays, 1), 4);
    assert_int_equal(delays[1], -1);

    l = &d->listeners[1];
    assert_int_equal(l->topic_count, 2);
    assert_string_equal(l->topics[1], "other");
    assert_int_equal(l->ack, BROOK_ACK_MANUAL);
    /* A fixed delay above the default cap is not cut down to it. */
    assert_int_equal(l->retry.delay_ms, 60000);
    assert_int_equal(l->retry.max_delay_ms, 60000);
    assert_int_equal(brook_decl_retry_delays(&l->retry, delays, 8), 2);
    assert_int_equal(delays[0], 60000);
    assert_int_equal(delays[1], 60000);

    l = &d->listeners[2];
    assert_int_equal(l->ack, BROOK_ACK_BATCH);
    assert_int_equal(brook_decl_retry_delays(&l->retry, delays, 8), 0);
    brook_decl_destroy(d);
}

static void test_retry_delays_cap(void **state) {
    (void)state;
    brook_decl_retry_t r = {0};
    int64_t out[6];
    r.attempts = 7;
    r.delay_ms = 1000;
    r.multiplier = 2.0;
    r.max_delay_ms = 5000;
    assert_int_equal(brook_decl_retry_delays(&r, out, 6), 6);
    int64_t want[6] = {1000, 2000, 4000, 5000, 5000, 5000};
    for (int i = 0; i < 6; i++)
        assert_int_equal(out[i], want[i]);
    assert_int_equal(brook_decl_retry_delays(&r, NULL, 0), 6);
    assert_string_equal(brook_decl_ack_name(BROOK_ACK_RECORD), "record");
    assert_string_equal(brook_decl_ack_name(BROOK_ACK_BATCH), "batch");
    assert_string_equal(brook_decl_ack_name(BROOK_ACK_MANUAL), "manual");
}

/* ---- invalid declarations ------------------------------------------------------------------ */

#define SVC "service = { name = \"svc\"; };\n" /* line 1 */
/* A listener at line 3 with what it requires; `extra` goes on line 4. */
#define LISTENER(extra)                                                                            \
    SVC "listeners = (\n"                                                                          \
        "  { id = \"a\"; topics = [ \"t\" ]; handler = \"h\";\n"                                   \
        "    " extra " }\n"                                                                        \
        ");\n"
#define TEMPLATE(extra)                                                                            \
    SVC "templates = (\n"                                                                          \
        "  { name = \"p\"; topic = \"t\";\n"                                                       \
        "    " extra " }\n"                                                                        \
        ");\n"

typedef struct {
    const char *what;
    const char *text;
    const char *message;
} invalid_case_t;

static const invalid_case_t invalid_cases[] = {
    {"syntax error", SVC "listeners = (\n  { id = \"a\" topics }\n);\n",
     "svc.brook:3: syntax error"},
    {"libconfig's own complaint", SVC "service = { name = \"x\"; };\n",
     "svc.brook:2: syntax error: duplicate setting name"},
    {"no service", "listeners = ( );\n", "svc.brook:1: missing required setting \"service\""},
    {"service not a group", "service = \"svc\";\n",
     "svc.brook:1: service: expected a group, got a string"},
    {"no name", "\nservice = {\n  bootstrap = \"k:9092\";\n};\n",
     "svc.brook:2: service: missing required setting \"name\""},
    {"empty name", "service = { name = \"\"; };\n", "svc.brook:1: service.name: must not be empty"},
    {"name not a string", "service = { name = 5; };\n",
     "svc.brook:1: service.name: expected a string, got an integer"},
    {"typo in service", "service = {\n  name = \"svc\";\n  bootstrp = \"k:9092\";\n};\n",
     "svc.brook:3: service.bootstrp: unknown setting"},
    {"unknown top-level setting", SVC "listener = ( );\n",
     "svc.brook:2: listener: unknown setting"},
    {"kafka property not a scalar",
     "service = { name = \"svc\";\n  kafka = { a_b = { c = 1; }; };\n};\n",
     "svc.brook:2: service.kafka.a_b: expected a string, number or boolean, got a group"},
    {"kafka not a group", "service = { name = \"svc\"; kafka = [ 1 ]; };\n",
     "svc.brook:1: service.kafka: expected a group, got an array"},
    {"embedded_brokers 0", "service = { name = \"svc\"; embedded_brokers = 0; };\n",
     "svc.brook:1: service.embedded_brokers: must be at least 1, got 0"},
    {"negative shutdown timeout", "service = { name = \"svc\"; shutdown_timeout_ms = -1; };\n",
     "svc.brook:1: service.shutdown_timeout_ms: must be at least 0, got -1"},
    {"schemas not a list", SVC "schemas = 5;\n",
     "svc.brook:2: schemas: expected a list of strings, got an integer"},
    {"schema path empty", SVC "schemas = ( \"a.avsc\", \"\" );\n",
     "svc.brook:2: schemas[1]: must not be empty"},
    {"topics not a list", SVC "topics = { name = \"t\"; };\n",
     "svc.brook:2: topics: expected a list of groups, got a group"},
    {"topic missing name", SVC "topics = (\n  { partitions = 3; }\n);\n",
     "svc.brook:3: topics[0]: missing required setting \"name\""},
    {"zero partitions", SVC "topics = (\n  { name = \"t\";\n    partitions = 0; }\n);\n",
     "svc.brook:4: topics[0].partitions: must be at least 1, got 0"},
    {"zero replication", SVC "topics = ( { name = \"t\"; replication = 0; } );\n",
     "svc.brook:2: topics[0].replication: must be at least 1, got 0"},
    {"bad topic name", SVC "topics = ( { name = \"a b\"; } );\n",
     "svc.brook:2: topics[0].name: invalid topic name \"a b\" (letters, digits, '.', '_' and '-', "
     "at most 249)"},
    {"duplicate topic",
     SVC "topics = (\n  { name = \"t\"; },\n  { name = \"u\"; },\n  { name = \"t\"; }\n);\n",
     "svc.brook:5: topics[2].name: duplicate topic \"t\" (first at line 3)"},
    {"topic config typo'd as list", SVC "topics = ( { name = \"t\"; config = ( 1 ); } );\n",
     "svc.brook:2: topics[0].config: expected a group, got a list"},
    {"template missing topic", SVC "templates = (\n  { name = \"p\"; }\n);\n",
     "svc.brook:3: templates[0]: missing required setting \"topic\""},
    {"template missing name", SVC "templates = (\n  { topic = \"t\"; }\n);\n",
     "svc.brook:3: templates[0]: missing required setting \"name\""},
    {"duplicate template",
     SVC "templates = (\n  { name = \"p\"; topic = \"t\"; },\n"
         "  { name = \"p\"; topic = \"u\"; }\n);\n",
     "svc.brook:4: templates[1].name: duplicate template name \"p\" (first at line 3)"},
    {"bad value type", TEMPLATE("value = \"shop..Order\";"),
     "svc.brook:4: templates[0].value: invalid type \"shop..Order\" (expected string, bytes, json "
     "or an Avro full name)"},
    {"key not a string", TEMPLATE("key = true;"),
     "svc.brook:4: templates[0].key: expected a string, got a boolean"},
    {"unknown framing", TEMPLATE("framing = \"magic\";"),
     "svc.brook:4: templates[0].framing: unknown framing \"magic\" (expected single_object, "
     "confluent)"},
    {"confluent without schema id", TEMPLATE("framing = \"confluent\";"),
     "svc.brook:3: templates[0]: missing required setting \"schema_id\" (framing \"confluent\" "
     "without a schema_registry)"},
    {"filter not an identifier", LISTENER("filter = \"is ok\";"),
     "svc.brook:4: listeners[0].filter: \"is ok\" is not a C identifier"},
    {"raw filter reserved", LISTENER("raw_filter = \"__f\";"),
     "svc.brook:4: listeners[0].raw_filter: \"__f\" is a reserved C identifier"},
    {"schema id with a registry",
     "schema_registry = { url = \"http://r:8081\"; };\n" TEMPLATE("schema_id = 7;"),
     "svc.brook:5: templates[0].schema_id: the schema registry gives the id (schema_registry is "
     "declared)"},
    {"registry without url", SVC "schema_registry = { auto_register = false; };\n",
     "svc.brook:2: schema_registry: missing required setting \"url\""},
    {"registry url not http", SVC "schema_registry = { url = \"r:8081\"; };\n",
     "svc.brook:2: schema_registry.url: \"r:8081\" is not an http:// or https:// URL"},
    {"registry strategy",
     SVC "schema_registry = { url = \"http://r\"; subject_strategy = \"x\"; };\n",
     "svc.brook:2: schema_registry.subject_strategy: unknown subject strategy \"x\" (expected "
     "topic, record, topic_record)"},
    {"registry user without password",
     SVC "schema_registry = { url = \"http://r\"; username = \"u\"; };\n",
     "svc.brook:2: schema_registry: username and password go together (basic auth)"},
    {"registry typo", SVC "schema_registry = { url = \"http://r\"; auto_registr = true; };\n",
     "svc.brook:2: schema_registry.auto_registr: unknown setting"},
    {"schema id without confluent", TEMPLATE("schema_id = 7;"),
     "svc.brook:4: templates[0].schema_id: only used with framing \"confluent\""},
    {"transactional not a bool", TEMPLATE("transactional = 1;"),
     "svc.brook:4: templates[0].transactional: expected a boolean, got an integer"},
    {"listeners not a list", SVC "listeners = 3;\n",
     "svc.brook:2: listeners: expected a list of groups, got an integer"},
    {"listener not a group", SVC "listeners = ( \"charge\" );\n",
     "svc.brook:2: listeners[0]: expected a group, got a string"},
    {"listener typo", LISTENER("ackk = \"record\";"),
     "svc.brook:4: listeners[0].ackk: unknown setting"},
    {"listener missing id", SVC "listeners = (\n  { topics = [ \"t\" ]; handler = \"h\"; }\n);\n",
     "svc.brook:3: listeners[0]: missing required setting \"id\""},
    {"listener missing handler", SVC "listeners = (\n  { id = \"a\"; topics = [ \"t\" ]; }\n);\n",
     "svc.brook:3: listeners[0]: missing required setting \"handler\""},
    {"listener without topics", SVC "listeners = (\n  { id = \"a\"; handler = \"h\"; }\n);\n",
     "svc.brook:3: listeners[0]: missing required setting \"topics\" (or \"topic_pattern\")"},
    {"topics and pattern", LISTENER("topic_pattern = \"^t.*\";"),
     "svc.brook:3: listeners[0]: both \"topics\" and \"topic_pattern\" given (exactly one is "
     "allowed)"},
    {"empty topics",
     SVC "listeners = (\n  { id = \"a\"; handler = \"h\";\n    topics = [ ]; }\n);\n",
     "svc.brook:4: listeners[0].topics: must not be empty"},
    {"topic not a string",
     SVC "listeners = (\n  { id = \"a\"; handler = \"h\";\n    topics = ( \"t\", 5 ); }\n);\n",
     "svc.brook:4: listeners[0].topics[1]: expected a string, got an integer"},
    {"topic listed twice",
     SVC "listeners = (\n  { id = \"a\"; handler = \"h\";\n    topics = [ \"t\", \"t\" ]; }\n);\n",
     "svc.brook:4: listeners[0].topics[1]: duplicate topic \"t\""},
    {"handler not an identifier",
     SVC "listeners = (\n  { id = \"a\"; topics = [ \"t\" ];\n    handler = \"on-order\"; }\n);\n",
     "svc.brook:4: listeners[0].handler: \"on-order\" is not a C identifier"},
    {"handler a keyword",
     SVC "listeners = (\n  { id = \"a\"; topics = [ \"t\" ];\n    handler = \"switch\"; }\n);\n",
     "svc.brook:4: listeners[0].handler: \"switch\" is a reserved C identifier"},
    {"concurrency a string", LISTENER("concurrency = \"3\";"),
     "svc.brook:4: listeners[0].concurrency: expected an integer, got a string"},
    {"concurrency 0", LISTENER("concurrency = 0;"),
     "svc.brook:4: listeners[0].concurrency: must be between 1 and 64, got 0"},
    {"concurrency 65", LISTENER("concurrency = 65;"),
     "svc.brook:4: listeners[0].concurrency: must be between 1 and 64, got 65"},
    {"exactly_once with ack batch", LISTENER("exactly_once = true; ack = \"batch\";"),
     "svc.brook:4: listeners[0].ack: an exactly-once listener commits its offsets in its "
     "transactions; leave ack at \"record\""},
    {"transaction max_records 0", LISTENER("transaction = { max_records = 0; };"),
     "svc.brook:4: listeners[0].transaction.max_records: must be between 1 and 1000000, got 0"},
    {"unknown transaction setting", LISTENER("transaction = { max_bytes = 1; };"),
     "svc.brook:4: listeners[0].transaction.max_bytes: unknown setting"},
    {"auto_startup not a bool", LISTENER("auto_startup = \"no\";"),
     "svc.brook:4: listeners[0].auto_startup: expected a boolean, got a string"},
    {"unknown isolation", LISTENER("isolation = \"serializable\";"),
     "svc.brook:4: listeners[0].isolation: unknown isolation level \"serializable\" (expected "
     "read_committed, read_uncommitted)"},
    {"unknown ack mode", LISTENER("ack = \"sometimes\";"),
     "svc.brook:4: listeners[0].ack: unknown ack mode \"sometimes\" (expected record, batch, "
     "manual, record_sync)"},
    {"unknown start", LISTENER("start_from = \"middle\";"),
     "svc.brook:4: listeners[0].start_from: unknown start position \"middle\" (expected earliest, "
     "latest)"},
    {"value not a type", LISTENER("value = \"9lives\";"),
     "svc.brook:4: listeners[0].value: invalid type \"9lives\" (expected string, bytes, json or an "
     "Avro full name)"},
    {"retry not a group", LISTENER("retry = 3;"),
     "svc.brook:4: listeners[0].retry: expected a group, got an integer"},
    {"retry typo", LISTENER("retry = { attempt = 3; };"),
     "svc.brook:4: listeners[0].retry.attempt: unknown setting"},
    {"zero attempts", LISTENER("retry = { attempts = 0; };"),
     "svc.brook:4: listeners[0].retry.attempts: must be at least 1, got 0"},
    {"backoff not a group", LISTENER("retry = { backoff = 1000; };"),
     "svc.brook:4: listeners[0].retry.backoff: expected a group, got an integer"},
    {"negative delay", LISTENER("retry = { backoff = { delay_ms = -5; }; };"),
     "svc.brook:4: listeners[0].retry.backoff.delay_ms: must be at least 0, got -5"},
    {"multiplier below 1", LISTENER("retry = { backoff = { multiplier = 0.5; }; };"),
     "svc.brook:4: listeners[0].retry.backoff.multiplier: must be at least 1.0, got 0.5"},
    {"multiplier a string", LISTENER("retry = { backoff = { multiplier = \"2\"; }; };"),
     "svc.brook:4: listeners[0].retry.backoff.multiplier: expected a number, got a string"},
    {"max below delay",
     LISTENER("retry = { backoff = { delay_ms = 5000; max_delay_ms = 100; }; };"),
     "svc.brook:4: listeners[0].retry.backoff.max_delay_ms: must be at least delay_ms (5000), got "
     "100"},
    {"unknown retry mode", LISTENER("retry = { mode = \"sideways\"; };"),
     "svc.brook:4: listeners[0].retry.mode: unknown retry mode \"sideways\" (expected blocking, "
     "topics)"},
    {"not_retryable of numbers", LISTENER("retry = { not_retryable = ( 1, \"x\" ); };"),
     "svc.brook:4: listeners[0].retry.not_retryable[0]: expected a string, got an integer"},
    {"dlt enabled not a bool", LISTENER("dlt = { enabled = \"yes\"; };"),
     "svc.brook:4: listeners[0].dlt.enabled: expected a boolean, got a string"},
    {"bad dlt topic", LISTENER("dlt = { topic = \"dead/letters\"; };"),
     "svc.brook:4: listeners[0].dlt.topic: invalid topic name \"dead/letters\" (letters, digits, "
     "'.', '_' and '-', at most 249)"},
    {"duplicate listener id",
     SVC "listeners = (\n"
         "  { id = \"charge\"; topics = [ \"t\" ]; handler = \"h\"; },\n"
         "  { id = \"charge\"; topics = [ \"u\" ]; handler = \"h\"; }\n"
         ");\n",
     "svc.brook:4: listeners[1].id: duplicate listener id \"charge\" (first at line 3)"},
    {"shared handler, other types",
     SVC "listeners = (\n"
         "  { id = \"a\"; topics = [ \"t\" ]; handler = \"h\"; value = \"json\"; },\n"
         "  { id = \"b\"; topics = [ \"u\" ]; handler = \"h\"; }\n"
         ");\n",
     "svc.brook:4: listeners[1].handler: handler \"h\" of listener \"a\" (line 3) takes other key "
     "or value types"},
    {"control: a shared handler with the same types is fine",
     SVC "listeners = (\n"
         "  { id = \"a\"; topics = [ \"t\" ]; handler = \"h\"; },\n"
         "  { id = \"b\"; topics = [ \"u\" ]; handler = \"h\"; }\n"
         ");\n",
     NULL},
    {"retry topics with a pattern",
     SVC "listeners = (\n"
         "  { id = \"a\"; topic_pattern = \"^orders\\\\..*\"; handler = \"h\";\n"
         "    retry = { mode = \"topics\"; }; }\n"
         ");\n",
     "svc.brook:4: listeners[0].retry.mode: retry topics need a topic list, not topic_pattern "
     "(use \"blocking\")"},
    {"control: the LISTENER() frame alone is valid", LISTENER(""), NULL},
};

/* What brook_decl_parse_*_diag passed to its callback: the messages, one a line. */
typedef struct {
    size_t n;
    char text[4096];
} diags_t;

static void collect(const brook_error_t *e, void *opaque) {
    diags_t *d = opaque;
    size_t used = strlen(d->text);
    snprintf(d->text + used, sizeof(d->text) - used, "%s\n", e->message);
    d->n++;
}

/* Each case has one mistake, reported once: nothing that follows from it is reported again. */
static void test_invalid(void **state) {
    (void)state;
    size_t n = sizeof(invalid_cases) / sizeof(invalid_cases[0]);
    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        const invalid_case_t *c = &invalid_cases[i];
        brook_decl_t *d = (brook_decl_t *)1;
        brook_error_t err = {0};
        diags_t diags = {0};
        int rc = brook_decl_parse_string_diag(c->text, "svc.brook", &d, &err, collect, &diags);
        if (!c->message) { /* a valid control case */
            if (rc != 0)
                fail_msg("case \"%s\": unexpected error: %s", c->what, err.message);
            brook_decl_destroy(d);
            continue;
        }
        if (rc != BROOK_ERR_DECL)
            fail_msg("case \"%s\": expected BROOK_ERR_DECL, got %d", c->what, rc);
        if (strcmp(err.message, c->message) != 0)
            fail_msg("case \"%s\":\n  expected: %s\n  got:      %s", c->what, c->message,
                     err.message);
        assert_int_equal(err.code, BROOK_ERR_DECL);
        assert_null(d);
        if (diags.n != 1 || strncmp(diags.text, err.message, strlen(err.message)) != 0)
            fail_msg("case \"%s\": reported %zu errors, not once:\n%s", c->what, diags.n,
                     diags.text);
        checked++;
    }
    assert_true(checked >= 20);
}

/* Independent mistakes are all reported, in the order of the file, each once; err (what the
 * runtime reports) holds the first. Settings that depend on a bad one are not checked against
 * it: the schema id of a bad framing, max_delay_ms against a bad delay_ms, a shared handler's
 * types against a listener whose value type is bad. */
static const char several_errors[] =
    "service = { name = \"svc\"; bootstrp = \"k:9092\"; };\n"                               /* 1 */
    "topics = (\n"                                                                          /* 2 */
    "  { name = \"t\"; partitions = 0; },\n"                                                /* 3 */
    "  { name = \"a b\"; }\n"                                                               /* 4 */
    ");\n"                                                                                  /* 5 */
    "templates = (\n"                                                                       /* 6 */
    "  { name = \"p\"; topic = \"t\"; colour = \"red\"; },\n"                               /* 7 */
    "  { name = \"q\"; topic = \"t\"; framing = \"magic\"; schema_id = 3; },\n"             /* 8 */
    "  { name = \"p\"; topic = \"u\"; }\n"                                                  /* 9 */
    ");\n"                                                                                  /* 10 */
    "listeners = (\n"                                                                       /* 11 */
    "  { id = \"a\"; topics = [ \"t\" ]; handler = \"on-a\"; },\n"                          /* 12 */
    "  { id = \"b\"; topics = [ \"t\", \"t\" ]; handler = \"h\"; ack = \"sometimes\"; },\n" /* 13 */
    "  { id = \"c\"; topics = [ \"t\" ]; handler = \"h\"; value = \"9lives\"; },\n"         /* 14 */
    "  { id = \"d\"; topics = [ \"t\" ]; handler = \"h\";\n"                                /* 15 */
    "    retry = { attempts = 0; backoff = { delay_ms = -1; max_delay_ms = 5; }; }; }\n"    /* 16 */
    ");\n";

static void test_several_errors(void **state) {
    (void)state;
    brook_decl_t *d = (brook_decl_t *)1;
    brook_error_t err = {0};
    diags_t diags = {0};
    assert_int_equal(
        brook_decl_parse_string_diag(several_errors, "svc.brook", &d, &err, collect, &diags),
        BROOK_ERR_DECL);
    assert_null(d);
    assert_string_equal(diags.text,
                        "svc.brook:1: service.bootstrp: unknown setting\n"
                        "svc.brook:3: topics[0].partitions: must be at least 1, got 0\n"
                        "svc.brook:4: topics[1].name: invalid topic name \"a b\" (letters, "
                        "digits, '.', '_' and '-', at most 249)\n"
                        "svc.brook:7: templates[0].colour: unknown setting\n"
                        "svc.brook:8: templates[1].framing: unknown framing \"magic\" (expected "
                        "single_object, confluent)\n"
                        "svc.brook:9: templates[2].name: duplicate template name \"p\" (first at "
                        "line 7)\n"
                        "svc.brook:12: listeners[0].handler: \"on-a\" is not a C identifier\n"
                        "svc.brook:13: listeners[1].topics[1]: duplicate topic \"t\"\n"
                        "svc.brook:13: listeners[1].ack: unknown ack mode \"sometimes\" (expected "
                        "record, batch, manual, record_sync)\n"
                        "svc.brook:14: listeners[2].value: invalid type \"9lives\" (expected "
                        "string, bytes, json or an Avro full name)\n"
                        "svc.brook:16: listeners[3].retry.attempts: must be at least 1, got 0\n"
                        "svc.brook:16: listeners[3].retry.backoff.delay_ms: must be at least 0, "
                        "got -1\n");
    assert_int_equal(diags.n, 12);
    assert_int_equal(err.code, BROOK_ERR_DECL);
    assert_string_equal(err.message, "svc.brook:1: service.bootstrp: unknown setting");

    /* The plain parser reports the same first error. */
    brook_error_t first = {0};
    assert_int_equal(brook_decl_parse_string(several_errors, "svc.brook", &d, &first),
                     BROOK_ERR_DECL);
    assert_string_equal(first.message, err.message);

    /* A syntax error stops everything: one error. */
    memset(&diags, 0, sizeof diags);
    assert_int_equal(brook_decl_parse_string_diag("service = { name = \"svc\" bogus };\nx = ;\n",
                                                  "svc.brook", &d, &err, collect, &diags),
                     BROOK_ERR_DECL);
    assert_int_equal(diags.n, 1);
    assert_string_equal(diags.text, "svc.brook:1: syntax error\n");

    /* Reading the file fails: the callback hears of it too. */
    memset(&diags, 0, sizeof diags);
    assert_int_equal(brook_decl_parse_file_diag(DATA "no-such.brook", &d, &err, collect, &diags),
                     BROOK_ERR_IO);
    assert_int_equal(diags.n, 1);
}

static void test_io_error(void **state) {
    (void)state;
    brook_decl_t *d = (brook_decl_t *)1;
    brook_error_t err = {0};
    assert_int_equal(brook_decl_parse_file(DATA "no-such.brook", &d, &err), BROOK_ERR_IO);
    assert_null(d);
    assert_string_equal(err.message, DATA "no-such.brook: cannot read: No such file or directory");
    assert_int_equal(brook_decl_parse_file(DATA, &d, &err), BROOK_ERR_IO);
    assert_string_equal(err.message, DATA ": cannot read: Is a directory");
}

/* ---- merge ----------------------------------------------------------------------------------- */

static void test_merge_tunables(void **state) {
    (void)state;
    brook_decl_t *base = NULL, *over = NULL;
    brook_error_t err = {0};
    assert_int_equal(brook_decl_parse_file(DATA "payment-service.brook", &base, &err), 0);
    assert_int_equal(brook_decl_parse_file(DATA "override.brook", &over, &err), 0);
    if (brook_decl_merge(base, over, &err) != 0)
        fail_msg("merge: %s", err.message);
    brook_decl_destroy(over);

    assert_string_equal(base->source, DATA "payment-service.brook");
    assert_string_equal(base->bootstrap, "kafka-1:9092,kafka-2:9092");
    assert_false(brook_decl_is_embedded(base));
    assert_int_equal(base->shutdown_timeout_ms, 5000);
    assert_int_equal(base->commit_interval_ms, 500);
    assert_int_equal(base->kafka_count, 2);
    assert_string_equal(kv_get(base->kafka, base->kafka_count, "linger.ms"), "20");
    assert_string_equal(kv_get(base->kafka, base->kafka_count, "acks"), "all");

    assert_int_equal(base->topic_count, 2);
    assert_int_equal(base->topics[0].partitions, 12);
    assert_int_equal(base->topics[0].config_count, 2);
    assert_string_equal(kv_get(base->topics[0].config, 2, "min.insync.replicas"), "1");
    assert_string_equal(kv_get(base->topics[0].config, 2, "retention.ms"), "86400000");
    assert_string_equal(base->topics[1].name, "audit.log");

    assert_true(base->templates[0].transactional);

    const brook_decl_listener_t *l = &base->listeners[0];
    assert_string_equal(l->group, "payment-service-prod");
    assert_int_equal(l->concurrency, 8);
    assert_int_equal(l->ack, BROOK_ACK_BATCH);
    assert_int_equal(l->start_from, BROOK_START_LATEST);
    assert_int_equal(l->retry.attempts, 2);
    assert_int_equal(l->retry.delay_ms, 500);
    assert_int_equal(l->retry.mode, BROOK_RETRY_BLOCKING);
    assert_int_equal(l->retry.not_retryable_count, 0);
    assert_false(l->dlt.enabled);
    assert_string_equal(l->dlt.topic, "orders.dead");
    /* Structure stays as embedded. */
    assert_string_equal(l->handler, "on_order_placed");
    assert_string_equal(l->value.type_name, "shop.OrderPlaced");
    brook_decl_destroy(base);
}

#define BASE                                                                                       \
    "service = { name = \"svc\"; };\n"                                                             \
    "templates = ( { name = \"p\"; topic = \"out\"; value = \"shop.Paid\"; } );\n"                 \
    "listeners = (\n"                                                                              \
    "  { id = \"charge\"; topics = [ \"a\", \"b\" ]; handler = \"on_b\"; value = \"json\"; }\n"    \
    ");\n"

typedef struct {
    const char *what;
    const char *over;
    const char *message;
} merge_case_t;

static const merge_case_t merge_cases[] = {
    {"handler",
     "service = { name = \"svc\"; };\n"
     "templates = ( { name = \"p\"; topic = \"out\"; value = \"shop.Paid\"; } );\n"
     "\n"
     "listeners = (\n"
     "  { id = \"charge\"; topics = [ \"a\", \"b\" ]; handler = \"on_a\"; value = \"json\"; }\n"
     ");\n",
     "override.brook:5: listeners[0] (\"charge\"): handler differs: \"on_a\" vs embedded "
     "\"on_b\""},
    {"topics",
     "service = { name = \"svc\"; };\n"
     "templates = ( { name = \"p\"; topic = \"out\"; value = \"shop.Paid\"; } );\n"
     "listeners = (\n"
     "  { id = \"charge\"; topics = [ \"a\" ]; handler = \"on_b\"; value = \"json\"; }\n"
     ");\n",
     "override.brook:4: listeners[0] (\"charge\"): topics differ: [\"a\"] vs embedded [\"a\", "
     "\"b\"]"},
    {"value type",
     "service = { name = \"svc\"; };\n"
     "templates = ( { name = \"p\"; topic = \"out\"; value = \"shop.Paid\"; } );\n"
     "listeners = (\n"
     "  { id = \"charge\"; topics = [ \"b\", \"a\" ]; handler = \"on_b\"; value = \"bytes\"; }\n"
     ");\n",
     "override.brook:4: listeners[0] (\"charge\"): value differs: \"bytes\" vs embedded "
     "\"json\""},
    {"pattern instead of topics",
     "service = { name = \"svc\"; };\n"
     "templates = ( { name = \"p\"; topic = \"out\"; value = \"shop.Paid\"; } );\n"
     "listeners = (\n"
     "  { id = \"charge\"; topic_pattern = \"^[ab]$\"; handler = \"on_b\"; value = \"json\"; }\n"
     ");\n",
     "override.brook:4: listeners[0] (\"charge\"): topics differ: [] vs embedded [\"a\", "
     "\"b\"]"},
    {"extra listener",
     "service = { name = \"svc\"; };\n"
     "templates = ( { name = \"p\"; topic = \"out\"; value = \"shop.Paid\"; } );\n"
     "listeners = (\n"
     "  { id = \"charge\"; topics = [ \"a\", \"b\" ]; handler = \"on_b\"; value = \"json\"; },\n"
     "  { id = \"refund\"; topics = [ \"c\" ]; handler = \"on_c\"; }\n"
     ");\n",
     "override.brook:5: listeners[1] (\"refund\"): not in the embedded declaration"},
    {"missing listener",
     "service = { name = \"svc\"; };\n"
     "templates = ( { name = \"p\"; topic = \"out\"; value = \"shop.Paid\"; } );\n",
     "override.brook:1: listener \"charge\" of the embedded declaration is missing"},
    {"template topic",
     "service = { name = \"svc\"; };\n"
     "templates = ( { name = \"p\"; topic = \"out2\"; value = \"shop.Paid\"; } );\n"
     "listeners = (\n"
     "  { id = \"charge\"; topics = [ \"a\", \"b\" ]; handler = \"on_b\"; value = \"json\"; }\n"
     ");\n",
     "override.brook:2: templates[0] (\"p\"): topic differs: \"out2\" vs embedded \"out\""},
    {"template value",
     "service = { name = \"svc\"; };\n"
     "templates = ( { name = \"p\"; topic = \"out\"; value = \"shop.Paid2\"; } );\n"
     "listeners = (\n"
     "  { id = \"charge\"; topics = [ \"a\", \"b\" ]; handler = \"on_b\"; value = \"json\"; }\n"
     ");\n",
     "override.brook:2: templates[0] (\"p\"): value differs: \"shop.Paid2\" vs embedded "
     "\"shop.Paid\""},
    {"missing template",
     "\nservice = { name = \"svc\"; };\n"
     "listeners = (\n"
     "  { id = \"charge\"; topics = [ \"a\", \"b\" ]; handler = \"on_b\"; value = \"json\"; }\n"
     ");\n",
     "override.brook:2: template \"p\" of the embedded declaration is missing"},
    {"service name", "service = { name = \"svc2\"; };\n",
     "override.brook:1: service: name differs: \"svc2\" vs embedded \"svc\""},
};

static void test_merge_structural(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(merge_cases) / sizeof(merge_cases[0]); i++) {
        const merge_case_t *c = &merge_cases[i];
        brook_decl_t *base = NULL, *over = NULL;
        brook_error_t err = {0};
        assert_int_equal(brook_decl_parse_string(BASE, "svc.brook", &base, &err), 0);
        if (brook_decl_parse_string(c->over, "override.brook", &over, &err) != 0)
            fail_msg("case \"%s\": %s", c->what, err.message);
        int rc = brook_decl_merge(base, over, &err);
        if (rc != BROOK_ERR_DECL || strcmp(err.message, c->message) != 0)
            fail_msg("case \"%s\": rc %d\n  expected: %s\n  got:      %s", c->what, rc, c->message,
                     err.message);
        /* A refused merge changes nothing. */
        assert_string_equal(base->listeners[0].handler, "on_b");
        brook_decl_destroy(over);
        brook_decl_destroy(base);
    }
}

/* The same declaration merged onto itself is a no-op. */
static void test_merge_identity(void **state) {
    (void)state;
    brook_decl_t *base = NULL, *over = NULL;
    brook_error_t err = {0};
    assert_int_equal(brook_decl_parse_file(DATA "payment-service.brook", &base, &err), 0);
    assert_int_equal(brook_decl_parse_file(DATA "payment-service.brook", &over, &err), 0);
    assert_int_equal(brook_decl_merge(base, over, &err), 0);
    assert_int_equal(base->kafka_count, 1);
    assert_int_equal(base->topic_count, 1);
    assert_int_equal(base->listeners[0].retry.not_retryable_count, 1);
    assert_string_equal(base->listeners[0].retry.not_retryable[0], "shop.InvalidOrder");
    assert_string_equal(base->bootstrap, "embedded");
    brook_decl_destroy(over);
    brook_decl_destroy(base);
}

/* ---- environment ----------------------------------------------------------------------------- */

static void test_env(void **state) {
    (void)state;
    brook_error_t err = {0};
    brook_decl_t *d = parse_ok("service = { name = \"svc\"; kafka = { linger_ms = 5; }; };\n");

    assert_int_equal(brook_decl_apply_env(d, &err), 0); /* nothing set: nothing changes */
    assert_null(d->bootstrap);
    assert_int_equal(d->kafka_count, 1);

    setenv("BROOK_BOOTSTRAP", "broker:9092", 1);
    setenv("BROOK_KAFKA_LINGER_MS", "50", 1);
    setenv("BROOK_KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
    setenv("BROOK_KAFKA_", "ignored", 1);
    assert_int_equal(brook_decl_apply_env(d, &err), 0);
    unsetenv("BROOK_BOOTSTRAP");
    unsetenv("BROOK_KAFKA_LINGER_MS");
    unsetenv("BROOK_KAFKA_SECURITY_PROTOCOL");
    unsetenv("BROOK_KAFKA_");

    assert_string_equal(d->bootstrap, "broker:9092");
    assert_false(brook_decl_is_embedded(d));
    assert_int_equal(d->kafka_count, 2);
    assert_string_equal(kv_get(d->kafka, d->kafka_count, "linger.ms"), "50");
    assert_string_equal(kv_get(d->kafka, d->kafka_count, "security.protocol"), "SASL_SSL");

    setenv("BROOK_BOOTSTRAP", "embedded", 1);
    assert_int_equal(brook_decl_apply_env(d, &err), 0);
    unsetenv("BROOK_BOOTSTRAP");
    assert_true(brook_decl_is_embedded(d));
    brook_decl_destroy(d);
}

/* Older versions of the service's types, read only (schema evolution). */
static void test_writer_schemas(void **state) {
    brook_decl_t *d = parse_ok("service = { name = \"svc\"; };\n"
                               "schemas = [ \"order.avsc\" ];\n"
                               "writer_schemas = [ \"v1/order.avsc\", \"v2/order.avsc\" ];\n");
    assert_int_equal(d->schema_count, 1);
    assert_int_equal(d->writer_schema_count, 2);
    assert_string_equal(d->writer_schemas[0], "v1/order.avsc");
    assert_string_equal(d->writer_schemas[1], "v2/order.avsc");
    brook_decl_destroy(d);
}

/* One listener: the group is the service's name; several: each its own. */
static void test_default_groups(void **state) {
    brook_decl_t *d =
        parse_ok("service = { name = \"svc\"; };\n"
                 "listeners = (\n"
                 "  { id = \"a\"; topics = [ \"t\" ]; handler = \"h\"; },\n"
                 "  { id = \"b\"; topics = [ \"u\" ]; handler = \"h\"; },\n"
                 "  { id = \"c\"; topics = [ \"v\" ]; handler = \"h\"; group = \"g\"; }\n"
                 ");\n");
    assert_string_equal(d->listeners[0].group, "svc.a");
    assert_string_equal(d->listeners[1].group, "svc.b");
    assert_string_equal(d->listeners[2].group, "g");
    brook_decl_destroy(d);
}

/* schema_registry: defaults, every setting, Confluent framing by default for templates, the
 * environment's url, an override's registry. */
static void test_registry(void **state) {
    (void)state;
    brook_decl_t *d = parse_ok("service = { name = \"svc\"; };\n"
                               "schema_registry = { url = \"http://r:8081/\"; };\n"
                               "templates = ( { name = \"a\"; topic = \"t\"; value = \"x.Y\"; },\n"
                               "  { name = \"b\"; topic = \"t\"; value = \"x.Y\";\n"
                               "    framing = \"single_object\"; } );\n");
    const brook_decl_registry_t *r = &d->registry;
    assert_true(r->declared);
    assert_int_equal(r->line, 2);
    assert_string_equal(r->url, "http://r:8081/");
    assert_int_equal(r->subject_strategy, BROOK_SUBJECT_TOPIC);
    assert_true(r->auto_register);
    assert_true(r->ssl_verify);
    assert_int_equal(r->timeout_ms, 10000);
    assert_int_equal(r->cache_capacity, 1000);
    assert_null(r->username);
    assert_int_equal(d->templates[0].framing, BROOK_AVRO_FRAMING_CONFLUENT);
    assert_int_equal(d->templates[1].framing, BROOK_AVRO_FRAMING_SINGLE_OBJECT);

    brook_error_t err = {0};
    setenv("BROOK_SCHEMA_REGISTRY_URL", "https://other:8081", 1);
    assert_int_equal(brook_decl_apply_env(d, &err), 0);
    assert_string_equal(r->url, "https://other:8081");

    /* Without a declared registry the variable changes nothing. */
    brook_decl_t *none = parse_ok("service = { name = \"svc\"; };\n");
    assert_int_equal(brook_decl_apply_env(none, &err), 0);
    unsetenv("BROOK_SCHEMA_REGISTRY_URL");
    assert_false(none->registry.declared);
    assert_null(none->registry.url);
    brook_decl_destroy(none);

    brook_decl_t *over = parse_ok(
        "service = { name = \"svc\"; };\n"
        "schema_registry = { url = \"https://reg\"; subject_strategy = \"topic_record\";\n"
        "  auto_register = false; username = \"u\"; password = \"p\"; ca_location = \"ca\";\n"
        "  certificate_location = \"crt\"; key_location = \"key\"; key_password = \"kp\";\n"
        "  ssl_verify = false; timeout_ms = 500; cache_capacity = 3; };\n"
        "templates = ( { name = \"a\"; topic = \"t\"; value = \"x.Y\"; },\n"
        "  { name = \"b\"; topic = \"t\"; value = \"x.Y\"; } );\n");
    assert_int_equal(brook_decl_merge(d, over, &err), 0);
    brook_decl_destroy(over);
    assert_string_equal(r->url, "https://reg");
    assert_int_equal(r->subject_strategy, BROOK_SUBJECT_TOPIC_RECORD);
    assert_false(r->auto_register);
    assert_string_equal(r->username, "u");
    assert_string_equal(r->password, "p");
    assert_string_equal(r->ca_location, "ca");
    assert_string_equal(r->certificate_location, "crt");
    assert_string_equal(r->key_location, "key");
    assert_string_equal(r->key_password, "kp");
    assert_false(r->ssl_verify);
    assert_int_equal(r->timeout_ms, 500);
    assert_int_equal(r->cache_capacity, 3);
    /* The override declares no framing: the templates keep theirs. */
    assert_int_equal(d->templates[1].framing, BROOK_AVRO_FRAMING_SINGLE_OBJECT);
    brook_decl_destroy(d);
}

/* auto_startup: false keeps a listener from starting with the app; an override file may turn
 * it either way (a tunable). */
static void test_auto_startup(void **state) {
    (void)state;
    brook_decl_t *base = parse_ok(LISTENER("auto_startup = false;"));
    assert_false(base->listeners[0].auto_startup);
    brook_decl_t *over = parse_ok(LISTENER("auto_startup = true;"));
    brook_error_t err = {0};
    if (brook_decl_merge(base, over, &err) != 0)
        fail_msg("merge: %s", err.message);
    assert_true(base->listeners[0].auto_startup);
    brook_decl_destroy(over);
    over = parse_ok(LISTENER("auto_startup = false;"));
    assert_int_equal(brook_decl_merge(base, over, &err), 0);
    assert_false(base->listeners[0].auto_startup);
    brook_decl_destroy(over);
    brook_decl_destroy(base);
}

/* retry.preserve_key_order (docs/ordered-retries.md): parsed, refused where it cannot work, and
 * structural in an override. */
static void test_preserve_key_order(void **state) {
    (void)state;
    brook_decl_t *d =
        parse_ok(LISTENER("retry = { mode = \"topics\"; preserve_key_order = true; };"));
    assert_true(d->listeners[0].retry.preserve_key_order);
    brook_decl_t *plain = parse_ok(LISTENER("retry = { mode = \"topics\"; };"));
    assert_false(plain->listeners[0].retry.preserve_key_order);
    static const struct {
        const char *text, *message;
    } bad[] = {
        {LISTENER("retry = { preserve_key_order = true; };"),
         "svc.brook:4: listeners[0].retry.preserve_key_order: needs retry mode \"topics\" "
         "(blocking retries keep each partition in order already)"},
        {LISTENER("retry = { mode = \"topics\"; preserve_key_order = \"yes\"; };"),
         "svc.brook:4: listeners[0].retry.preserve_key_order: expected a boolean, got a string"},
        {LISTENER("exactly_once = true;\n"
                  "    retry = { mode = \"topics\"; preserve_key_order = true; };"),
         "svc.brook:5: listeners[0].retry.preserve_key_order: is not supported with "
         "exactly_once"},
        {LISTENER("ack = \"manual\";\n"
                  "    retry = { mode = \"topics\"; preserve_key_order = true; };"),
         "svc.brook:5: listeners[0].retry.preserve_key_order: needs ack \"record\" (a parked "
         "record is acknowledged by Brook)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        brook_decl_t *x = NULL;
        brook_error_t err = {0};
        assert_int_not_equal(brook_decl_parse_string(bad[i].text, "svc.brook", &x, &err), 0);
        assert_string_equal(err.message, bad[i].message);
        assert_null(x);
    }
    /* Structural: it changes the topics and the subscription. */
    brook_error_t err = {0};
    assert_int_not_equal(brook_decl_merge(plain, d, &err), 0);
    assert_string_equal(err.message,
                        "svc.brook:4: listeners[0] (\"a\"): retry.preserve_key_order differs: "
                        "true vs embedded false (it changes the topics and the subscription)");
    brook_decl_destroy(plain);
    brook_decl_destroy(d);
}

/* A listener's filter functions; an override may not change them (the code binds them). */
static void test_filter_names(void **state) {
    (void)state;
    brook_decl_t *d = parse_ok(LISTENER("filter = \"keep\"; raw_filter = \"keep_raw\";"));
    assert_string_equal(d->listeners[0].filter, "keep");
    assert_string_equal(d->listeners[0].raw_filter, "keep_raw");
    brook_decl_t *none = parse_ok(LISTENER(""));
    assert_null(none->listeners[0].filter);
    assert_null(none->listeners[0].raw_filter);
    brook_error_t err = {0};
    assert_int_equal(brook_decl_merge(d, none, &err), BROOK_ERR_DECL);
    assert_non_null(strstr(err.message, "listeners[0] (\"a\"): filters differ"));
    brook_decl_destroy(none);
    brook_decl_destroy(d);
}

/* Batch listeners (docs/batch-listeners.md): the block and its bounds, what it cannot be
 * combined with (each reported once, at the setting), a handler a record listener shares, and
 * the merge: the block is structural (it changes the handler's prototype), its sizes tunables. */
static const invalid_case_t batch_cases[] = {
    {"batch a boolean", LISTENER("batch = true;"),
     "svc.brook:4: listeners[0].batch: expected a group, got a boolean"},
    {"batch max_records 0", LISTENER("batch = { max_records = 0; };"),
     "svc.brook:4: listeners[0].batch.max_records: must be between 1 and 1000000, got 0"},
    {"batch max_wait_ms negative", LISTENER("batch = { max_wait_ms = -1; };"),
     "svc.brook:4: listeners[0].batch.max_wait_ms: must be between 0 and 3600000, got -1"},
    {"unknown batch setting", LISTENER("batch = { max_bytes = 1; };"),
     "svc.brook:4: listeners[0].batch.max_bytes: unknown setting"},
    {"batch and exactly_once", LISTENER("batch = {}; exactly_once = true;"),
     "svc.brook:4: listeners[0].exactly_once: a batch listener cannot be exactly-once (not "
     "supported)"},
    {"batch and ack manual", LISTENER("batch = {}; ack = \"manual\";"),
     "svc.brook:4: listeners[0].ack: a batch listener stores its offsets after each batch: "
     "\"record\" (committed every commit_interval_ms) or \"batch\" (committed after each batch), "
     "not \"manual\""},
    {"batch and ack record_sync", LISTENER("batch = {}; ack = \"record_sync\";"),
     "svc.brook:4: listeners[0].ack: a batch listener stores its offsets after each batch: "
     "\"record\" (committed every commit_interval_ms) or \"batch\" (committed after each batch), "
     "not \"record_sync\""},
    {"batch and a filter", LISTENER("batch = {}; filter = \"keep\";"),
     "svc.brook:4: listeners[0].filter: a batch listener has no record filters (not supported)"},
    {"a handler shared by a batch and a record listener",
     SVC "listeners = (\n"
         "  { id = \"a\"; topics = [ \"t\" ]; handler = \"h\"; batch = {}; },\n"
         "  { id = \"b\"; topics = [ \"u\" ]; handler = \"h\"; }\n"
         ");\n",
     "svc.brook:4: listeners[1].handler: handler \"h\" of listener \"a\" (line 3) is a batch "
     "handler"},
    /* Valid: what a batch listener can be. */
    {"batch, ack batch, retry topics, exactly_once false",
     LISTENER("batch = {}; ack = \"batch\"; exactly_once = false; retry = { mode = \"topics\"; };"),
     NULL},
};

static void test_batch(void **state) {
    (void)state;
    brook_decl_t *d = parse_ok(LISTENER("batch = { max_records = 50; max_wait_ms = 0; };"));
    assert_true(d->listeners[0].batch);
    assert_int_equal(d->listeners[0].batch_max_records, 50);
    assert_int_equal(d->listeners[0].batch_max_wait_ms, 0);
    assert_int_equal(d->listeners[0].batch_line, 4);
    brook_decl_t *e = parse_ok(LISTENER("batch = {};"));
    assert_true(e->listeners[0].batch);
    assert_int_equal(e->listeners[0].batch_max_records, 500);
    assert_int_equal(e->listeners[0].batch_max_wait_ms, 100);
    brook_decl_t *none = parse_ok(LISTENER(""));
    assert_false(none->listeners[0].batch);

    for (size_t i = 0; i < sizeof(batch_cases) / sizeof(batch_cases[0]); i++) {
        const invalid_case_t *c = &batch_cases[i];
        brook_decl_t *x = NULL;
        brook_error_t err = {0};
        diags_t diags = {0};
        int rc = brook_decl_parse_string_diag(c->text, "svc.brook", &x, &err, collect, &diags);
        if (!c->message) {
            if (rc != 0)
                fail_msg("case \"%s\": unexpected error: %s", c->what, err.message);
            assert_true(x->listeners[0].batch);
            brook_decl_destroy(x);
            continue;
        }
        if (rc != BROOK_ERR_DECL || strcmp(err.message, c->message) != 0)
            fail_msg("case \"%s\": rc %d\n  expected: %s\n  got:      %s", c->what, rc, c->message,
                     err.message);
        if (diags.n != 1)
            fail_msg("case \"%s\": reported %zu errors, not once:\n%s", c->what, diags.n,
                     diags.text);
    }

    /* Sizes are tunables: an override file changes them. */
    brook_error_t err = {0};
    if (brook_decl_merge(e, d, &err) != 0)
        fail_msg("merge: %s", err.message);
    assert_int_equal(e->listeners[0].batch_max_records, 50);
    assert_int_equal(e->listeners[0].batch_max_wait_ms, 0);
    /* Being a batch listener is not: either way it is refused, naming it. */
    assert_int_equal(brook_decl_merge(none, d, &err), BROOK_ERR_DECL);
    assert_string_equal(err.message, "svc.brook:3: listeners[0] (\"a\"): batch differs: declared "
                                     "vs embedded none (it changes the handler's prototype)");
    assert_false(none->listeners[0].batch);
    assert_int_equal(brook_decl_merge(d, none, &err), BROOK_ERR_DECL);
    assert_string_equal(err.message, "svc.brook:3: listeners[0] (\"a\"): batch differs: none vs "
                                     "embedded declared (it changes the handler's prototype)");
    assert_true(d->listeners[0].batch);
    brook_decl_destroy(none);
    brook_decl_destroy(e);
    brook_decl_destroy(d);
}

/* ---- request-reply (docs/request-reply.md) -------------------------------------------------- */

#define RR_SVC "service = { name = \"svc\"; };\n" /* line 1 */

static const invalid_case_t reply_cases[] = {
    {"valid control",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\";\n"
            "    reply = { topic = \"b\"; partition = 2; }; }\n);\n",
     NULL},
    {"reply without topic",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\";\n"
            "    reply = { value = \"string\"; }; }\n);\n",
     "svc.brook:4: templates[0].reply: missing required setting \"topic\""},
    {"reply to its own topic",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\";\n"
            "    reply = { topic = \"a\"; }; }\n);\n",
     "svc.brook:4: templates[0].reply.topic: \"a\" is the template's own topic (its requests "
     "would be read as replies)"},
    {"bad reply topic",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\";\n"
            "    reply = { topic = \"a b\"; }; }\n);\n",
     "svc.brook:4: templates[0].reply.topic: invalid topic name \"a b\" (letters, digits, '.', "
     "'_' and '-', at most 249)"},
    {"negative reply partition",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\";\n"
            "    reply = { topic = \"b\"; partition = -1; }; }\n);\n",
     "svc.brook:4: templates[0].reply.partition: must be at least 0, got -1"},
    {"zero reply timeout",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\";\n"
            "    reply = { topic = \"b\"; timeout_ms = 0; }; }\n);\n",
     "svc.brook:4: templates[0].reply.timeout_ms: must be at least 1, got 0"},
    {"bad reply type",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\";\n"
            "    reply = { topic = \"b\"; value = \"x..y\"; }; }\n);\n",
     "svc.brook:4: templates[0].reply.value: invalid type \"x..y\" (expected string, bytes, json "
     "or an Avro full name)"},
    {"unknown reply setting",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\";\n"
            "    reply = { topic = \"b\"; colour = 1; }; }\n);\n",
     "svc.brook:4: templates[0].reply.colour: unknown setting"},
    {"reply not a group",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\";\n"
            "    reply = \"b\"; }\n);\n",
     "svc.brook:4: templates[0].reply: expected a group, got a string"},
    {"transactional requester",
     RR_SVC "templates = (\n  { name = \"q\"; topic = \"a\"; transactional = true;\n"
            "    reply = { topic = \"b\"; }; }\n);\n",
     "svc.brook:4: templates[0].reply: a transactional template cannot make requests (a request in "
     "a transaction is seen only once it commits, after the reply it waits for)"},
    {"listener replies through an undeclared template",
     RR_SVC "templates = ( { name = \"r\"; topic = \"b\"; } );\n"
            "listeners = (\n  { id = \"l\"; topics = [ \"a\" ]; handler = \"h\";\n"
            "    reply = \"s\"; }\n);\n",
     "svc.brook:5: listeners[0].reply: no template \"s\" is declared"},
    {"listener reply not a string",
     RR_SVC "templates = ( { name = \"r\"; topic = \"b\"; } );\n"
            "listeners = (\n  { id = \"l\"; topics = [ \"a\" ]; handler = \"h\";\n"
            "    reply = 3; }\n);\n",
     "svc.brook:5: listeners[0].reply: expected a string, got an integer"},
    {"reply key type differs",
     RR_SVC "templates = ( { name = \"r\"; topic = \"b\"; key = \"bytes\"; } );\n"
            "listeners = (\n  { id = \"l\"; topics = [ \"a\" ]; handler = \"h\";\n"
            "    reply = \"r\"; }\n);\n",
     "svc.brook:5: listeners[0].reply: template \"r\" sends key type \"bytes\", the listener reads "
     "\"string\" (a reply's key is its request's)"},
    {"reply through a transactional template outside a transaction",
     RR_SVC "templates = ( { name = \"r\"; topic = \"b\"; transactional = true; } );\n"
            "listeners = (\n  { id = \"l\"; topics = [ \"a\" ]; handler = \"h\";\n"
            "    reply = \"r\"; }\n);\n",
     "svc.brook:5: listeners[0].reply: template \"r\" is transactional: only an exactly-once "
     "listener can reply through it"},
    {"exactly-once reply through a transactional template",
     RR_SVC "templates = ( { name = \"r\"; topic = \"b\"; transactional = true; } );\n"
            "listeners = (\n  { id = \"l\"; topics = [ \"a\" ]; handler = \"h\";\n"
            "    reply = \"r\"; exactly_once = true; }\n);\n",
     NULL},
    {"shared handler, one replies",
     RR_SVC
     "templates = ( { name = \"r\"; topic = \"b\"; } );\n"
     "listeners = (\n  { id = \"l\"; topics = [ \"a\" ]; handler = \"h\"; reply = \"r\"; },\n"
     "  { id = \"m\"; topics = [ \"c\" ]; handler = \"h\"; }\n);\n",
     "svc.brook:5: listeners[1].handler: handler \"h\" of listener \"l\" (line 4) fills another "
     "reply type"},
    {"shared handler, same reply type",
     RR_SVC
     "templates = ( { name = \"r\"; topic = \"b\"; value = \"json\"; },\n"
     "              { name = \"s\"; topic = \"d\"; value = \"json\"; } );\n"
     "listeners = (\n  { id = \"l\"; topics = [ \"a\" ]; handler = \"h\"; reply = \"r\"; },\n"
     "  { id = \"m\"; topics = [ \"c\" ]; handler = \"h\"; reply = \"s\"; }\n);\n",
     NULL},
};

static void test_reply(void **state) {
    (void)state;
    brook_decl_t *d = parse_ok(
        RR_SVC "templates = (\n"
               "  { name = \"q\"; topic = \"asks\"; value = \"json\";\n"
               "    reply = { topic = \"answers\"; partition = 3; value = \"shop.Quote\";\n"
               "              timeout_ms = 250; }; },\n"
               "  { name = \"r\"; topic = \"answers\"; reply = { topic = \"more\"; }; },\n"
               "  { name = \"plain\"; topic = \"asks\"; }\n"
               ");\n"
               "listeners = ( { id = \"l\"; topics = [ \"asks\" ]; handler = \"h\";\n"
               "                reply = \"r\"; } );\n");
    const brook_decl_reply_t *r = &d->templates[0].reply;
    assert_true(r->declared);
    assert_string_equal(r->topic, "answers");
    assert_int_equal(r->partition, 3);
    assert_int_equal(r->value.kind, BROOK_SERDE_AVRO);
    assert_string_equal(r->value.type_name, "shop.Quote");
    assert_int_equal(r->timeout_ms, 250);
    assert_int_equal(r->line, 4);
    /* Defaults. */
    r = &d->templates[1].reply;
    assert_true(r->declared);
    assert_int_equal(r->partition, -1);
    assert_int_equal(r->value.kind, BROOK_SERDE_BYTES);
    assert_int_equal(r->timeout_ms, 5000);
    assert_false(d->templates[2].reply.declared);
    assert_string_equal(d->listeners[0].reply, "r");
    assert_int_equal(d->listeners[0].reply_line, 10);

    /* Merge: the reply's topic, partition and timeout are tunables (each instance its own)... */
    brook_decl_t *over = parse_ok(
        RR_SVC "templates = (\n"
               "  { name = \"q\"; topic = \"asks\"; value = \"json\";\n"
               "    reply = { topic = \"answers.b\"; partition = 0; value = \"shop.Quote\";\n"
               "              timeout_ms = 900; }; },\n"
               "  { name = \"r\"; topic = \"answers\"; reply = { topic = \"more\"; }; },\n"
               "  { name = \"plain\"; topic = \"asks\"; }\n"
               ");\n"
               "listeners = ( { id = \"l\"; topics = [ \"asks\" ]; handler = \"h\";\n"
               "                reply = \"r\"; } );\n");
    brook_error_t err = {0};
    if (brook_decl_merge(d, over, &err))
        fail_msg("merge: %s", err.message);
    assert_string_equal(d->templates[0].reply.topic, "answers.b");
    assert_int_equal(d->templates[0].reply.partition, 0);
    assert_int_equal(d->templates[0].reply.timeout_ms, 900);
    brook_decl_destroy(over);
    /* ... its type and whether there is one are not; nor a listener's reply template. */
    static const struct {
        const char *text, *message;
    } structural[] = {
        {RR_SVC "templates = (\n"
                "  { name = \"q\"; topic = \"asks\"; value = \"json\";\n"
                "    reply = { topic = \"answers\"; value = \"string\"; }; },\n"
                "  { name = \"r\"; topic = \"answers\"; reply = { topic = \"more\"; }; },\n"
                "  { name = \"plain\"; topic = \"asks\"; }\n"
                ");\n"
                "listeners = ( { id = \"l\"; topics = [ \"asks\" ]; handler = \"h\";\n"
                "                reply = \"r\"; } );\n",
         "svc.brook:4: templates[0] (\"q\"): reply differs: value type \"string\" vs embedded "
         "value type \"shop.Quote\""},
        {RR_SVC "templates = (\n"
                "  { name = \"q\"; topic = \"asks\"; value = \"json\";\n"
                "    reply = { topic = \"answers\"; value = \"shop.Quote\"; }; },\n"
                "  { name = \"r\"; topic = \"answers\"; },\n"
                "  { name = \"plain\"; topic = \"asks\"; }\n"
                ");\n"
                "listeners = ( { id = \"l\"; topics = [ \"asks\" ]; handler = \"h\";\n"
                "                reply = \"r\"; } );\n",
         "svc.brook:5: templates[1] (\"r\"): reply differs: none vs embedded value type \"bytes\""},
        {RR_SVC "templates = (\n"
                "  { name = \"q\"; topic = \"asks\"; value = \"json\";\n"
                "    reply = { topic = \"answers\"; value = \"shop.Quote\"; }; },\n"
                "  { name = \"r\"; topic = \"answers\"; reply = { topic = \"more\"; }; },\n"
                "  { name = \"plain\"; topic = \"asks\"; }\n"
                ");\n"
                "listeners = ( { id = \"l\"; topics = [ \"asks\" ]; handler = \"h\"; } );\n",
         "svc.brook:8: listeners[0] (\"l\"): reply differs: none vs embedded \"r\""},
    };
    for (size_t i = 0; i < sizeof(structural) / sizeof(structural[0]); i++) {
        over = parse_ok(structural[i].text);
        assert_int_equal(brook_decl_merge(d, over, &err), BROOK_ERR_DECL);
        assert_string_equal(err.message, structural[i].message);
        brook_decl_destroy(over);
    }
    brook_decl_destroy(d);

    /* Each mistake reported once, with its file:line. */
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        const invalid_case_t *c = &reply_cases[i];
        brook_decl_t *bad = (brook_decl_t *)1;
        diags_t diags = {0};
        int rc = brook_decl_parse_string_diag(c->text, "svc.brook", &bad, &err, collect, &diags);
        if (!c->message) {
            if (rc != 0)
                fail_msg("case \"%s\": unexpected error: %s", c->what, err.message);
            brook_decl_destroy(bad);
            continue;
        }
        if (rc != BROOK_ERR_DECL || strcmp(err.message, c->message) != 0)
            fail_msg("case \"%s\" (%d):\n  expected: %s\n  got:      %s", c->what, rc, c->message,
                     err.message);
        assert_null(bad);
        if (diags.n != 1)
            fail_msg("case \"%s\": reported %zu errors, not once:\n%s", c->what, diags.n,
                     diags.text);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_names),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_registry),         cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_every_setting),
        cmocka_unit_test(test_retry_delays_cap), cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_several_errors),   cmocka_unit_test(test_io_error),
        cmocka_unit_test(test_merge_tunables),   cmocka_unit_test(test_merge_structural),
        cmocka_unit_test(test_merge_identity),   cmocka_unit_test(test_env),
        cmocka_unit_test(test_writer_schemas),   cmocka_unit_test(test_default_groups),
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_auto_startup),
        cmocka_unit_test(test_preserve_key_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
