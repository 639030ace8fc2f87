/* brook groups lag | offsets reset (docs/cli.md): a consumer group's committed offsets against
 * the end offsets, and moving them while the group has no active member. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/core.h"

/* ---- the group ------------------------------------------------------------------------------ */

typedef struct {
    int members; /* -1: the cluster cannot say */
    char state[32];
    char who[512]; /* client ids and hosts of the members */
} group_info_t;

/* Describes the group (DescribeGroups, through rd_kafka_list_groups: librdkafka 2.0.2's Admin
 * DescribeConsumerGroups leaves its client unable to close where the cluster does not support
 * it). The embedded cluster does not describe groups: members is -1 there. */
static void describe_group(rd_kafka_t *rk, const char *group, group_info_t *g) {
    memset(g, 0, sizeof(*g));
    g->members = -1;
    const struct rd_kafka_group_list *list = NULL;
    if (rd_kafka_list_groups(rk, group, &list, 10000))
        return;
    for (int i = 0; i < list->group_cnt; i++) {
        const struct rd_kafka_group_info *gi = &list->groups[i];
        if (strcmp(gi->group, group) || gi->err)
            continue;
        g->members = gi->member_cnt;
        snprintf(g->state, sizeof(g->state), "%s", gi->state ? gi->state : "?");
        size_t len = 0;
        for (int k = 0; k < gi->member_cnt && len < sizeof(g->who); k++)
            len += (size_t)snprintf(g->who + len, sizeof(g->who) - len, "%s%s on %s", k ? ", " : "",
                                    gi->members[k].client_id, gi->members[k].client_host);
    }
    rd_kafka_group_list_destroy(list);
}

static void print_group(const char *group, const group_info_t *g) {
    if (g->members < 0)
        printf("group %s: members unknown (this cluster does not describe groups)\n", group);
    else
        printf("group %s: %d member(s), %s%s%s\n", group, g->members, g->state,
               g->members ? ": " : "", g->who);
}

/* The partitions to look at: every partition of the --topic topics, or every partition for
 * which the group has a committed offset. Each entry's offset is the committed one (INVALID
 * when none). NULL after saying why. */
static rd_kafka_topic_partition_list_t *group_partitions(brook__cli_t *cli, rd_kafka_t *rk,
                                                         const char *group, char **topics,
                                                         int topic_count, int *rc) {
    const struct rd_kafka_metadata *md = NULL;
    if ((*rc = brook__cli_metadata(cli, rk, NULL, &md)))
        return NULL;
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(md->topic_cnt + 1);
    for (int k = 0; k < topic_count && !*rc; k++) {
        bool found = false;
        for (int i = 0; i < md->topic_cnt && !found; i++)
            if ((found = !strcmp(md->topics[i].topic, topics[k]) && !md->topics[i].err))
                brook__cli_add_partitions(all, topics[k], md->topics[i].partition_cnt);
        if (!found)
            *rc = brook__cli_fail(BROOK_CLI_NOTHING, "topic %s does not exist at %s", topics[k],
                                  cli->bootstrap);
    }
    for (int i = 0; i < md->topic_cnt && !topic_count; i++)
        if (!md->topics[i].err && strncmp(md->topics[i].topic, "__", 2))
            brook__cli_add_partitions(all, md->topics[i].topic, md->topics[i].partition_cnt);
    rd_kafka_metadata_destroy(md);
    rd_kafka_resp_err_t e = *rc ? 0 : rd_kafka_committed(rk, all, 10000);
    if (e)
        *rc = brook__cli_fail(BROOK_CLI_KAFKA, "cannot read the committed offsets of %s: %s", group,
                              rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_t *out = NULL;
    if (!*rc) {
        out = rd_kafka_topic_partition_list_new(all->cnt + 1);
        for (int i = 0; i < all->cnt; i++)
            if (topic_count || all->elems[i].offset >= 0)
                rd_kafka_topic_partition_list_add(out, all->elems[i].topic, all->elems[i].partition)
                    ->offset = all->elems[i].offset;
        rd_kafka_topic_partition_list_sort(out, NULL, NULL);
        if (!out->cnt) {
            *rc = brook__cli_fail(BROOK_CLI_NOTHING,
                                  "group %s has no committed offsets at %s (no such group? name "
                                  "its topics with --topic)",
                                  group, cli->bootstrap);
            rd_kafka_topic_partition_list_destroy(out);
            out = NULL;
        }
    }
    rd_kafka_topic_partition_list_destroy(all);
    return out;
}

static int collect_topics(int c, char ***topics, int *count) {
    if (c != 't')
        return BROOK_CLI_USAGE;
    char **t = realloc(*topics, (size_t)(*count + 1) * sizeof(*t));
    if (!t)
        return BROOK_CLI_USAGE;
    t[(*count)++] = optarg;
    *topics = t;
    return 0;
}

static void offset_text(int64_t o, char *out, size_t size) {
    if (o >= 0)
        snprintf(out, size, "%lld", (long long)o);
    else
        snprintf(out, size, "-");
}

/* ---- groups lag ----------------------------------------------------------------------------- */

static int lag_run(brook__cli_t *cli, int argc, char **argv) {
    static const struct option opts[] = {{"topic", required_argument, NULL, 't'}, {0}};
    char **topics = NULL;
    int topic_count = 0, c, rc = 0;
    while (!rc && (c = brook__cli_getopt(cli, argc, argv, opts)) != -1)
        rc = collect_topics(c, &topics, &topic_count);
    if (rc || optind != argc - 1) {
        free(topics);
        return brook__cli_usage(cli);
    }
    const char *group = argv[optind];
    rd_kafka_t *rk;
    rc = brook__cli_connect(cli, RD_KAFKA_CONSUMER, group, &rk);
    rd_kafka_topic_partition_list_t *committed =
        rc ? NULL : group_partitions(cli, rk, group, topics, topic_count, &rc);
    rd_kafka_topic_partition_list_t *end =
        committed ? rd_kafka_topic_partition_list_copy(committed) : NULL;
    if (end)
        rc = brook__cli_watermarks(rk, end, NULL);
    if (!rc && end) {
        group_info_t g;
        describe_group(rk, group, &g);
        int64_t total_committed = 0, total_end = 0, total_lag = 0;
        printf("%-40s  %9s  %12s  %12s  %10s\n", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG");
        for (int i = 0; i < committed->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &committed->elems[i];
            int64_t e = end->elems[i].offset, lag = p->offset >= 0 ? e - p->offset : -1;
            char co[32], lg[32];
            offset_text(p->offset, co, sizeof(co));
            offset_text(lag, lg, sizeof(lg));
            printf("%-40s  %9d  %12s  %12lld  %10s\n", p->topic, (int)p->partition, co,
                   (long long)e, lg);
            total_committed += p->offset >= 0 ? p->offset : 0;
            total_end += e;
            total_lag += lag >= 0 ? lag : 0;
        }
        printf("%-40s  %9s  %12lld  %12lld  %10lld\n", "TOTAL", "", (long long)total_committed,
               (long long)total_end, (long long)total_lag);
        print_group(group, &g);
    }
    if (committed)
        rd_kafka_topic_partition_list_destroy(committed);
    if (end)
        rd_kafka_topic_partition_list_destroy(end);
    if (rk)
        rd_kafka_destroy(rk);
    free(topics);
    return rc;
}

const brook__cli_cmd_t brook__cli_groups_lag = {
    .group = "groups",
    .name = "lag",
    .synopsis = "GROUP [--topic T]...",
    .brief = "a consumer group's committed offsets and lag",
    .summary =
        "Shows consumer group GROUP's committed offset, the end offset and the lag of each\n"
        "partition it committed on (or of each partition of the --topic topics), the totals, and\n"
        "its members.",
    .help =
        "  --topic T              the partitions of topic T (repeatable; default: every partition\n"
        "                         the group has a committed offset for)\n",
    .run = lag_run,
};

/* ---- offsets reset -------------------------------------------------------------------------- */

/* Epoch ms from a number of ms, or ISO 8601: 2024-05-01, 2024-05-01T12:00:00[.123][Z|+02:00]. */
static bool parse_time(const char *s, int64_t *ms) {
    if (brook__cli_parse_count(s, ms))
        return true;
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) {
        memset(&tm, 0, sizeof(tm));
        if (!(rest = strptime(s, "%Y-%m-%d", &tm)) || *rest)
            return false;
    }
    int64_t frac = 0, zone = 0;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*rest - '0');
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (*rest == '+' || *rest == '-') {
        int h, m;
        if (sscanf(rest + 1, "%2d:%2d", &h, &m) != 2 || strlen(rest) != 6)
            return false;
        zone = (*rest == '-' ? -1 : 1) * (h * 3600 + m * 60);
        rest += 6;
    } else if (*rest == 'Z') {
        rest++;
    }
    if (*rest)
        return false;
    *ms = ((int64_t)timegm(&tm) - zone) * 1000 + frac;
    return true;
}

/* The new offset of each partition of list (offsets replaced): earliest, latest or the first
 * at or after a time (the end where there is none). */
static int target_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list, const char *to) {
    int64_t *low = calloc((size_t)list->cnt + 1, sizeof(*low));
    int rc = low ? brook__cli_watermarks(rk, list, low) : BROOK_CLI_KAFKA;
    int64_t ms = -1;
    if (!rc && !strcmp(to, "earliest")) {
        for (int i = 0; i < list->cnt; i++)
            list->elems[i].offset = low[i];
    } else if (!rc && strcmp(to, "latest") && parse_time(to, &ms)) {
        rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_copy(list);
        for (int i = 0; i < at->cnt; i++)
            at->elems[i].offset = ms;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, at, 10000);
        if (e)
            rc = brook__cli_fail(BROOK_CLI_KAFKA, "cannot look up offsets by time: %s",
                                 rd_kafka_err2str(e));
        for (int i = 0; !rc && i < at->cnt; i++)
            if (at->elems[i].offset >= 0) /* -1: no record at or after it: the end */
                list->elems[i].offset = at->elems[i].offset;
        rd_kafka_topic_partition_list_destroy(at);
    }
    free(low);
    return rc;
}

/* Errors with which the cluster refuses a commit from outside a group that has members. */
static bool refused_for_members(rd_kafka_resp_err_t e) {
    return e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
           e == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
}

static int reset_apply(rd_kafka_t *rk, const char *group, rd_kafka_topic_partition_list_t *to) {
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, to, 0);
    for (int i = 0; !e && i < to->cnt; i++)
        e = to->elems[i].err;
    if (refused_for_members(e))
        return brook__cli_fail(BROOK_CLI_REFUSED,
                               "the cluster refused: group %s has active members (%s); stop "
                               "them, then reset",
                               group, rd_kafka_err2str(e));
    if (e)
        return brook__cli_fail(BROOK_CLI_KAFKA, "cannot commit the new offsets of %s: %s", group,
                               rd_kafka_err2str(e));
    printf("group %s: %d partition(s) reset\n", group, to->cnt);
    return 0;
}

typedef struct {
    bool joined;
    rd_kafka_topic_partition_list_t *assigned;
} joiner_t;

/* Runs in rd_kafka_consumer_poll: takes what the group gives. */
static void joined(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                   void *opaque) {
    joiner_t *j = opaque;
    bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    for (int i = 0; assign && i < parts->cnt; i++)
        rd_kafka_topic_partition_list_add(j->assigned, parts->elems[i].topic,
                                          parts->elems[i].partition);
    j->joined |= assign;
    brook__cli_rebalance(rk, assign, parts);
}

/* Where the cluster cannot describe groups (the embedded cluster, which also refuses commits
 * from outside any group it knows): joins the group to commit as its member. Alone in it, it
 * is given every partition of the topics; with active members it is not, and leaves without
 * committing (those members see one rebalance). */
static int reset_as_member(brook__cli_t *cli, const char *group,
                           rd_kafka_topic_partition_list_t *to) {
    static const char *const extra[] = {"partition.assignment.strategy",
                                        "cooperative-sticky",
                                        "session.timeout.ms",
                                        "6000",
                                        "heartbeat.interval.ms",
                                        "500",
                                        NULL};
    joiner_t j = {.assigned = rd_kafka_topic_partition_list_new(to->cnt)};
    rd_kafka_conf_t *conf = brook__cli_conf(cli, RD_KAFKA_CONSUMER, group, extra);
    if (conf) {
        rd_kafka_conf_set_rebalance_cb(conf, joined);
        rd_kafka_conf_set_opaque(conf, &j);
    }
    rd_kafka_t *rk = conf ? brook__cli_new(RD_KAFKA_CONSUMER, conf) : NULL;
    int rc = rk ? 0 : BROOK_CLI_KAFKA;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(to->cnt);
    for (int i = 0; i < to->cnt; i++)
        if (!rd_kafka_topic_partition_list_find(topics, to->elems[i].topic, RD_KAFKA_PARTITION_UA))
            rd_kafka_topic_partition_list_add(topics, to->elems[i].topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rk ? rd_kafka_subscribe(rk, topics) : 0;
    if (e)
        rc = brook__cli_fail(BROOK_CLI_KAFKA, "cannot join group %s: %s", group,
                             rd_kafka_err2str(e));
    int64_t deadline = brook__now_ms() + 30000;
    while (!rc && !j.joined && brook__now_ms() < deadline) {
        brook__cli_progress("joining group %s", group);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    brook__cli_progress_end();
    bool alone = j.joined;
    for (int i = 0; i < to->cnt && alone; i++)
        alone = rd_kafka_topic_partition_list_find(j.assigned, to->elems[i].topic,
                                                   to->elems[i].partition) != NULL;
    if (!rc && !j.joined)
        rc = brook__cli_fail(BROOK_CLI_KAFKA, "could not join group %s within 30 s", group);
    else if (!rc && !alone)
        rc = brook__cli_fail(BROOK_CLI_REFUSED,
                             "group %s has active members (joining it gave %d of its %d "
                             "partitions): stop them, then reset",
                             group, j.assigned->cnt, to->cnt);
    else if (!rc)
        rc = reset_apply(rk, group, to);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    rd_kafka_topic_partition_list_destroy(topics);
    rd_kafka_topic_partition_list_destroy(j.assigned);
    return rc;
}

static int reset_run(brook__cli_t *cli, int argc, char **argv) {
    static const struct option opts[] = {{"topic", required_argument, NULL, 't'},
                                         {"to", required_argument, NULL, 'T'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {0}};
    char **topics = NULL;
    const char *to = NULL;
    bool dry_run = false;
    int topic_count = 0, c, rc = 0;
    int64_t ms;
    while (!rc && (c = brook__cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == 'T')
            to = optarg;
        else if (c == 'n')
            dry_run = true;
        else
            rc = collect_topics(c, &topics, &topic_count);
    }
    if (rc || optind != argc - 1 || !to) {
        free(topics);
        return brook__cli_usage(cli);
    }
    if (strcmp(to, "earliest") && strcmp(to, "latest") && !parse_time(to, &ms)) {
        free(topics);
        return brook__cli_fail(BROOK_CLI_USAGE,
                               "--to is earliest, latest, epoch milliseconds or an ISO 8601 time "
                               "(2024-05-01T12:00:00Z), not %s",
                               to);
    }
    const char *group = argv[optind];
    rd_kafka_t *rk;
    rc = brook__cli_connect(cli, RD_KAFKA_CONSUMER, group, &rk);
    group_info_t g = {.members = -1};
    if (!rc) {
        describe_group(rk, group, &g);
        if (g.members > 0)
            rc = brook__cli_fail(BROOK_CLI_REFUSED,
                                 "group %s has %d active member(s) (%s): stop them first; the "
                                 "offsets of a group with members are not reset",
                                 group, g.members, g.who);
    }
    rd_kafka_topic_partition_list_t *now =
        rc ? NULL : group_partitions(cli, rk, group, topics, topic_count, &rc);
    rd_kafka_topic_partition_list_t *next = now ? rd_kafka_topic_partition_list_copy(now) : NULL;
    if (next)
        rc = target_offsets(rk, next, to);
    if (!rc && next) {
        printf("%-40s  %9s  %12s  %12s\n", "TOPIC", "PARTITION", "CURRENT", "NEW");
        for (int i = 0; i < next->cnt; i++) {
            char cur[32];
            offset_text(now->elems[i].offset, cur, sizeof(cur));
            printf("%-40s  %9d  %12s  %12lld\n", next->elems[i].topic,
                   (int)next->elems[i].partition, cur, (long long)next->elems[i].offset);
        }
        if (dry_run)
            printf("dry run: nothing changed%s\n",
                   g.members < 0 ? " (this cluster does not describe groups: whether the group "
                                   "has active members is found out when resetting)"
                                 : "");
        else if (g.members < 0)
            rc = reset_as_member(cli, group, next);
        else
            rc = reset_apply(rk, group, next);
    }
    if (now)
        rd_kafka_topic_partition_list_destroy(now);
    if (next)
        rd_kafka_topic_partition_list_destroy(next);
    if (rk)
        rd_kafka_destroy(rk);
    free(topics);
    return rc;
}

const brook__cli_cmd_t brook__cli_offsets_reset = {
    .group = "offsets",
    .name = "reset",
    .synopsis = "GROUP --to earliest|latest|TIME [--topic T]... [--dry-run]",
    .brief = "move the offsets of a group with no active member",
    .summary =
        "Moves consumer group GROUP's committed offsets to the start, the end, or the first\n"
        "record at or after TIME (epoch milliseconds or ISO 8601: 2024-05-01T12:00:00Z), on the\n"
        "partitions it committed on (or every partition of the --topic topics). Refused while the\n"
        "group has active members (exit code 4): stop its services first.",
    .help = "  --to WHERE             earliest, latest, or a time\n"
            "  --topic T              the partitions of topic T (repeatable)\n"
            "  --dry-run              only show the offsets it would commit\n",
    .run = reset_run,
};
