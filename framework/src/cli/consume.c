/* brook consume (docs/cli.md): a topic's records as JSON lines, Avro values decoded with the
 * declarations' schemas. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* `"<value_key>":...,"<format_key>":...`: text when it is text, else base64; null for null. */
static int bytes_members(brook_buf_t *out, const char *value_key, const char *format_key,
                         const void *data, size_t len) {
    bool text = data && brook__cli_is_utf8(data, len, true);
    int rc = brook_avro_json_string(out, value_key);
    rc = rc ? rc : brook_avro_json_raw(out, ":");
    if (!data) {
        rc = rc ? rc : brook_avro_json_raw(out, "null,");
    } else if (text) {
        rc = rc ? rc : brook__cli_json_text(out, data, len);
        rc = rc ? rc : brook_avro_json_raw(out, ",");
    } else {
        rc = rc ? rc : brook_avro_json_raw(out, "\"");
        rc = rc ? rc : brook__cli_base64(out, data, len);
        rc = rc ? rc : brook_avro_json_raw(out, "\",");
    }
    rc = rc ? rc : brook_avro_json_string(out, format_key);
    rc = rc ? rc : brook_avro_json_raw(out, ":");
    return rc ? rc : brook_avro_json_raw(out, !data ? "null" : text ? "\"text\"" : "\"base64\"");
}

/* `,"<field><suffix>":` (no comma when first). */
static int member(brook_buf_t *out, bool first, const char *field, const char *suffix) {
    int rc = brook_avro_json_raw(out, first ? "\"" : ",\"");
    rc = rc ? rc : brook_avro_json_raw(out, field);
    rc = rc ? rc : brook_avro_json_raw(out, suffix);
    return rc ? rc : brook_avro_json_raw(out, "\":");
}

/* `field` decoded with schema s from its frame f: its JSON and what it was. BROOK_ERR_DECODE
 * (out untouched) when it does not decode. */
static int avro_members(brook_buf_t *out, const char *field, const brook__cli_schema_t *s,
                        const brook_avro_frame_t *f, brook_error_t *err) {
    brook_buf_t json;
    brook_buf_init(&json);
    int rc = brook__cli_avro_to_json(s, f->payload, f->payload_len, &json, err);
    rc = rc ? rc : brook_buf_append(&json, "", 1);
    bool confluent = f->framing == BROOK_AVRO_FRAMING_CONFLUENT;
    if (!rc) {
        rc = member(out, true, field, "");
        rc = rc ? rc : brook_avro_json_raw(out, (const char *)json.data);
        rc = rc ? rc : member(out, false, field, "_format");
        rc = rc ? rc : brook_avro_json_raw(out, "\"avro\"");
        rc = rc ? rc : member(out, false, field, "_schema");
        rc = rc ? rc : brook_avro_json_string(out, s->name);
        rc = rc ? rc : member(out, false, field, "_framing");
        rc = rc ? rc : brook_avro_json_raw(out, confluent ? "\"confluent\"" : "\"single_object\"");
        if (confluent) {
            rc = rc ? rc : member(out, false, field, "_schema_id");
            rc = rc ? rc : brook_avro_json_long(out, f->schema_id);
        }
    }
    brook_buf_free(&json);
    return rc;
}

/* A key or value: decoded when it is Avro whose writer schema the declarations have (by its
 * single-object fingerprint or a Confluent schema id a template declares), else text or base64
 * with a note saying why it was not decoded when it looked like Avro. */
static int payload(brook__cli_t *cli, brook_buf_t *out, const char *field, const void *data,
                   size_t len) {
    char note[512] = "";
    brook_avro_frame_t f;
    const uint8_t *p = data;
    if (data && len && (p[0] == 0xC3 || p[0] == 0x00) &&
        !brook_avro_parse_frame(data, len, &f, NULL)) {
        brook__cli_catalog_t *c = cli->decl_count ? brook__cli_catalog(cli) : NULL;
        bool confluent = f.framing == BROOK_AVRO_FRAMING_CONFLUENT;
        const brook__cli_schema_t *s = confluent ? brook__cli_catalog_schema_id(c, f.schema_id)
                                                 : brook__cli_catalog_fingerprint(c, f.fingerprint);
        brook_error_t err = {0};
        if (s && !avro_members(out, field, s, &f, &err))
            return 0;
        if (s)
            snprintf(note, sizeof(note), "its Avro framing names %s, but it does not decode: %s",
                     s->name, err.message);
        else if (confluent)
            snprintf(note, sizeof(note),
                     "Confluent framing with schema id %d, which no template of the --decl "
                     "files declares",
                     (int)f.schema_id);
        else
            snprintf(note, sizeof(note),
                     "Avro single-object framing with fingerprint %016llx, which no schema of "
                     "the --decl files has",
                     (unsigned long long)f.fingerprint);
    }
    char format_key[64];
    snprintf(format_key, sizeof(format_key), "%s_format", field);
    int rc = bytes_members(out, field, format_key, data, len);
    if (!rc && note[0]) {
        rc = member(out, false, field, "_note");
        rc = rc ? rc : brook_avro_json_string(out, note);
    }
    return rc;
}

static const char *timestamp_type(brook_ts_type_t t) {
    return t == BROOK_TS_CREATE_TIME       ? "CreateTime"
           : t == BROOK_TS_LOG_APPEND_TIME ? "LogAppendTime"
                                           : "NoTimestampType";
}

typedef struct {
    brook__cli_t *cli;
    brook_buf_t line;
    bool flush_each;
    int64_t printed;
} printer_t;

static int print_record(const brook_record_t *r, void *opaque) {
    printer_t *pr = opaque;
    brook_buf_t *b = &pr->line;
    brook_buf_reset(b);
    char head[256];
    snprintf(head, sizeof(head),
             ",\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"timestamp_type\":\"%s\",",
             (int)r->partition, (long long)r->offset, (long long)r->timestamp,
             timestamp_type(r->timestamp_type));
    int rc = brook_avro_json_raw(b, "{\"topic\":");
    rc = rc ? rc : brook_avro_json_string(b, r->topic);
    rc = rc ? rc : brook_avro_json_raw(b, head);
    rc = rc ? rc : payload(pr->cli, b, "key", r->key, r->key_len);
    rc = rc ? rc : brook_avro_json_raw(b, ",\"headers\":[");
    for (size_t i = 0; !rc && i < r->header_count; i++) {
        rc = brook_avro_json_raw(b, i ? ",{\"name\":" : "{\"name\":");
        rc = rc ? rc : brook_avro_json_string(b, r->headers[i].name);
        rc = rc ? rc : brook_avro_json_raw(b, ",");
        rc = rc ? rc : bytes_members(b, "value", "format", r->headers[i].value, r->headers[i].len);
        rc = rc ? rc : brook_avro_json_raw(b, "}");
    }
    rc = rc ? rc : brook_avro_json_raw(b, "],");
    rc = rc ? rc : payload(pr->cli, b, "value", r->value, r->value_len);
    rc = rc ? rc : brook_avro_json_raw(b, "}\n");
    if (rc)
        return brook__cli_fail(BROOK_CLI_DATA, "out of memory");
    brook__cli_progress_end();
    fwrite(b->data, 1, b->len, stdout);
    if (pr->flush_each)
        fflush(stdout);
    pr->printed++;
    return 0;
}

static int consume_run(brook__cli_t *cli, int argc, char **argv) {
    static const struct option opts[] = {
        {"from-beginning", no_argument, NULL, 'b'},  {"max", required_argument, NULL, 'm'},
        {"follow", no_argument, NULL, 'f'},          {"group", required_argument, NULL, 'g'},
        {"partition", required_argument, NULL, 'p'}, {0}};
    brook__cli_read_opts_t o = {.partition = -1, .from = BROOK_CLI_FROM_END};
    int64_t n;
    int c;
    while ((c = brook__cli_getopt(cli, argc, argv, opts)) != -1) {
        switch (c) {
        case 'b':
            o.from = BROOK_CLI_FROM_BEGINNING;
            break;
        case 'm':
            if (!brook__cli_parse_count(optarg, &o.max) || o.max == 0)
                return brook__cli_fail(BROOK_CLI_USAGE, "--max wants a positive number, not %s",
                                       optarg);
            break;
        case 'f':
            o.follow = true;
            break;
        case 'g':
            o.group = optarg;
            break;
        case 'p':
            if (!brook__cli_parse_count(optarg, &n) || n > INT32_MAX)
                return brook__cli_fail(BROOK_CLI_USAGE, "--partition wants a number, not %s",
                                       optarg);
            o.partition = (int32_t)n;
            break;
        default:
            return brook__cli_usage(cli);
        }
    }
    if (optind != argc - 1)
        return brook__cli_usage(cli);
    if (o.group && o.partition >= 0)
        return brook__cli_fail(BROOK_CLI_USAGE,
                               "--partition and --group do not go together: a group member "
                               "reads what the group assigns it");
    o.topic = argv[optind];
    int rc = brook__cli_prepare(cli);
    if (rc)
        return rc;
    if (cli->decl_count && !brook__cli_catalog(cli))
        return BROOK_CLI_USAGE;
    brook__cli_catch_signals();
    printer_t pr = {.cli = cli, .flush_each = o.follow};
    brook_buf_init(&pr.line);
    o.quiet = isatty(fileno(stdout)); /* records on the terminal: no progress line between them */
    rc = brook__cli_read(cli, &o, print_record, &pr);
    fflush(stdout);
    brook_buf_free(&pr.line);
    return rc;
}

const brook__cli_cmd_t brook__cli_consume = {
    .group = "consume",
    .name = NULL,
    .synopsis = "TOPIC [--from-beginning] [--max N] [--follow] [--group G] [--partition P]",
    .brief = "print records as JSON lines, Avro decoded",
    .summary =
        "Prints the records of TOPIC, one JSON object a line: topic, partition, offset,\n"
        "timestamp, key, headers and value. A key or value in Avro whose writer schema one of the\n"
        "--decl declarations has (by its single-object fingerprint, or a Confluent schema id one\n"
        "of their templates declares) is printed decoded, in Avro's JSON encoding; anything else\n"
        "as text when it is UTF-8 text, else base64, with a note when it looked like Avro\n"
        "(docs/cli.md). Without --follow it stops at the end offsets the topic had when it\n"
        "started.",
    .help =
        "  --from-beginning       start at the first record (default: the end; with --group,\n"
        "                         where the group has no committed offset)\n"
        "  --max N                stop after N records\n"
        "  --follow               go on past the end offsets, until interrupted\n"
        "  --group G              read as a member of consumer group G: start at its committed\n"
        "                         offsets, commit what was printed\n"
        "  --partition P          only partition P\n",
    .run = consume_run,
};
