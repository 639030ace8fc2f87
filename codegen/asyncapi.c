/*
 * brookc --asyncapi: a service's AsyncAPI 3.0.0 document, in JSON.
 *
 * Channels are the topics the service touches (topology.c), the address of each being the
 * topic's name, with Kafka channel bindings for what the declaration says of it. Operations are
 * its templates (send), its listeners (receive, with their consumer group as a Kafka operation
 * binding), a retry-topic listener's reading of its retry topics (receive), and the forwards the
 * runtime makes for a listener to its retry and dead-letter topics (send). Avro values and keys
 * are Avro schemas (schemaFormat application/vnd.apache.avro;version=1.9.0), each named type
 * once in components.schemas, self-contained, with defaults, docs and logical types; records
 * in retry and dead-letter topics carry Spring's failure headers, described once each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brookc.h"
#include "recover/topics.h"

#define AVRO_FORMAT "application/vnd.apache.avro;version=1.9.0"
#define KAFKA_BINDING "0.5.0"
#define RETRY_HEADERS "brook.RetryTopicHeaders"
#define DLT_HEADERS "brook.DeadLetterHeaders"

typedef struct {
    const brook_decl_t *d;
    model_t *model;
    json_t *channels, *operations, *messages, *schemas;
    topic_set_t topics;
} doc_t;

/* The failure headers of a record in a retry topic or a DLT. */
typedef enum { HDR_NONE, HDR_RETRY_TOPIC, HDR_DLT } headers_t;

#define UTF8 "UTF-8 text"
#define BE32 "4-byte big-endian int"
#define BE64 "8-byte big-endian long"
#define BIGINT "Java BigInteger.toByteArray(): minimal big-endian two's complement, 1 to 8 bytes"

/* docs/failure-handling.md, "Headers": the name a listener with retry topics writes (Spring's
 * retry topics), the name a plain DLT forward writes (Spring's DeadLetterPublishingRecoverer;
 * NULL: not written), how the value is encoded, and what it says. */
static const struct {
    const char *retry, *dlt, *encoding, *meaning;
} failure_headers[] = {
    {BROOK_HDR_EX_FQCN, BROOK_HDR_DLT_FQCN, UTF8,
     "the failure's name: brook_ctx_fail's, brook.DeserializationError or brook.HandlerFailure"},
    {BROOK_HDR_EX_MESSAGE, BROOK_HDR_DLT_MESSAGE, UTF8, "the failure's message (may be empty)"},
    {BROOK_HDR_EX_STACKTRACE, BROOK_HDR_DLT_STACKTRACE, UTF8,
     "where it failed, as a Java stack trace: <name>: <message>, then \\tat <handler>(listener "
     "<id>)"},
    {BROOK_HDR_ORIG_TOPIC, BROOK_HDR_DLT_TOPIC, UTF8, "the topic the record was read from"},
    {BROOK_HDR_ORIG_PARTITION, BROOK_HDR_DLT_PARTITION, BE32, "its partition there"},
    {BROOK_HDR_ORIG_OFFSET, BROOK_HDR_DLT_OFFSET, BE64, "its offset there"},
    {BROOK_HDR_ORIG_TIMESTAMP, BROOK_HDR_DLT_TIMESTAMP, BE64, "its timestamp (epoch ms)"},
    {BROOK_HDR_ORIG_TIMESTAMP_TYPE, BROOK_HDR_DLT_TIMESTAMP_TYPE, UTF8,
     "CreateTime, LogAppendTime or NoTimestampType"},
    {BROOK_HDR_DLT_GROUP, BROOK_HDR_DLT_GROUP, UTF8, "the listener's consumer group"},
    {BROOK_HDR_ORIGINAL_TS, NULL, BIGINT, "the first record's timestamp (epoch ms)"},
    {BROOK_HDR_ATTEMPTS, NULL, BE32 " (readers also take 1 byte)",
     "the delivery the record will be: 2 on the first retry record; on the DLT, the deliveries "
     "made plus one"},
    {BROOK_HDR_BACKOFF_TS, NULL, BIGINT,
     "epoch ms when the record is due; on the DLT, when it was forwarded"},
};

static json_t *headers_schema(headers_t h) {
    json_t *props = json_object();
    for (size_t i = 0; i < sizeof(failure_headers) / sizeof(failure_headers[0]); i++) {
        const char *name = h == HDR_RETRY_TOPIC ? failure_headers[i].retry : failure_headers[i].dlt;
        if (!name)
            continue;
        const char *enc = failure_headers[i].encoding;
        json_t *p = json_pack("{s:s}", "type", "string");
        if (strcmp(enc, UTF8))
            json_object_set_new(p, "format", json_string("binary"));
        char *desc = xprintf("%s: %s", enc, failure_headers[i].meaning);
        json_object_set_new(p, "description", json_string(desc));
        free(desc);
        json_object_set_new(props, name, p);
    }
    const char *what =
        h == HDR_RETRY_TOPIC
            ? "What a listener with retry topics adds to a record it forwards to a retry topic or "
              "its DLT, named as Spring's retry topics name them (kafka_original-*, "
              "kafka_exception-*, and a retry_topic-* triple appended on each hop). The record "
              "keeps its key, value and every other header; readers take the last value of a "
              "repeated header."
            : "What a listener without retry topics adds to a record it forwards to its DLT, "
              "named as Spring's DeadLetterPublishingRecoverer names them (kafka_dlt-*). The "
              "record keeps its key, value and every other header; readers take the last value "
              "of a repeated header.";
    return json_pack("{s:s,s:s,s:o}", "type", "object", "description", what, "properties", props);
}

/* A component, channel or operation id: the characters AsyncAPI allows in component keys, and
 * unique within `in`. */
static char *unique_id(json_t *in, const char *base) {
    char *id = xstrdup(base);
    for (char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == '_'))
            *p = '_';
    for (int k = 2; json_object_get(in, id); k++) {
        char *base_id = xstrdup(id);
        free(id);
        id = xprintf("%s-%d", base_id, k);
        free(base_id);
    }
    return id;
}

/* {"$ref": "#/components/schemas/<name>"} for Avro type `name`, defining the component (an Avro
 * schema) the first time. */
static json_t *avro_ref(doc_t *c, const char *name) {
    if (!json_object_get(c->schemas, name)) {
        char *text = model_doc_json(model_find(c->model, name));
        json_error_t err;
        json_t *schema = json_loads(text, 0, &err);
        free(text);
        json_object_set_new(c->schemas, name,
                            json_pack("{s:s,s:o}", "schemaFormat", AVRO_FORMAT, "schema", schema));
    }
    char *ref = xprintf("#/components/schemas/%s", name);
    json_t *r = json_pack("{s:s}", "$ref", ref);
    free(ref);
    return r;
}

/* How a key or value that is not Avro is written. */
static const char *encoding(brook_serde_kind_t kind) {
    return kind == BROOK_SERDE_BYTES  ? "raw bytes"
           : kind == BROOK_SERDE_JSON ? "UTF-8 JSON text"
                                      : "UTF-8 text";
}

/* The schema of a key or value that is not Avro, or a reference to the Avro one. A key's is
 * read as Avro in a message whose payload is Avro, so it keeps to what both JSON Schema and Avro
 * take. */
static json_t *serde_schema(doc_t *c, const brook_decl_serde_t *s, bool key) {
    switch (s->kind) {
    case BROOK_SERDE_JSON:
        if (!key) /* any JSON value: a payload's schema is the value's, not the text's */
            return json_pack("{s:s}", "description", "any JSON value, as UTF-8 JSON text");
        /* fall through */
    case BROOK_SERDE_STRING:
        return json_pack("{s:s,s:s}", "type", "string", "description", encoding(s->kind));
    case BROOK_SERDE_BYTES:
        return json_pack("{s:s,s:s,s:s}", "type", "string", "format", "binary", "description",
                         encoding(s->kind));
    case BROOK_SERDE_AVRO:
        break;
    }
    return avro_ref(c, s->type_name);
}

static const char *content_type(const brook_decl_serde_t *value) {
    switch (value->kind) {
    case BROOK_SERDE_STRING:
        return "text/plain";
    case BROOK_SERDE_JSON:
        return "application/json";
    default:
        return "application/octet-stream";
    }
}

/* The id of the message of this key, value, framing (t: a template's, or NULL) and failure
 * headers, defined in components.messages the first time. */
static char *message(doc_t *c, const brook_decl_serde_t *key, const brook_decl_serde_t *value,
                     const brook_decl_template_t *t, headers_t h) {
    bool avro = value->kind == BROOK_SERDE_AVRO;
    bool confluent = avro && t && t->framing == BROOK_AVRO_FRAMING_CONFLUENT;
    sb_t id = {0};
    sb_puts(&id, brook_decl_serde_name(value));
    if (key->kind != BROOK_SERDE_STRING)
        sb_printf(&id, ".key-%s", brook_decl_serde_name(key));
    if (confluent)
        sb_printf(&id, ".confluent-%d", (int)t->schema_id);
    if (h != HDR_NONE)
        sb_puts(&id, h == HDR_RETRY_TOPIC ? ".retry-headers" : ".dlt-headers");
    char *name = sb_take(&id);
    if (json_object_get(c->messages, name))
        return name;

    sb_t desc = {0};
    if (confluent)
        sb_printf(&desc,
                  "Value: Avro binary of %s in Confluent Schema Registry framing (00, the 4-byte "
                  "big-endian schema id %d, the datum).",
                  value->type_name, (int)t->schema_id);
    else if (avro)
        sb_printf(&desc,
                  "Value: Avro binary of %s in Avro's single-object encoding (C3 01, the 8-byte "
                  "little-endian CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form, "
                  "the datum); Brook's readers also take Confluent's framing (00, a 4-byte "
                  "big-endian schema id, the datum), told apart by the first byte.",
                  value->type_name);
    else
        sb_printf(&desc, "Value: %s.", encoding(value->kind));
    sb_printf(&desc, " Key: %s.",
              key->kind == BROOK_SERDE_AVRO ? "Avro, framed as values are" : encoding(key->kind));
    if (h != HDR_NONE)
        sb_puts(&desc, " As forwarded after a failure, with the failure headers; a value that "
                       "could not be decoded is forwarded as the raw bytes it was.");
    char *d = sb_take(&desc);
    json_t *kafka = json_pack("{s:o}", "key", serde_schema(c, key, true));
    if (confluent) {
        json_object_set_new(kafka, "schemaIdLocation", json_string("payload"));
        json_object_set_new(kafka, "schemaIdPayloadEncoding", json_string("confluent"));
    }
    json_object_set_new(kafka, "bindingVersion", json_string(KAFKA_BINDING));
    json_t *m = json_pack("{s:s,s:s,s:s,s:o}", "name", name, "contentType", content_type(value),
                          "description", d, "payload", serde_schema(c, value, false));
    free(d);
    if (h != HDR_NONE) {
        const char *hname = h == HDR_RETRY_TOPIC ? RETRY_HEADERS : DLT_HEADERS;
        if (!json_object_get(c->schemas, hname))
            json_object_set_new(c->schemas, hname, headers_schema(h));
        char *ref = xprintf("#/components/schemas/%s", hname);
        json_object_set_new(m, "headers", json_pack("{s:s}", "$ref", ref));
        free(ref);
    }
    json_object_set_new(m, "bindings", json_pack("{s:o}", "kafka", kafka));
    json_object_set_new(c->messages, name, m);
    return name;
}

/* ---- channels --------------------------------------------------------------------------- */

static bool is_integer(const char *s) {
    char *end;
    strtoll(s, &end, 10);
    return *s && !*end;
}

/* A declared topic config as Kafka's channel binding types it. */
static json_t *config_value(const brook_decl_kv_t *kv) {
    static const char *const ints[] = {"retention.ms", "retention.bytes", "delete.retention.ms",
                                       "max.message.bytes"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (!strcmp(kv->name, ints[i]) && is_integer(kv->value))
            return json_integer(strtoll(kv->value, NULL, 10));
    if (!strcmp(kv->name, "cleanup.policy")) {
        json_t *a = json_array();
        char *copy = xstrdup(kv->value);
        for (char *save = NULL, *p = strtok_r(copy, ", ", &save); p;
             p = strtok_r(NULL, ", ", &save))
            json_array_append_new(a, json_string(p));
        free(copy);
        return a;
    }
    if (!strncmp(kv->name, "confluent.", 10) && strstr(kv->name, ".schema.validation") &&
        (!strcmp(kv->value, "true") || !strcmp(kv->value, "false")))
        return json_boolean(!strcmp(kv->value, "true"));
    return json_string(kv->value);
}

static json_t *channel_bindings(const doc_t *c, const topic_t *t) {
    /* retry and DLT topics get their source topic's partitions and replication */
    const brook_decl_topic_t *size = t->decl;
    if (!size && t->source) {
        const topic_t *src = topic_set_find(&c->topics, t->source);
        size = src ? src->decl : NULL;
    }
    json_t *k = json_pack("{s:s}", "topic", t->name);
    if (size && size->partitions >= 1)
        json_object_set_new(k, "partitions", json_integer(size->partitions));
    if (size && size->replication >= 1)
        json_object_set_new(k, "replicas", json_integer(size->replication));
    if (t->decl && t->decl->config_count) {
        json_t *cfg = json_object();
        for (size_t i = 0; i < t->decl->config_count; i++)
            json_object_set_new(cfg, t->decl->config[i].name, config_value(&t->decl->config[i]));
        json_object_set_new(k, "topicConfiguration", cfg);
    }
    json_object_set_new(k, "bindingVersion", json_string(KAFKA_BINDING));
    return json_pack("{s:o}", "kafka", k);
}

static char *channel_description(const topic_t *t) {
    switch (t->role) {
    case TOPIC_RETRY:
        return xprintf("Retry topic of %s: a record whose handling failed waits here until its "
                       "next delivery is due (retry_topic-backoff-timestamp); the same listener "
                       "reads it again.",
                       t->source);
    case TOPIC_DLT:
        return xprintf("Dead-letter topic of %s: records that failed for good (attempts "
                       "exhausted, a failure not worth retrying, or a key or value that could not "
                       "be decoded, kept as raw bytes), with the failure headers.",
                       t->source);
    case TOPIC_MAIN:
        break;
    }
    return xstrdup(t->decl ? "Declared by the service: provisioned at start."
                           : "Not declared by the service: provisioned by whoever declares it.");
}

static void add_channels(doc_t *c) {
    for (size_t i = 0; i < c->topics.n; i++) {
        const topic_t *t = &c->topics.v[i];
        char *desc = channel_description(t);
        json_object_set_new(c->channels, t->name,
                            json_pack("{s:s,s:s,s:{},s:o}", "address", t->name, "description", desc,
                                      "messages", "bindings", channel_bindings(c, t)));
        free(desc);
    }
}

/* ---- operations ------------------------------------------------------------------------- */

/* Adds operation `action` on channel `ch` carrying message `msg` (listed on the channel too). */
static json_t *operation(doc_t *c, const char *id_base, const char *action, const char *ch,
                         const char *msg, const char *summary, const char *description) {
    json_t *cm = json_object_get(json_object_get(c->channels, ch), "messages");
    if (!json_object_get(cm, msg)) {
        char *ref = xprintf("#/components/messages/%s", msg);
        json_object_set_new(cm, msg, json_pack("{s:s}", "$ref", ref));
        free(ref);
    }
    char *chref = xprintf("#/channels/%s", ch);
    char *msgref = xprintf("#/channels/%s/messages/%s", ch, msg);
    json_t *op =
        json_pack("{s:s,s:{s:s},s:s,s:s,s:[{s:s}]}", "action", action, "channel", "$ref", chref,
                  "summary", summary, "description", description, "messages", "$ref", msgref);
    char *id = unique_id(c->operations, id_base);
    json_object_set_new(c->operations, id, op);
    free(id);
    free(chref);
    free(msgref);
    return op;
}

static void add_templates(doc_t *c) {
    for (size_t i = 0; i < c->d->template_count; i++) {
        const brook_decl_template_t *t = &c->d->templates[i];
        char *msg = message(c, &t->key, &t->value, t, HDR_NONE);
        char *id = xprintf("send.%s", t->name);
        char *summary = xprintf("Template %s", t->name);
        const char *desc = t->transactional
                               ? "Sent by the service's idempotent producer, only inside a "
                                 "transaction (transactional template)."
                               : "Sent by the service's idempotent producer (partitioner "
                                 "murmur2_random: a keyed record lands where a Java producer "
                                 "would put it).";
        operation(c, id, "send", t->topic, msg, summary, desc);
        free(msg);
        free(id);
        free(summary);
    }
}

static json_t *group_binding(const brook_decl_listener_t *l) {
    return json_pack("{s:{s:{s:s,s:[s]},s:s}}", "kafka", "groupId", "type", "string", "enum",
                     l->group, "bindingVersion", KAFKA_BINDING);
}

/* How listener l consumes and what becomes of the records it fails on. */
static char *listener_description(const brook_decl_listener_t *l) {
    sb_t b = {0};
    sb_printf(&b, "Consumer group %s, %d member(s) per process, ack %s, from %s", l->group,
              l->concurrency, brook_decl_ack_name(l->ack),
              l->start_from == BROOK_START_LATEST ? "latest" : "earliest");
    if (l->exactly_once)
        sb_puts(&b, ", exactly once (its sends, forwards and offsets in one transaction)");
    else if (l->isolation == BROOK_ISOLATION_READ_UNCOMMITTED)
        sb_puts(&b, ", read_uncommitted");
    sb_puts(&b, ".");
    int64_t first = brook__recover_backoff(l, 1);
    if (first >= 0)
        sb_printf(&b, " A failed record is delivered again, %d deliveries in all, %s.",
                  l->retry.attempts,
                  brook__recover_uses_retry_topics(l)
                      ? "through retry topics (its partition keeps flowing)"
                      : "in place (its partition waits)");
    if (l->retry.not_retryable_count) {
        sb_puts(&b, " Not retried:");
        for (size_t i = 0; i < l->retry.not_retryable_count; i++)
            sb_printf(&b, "%s %s", i ? "," : "", l->retry.not_retryable[i]);
        sb_puts(&b, ".");
    }
    sb_puts(&b, l->dlt.enabled ? " Records that fail for good go to the dead-letter topic."
                               : " Records that fail for good are logged and skipped (no DLT).");
    return sb_take(&b);
}

typedef struct {
    doc_t *c;
    const brook_decl_listener_t *l;
    const char *description;
} derived_t;

static void add_derived_ops(const char *topic, const char *source, brook__topic_kind_t kind,
                            void *opaque) {
    derived_t *x = opaque;
    const brook_decl_listener_t *l = x->l;
    headers_t h = brook__recover_uses_retry_topics(l) ? HDR_RETRY_TOPIC : HDR_DLT;
    char *msg = message(x->c, &l->key, &l->value, NULL, h);
    char *id = xprintf("forward.%s.%s", l->id, topic);
    char *summary = xprintf("Listener %s forwards records it failed on from %s", l->id, source);
    operation(x->c, id, "send", topic, msg, summary,
              kind == BROOK__TOPIC_RETRY
                  ? "Brook publishes a record whose handling failed here, due after its backoff, "
                    "and stores its offset at once."
                  : "Brook publishes a record that failed for good here, then stores its offset.");
    free(id);
    free(summary);
    if (kind == BROOK__TOPIC_RETRY) {
        id = xprintf("receive.%s.%s", l->id, topic);
        summary = xprintf("Listener %s reads its retry topic (handler %s)", l->id, l->handler);
        json_t *op = operation(x->c, id, "receive", topic, msg, summary, x->description);
        json_object_set_new(op, "bindings", group_binding(l));
        free(id);
        free(summary);
    }
    free(msg);
}

static void add_listeners(doc_t *c) {
    for (size_t i = 0; i < c->d->listener_count; i++) {
        const brook_decl_listener_t *l = &c->d->listeners[i];
        char *desc = listener_description(l);
        char *msg = message(c, &l->key, &l->value, NULL, HDR_NONE);
        char *summary = xprintf("Listener %s (handler %s)", l->id, l->handler);
        if (l->topic_pattern) {
            char *chbase = xprintf("pattern.%s", l->id);
            char *chid = unique_id(c->channels, chbase);
            char *pdesc = xprintf("Every topic whose name matches the regular expression %s "
                                  "(listener %s subscribes by pattern).",
                                  l->topic_pattern, l->id);
            json_object_set_new(
                c->channels, chid,
                json_pack("{s:n,s:s,s:{}}", "address", "description", pdesc, "messages"));
            char *id = xprintf("receive.%s", l->id);
            json_t *op = operation(c, id, "receive", chid, msg, summary, desc);
            json_object_set_new(op, "bindings", group_binding(l));
            free(id);
            free(pdesc);
            free(chid);
            free(chbase);
        }
        for (size_t k = 0; k < l->topic_count; k++) {
            char *id = xprintf("receive.%s.%s", l->id, l->topics[k]);
            json_t *op = operation(c, id, "receive", l->topics[k], msg, summary, desc);
            json_object_set_new(op, "bindings", group_binding(l));
            free(id);
        }
        derived_t x = {c, l, desc};
        brook__recover_topics_foreach(l, add_derived_ops, &x);
        free(summary);
        free(msg);
        free(desc);
    }
}

/* ---- the document ----------------------------------------------------------------------- */

static json_t *servers(const brook_decl_t *d) {
    if (brook_decl_is_embedded(d))
        return json_pack(
            "{s:{s:s,s:s,s:s,s:{s:{s:s,s:s}}}}", "kafka", "host", "{bootstrap}", "protocol",
            "kafka", "description",
            "The service declares no cluster: it runs on an embedded Kafka-protocol cluster "
            "inside its own process (bootstrap \"embedded\"). On a real cluster, "
            "BROOK_BOOTSTRAP=host:port,... gives the bootstrap servers.",
            "variables", "bootstrap", "default", "localhost:9092", "description",
            "the bootstrap servers (BROOK_BOOTSTRAP)");
    const char *sec = brook_decl_kafka_value(d, "security.protocol");
    bool tls = sec && strstr(sec, "SSL");
    return json_pack("{s:{s:s,s:s,s:s}}", "kafka", "host", d->bootstrap, "protocol",
                     tls ? "kafka-secure" : "kafka", "description",
                     "The bootstrap servers the service declares (BROOK_BOOTSTRAP overrides "
                     "them at run time).");
}

static void check_types(model_t *model, const char *display, const char *what,
                        const brook_decl_serde_t *key, const brook_decl_serde_t *value, int line) {
    const brook_decl_serde_t *sd[] = {key, value};
    for (size_t k = 0; k < 2; k++)
        if (sd[k]->kind == BROOK_SERDE_AVRO)
            decl_serde_type(model, NULL, display, sd[k], what, line);
}

/* Reports every template or listener naming a type no schema of the service defines. */
static bool types_defined(const brook_decl_t *d, model_t *model, const char *display) {
    int before = diag_count();
    for (size_t i = 0; i < d->template_count; i++) {
        const brook_decl_template_t *t = &d->templates[i];
        char *what = xprintf("templates[%zu] \"%s\"", i, t->name);
        check_types(model, display, what, &t->key, &t->value, t->line);
        free(what);
    }
    for (size_t i = 0; i < d->listener_count; i++) {
        const brook_decl_listener_t *l = &d->listeners[i];
        char *what = xprintf("listeners[%zu] \"%s\"", i, l->id);
        check_types(model, display, what, &l->key, &l->value, l->line);
        free(what);
    }
    return diag_count() == before;
}

char *asyncapi_document(const brook_decl_t *d, model_t *model, const char *display,
                        const char *api_version) {
    if (!types_defined(d, model, display))
        return NULL;
    const char *base = strrchr(display, '/') ? strrchr(display, '/') + 1 : display;
    char *about = xprintf("The topics service %s writes and reads, as its declaration (%s) and "
                          "Avro schemas say; generated by brookc.",
                          d->name, base);
    doc_t c = {.d = d,
               .model = model,
               .channels = json_object(),
               .operations = json_object(),
               .messages = json_object(),
               .schemas = json_object()};
    topic_set_add_service(&c.topics, d);
    add_channels(&c);
    add_templates(&c);
    add_listeners(&c);
    json_t *doc =
        json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:O,s:O,s:{s:O,s:O}}", "asyncapi", "3.0.0", "info",
                  "title", d->name, "version", api_version, "description", about, "servers",
                  servers(d), "channels", c.channels, "operations", c.operations, "components",
                  "schemas", c.schemas, "messages", c.messages);
    char *text = json_dumps(doc, JSON_INDENT(2));
    char *out = xprintf("%s\n", text);
    free(text);
    free(about);
    json_decref(doc);
    json_decref(c.channels);
    json_decref(c.operations);
    json_decref(c.messages);
    json_decref(c.schemas);
    return out;
}
