/*
 * Reading a topic up to the end offsets it had when the reading started (cli/cli.h), or on
 * (follow): without a group by assigning its partitions, with one as a member of the group
 * (cooperative rebalances, as Brook's listeners; the end offsets are those of the moment a
 * partition was assigned). A
 * partition is done once a record at or past its end offset was seen, or an end-of-partition
 * event came, or it started at its end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "kafka/kafka.h"

/* How long the reading may see nothing while partitions are not at their end offsets. */
#define STALL_MS 30000

typedef struct {
    int32_t partition;
    int64_t end;  /* end offset at the start (-1: following) */
    int64_t next; /* offset after the last record given to fn (-1: none) */
    bool done;
} part_t;

typedef struct {
    brook__cli_t *cli;
    const brook__cli_read_opts_t *o;
    rd_kafka_t *rk;
    part_t *parts;
    size_t count;
    bool assigned; /* has partitions to read */
    int64_t taken;
    int failed; /* an exit code from the rebalance callback */
} reader_t;

static part_t *part_of(reader_t *r, int32_t partition) {
    for (size_t i = 0; i < r->count; i++)
        if (r->parts[i].partition == partition)
            return &r->parts[i];
    return NULL;
}

static bool all_done(const reader_t *r) {
    for (size_t i = 0; i < r->count; i++)
        if (!r->parts[i].done)
            return false;
    return r->assigned;
}

/* Where each partition of `list` starts (their offsets on entry: a number, BEGINNING or END,
 * INVALID for a group's committed offset) and where it ends; adds them to r and assigns them. */
static int start_parts(reader_t *r, rd_kafka_topic_partition_list_t *list) {
    int64_t *low = calloc((size_t)list->cnt + 1, sizeof(*low));
    int64_t *start = calloc((size_t)list->cnt + 1, sizeof(*start));
    part_t *parts = realloc(r->parts, (r->count + (size_t)list->cnt + 1) * sizeof(*parts));
    if (!low || !start || !parts) {
        free(low);
        free(start);
        return brook__cli_fail(BROOK_CLI_KAFKA, "out of memory");
    }
    r->parts = parts;
    for (int i = 0; i < list->cnt; i++)
        start[i] = list->elems[i].offset;
    if (r->o->group) {
        /* The group's committed offsets, where it has some; `from` elsewhere. */
        rd_kafka_resp_err_t e = rd_kafka_committed(r->rk, list, 10000);
        if (e) {
            free(low);
            free(start);
            return brook__cli_fail(BROOK_CLI_KAFKA, "cannot read the committed offsets of %s: %s",
                                   r->o->group, rd_kafka_err2str(e));
        }
        for (int i = 0; i < list->cnt; i++)
            start[i] = list->elems[i].offset >= 0               ? list->elems[i].offset
                       : r->o->from == BROOK_CLI_FROM_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING
                                                                : RD_KAFKA_OFFSET_END;
    }
    int rc = 0;
    if (!r->o->follow)
        rc = brook__cli_watermarks(r->rk, list, low);
    for (int i = 0; !rc && i < list->cnt; i++) {
        part_t *p = &r->parts[r->count++];
        p->partition = list->elems[i].partition;
        p->next = -1;
        p->end = r->o->follow ? -1 : list->elems[i].offset;
        int64_t first = start[i] == RD_KAFKA_OFFSET_BEGINNING ? low[i]
                        : start[i] == RD_KAFKA_OFFSET_END     ? p->end
                                                              : start[i];
        p->done = !r->o->follow && first >= p->end;
        list->elems[i].offset = start[i];
    }
    free(low);
    free(start);
    if (!rc && r->o->group) {
        brook__cli_rebalance(r->rk, true, list);
    } else if (!rc) {
        rd_kafka_resp_err_t e = rd_kafka_assign(r->rk, list);
        if (e)
            rc = brook__cli_fail(BROOK_CLI_KAFKA, "cannot read %s: %s", r->o->topic,
                                 rd_kafka_err2str(e));
    }
    /* A member may be given nothing at first (cooperative: the partitions come in a second
     * round, once their owners gave them up). */
    r->assigned = r->count > 0;
    return rc;
}

/* What the group member took, committed: asynchronously while reading, synchronously when its
 * partitions go or the reading ends. */
static void commit_taken(reader_t *r, bool sync) {
    if (!r->o->group)
        return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)r->count);
    for (size_t i = 0; i < r->count; i++)
        if (r->parts[i].next >= 0)
            rd_kafka_topic_partition_list_add(list, r->o->topic, r->parts[i].partition)->offset =
                r->parts[i].next;
    if (list->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_commit(r->rk, list, !sync);
        if (e && sync)
            brook_log(BROOK_LOG_WARN, "cli", "committing for group %s: %s", r->o->group,
                      rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* Runs in rd_kafka_consumer_poll, on the reading thread. */
static void rebalanced(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t *parts, void *opaque) {
    reader_t *r = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int rc = start_parts(r, parts);
        if (rc && !r->failed)
            r->failed = rc;
        return;
    }
    commit_taken(r, true);
    /* What goes (all of it with an eager protocol, some with a cooperative one) is forgotten. */
    size_t kept = 0;
    for (size_t i = 0; i < r->count; i++)
        if (!rd_kafka_topic_partition_list_find(parts, r->o->topic, r->parts[i].partition))
            r->parts[kept++] = r->parts[i];
    r->count = kept;
    r->assigned = kept > 0;
    brook__cli_rebalance(rk, false, parts);
}

static int open_reader(reader_t *r) {
    const brook__cli_read_opts_t *o = r->o;
    /* An offset no longer in the log (retention) starts at the first record there is. */
    /* Brook's listeners' protocol (a group may not mix protocols), and a short session unless
     * declared: a member that joins after another left waits for its session on the embedded
     * cluster (docs/runtime.md). */
    bool own_session = !brook_decl_kafka_value(r->cli->client, "session.timeout.ms");
    const char *extra[] = {"auto.offset.reset",
                           o->from == BROOK_CLI_FROM_END ? "latest" : "earliest",
                           "partition.assignment.strategy",
                           "cooperative-sticky",
                           own_session ? "session.timeout.ms" : NULL,
                           "6000",
                           "heartbeat.interval.ms",
                           "500",
                           NULL};
    rd_kafka_conf_t *conf = brook__cli_conf(r->cli, RD_KAFKA_CONSUMER, o->group, extra);
    if (!conf)
        return BROOK_CLI_USAGE;
    if (o->group) {
        rd_kafka_conf_set_rebalance_cb(conf, rebalanced);
        rd_kafka_conf_set_opaque(conf, r);
    }
    if (!(r->rk = brook__cli_new(RD_KAFKA_CONSUMER, conf)))
        return BROOK_CLI_KAFKA;
    int partitions = brook__cli_partitions(r->cli, r->rk, o->topic);
    if (partitions < 0)
        return -partitions;
    if (o->partition >= partitions)
        return brook__cli_fail(BROOK_CLI_NOTHING, "%s has no partition %d (it has %d)", o->topic,
                               o->partition, partitions);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    if (o->group) {
        rd_kafka_topic_partition_list_add(list, o->topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(r->rk, list);
        rd_kafka_topic_partition_list_destroy(list);
        return e ? brook__cli_fail(BROOK_CLI_KAFKA, "cannot join group %s: %s", o->group,
                                   rd_kafka_err2str(e))
                 : 0;
    }
    for (int p = 0; p < partitions; p++) {
        if (o->partition >= 0 && p != o->partition)
            continue;
        const rd_kafka_topic_partition_t *at =
            o->offsets ? rd_kafka_topic_partition_list_find(o->offsets, o->topic, p) : NULL;
        rd_kafka_topic_partition_list_add(list, o->topic, p)->offset =
            o->from == BROOK_CLI_FROM_OFFSETS && at && at->offset >= 0 ? at->offset
            : o->from == BROOK_CLI_FROM_END                            ? RD_KAFKA_OFFSET_END
                                                                       : RD_KAFKA_OFFSET_BEGINNING;
    }
    int rc = start_parts(r, list);
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

int brook__cli_read(brook__cli_t *cli, const brook__cli_read_opts_t *o, brook__cli_record_fn *fn,
                    void *opaque) {
    reader_t r = {.cli = cli, .o = o};
    brook_header_t *headers = NULL;
    size_t header_cap = 0;
    bool stop = false;
    int rc = open_reader(&r);
    int64_t last_seen = brook__now_ms(), last_commit = last_seen;
    while (!rc && !stop && !r.failed && !brook__cli_stopping() && !all_done(&r) &&
           !(o->max && r.taken >= o->max)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r.rk, 100);
        int64_t now = brook__now_ms();
        if (o->group && now - last_commit >= 1000) {
            commit_taken(&r, false);
            last_commit = now;
        }
        if (!m) {
            if (!o->follow && now - last_seen > STALL_MS)
                rc = brook__cli_fail(BROOK_CLI_KAFKA,
                                     "nothing came from %s for %d s before its end offsets: is "
                                     "the cluster at %s still there?",
                                     o->topic, STALL_MS / 1000, cli->bootstrap);
            if (!o->quiet)
                brook__cli_progress("%s: %lld records", o->topic, (long long)r.taken);
            continue;
        }
        last_seen = now;
        part_t *p = part_of(&r, m->partition);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p && !o->follow)
                p->done = true;
        } else if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
                m->err == RD_KAFKA_RESP_ERR__FATAL)
                rc = brook__cli_fail(BROOK_CLI_KAFKA, "reading %s: %s", o->topic,
                                     rd_kafka_message_errstr(m));
            else
                brook_log(BROOK_LOG_WARN, "cli", "reading %s: %s", o->topic,
                          rd_kafka_message_errstr(m));
        } else if (p && !p->done) {
            if (!o->follow && m->offset >= p->end) {
                p->done = true;
            } else {
                brook_record_t rec;
                brook__kafka_record(m, &rec);
                brook__kafka_record_headers(m, &rec, &headers, &header_cap);
                int frc = fn(&rec, opaque);
                r.taken++;
                p->next = m->offset + 1;
                if (!o->follow && p->next >= p->end)
                    p->done = true;
                stop = frc != 0;
                if (frc > 1)
                    rc = frc;
            }
        }
        rd_kafka_message_destroy(m);
    }
    if (!o->quiet)
        brook__cli_progress_end();
    if (r.rk) {
        commit_taken(&r, true);
        rd_kafka_consumer_close(r.rk);
        rd_kafka_destroy(r.rk);
    }
    free(r.parts);
    free(headers);
    return rc ? rc : r.failed;
}
