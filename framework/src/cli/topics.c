/* brook topics apply | describe (docs/cli.md): the topics of declarations, created as the
 * runtime creates them at start (app/provision.c), and what the cluster has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/provision.h"
#include "cli/cli.h"
#include "core/core.h"

/* ---- apply ---------------------------------------------------------------------------------- */

typedef struct {
    size_t created, existing, missing;
    char **new_topics; /* created: waited for until the cluster serves them */
} applied_t;

static void applied(const char *topic, brook__provision_state_t state, int partitions,
                    int replication, void *opaque) {
    applied_t *a = opaque;
    static const char *const what[] = {"exists", "created", "missing"};
    char repl[32];
    snprintf(repl, sizeof(repl), replication > 0 ? "%d" : "broker default", replication);
    printf("%-8s %s (partitions %d, replication %s)\n", what[state], topic, partitions, repl);
    *(state == BROOK__PROVISION_EXISTS    ? &a->existing
      : state == BROOK__PROVISION_CREATED ? &a->created
                                          : &a->missing) += 1;
    char **t =
        state == BROOK__PROVISION_CREATED ? realloc(a->new_topics, a->created * sizeof(*t)) : NULL;
    if (t) {
        a->new_topics = t;
        t[a->created - 1] = strdup(topic);
    }
}

/* Whether the metadata has `topic` with a leader for each partition. */
static bool served(const struct rd_kafka_metadata *md, const char *topic) {
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (strcmp(t->topic, topic) || t->err || !t->partition_cnt)
            continue;
        for (int p = 0; p < t->partition_cnt; p++)
            if (t->partitions[p].leader < 0)
                return false;
        return true;
    }
    return false;
}

/* A created topic reaches every broker's metadata a little after CreateTopics returns: waits
 * (30 s at most) so that the next command finds it. */
static void await_created(brook__cli_t *cli, rd_kafka_t *rk, const applied_t *a) {
    int64_t deadline = brook__now_ms() + 30000;
    size_t ready = 0;
    while (ready < a->created && brook__now_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 5000))
            continue;
        for (ready = 0;
             ready < a->created && a->new_topics[ready] && served(md, a->new_topics[ready]);)
            ready++;
        rd_kafka_metadata_destroy(md);
        brook__cli_progress("waiting for the cluster to serve %zu new topic(s)",
                            a->created - ready);
        if (ready < a->created)
            rd_kafka_poll(rk, 100);
    }
    brook__cli_progress_end();
    if (ready < a->created)
        brook_log(BROOK_LOG_WARN, "cli", "%s is not served yet at %s", a->new_topics[ready],
                  cli->bootstrap);
}

static int apply_run(brook__cli_t *cli, int argc, char **argv) {
    static const struct option opts[] = {{"dry-run", no_argument, NULL, 'n'}, {0}};
    bool dry_run = false;
    int c;
    while ((c = brook__cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c != 'n')
            return brook__cli_usage(cli);
        dry_run = true;
    }
    if (optind >= argc)
        return brook__cli_usage(cli);
    /* The declarations to apply are read like --decl ones (their bootstrap and kafka
     * properties count) and come last. */
    size_t first = cli->decl_count;
    char **paths = realloc(cli->decl_paths, (first + (size_t)(argc - optind)) * sizeof(*paths));
    if (!paths)
        return brook__cli_fail(BROOK_CLI_USAGE, "out of memory");
    cli->decl_paths = paths;
    for (int i = optind; i < argc; i++)
        cli->decl_paths[cli->decl_count++] = argv[i];
    rd_kafka_t *rk;
    int rc = brook__cli_connect(cli, RD_KAFKA_PRODUCER, NULL, &rk);
    if (rc)
        return rc;
    applied_t a = {0};
    for (size_t i = first; !rc && i < cli->decl_count; i++) {
        brook_error_t err = {0};
        if (brook__provision_admin(cli->decls[i], rk, dry_run, applied, &a, &err))
            rc = brook__cli_fail(
                BROOK_CLI_KAFKA, "%s: %s%s", cli->decl_paths[i], err.message,
                err.code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
                        err.code == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION ||
                        err.code == RD_KAFKA_RESP_ERR__TIMED_OUT
                    ? " (no controller answered; a brook-devbroker cannot create topics: it "
                      "creates those of the declarations it is started with)"
                    : "");
    }
    if (!rc && a.created)
        await_created(cli, rk, &a);
    for (size_t i = 0; i < a.created; i++)
        free(a.new_topics[i]);
    free(a.new_topics);
    rd_kafka_destroy(rk);
    if (!rc && dry_run)
        printf("%zu topic(s): %zu exist, %zu missing (dry run: nothing created)\n",
               a.existing + a.missing, a.existing, a.missing);
    else if (!rc)
        printf("%zu topic(s): %zu created, %zu existed\n", a.created + a.existing, a.created,
               a.existing);
    return rc;
}

const brook__cli_cmd_t brook__cli_topics_apply = {
    .group = "topics",
    .name = "apply",
    .synopsis = "[--dry-run] DECL.brook...",
    .brief = "create the topics of declarations (retry and DLT topics too)",
    .summary =
        "Creates the topics the declarations need (declared, retry and dead-letter topics) as\n"
        "their services do at start: the missing ones through the Admin API with the declared\n"
        "partitions, replication and config; existing ones are left as they are.",
    .help = "  --dry-run              only say what would be created\n",
    .run = apply_run,
};

/* ---- describe ------------------------------------------------------------------------------- */

static int by_name(const void *a, const void *b) {
    const rd_kafka_metadata_topic_t *x = *(const rd_kafka_metadata_topic_t *const *)a,
                                    *y = *(const rd_kafka_metadata_topic_t *const *)b;
    return strcmp(x->topic, y->topic);
}

static void int_list(char *out, size_t size, const int32_t *v, int n) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%d", i ? "," : "", v[i]);
}

static int describe_one(rd_kafka_t *rk, const rd_kafka_metadata_topic_t *t) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(t->partition_cnt);
    brook__cli_add_partitions(list, t->topic, t->partition_cnt);
    int64_t *low = calloc((size_t)t->partition_cnt + 1, sizeof(*low));
    int rc = low ? brook__cli_watermarks(rk, list, low) : BROOK_CLI_KAFKA;
    if (!rc) {
        int64_t records = 0;
        for (int p = 0; p < t->partition_cnt; p++)
            records += list->elems[p].offset - low[p];
        printf("%s  partitions %d  replication %d  records %lld\n", t->topic, t->partition_cnt,
               t->partition_cnt ? t->partitions[0].replica_cnt : 0, (long long)records);
        printf("  %-9s  %-6s  %-12s  %-12s  %12s  %12s\n", "PARTITION", "LEADER", "REPLICAS", "ISR",
               "START", "END");
        for (int p = 0; p < t->partition_cnt; p++) {
            const rd_kafka_metadata_partition_t *mp = &t->partitions[p];
            char replicas[128], isrs[128];
            int_list(replicas, sizeof(replicas), mp->replicas, mp->replica_cnt);
            int_list(isrs, sizeof(isrs), mp->isrs, mp->isr_cnt);
            printf("  %-9d  %-6d  %-12s  %-12s  %12lld  %12lld\n", mp->id, mp->leader, replicas,
                   isrs, (long long)low[mp->id], (long long)list->elems[mp->id].offset);
        }
    }
    free(low);
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

static int describe_run(brook__cli_t *cli, int argc, char **argv) {
    if (brook__cli_getopt(cli, argc, argv, NULL) != -1)
        return brook__cli_usage(cli);
    rd_kafka_t *rk;
    int rc = brook__cli_connect(cli, RD_KAFKA_CONSUMER, NULL, &rk);
    if (rc)
        return rc;
    const struct rd_kafka_metadata *md = NULL;
    if ((rc = brook__cli_metadata(cli, rk, NULL, &md))) {
        rd_kafka_destroy(rk);
        return rc;
    }
    const rd_kafka_metadata_topic_t **shown = calloc((size_t)md->topic_cnt + 1, sizeof(*shown));
    size_t n = 0;
    for (int i = 0; shown && i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        bool wanted = optind == argc ? strncmp(t->topic, "__", 2) != 0 : false;
        for (int k = optind; k < argc && !wanted; k++)
            wanted = !strcmp(argv[k], t->topic);
        if (wanted && !t->err)
            shown[n++] = t;
    }
    int missing = 0;
    for (int k = optind; k < argc; k++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = !strcmp(shown[i]->topic, argv[k]);
        if (!found) {
            brook__cli_fail(BROOK_CLI_NOTHING, "topic %s does not exist at %s", argv[k],
                            cli->bootstrap);
            missing++;
        }
    }
    if (shown)
        qsort(shown, n, sizeof(*shown), by_name);
    for (size_t i = 0; i < n && !rc; i++) {
        brook__cli_progress("reading the offsets of %s (%zu/%zu)", shown[i]->topic, i + 1, n);
        rc = describe_one(rk, shown[i]);
    }
    brook__cli_progress_end();
    if (!rc && n == 0 && optind == argc)
        printf("no topics at %s\n", cli->bootstrap);
    free(shown);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return rc ? rc : missing ? BROOK_CLI_NOTHING : BROOK_CLI_OK;
}

const brook__cli_cmd_t brook__cli_topics_describe = {
    .group = "topics",
    .name = "describe",
    .synopsis = "[TOPIC...]",
    .brief = "partitions, replicas, leaders and offsets of topics",
    .summary =
        "Shows each topic (every one but Kafka's internal __ topics when none is named): its\n"
        "partitions, replication, leaders, replicas, in-sync replicas, start and end offsets.",
    .help = "",
    .run = describe_run,
};
