/* The brook command's shared pieces (cli/cli.h): the command line, the connection to the
 * cluster, the progress line and bytes shown as text. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/core.h"
#include "kafka/kafka.h"

#define CLI_TIMEOUT_MS 10000

/* ---- command line ------------------------------------------------------------------------- */

enum { OPT_BOOTSTRAP = 0x1000, OPT_DECL, OPT_VERBOSE, OPT_HELP };

static const struct option common_options[] = {
    {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
    {"decl", required_argument, NULL, OPT_DECL},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
};
#define COMMON_COUNT (sizeof(common_options) / sizeof(common_options[0]))

int brook__cli_getopt(brook__cli_t *cli, int argc, char **argv, const struct option *own) {
    struct option all[40];
    size_t n = 0;
    for (; own && own[n].name && n < 40 - COMMON_COUNT - 1; n++)
        all[n] = own[n];
    memcpy(all + n, common_options, sizeof(common_options));
    memset(all + n + COMMON_COUNT, 0, sizeof(all[0]));
    for (;;) {
        int c = getopt_long(argc, argv, "", all, NULL);
        switch (c) {
        case OPT_BOOTSTRAP:
            cli->bootstrap_opt = optarg;
            break;
        case OPT_DECL: {
            char **paths = realloc(cli->decl_paths, (cli->decl_count + 1) * sizeof(*paths));
            if (!paths)
                return '?';
            paths[cli->decl_count++] = optarg;
            cli->decl_paths = paths;
            break;
        }
        case OPT_VERBOSE:
            cli->verbose = true;
            brook_log_set_level(BROOK_LOG_DEBUG);
            break;
        case OPT_HELP:
            cli->help = true;
            return '?';
        default:
            return c;
        }
    }
}

static const char common_help[] =
    "  --bootstrap HOST:PORT  the cluster (default: $BROOK_BOOTSTRAP, else the bootstrap of the\n"
    "                         first --decl that names one)\n"
    "  --decl FILE.brook      a service declaration (repeatable): its schemas decode and\n"
    "                         encode values, its kafka properties reach the client\n"
    "  --verbose              librdkafka's log lines too\n"
    "  --help                 this help\n";

int brook__cli_usage(brook__cli_t *cli) {
    const brook__cli_cmd_t *c = cli->cmd;
    FILE *f = cli->help ? stdout : stderr;
    fprintf(f, "usage: brook %s%s%s %s\n", c->group, c->name ? " " : "", c->name ? c->name : "",
            c->synopsis);
    if (!cli->help) {
        fprintf(f, "(brook %s%s%s --help for more)\n", c->group, c->name ? " " : "",
                c->name ? c->name : "");
        return BROOK_CLI_USAGE;
    }
    fprintf(f, "\n%s\n\n%s%s", c->summary, c->help, common_help);
    fprintf(f, "\nExit codes: 0 done, 1 usage, 2 not found or nothing to do, 3 Kafka or schema\n"
               "registry error, 4 refused (active group members), 5 input that does not fit\n"
               "(docs/cli.md).\n");
    return BROOK_CLI_OK;
}

int brook__cli_fail(int code, const char *fmt, ...) {
    brook__cli_progress_end();
    va_list ap;
    va_start(ap, fmt);
    fputs("brook: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

bool brook__cli_parse_count(const char *s, int64_t *out) {
    char *end;
    if (!s || *s < '0' || *s > '9')
        return false;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0)
        return false;
    *out = v;
    return true;
}

/* ---- declarations and bootstrap ------------------------------------------------------------- */

/* The first declaration's kafka properties join the client's (security settings and the like
 * reach the cluster the services use). */
static int copy_kafka(brook_decl_t *to, const brook_decl_t *from) {
    if (!from->kafka_count)
        return 0;
    brook_decl_kv_t *kv = calloc(from->kafka_count, sizeof(*kv));
    if (!kv)
        return BROOK_ERR_NOMEM;
    to->kafka = kv;
    for (size_t i = 0; i < from->kafka_count; i++) {
        kv[i].name = strdup(from->kafka[i].name);
        kv[i].value = strdup(from->kafka[i].value);
        kv[i].line = from->kafka[i].line;
        to->kafka_count++;
        if (!kv[i].name || !kv[i].value)
            return BROOK_ERR_NOMEM;
    }
    return 0;
}

brook_decl_t *brook__cli_decl(brook__cli_t *cli, const char *more, brook_error_t *err) {
    char *text = NULL;
    if (asprintf(&text, "service = { name = \"brook-cli\"; };\n%s", more ? more : "") < 0) {
        brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    brook_decl_t *d = NULL;
    int rc = brook_decl_parse_string(text, "brook", &d, err);
    free(text);
    const brook_decl_t *with_kafka = NULL;
    for (size_t i = 0; !rc && i < cli->decl_count && !with_kafka; i++)
        if (cli->decls[i]->kafka_count)
            with_kafka = cli->decls[i];
    if (!rc && with_kafka && copy_kafka(d, with_kafka))
        rc = brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    /* BROOK_KAFKA_* over the declaration's properties; BROOK_BOOTSTRAP becomes the bootstrap. */
    if (!rc)
        rc = brook_decl_apply_env(d, err);
    if (!rc && cli->bootstrap) {
        free(d->bootstrap);
        if (!(d->bootstrap = strdup(cli->bootstrap)))
            rc = brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    }
    if (rc) {
        brook_decl_destroy(d);
        return NULL;
    }
    return d;
}

int brook__cli_prepare(brook__cli_t *cli) {
    brook_error_t err = {0};
    cli->decls = calloc(cli->decl_count ? cli->decl_count : 1, sizeof(*cli->decls));
    if (!cli->decls)
        return brook__cli_fail(BROOK_CLI_USAGE, "out of memory");
    for (size_t i = 0; i < cli->decl_count; i++)
        if (brook_decl_parse_file(cli->decl_paths[i], &cli->decls[i], &err))
            return brook__cli_fail(BROOK_CLI_USAGE, "%s", err.message);
    if (!(cli->client = brook__cli_decl(cli, NULL, &err)))
        return brook__cli_fail(BROOK_CLI_USAGE, "%s", err.message);
    const char *declared = NULL;
    for (size_t i = 0; i < cli->decl_count && !declared; i++)
        if (!brook_decl_is_embedded(cli->decls[i]))
            declared = cli->decls[i]->bootstrap;
    if (cli->bootstrap_opt)
        cli->bootstrap = cli->bootstrap_opt;
    else if (!brook_decl_is_embedded(cli->client))
        cli->bootstrap = cli->client->bootstrap;
    else
        cli->bootstrap = declared;
    if (!cli->bootstrap || !*cli->bootstrap || !strcmp(cli->bootstrap, "embedded"))
        return brook__cli_fail(
            BROOK_CLI_USAGE,
            "no cluster to talk to: pass --bootstrap HOST:PORT or set BROOK_BOOTSTRAP (an "
            "\"embedded\" cluster lives inside its service's process; to share one, run "
            "brook-devbroker and pass the list it prints)");
    return BROOK_CLI_OK;
}

void brook__cli_cleanup(brook__cli_t *cli) {
    brook__cli_catalog_free(cli->catalog);
    for (size_t i = 0; cli->decls && i < cli->decl_count; i++)
        brook_decl_destroy(cli->decls[i]);
    free(cli->decls);
    brook_decl_destroy(cli->client);
    free(cli->decl_paths);
}

/* ---- the cluster ---------------------------------------------------------------------------- */

rd_kafka_conf_t *brook__cli_conf(brook__cli_t *cli, rd_kafka_type_t type, const char *group,
                                 const char *const *extra) {
    brook_error_t err = {0};
    bool consumer = type == RD_KAFKA_CONSUMER;
    rd_kafka_conf_t *conf = brook__kafka_conf_new();
    int rc = brook__kafka_conf_set(conf, "bootstrap.servers", cli->bootstrap, &err);
    if (!rc)
        rc = brook__kafka_conf_set(conf, "client.id", "brook-cli", &err);
    if (!rc)
        rc = brook__kafka_apply_user(cli->client, conf, !consumer, &err);
    if (!rc && consumer) {
        /* librdkafka 2.0 assigns partitions only to a consumer with a group; one that was
         * given none never commits. */
        rc = brook__kafka_conf_set(conf, "group.id", group ? group : "brook-cli", &err);
        if (!rc)
            rc = brook__kafka_conf_set(conf, "enable.auto.commit", "false", &err);
        if (!rc)
            rc = brook__kafka_conf_set(conf, "isolation.level", "read_committed", &err);
        if (!rc)
            rc = brook__kafka_conf_set(conf, "enable.partition.eof", "true", &err);
    }
    for (size_t i = 0; !rc && extra && extra[i]; i += 2)
        rc = brook__kafka_conf_set(conf, extra[i], extra[i + 1], &err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        brook__cli_fail(BROOK_CLI_USAGE, "%s", err.message);
        return NULL;
    }
    return conf;
}

rd_kafka_t *brook__cli_new(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        brook__cli_fail(BROOK_CLI_KAFKA, "cannot make a Kafka client: %s", errstr);
    }
    return rk;
}

rd_kafka_t *brook__cli_client(brook__cli_t *cli, rd_kafka_type_t type, const char *group,
                              const char *const *extra) {
    rd_kafka_conf_t *conf = brook__cli_conf(cli, type, group, extra);
    return conf ? brook__cli_new(type, conf) : NULL;
}

int brook__cli_connect(brook__cli_t *cli, rd_kafka_type_t type, const char *group,
                       rd_kafka_t **rk) {
    *rk = NULL;
    int rc = brook__cli_prepare(cli);
    if (!rc && !(*rk = brook__cli_client(cli, type, group, NULL)))
        rc = BROOK_CLI_KAFKA;
    return rc;
}

void brook__cli_rebalance(rd_kafka_t *rk, bool assign, rd_kafka_topic_partition_list_t *parts) {
    if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE"))
        rd_kafka_error_destroy(assign ? rd_kafka_incremental_assign(rk, parts)
                                      : rd_kafka_incremental_unassign(rk, parts));
    else
        rd_kafka_assign(rk, assign ? parts : NULL);
}

int brook__cli_metadata(brook__cli_t *cli, rd_kafka_t *rk, const char *topic,
                        const struct rd_kafka_metadata **md) {
    /* Always every topic: asking for one by name makes a broker with auto.create.topics.enable
     * create it. */
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, md, CLI_TIMEOUT_MS);
    if (e)
        return brook__cli_fail(BROOK_CLI_KAFKA,
                               "cannot reach the cluster at %s: %s (check --bootstrap or "
                               "BROOK_BOOTSTRAP)",
                               cli->bootstrap, rd_kafka_err2str(e));
    if (!topic)
        return BROOK_CLI_OK;
    for (int i = 0; i < (*md)->topic_cnt; i++)
        if (!strcmp((*md)->topics[i].topic, topic) && !(*md)->topics[i].err)
            return BROOK_CLI_OK;
    rd_kafka_metadata_destroy(*md);
    *md = NULL;
    return brook__cli_fail(BROOK_CLI_NOTHING,
                           "topic %s does not exist at %s (brook topics describe lists them)",
                           topic, cli->bootstrap);
}

int brook__cli_partitions(brook__cli_t *cli, rd_kafka_t *rk, const char *topic) {
    const struct rd_kafka_metadata *md;
    int rc = brook__cli_metadata(cli, rk, topic, &md);
    if (rc)
        return -rc;
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic))
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

void brook__cli_add_partitions(rd_kafka_topic_partition_list_t *list, const char *topic,
                               int partitions) {
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p);
}

/* Errors of a partition whose leadership is moving or not known yet (a topic just created, a
 * broker restarting): asked again. */
static bool leader_moving(rd_kafka_resp_err_t e) {
    return e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
           e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
           e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           e == RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
}

/* Kafka's ListOffsets for every partition of list at once: -1 asks for the end, -2 the start.
 * Asked again, until CLI_TIMEOUT_MS, while a partition's leader is moving. */
static int list_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list, int64_t which) {
    int64_t deadline = brook__now_ms() + CLI_TIMEOUT_MS;
    rd_kafka_resp_err_t e;
    for (;;) {
        for (int i = 0; i < list->cnt; i++)
            list->elems[i].offset = which;
        e = rd_kafka_offsets_for_times(rk, list, CLI_TIMEOUT_MS);
        for (int i = 0; !e && i < list->cnt; i++)
            e = list->elems[i].err;
        if (!leader_moving(e) || brook__now_ms() >= deadline)
            break;
        struct timespec backoff = {0, 100 * 1000000L};
        nanosleep(&backoff, NULL);
    }
    if (e)
        return brook__cli_fail(BROOK_CLI_KAFKA, "cannot read the offsets of %s[%d]: %s",
                               list->cnt ? list->elems[0].topic : "?",
                               list->cnt ? list->elems[0].partition : -1, rd_kafka_err2str(e));
    return 0;
}

int brook__cli_watermarks(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list, int64_t *low) {
    int rc = 0;
    if (low) {
        if ((rc = list_offsets(rk, list, RD_KAFKA_OFFSET_BEGINNING)))
            return rc;
        for (int i = 0; i < list->cnt; i++)
            low[i] = list->elems[i].offset;
    }
    return list_offsets(rk, list, RD_KAFKA_OFFSET_END);
}

/* ---- signals and progress ------------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    stop_requested = 1;
}

void brook__cli_catch_signals(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool brook__cli_stopping(void) {
    return stop_requested != 0;
}

static int64_t progress_last_ms = -1;
static bool progress_shown;

void brook__cli_progress(const char *fmt, ...) {
    static int tty = -1;
    if (tty < 0)
        tty = isatty(STDERR_FILENO);
    int64_t now = brook__now_ms();
    if (!tty || (progress_last_ms >= 0 && now - progress_last_ms < 100))
        return;
    progress_last_ms = now;
    va_list ap;
    va_start(ap, fmt);
    fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
    progress_shown = true;
}

void brook__cli_progress_end(void) {
    if (progress_shown)
        fputs("\r\033[K", stderr);
    progress_shown = false;
    progress_last_ms = -1;
}

/* ---- bytes as text -------------------------------------------------------------------------- */

bool brook__cli_is_utf8(const void *data, size_t len, bool text) {
    const uint8_t *p = data;
    for (size_t i = 0; i < len;) {
        uint8_t c = p[i];
        if (c < 0x80) {
            if (text && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f))
                return false;
            i++;
            continue;
        }
        size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!n || i + n > len || (n == 2 && c < 0xc2))
            return false;
        uint32_t cp = c & (0x7f >> n);
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n;
    }
    return true;
}

int brook__cli_base64(brook_buf_t *out, const void *data, size_t len) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = data;
    if (brook_buf_reserve(out, (len + 2) / 3 * 4))
        return BROOK_ERR_NOMEM;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < len ? p[i + 2] : 0);
        char q[4] = {abc[v >> 18], abc[(v >> 12) & 63], i + 1 < len ? abc[(v >> 6) & 63] : '=',
                     i + 2 < len ? abc[v & 63] : '='};
        brook_buf_append(out, q, 4);
    }
    return 0;
}

int brook__cli_json_text(brook_buf_t *out, const void *data, size_t len) {
    char *s = malloc(len + 1);
    if (!s)
        return BROOK_ERR_NOMEM;
    memcpy(s, data, len);
    s[len] = 0;
    int rc = brook_avro_json_string(out, s);
    free(s);
    return rc;
}

void brook__cli_iso_time(int64_t ms, char *out, size_t size) {
    if (ms < 0) {
        snprintf(out, size, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char day[32];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03dZ", day, (int)(ms % 1000));
}
