/*
 * brook produce (docs/cli.md): JSON lines on standard input, one record each,
 *
 *   {"key": "o-1", "value": <the value>, "headers": {"name": "text", ...}}
 *
 * the value in Avro's JSON encoding of --type (encoded with the declarations' schema and
 * framed), or a string sent as its UTF-8 text without --type. Every line is read and encoded
 * first: when one does not fit, each such line is reported and nothing is sent. Then the
 * records go through the runtime's producer (idempotent, Java's partitioner for keys) and are
 * flushed; the count delivered is reported.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "produce/produce.h"
#include "serde/serde.h"

#define MAX_REPORTED 20

typedef struct {
    int line;
    void *key; /* NULL: null key */
    size_t key_len;
    brook_buf_t value;
    bool tombstone;
    brook_header_t *headers; /* names and values owned */
    size_t header_count;
} line_record_t;

typedef struct {
    const brook__cli_schema_t *type; /* NULL: values are text */
    int framing;
    int32_t schema_id;
    const char *key_field;
    line_record_t *records;
    size_t count;
    int bad;
} input_t;

/* Delivery reports, from the producer's thread. */
typedef struct {
    pthread_mutex_t lock;
    int first_failed_line;
    int first_error;
} deliveries_t;

static void record_free(line_record_t *r) {
    free(r->key);
    brook_buf_free(&r->value);
    for (size_t i = 0; i < r->header_count; i++) {
        free((char *)r->headers[i].name);
        free((void *)r->headers[i].value);
    }
    free(r->headers);
}

static int bad_line(input_t *in, int line, const char *fmt, const char *what) {
    if (++in->bad <= MAX_REPORTED)
        brook__cli_fail(BROOK_CLI_DATA, fmt, line, what);
    return BROOK_CLI_DATA;
}

/* A copy of a JSON string, or NULL when j is not a string. */
static char *json_text(const brook_json_t *j) {
    brook_arena_t *arena = NULL;
    char *s = NULL, *copy = NULL;
    if (!brook_avro_json_get_string(j, &arena, &s))
        copy = strdup(s);
    brook_arena_free(&arena);
    return copy;
}

static int read_key(input_t *in, line_record_t *r, const brook_json_t *key,
                    const brook_json_t *value) {
    if (!key && in->key_field) {
        key = brook_avro_json_field(value, in->key_field);
        int64_t n;
        if (key && !brook_avro_json_get_long(key, &n)) {
            if (asprintf((char **)&r->key, "%lld", (long long)n) < 0)
                return bad_line(in, r->line, "line %d: %s", "out of memory");
            r->key_len = strlen(r->key);
            return 0;
        }
        if (!key || !(r->key = json_text(key)))
            return bad_line(in, r->line,
                            "line %d: the value has no string or whole-number field \"%s\" to "
                            "key by (--key-field)",
                            in->key_field);
    } else if (key && !brook_avro_json_is_null(key) && !(r->key = json_text(key))) {
        return bad_line(in, r->line, "line %d: %s", "\"key\" is a string or null");
    }
    r->key_len = r->key ? strlen(r->key) : 0;
    return 0;
}

static int read_headers(input_t *in, line_record_t *r, const brook_json_t *headers) {
    size_t n;
    if (!headers)
        return 0;
    if (brook_avro_json_object_size(headers, &n))
        return bad_line(in, r->line, "line %d: %s",
                        "\"headers\" is an object of names and strings (or null)");
    if (!(r->headers = calloc(n ? n : 1, sizeof(*r->headers))))
        return bad_line(in, r->line, "line %d: %s", "out of memory");
    for (void *it = brook_avro_json_object_iter(headers); it;
         it = brook_avro_json_object_iter_next(headers, it)) {
        brook_header_t *h = &r->headers[r->header_count++];
        const brook_json_t *v = brook_avro_json_object_iter_value(it);
        h->name = strdup(brook_avro_json_object_iter_key(it));
        if (!brook_avro_json_is_null(v) && !(h->value = json_text(v)))
            return bad_line(in, r->line, "line %d: header \"%s\" is not a string or null", h->name);
        h->len = h->value ? strlen(h->value) : 0;
    }
    return 0;
}

static int read_value(input_t *in, line_record_t *r, const brook_json_t *value) {
    brook_error_t err = {0};
    if (brook_avro_json_is_null(value)) {
        r->tombstone = true;
        return 0;
    }
    if (!in->type) {
        char *text = json_text(value);
        int rc = text ? brook_buf_append(&r->value, text, strlen(text)) : -1;
        free(text);
        return rc ? bad_line(in, r->line, "line %d: %s",
                             "without --type a value is a string (sent as its UTF-8 text) or null")
                  : 0;
    }
    int rc = in->framing == BROOK_AVRO_FRAMING_CONFLUENT
                 ? brook_avro_write_confluent_header(&r->value, in->schema_id)
                 : brook_avro_write_single_object_header(&r->value, in->type->fingerprint);
    rc = rc ? rc : brook__cli_avro_from_json(in->type, value, "value", &r->value, &err);
    if (rc) {
        char what[sizeof(err.message) + 64];
        snprintf(what, sizeof(what), "%s (not a %s)", err.message, in->type->name);
        return bad_line(in, r->line, "line %d: %s", what);
    }
    return 0;
}

/* One line into a record; the line's problems reported. */
static void read_line(input_t *in, const char *text, size_t len, int line) {
    brook_error_t err = {0};
    brook_json_t *doc = brook_avro_json_parse(text, len, &err);
    if (!doc) {
        bad_line(in, line, "line %d: %s", err.message);
        return;
    }
    const brook_json_t *root = brook_avro_json_root(doc);
    const brook_json_t *value = brook_avro_json_field(root, "value");
    line_record_t r = {.line = line};
    brook_buf_init(&r.value);
    int rc = 0;
    if (!brook_avro_json_is_object(root) || !value)
        rc = bad_line(in, line, "line %d: %s",
                      "a line is {\"key\": ..., \"value\": ..., \"headers\": {...}} (\"value\" "
                      "required)");
    for (void *it = rc ? NULL : brook_avro_json_object_iter(root); it && !rc;
         it = brook_avro_json_object_iter_next(root, it)) {
        const char *k = brook_avro_json_object_iter_key(it);
        if (strcmp(k, "key") && strcmp(k, "value") && strcmp(k, "headers"))
            rc = bad_line(in, line,
                          "line %d: unknown member \"%s\" (a line has key, value and headers)", k);
    }
    if (!rc)
        rc = read_key(in, &r, brook_avro_json_field(root, "key"), value);
    if (!rc)
        rc = read_headers(in, &r, brook_avro_json_field(root, "headers"));
    if (!rc)
        rc = read_value(in, &r, value);
    brook_avro_json_free(doc);
    line_record_t *records = rc ? NULL : realloc(in->records, (in->count + 1) * sizeof(*records));
    if (!records) {
        record_free(&r);
        return;
    }
    in->records = records;
    in->records[in->count++] = r;
}

static void read_input(input_t *in, FILE *f) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    for (int number = 1; (n = getline(&line, &cap, f)) >= 0; number++) {
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            len--;
        if (len)
            read_line(in, line, len, number);
        brook__cli_progress("read %d lines", number);
    }
    brook__cli_progress_end();
    free(line);
}

static void delivered(brook_template_t *tpl, int err, const char *topic, int32_t partition,
                      int64_t offset, void *msg_opaque, void *opaque) {
    deliveries_t *d = opaque;
    int line = (int)(intptr_t)msg_opaque;
    pthread_mutex_lock(&d->lock);
    if (err && (!d->first_failed_line || line < d->first_failed_line)) {
        d->first_failed_line = line;
        d->first_error = err;
    }
    pthread_mutex_unlock(&d->lock);
}

/* Sends every record through the runtime's producer, waits for their delivery, and says how
 * many were delivered. */
static int send_all(brook__cli_t *cli, const char *topic, input_t *in) {
    char more[512];
    snprintf(more, sizeof(more),
             "templates = ( { name = \"out\"; topic = \"%s\"; key = \"bytes\"; "
             "value = \"bytes\"; } );",
             topic);
    brook_error_t err = {0};
    deliveries_t d = {.lock = PTHREAD_MUTEX_INITIALIZER};
    brook_decl_t *decl = brook__cli_decl(cli, more, &err);
    brook__types_t *types = brook__types_new();
    brook__producer_t *p = decl && types ? brook__producer_new(decl) : NULL;
    brook_template_t *tpl = p ? brook__producer_template(p, "out") : NULL;
    int rc =
        !tpl ? brook__cli_fail(BROOK_CLI_USAGE, "%s", decl ? "out of memory" : err.message)
        : brook__producer_resolve(p, types, &err) || brook__producer_start(p, cli->bootstrap, &err)
            ? brook__cli_fail(BROOK_CLI_KAFKA, "%s", err.message)
            : 0;
    const struct rd_kafka_metadata *md = NULL;
    if (!rc)
        brook_template_set_delivery_cb(tpl, delivered, &d);
    if (!rc && !(rc = brook__cli_metadata(cli, brook__producer_handle(p), topic, &md)))
        rd_kafka_metadata_destroy(md);
    if (!rc && brook__producer_open_templates(p, &err))
        rc = brook__cli_fail(BROOK_CLI_KAFKA, "%s", err.message);
    size_t sent = 0;
    for (; !rc && sent < in->count; sent++) {
        line_record_t *r = &in->records[sent];
        brook_send_opts_t opts = BROOK_SEND_OPTS_INIT;
        opts.headers = r->headers;
        opts.header_count = r->header_count;
        opts.msg_opaque = (void *)(intptr_t)r->line;
        int e =
            brook_template_send_raw(tpl, r->key, r->key_len, r->tombstone ? NULL : r->value.data,
                                    r->tombstone ? 0 : r->value.len, &opts);
        if (e)
            rc = brook__cli_fail(BROOK_CLI_KAFKA, "line %d: cannot send: %s", r->line,
                                 brook_err2str(e));
        brook__cli_progress("sent %zu of %zu records", sent + 1, in->count);
    }
    if (tpl && sent && brook_template_flush(tpl, 60000))
        rc = brook__cli_fail(BROOK_CLI_KAFKA, "records still undelivered after 60 s");
    brook_template_stats_t st;
    brook_template_stats(tpl, &st);
    if (p)
        brook__producer_stop(p, brook__now_ms() + 10000, false);
    if (!rc && st.delivered == in->count)
        printf("delivered %llu record(s) to %s\n", (unsigned long long)st.delivered, topic);
    else if (d.first_failed_line)
        rc = brook__cli_fail(BROOK_CLI_KAFKA,
                             "%llu of %zu record(s) delivered to %s; the first not delivered is "
                             "line %d's: %s",
                             (unsigned long long)st.delivered, in->count, topic,
                             d.first_failed_line, brook_err2str(d.first_error));
    brook__producer_free(p);
    brook__types_free(types);
    brook_decl_destroy(decl);
    return rc;
}

/* Kafka's legal topic names; also what may go into the declaration text above. */
static bool topic_name_ok(const char *t) {
    size_t n = strlen(t);
    return n && n <= 249 &&
           strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") == n;
}

/* The framing of --type on TOPIC a template of the declarations gives, when none is asked. */
static void template_framing(brook__cli_t *cli, const char *topic, const char *type, int *framing,
                             int32_t *schema_id) {
    for (size_t i = 0; i < cli->decl_count; i++)
        for (size_t k = 0; k < cli->decls[i]->template_count; k++) {
            const brook_decl_template_t *t = &cli->decls[i]->templates[k];
            if (!strcmp(t->topic, topic) && t->value.kind == BROOK_SERDE_AVRO &&
                !strcmp(t->value.type_name, type)) {
                *framing = t->framing;
                *schema_id = t->schema_id;
                return;
            }
        }
}

static int produce_run(brook__cli_t *cli, int argc, char **argv) {
    static const struct option opts[] = {{"type", required_argument, NULL, 't'},
                                         {"framing", required_argument, NULL, 'f'},
                                         {"schema-id", required_argument, NULL, 's'},
                                         {"key-field", required_argument, NULL, 'k'},
                                         {0}};
    const char *type = NULL;
    input_t in = {0};
    int64_t id = -1;
    int c;
    while ((c = brook__cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case 't':
            type = optarg;
            break;
        case 'f':
            if (!strcmp(optarg, "single_object"))
                in.framing = BROOK_AVRO_FRAMING_SINGLE_OBJECT;
            else if (!strcmp(optarg, "confluent"))
                in.framing = BROOK_AVRO_FRAMING_CONFLUENT;
            else
                return brook__cli_fail(BROOK_CLI_USAGE,
                                       "--framing is single_object or confluent, not %s", optarg);
            break;
        case 's':
            if (!brook__cli_parse_count(optarg, &id) || id > INT32_MAX)
                return brook__cli_fail(BROOK_CLI_USAGE, "--schema-id wants a number, not %s",
                                       optarg);
            break;
        case 'k':
            in.key_field = optarg;
            break;
        default:
            return brook__cli_usage(cli);
        }
    }
    if (optind != argc - 1)
        return brook__cli_usage(cli);
    const char *topic = argv[optind];
    if (!topic_name_ok(topic))
        return brook__cli_fail(BROOK_CLI_USAGE, "\"%s\" is not a Kafka topic name", topic);
    if (!type && (in.framing || id >= 0))
        return brook__cli_fail(BROOK_CLI_USAGE, "--framing and --schema-id go with --type");
    int rc = brook__cli_prepare(cli);
    if (rc)
        return rc;
    if (type) {
        brook__cli_catalog_t *cat = brook__cli_catalog(cli);
        if (!cat)
            return BROOK_CLI_USAGE;
        if (!(in.type = brook__cli_catalog_name(cat, type)))
            return brook__cli_fail(BROOK_CLI_USAGE,
                                   "no schema of the --decl files defines %s (%zu types known): "
                                   "pass the declaration that lists its schema with --decl",
                                   type, brook__cli_catalog_size(cat));
        if (!in.framing)
            template_framing(cli, topic, type, &in.framing, &in.schema_id);
        if (id >= 0)
            in.schema_id = (int32_t)id;
        if (in.framing == BROOK_AVRO_FRAMING_CONFLUENT && id < 0 && !in.schema_id)
            return brook__cli_fail(BROOK_CLI_USAGE, "--framing confluent wants --schema-id N");
    }
    read_input(&in, stdin);
    if (in.bad) {
        rc = brook__cli_fail(BROOK_CLI_DATA, "%d line(s) do not fit%s: nothing was sent", in.bad,
                             in.bad > MAX_REPORTED ? " (the first 20 shown)" : "");
    } else if (!in.count) {
        rc = brook__cli_fail(BROOK_CLI_NOTHING, "nothing to send: no lines on standard input");
    } else {
        rc = send_all(cli, topic, &in);
    }
    for (size_t i = 0; i < in.count; i++)
        record_free(&in.records[i]);
    free(in.records);
    return rc;
}

const brook__cli_cmd_t brook__cli_produce = {
    .group = "produce",
    .name = NULL,
    .synopsis = "TOPIC [--type NAME [--framing single_object|confluent] [--schema-id N]] "
                "[--key-field F] < lines.json",
    .brief = "send JSON lines as records, Avro encoded",
    .summary =
        "Sends one record per line of standard input, each line a JSON object\n"
        "  {\"key\": \"k\", \"value\": ..., \"headers\": {\"name\": \"text\"}}\n"
        "(key and headers may be left out; a null value is a tombstone). With --type the value is\n"
        "Avro's JSON encoding of that type of the --decl schemas, sent Avro-encoded and framed;\n"
        "without, a string sent as its UTF-8 text. Every line is checked first: if one does not\n"
        "fit, each such line is reported with its number and nothing is sent.",
    .help = "  --type NAME            the Avro full name of the values (e.g. shop.OrderPlaced)\n"
            "  --framing F            single_object (C3 01 + fingerprint; default, or a --decl\n"
            "                         template's for this topic and type) or confluent (00 + id)\n"
            "  --schema-id N          the Confluent schema id (confluent framing)\n"
            "  --key-field F          a line without \"key\" is keyed by its value's field F\n",
    .run = produce_run,
};
