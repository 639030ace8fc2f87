/* brook consume (docs/cli.md): a topic's records as JSON lines, Avro values decoded with the
 * declarations' schemas, or with the writer schemas a schema registry has for their ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "registry/registry.h"

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

/* ---- the schema registry ------------------------------------------------------------------- */

/* Where consume finds the writer schemas of Confluent ids no template declares: the schema
 * registry of the first --decl that declares one (its url replaced by BROOK_SCHEMA_REGISTRY_URL,
 * as for a service, then by --schema-registry), or --schema-registry's with a declaration's
 * defaults. Each id is asked for once: the catalog keeps the schemas fetched, `given_up` the
 * ids that have none. */
typedef struct {
    brook_decl_registry_t decl; /* a copy whose strings are borrowed (the client borrows it) */
    brook_decl_t *defaults;     /* --schema-registry alone: the settings' declaration */
    brook__registry_t *client;
    struct {
        int32_t id;
        char note[512];
    } * given_up;
    size_t given_up_count;
    int failed; /* BROOK_CLI_KAFKA once the registry could not be used: the command stops */
} registry_t;

/* The registry, if consume has one (`url`: --schema-registry, or NULL); reg->client stays NULL
 * without one. 0, or an exit code having said why. */
static int registry_open(brook__cli_t *cli, const char *url, registry_t *reg) {
    brook_error_t err = {0};
    const brook_decl_registry_t *from = NULL;
    for (size_t i = 0; i < cli->decl_count && !from; i++) {
        if (!cli->decls[i]->registry.declared)
            continue;
        /* Its other settings already reached the client declaration (brook__cli_prepare). */
        if (brook_decl_apply_env(cli->decls[i], &err))
            return brook__cli_fail(BROOK_CLI_USAGE, "%s", err.message);
        from = &cli->decls[i]->registry;
    }
    if (!from && !url)
        return 0;
    if (!from) {
        if (brook_decl_parse_string("service = { name = \"brook-cli\"; };\n"
                                    "schema_registry = { url = \"http://localhost\"; };\n",
                                    "brook", &reg->defaults, &err))
            return brook__cli_fail(BROOK_CLI_USAGE, "%s", err.message);
        from = &reg->defaults->registry;
    }
    reg->decl = *from;
    if (url)
        reg->decl.url = (char *)url;
    if (!(reg->client = brook__registry_new(&reg->decl, &err)))
        return brook__cli_fail(BROOK_CLI_USAGE, "%s", err.message);
    return 0;
}

static void registry_close(registry_t *reg) {
    brook__registry_free(reg->client);
    brook_decl_destroy(reg->defaults);
    free(reg->given_up);
}

/* Remembers that id has no schema to decode with, and why (the note of its records). */
static void give_up(registry_t *reg, int32_t id, const char *note) {
    void *grown = realloc(reg->given_up, (reg->given_up_count + 1) * sizeof(*reg->given_up));
    if (!grown)
        return; /* asked again next time */
    reg->given_up = grown;
    reg->given_up[reg->given_up_count].id = id;
    snprintf(reg->given_up[reg->given_up_count++].note, sizeof(reg->given_up[0].note), "%s", note);
}

/* The note of a record whose schema id the registry could not be asked for. */
static void not_asked(const registry_t *reg, int32_t id, char *note, size_t size) {
    snprintf(note, size,
             "Confluent framing with schema id %d, which the schema registry %s could not be "
             "asked for",
             (int)id, reg->decl.url);
}

/* The writer schema of Confluent schema id `id` from the registry, added to the catalog. NULL
 * with `note` saying why when there is none: the registry does not know the id or has no Avro
 * schema avro-c reads for it (a warning the first time), or it could not be reached or refused
 * (an error, and reg->failed stops the command after this record). */
static const brook__cli_schema_t *fetched_schema(registry_t *reg, brook__cli_catalog_t *c,
                                                 int32_t id, char *note, size_t size) {
    for (size_t i = 0; i < reg->given_up_count; i++)
        if (reg->given_up[i].id == id) {
            snprintf(note, size, "%s", reg->given_up[i].note);
            return NULL;
        }
    if (reg->failed) {
        not_asked(reg, id, note, size);
        return NULL;
    }
    brook_error_t err = {0};
    char *json = NULL;
    int rc = brook__registry_schema(reg->client, id, &json, &err);
    const brook__cli_schema_t *s = rc ? NULL : brook__cli_catalog_add_id(c, id, json, &err);
    free(json);
    if (s)
        return s;
    if (rc == BROOK_ERR_NOT_FOUND) {
        snprintf(note, size,
                 "Confluent framing with schema id %d, which no template of the --decl files "
                 "declares and the schema registry %s does not have",
                 (int)id, reg->decl.url);
        brook__cli_fail(0,
                        "warning: schema id %d is not in the schema registry %s: its records "
                        "are printed undecoded",
                        (int)id, reg->decl.url);
    } else if (!rc || rc == BROOK_ERR_SCHEMA) {
        /* Not Avro, or not a schema avro-c reads (references to other subjects, say). */
        snprintf(note, size, "no Avro schema to decode with from the schema registry %s: %s",
                 reg->decl.url, err.message);
        brook__cli_fail(0, "warning: %s: its records are printed undecoded", note);
    } else {
        /* Unreachable, a server error, credentials refused, not a registry: nothing decodes. */
        reg->failed = rc == BROOK_ERR_NOMEM ? BROOK_CLI_DATA : BROOK_CLI_KAFKA;
        brook__cli_fail(0, "%s", err.message);
        not_asked(reg, id, note, size);
        return NULL;
    }
    give_up(reg, id, note);
    return NULL;
}

/* ---- records as JSON ------------------------------------------------------------------------ */

/* A key or value: decoded when it is Avro whose writer schema the declarations have (by its
 * single-object fingerprint or a Confluent schema id a template declares) or, for another
 * Confluent schema id, the schema registry has; else text or base64 with a note saying why it
 * was not decoded when it looked like Avro. */
static int payload(brook__cli_t *cli, registry_t *reg, brook_buf_t *out, const char *field,
                   const void *data, size_t len) {
    char note[512] = "";
    brook_avro_frame_t f;
    const uint8_t *p = data;
    if (data && len && (p[0] == 0xC3 || p[0] == 0x00) &&
        !brook_avro_parse_frame(data, len, &f, NULL)) {
        brook__cli_catalog_t *c = cli->decl_count || reg->client ? brook__cli_catalog(cli) : NULL;
        bool confluent = f.framing == BROOK_AVRO_FRAMING_CONFLUENT;
        const brook__cli_schema_t *s = confluent ? brook__cli_catalog_schema_id(c, f.schema_id)
                                                 : brook__cli_catalog_fingerprint(c, f.fingerprint);
        if (!s && confluent && c && reg->client)
            s = fetched_schema(reg, c, f.schema_id, note, sizeof(note));
        brook_error_t err = {0};
        if (s && !avro_members(out, field, s, &f, &err))
            return 0;
        if (s)
            snprintf(note, sizeof(note), "its Avro framing names %s, but it does not decode: %s",
                     s->name, err.message);
        else if (note[0]) /* the registry's */
            (void)0;
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
    registry_t registry;
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
    rc = rc ? rc : payload(pr->cli, &pr->registry, b, "key", r->key, r->key_len);
    rc = rc ? rc : brook_avro_json_raw(b, ",\"headers\":[");
    for (size_t i = 0; !rc && i < r->header_count; i++) {
        rc = brook_avro_json_raw(b, i ? ",{\"name\":" : "{\"name\":");
        rc = rc ? rc : brook_avro_json_string(b, r->headers[i].name);
        rc = rc ? rc : brook_avro_json_raw(b, ",");
        rc = rc ? rc : bytes_members(b, "value", "format", r->headers[i].value, r->headers[i].len);
        rc = rc ? rc : brook_avro_json_raw(b, "}");
    }
    rc = rc ? rc : brook_avro_json_raw(b, "],");
    rc = rc ? rc : payload(pr->cli, &pr->registry, b, "value", r->value, r->value_len);
    rc = rc ? rc : brook_avro_json_raw(b, "}\n");
    if (rc)
        return brook__cli_fail(BROOK_CLI_DATA, "out of memory");
    brook__cli_progress_end();
    fwrite(b->data, 1, b->len, stdout);
    if (pr->flush_each)
        fflush(stdout);
    pr->printed++;
    /* Printed undecoded, so a group member commits no record it did not show; then it stops. */
    return pr->registry.failed;
}

static int consume_run(brook__cli_t *cli, int argc, char **argv) {
    static const struct option opts[] = {{"from-beginning", no_argument, NULL, 'b'},
                                         {"max", required_argument, NULL, 'm'},
                                         {"follow", no_argument, NULL, 'f'},
                                         {"group", required_argument, NULL, 'g'},
                                         {"partition", required_argument, NULL, 'p'},
                                         {"schema-registry", required_argument, NULL, 's'},
                                         {0}};
    brook__cli_read_opts_t o = {.partition = -1, .from = BROOK_CLI_FROM_END};
    const char *registry_url = NULL;
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
        case 's':
            if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
                return brook__cli_fail(BROOK_CLI_USAGE,
                                       "--schema-registry wants an http:// or https:// URL, not %s",
                                       optarg);
            registry_url = optarg;
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
    printer_t pr = {.cli = cli, .flush_each = o.follow};
    rc = registry_open(cli, registry_url, &pr.registry);
    if (!rc && (cli->decl_count || pr.registry.client) && !brook__cli_catalog(cli))
        rc = BROOK_CLI_USAGE;
    if (rc) {
        registry_close(&pr.registry);
        return rc;
    }
    brook__cli_catch_signals();
    brook_buf_init(&pr.line);
    o.quiet = isatty(fileno(stdout)); /* records on the terminal: no progress line between them */
    rc = brook__cli_read(cli, &o, print_record, &pr);
    fflush(stdout);
    brook_buf_free(&pr.line);
    registry_close(&pr.registry);
    return rc;
}

const brook__cli_cmd_t brook__cli_consume = {
    .group = "consume",
    .name = NULL,
    .synopsis = "TOPIC [--from-beginning] [--max N] [--follow] [--group G] [--partition P]\n"
                "       [--schema-registry URL]",
    .brief = "print records as JSON lines, Avro decoded",
    .summary =
        "Prints the records of TOPIC, one JSON object a line: topic, partition, offset,\n"
        "timestamp, key, headers and value. A key or value in Avro whose writer schema one of the\n"
        "--decl declarations has (by its single-object fingerprint, or a Confluent schema id one\n"
        "of their templates declares) is printed decoded, in Avro's JSON encoding; so is one with\n"
        "another Confluent schema id, with the writer schema the schema registry has for it (the\n"
        "schema_registry of the first --decl that declares one, or --schema-registry). Anything\n"
        "else is printed as text when it is UTF-8 text, else base64, with a note when it looked\n"
        "like Avro (docs/cli.md). Without --follow it stops at the end offsets the topic had when\n"
        "it started.",
    .help =
        "  --from-beginning       start at the first record (default: the end; with --group,\n"
        "                         where the group has no committed offset)\n"
        "  --max N                stop after N records\n"
        "  --follow               go on past the end offsets, until interrupted\n"
        "  --group G              read as a member of consumer group G: start at its committed\n"
        "                         offsets, commit what was printed\n"
        "  --partition P          only partition P\n"
        "  --schema-registry URL  the schema registry (Confluent's REST API) to ask for the\n"
        "                         writer schemas of Confluent schema ids no --decl template\n"
        "                         declares (default: the first --decl's schema_registry, whose\n"
        "                         url this replaces). An id it does not have: printed undecoded\n"
        "                         with a warning; unreachable: exit code 3\n",
    .run = consume_run,
};
