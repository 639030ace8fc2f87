/*
 * brook dlt list | replay (docs/cli.md): a dead-letter topic's records with the failure their
 * headers name (brook_record_failure_info: Brook's and Spring's headers alike), and replaying
 * them to the topics they failed on.
 *
 * Replay progress lives in Kafka, as the committed offsets of consumer group
 * "brook-dlt-replay.<dlt>": per partition, every record below the committed offset was
 * replayed (or was there before a replay that had no filter), and the offset's metadata lists
 * the offsets at or beyond it that a filtered replay (--key, --offsets) replayed too
 * ("brook-dlt-replay/1 replayed=12-15,19"). The replayed records and the new progress are
 * committed in one Kafka transaction (transactional id "brook-dlt-replay.<dlt>"), batch by
 * batch: a crash before a commit leaves neither the records (a read_committed reader never sees
 * them; the next run's producer aborts the transaction) nor the progress, so the next run
 * replays them again, once; after it, the progress says they were replayed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "produce/produce.h"
#include "serde/serde.h"

#define PROGRESS_TAG "brook-dlt-replay/1"
/* Kafka keeps up to offset.metadata.max.bytes (4096 by default) of a commit's metadata. */
#define PROGRESS_MAX_METADATA 3800
#define DEFAULT_BATCH 500

/* ---- what to take -----------------------------------------------------------------------------
 */

typedef struct {
    int32_t partition;   /* -1: all */
    int64_t first, last; /* --offsets A..B, inclusive */
    const char *key;     /* --key */
    const char *to;      /* --to */
    bool dry_run;
    int64_t batch;
} filter_t;

static bool parse_offsets(const char *s, filter_t *f) {
    const char *dots = strstr(s, "..");
    if (!dots)
        return brook__cli_parse_count(s, &f->first) && (f->last = f->first, true);
    char a[32] = "";
    if ((size_t)(dots - s) >= sizeof(a))
        return false;
    memcpy(a, s, (size_t)(dots - s));
    f->first = 0;
    f->last = INT64_MAX;
    return (!a[0] || brook__cli_parse_count(a, &f->first)) &&
           (!dots[2] || brook__cli_parse_count(dots + 2, &f->last)) && f->first <= f->last;
}

static bool matches(const filter_t *f, const brook_record_t *r) {
    if (r->offset < f->first || r->offset > f->last)
        return false;
    return !f->key ||
           (r->key && r->key_len == strlen(f->key) && !memcmp(r->key, f->key, r->key_len));
}

/* The options dlt list and dlt replay share; an exit code when one is wrong, else -1. */
static int filter_option(filter_t *f, int c) {
    int64_t n;
    switch (c) {
    case 'o':
        return parse_offsets(optarg, f) ? -1
                                        : brook__cli_fail(BROOK_CLI_USAGE,
                                                          "--offsets is A..B, A.., ..B or A, "
                                                          "not %s",
                                                          optarg);
    case 'k':
        f->key = optarg;
        return -1;
    case 'p':
        if (!brook__cli_parse_count(optarg, &n) || n > INT32_MAX)
            return brook__cli_fail(BROOK_CLI_USAGE, "--partition wants a number, not %s", optarg);
        f->partition = (int32_t)n;
        return -1;
    default:
        return BROOK_CLI_USAGE;
    }
}

#define FILTER_OPTIONS                                                                             \
    {"offsets", required_argument, NULL, 'o'}, {"key", required_argument, NULL, 'k'}, {            \
        "partition", required_argument, NULL, 'p'                                                  \
    }
#define FILTER_HELP                                                                                \
    "  --offsets A..B         only records at offsets A to B (inclusive; A.. and ..B too), in\n"   \
    "                         every partition unless --partition\n"                                \
    "  --key K                only records whose key is K\n"                                       \
    "  --partition P          only partition P\n"

/* ---- progress ------------------------------------------------------------------------------- */

typedef struct {
    int64_t lo, hi;
} range_t;

typedef struct {
    int32_t partition;
    int64_t committed; /* every record below was replayed */
    range_t *ranges;   /* replayed offsets at or beyond committed, sorted, disjoint */
    size_t count;
    bool open;  /* this run saw only replayed records since `committed` */
    bool dirty; /* changed since committed to Kafka */
} progress_t;

typedef struct {
    char group[300];
    rd_kafka_t *rk; /* a consumer of the progress group (never subscribes) */
    progress_t *parts;
    int count;
} progress_set_t;

static bool replayed_before(const progress_t *p, int64_t offset) {
    if (offset < p->committed)
        return true;
    for (size_t i = 0; i < p->count; i++)
        if (offset >= p->ranges[i].lo && offset <= p->ranges[i].hi)
            return true;
    return false;
}

static int add_range(progress_t *p, int64_t o) {
    size_t i = 0;
    while (i < p->count && p->ranges[i].hi < o - 1)
        i++;
    if (i < p->count && o >= p->ranges[i].lo - 1 && o <= p->ranges[i].hi + 1) {
        range_t *r = &p->ranges[i];
        r->lo = o < r->lo ? o : r->lo;
        r->hi = o > r->hi ? o : r->hi;
        if (i + 1 < p->count && p->ranges[i + 1].lo <= r->hi + 1) { /* joins the next */
            r->hi = p->ranges[i + 1].hi;
            memmove(&p->ranges[i + 1], &p->ranges[i + 2], (p->count - i - 2) * sizeof(*p->ranges));
            p->count--;
        }
        return 0;
    }
    range_t *r = realloc(p->ranges, (p->count + 1) * sizeof(*r));
    if (!r)
        return BROOK_ERR_NOMEM;
    p->ranges = r;
    memmove(&r[i + 1], &r[i], (p->count - i) * sizeof(*r));
    r[i] = (range_t){o, o};
    p->count++;
    return 0;
}

/* Record `o` is replayed (or was): the committed offset moves past it while this run has seen
 * nothing but replayed records; beyond a record left alone it goes into the ranges. */
static int mark_replayed(progress_t *p, int64_t o) {
    p->dirty = true;
    if (!p->open)
        return replayed_before(p, o) ? 0 : add_range(p, o);
    p->committed = o + 1;
    size_t drop = 0;
    while (drop < p->count && p->ranges[drop].hi < p->committed)
        drop++;
    if (drop) {
        memmove(p->ranges, p->ranges + drop, (p->count - drop) * sizeof(*p->ranges));
        p->count -= drop;
    }
    return 0;
}

static size_t encode_progress(const progress_t *p, char *out, size_t size) {
    size_t n = (size_t)snprintf(out, size, "%s", PROGRESS_TAG);
    for (size_t i = 0; i < p->count && n < size; i++) {
        const range_t *r = &p->ranges[i];
        n += (size_t)(r->lo == r->hi
                          ? snprintf(out + n, size - n, "%s%lld",
                                     i ? "," : " replayed=", (long long)r->lo)
                          : snprintf(out + n, size - n, "%s%lld-%lld",
                                     i ? "," : " replayed=", (long long)r->lo, (long long)r->hi));
    }
    return n < size ? n : size - 1; /* snprintf's length may exceed what it wrote */
}

static void decode_progress(progress_t *p, const char *meta, size_t len, const char *group) {
    char text[4200];
    if (!meta || !len)
        return;
    snprintf(text, sizeof(text), "%.*s", (int)len, meta);
    if (strncmp(text, PROGRESS_TAG, strlen(PROGRESS_TAG))) {
        brook_log(BROOK_LOG_WARN, "cli",
                  "group %s, partition %d: commit metadata not Brook's "
                  "replay progress; only its offset counts",
                  group, (int)p->partition);
        return;
    }
    const char *list = strstr(text, " replayed=");
    for (char *s = list ? (char *)list + 10 : NULL; s && *s;) {
        char *end;
        long long lo = strtoll(s, &end, 10), hi = lo;
        if (*end == '-')
            hi = strtoll(end + 1, &end, 10);
        range_t *r =
            hi >= p->committed && hi >= lo ? realloc(p->ranges, (p->count + 1) * sizeof(*r)) : NULL;
        if (r) { /* written sorted and disjoint */
            p->ranges = r;
            r[p->count++] = (range_t){lo > p->committed ? lo : p->committed, hi};
        }
        s = *end == ',' ? end + 1 : NULL;
    }
}

static void progress_free(progress_set_t *ps) {
    for (int i = 0; i < ps->count; i++)
        free(ps->parts[i].ranges);
    free(ps->parts);
    if (ps->rk)
        rd_kafka_destroy(ps->rk);
}

/* The progress of replaying `topic`: the committed offsets and metadata of its group. */
static int progress_load(brook__cli_t *cli, const char *topic, progress_set_t *ps) {
    if (!(ps->rk = brook__cli_client(cli, RD_KAFKA_CONSUMER, ps->group, NULL)))
        return BROOK_CLI_KAFKA;
    int n = brook__cli_partitions(cli, ps->rk, topic);
    if (n < 0)
        return -n;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    brook__cli_add_partitions(list, topic, n);
    rd_kafka_resp_err_t e = rd_kafka_committed(ps->rk, list, 10000);
    ps->parts = calloc((size_t)n + 1, sizeof(*ps->parts));
    for (int i = 0; !e && ps->parts && i < n; i++) {
        progress_t *p = &ps->parts[ps->count++];
        p->partition = list->elems[i].partition;
        /* No progress yet: "every record below offset 0 was replayed". */
        p->committed = list->elems[i].offset >= 0 ? list->elems[i].offset : 0;
        p->open = true;
        decode_progress(p, list->elems[i].metadata, list->elems[i].metadata_size, ps->group);
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (e || !ps->parts)
        return brook__cli_fail(BROOK_CLI_KAFKA, "cannot read the replay progress (group %s): %s",
                               ps->group, e ? rd_kafka_err2str(e) : "out of memory");
    return 0;
}

static progress_t *progress_of(progress_set_t *ps, int32_t partition) {
    for (int i = 0; i < ps->count; i++)
        if (ps->parts[i].partition == partition)
            return &ps->parts[i];
    return NULL;
}

/* The dirty partitions' progress as offsets to commit (metadata included); NULL when none. */
static rd_kafka_topic_partition_list_t *progress_offsets(progress_set_t *ps, const char *topic) {
    rd_kafka_topic_partition_list_t *list = NULL;
    for (int i = 0; i < ps->count; i++) {
        progress_t *p = &ps->parts[i];
        if (!p->dirty)
            continue;
        if (!list)
            list = rd_kafka_topic_partition_list_new(ps->count);
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_add(list, topic, p->partition);
        char meta[PROGRESS_MAX_METADATA + 64];
        size_t n = encode_progress(p, meta, sizeof(meta));
        tp->offset = p->committed;
        tp->metadata = malloc(n);
        if (tp->metadata) {
            memcpy(tp->metadata, meta, n);
            tp->metadata_size = n;
        }
    }
    return list;
}

/* ---- the failure of a record ---------------------------------------------------------------- */

static void text_of(const brook_text_t *t, char *out, size_t size, const char *none) {
    if (!t->data) {
        snprintf(out, size, "%s", none);
        return;
    }
    snprintf(out, size, "%.*s", (int)(t->len < size ? t->len : size - 1), t->data);
    for (char *c = out; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
}

static void original_of(const brook_failure_info_t *f, char *out, size_t size) {
    int n = snprintf(out, size, "%.*s", f->original_topic.data ? (int)f->original_topic.len : 1,
                     f->original_topic.data ? f->original_topic.data : "-");
    if (f->original_partition >= 0 && n > 0 && (size_t)n < size)
        snprintf(out + n, size - (size_t)n, "[%d]@%lld", (int)f->original_partition,
                 (long long)f->original_offset);
}

/* ---- dlt list ------------------------------------------------------------------------------- */

typedef struct {
    int32_t partition;
    int64_t offset;
    char time[40], original[300], exception[200], message[160];
    bool replayed;
} row_t;

typedef struct {
    const filter_t *filter;
    progress_set_t *progress;
    row_t *rows;
    size_t count, cap;
} lister_t;

static int list_record(const brook_record_t *r, void *opaque) {
    lister_t *l = opaque;
    if (!matches(l->filter, r))
        return 0;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        row_t *rows = realloc(l->rows, cap * sizeof(*rows));
        if (!rows)
            return brook__cli_fail(BROOK_CLI_KAFKA, "out of memory");
        l->rows = rows;
        l->cap = cap;
    }
    row_t *row = &l->rows[l->count++];
    brook_failure_info_t f;
    brook_record_failure_info(r, &f);
    row->partition = r->partition;
    row->offset = r->offset;
    brook__cli_iso_time(r->timestamp, row->time, sizeof(row->time));
    original_of(&f, row->original, sizeof(row->original));
    text_of(&f.exception_fqcn, row->exception, sizeof(row->exception), "-");
    text_of(&f.exception_message, row->message, sizeof(row->message), "");
    progress_t *p = progress_of(l->progress, r->partition);
    row->replayed = p && replayed_before(p, r->offset);
    return 0;
}

static int by_position(const void *a, const void *b) {
    const row_t *x = a, *y = b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void print_rows(const lister_t *l) {
    int wo = 6, wor = 8, wex = 9;
    for (size_t i = 0; i < l->count; i++) {
        char n[32];
        int len = snprintf(n, sizeof(n), "%lld", (long long)l->rows[i].offset);
        wo = len > wo ? len : wo;
        wor = (int)strlen(l->rows[i].original) > wor ? (int)strlen(l->rows[i].original) : wor;
        wex = (int)strlen(l->rows[i].exception) > wex ? (int)strlen(l->rows[i].exception) : wex;
    }
    printf("%-*s  %-9s  %-*s  %-*s  %-24s  %-8s  %s\n", wo, "OFFSET", "PARTITION", wor, "ORIGINAL",
           wex, "EXCEPTION", "TIME", "STATE", "MESSAGE");
    for (size_t i = 0; i < l->count; i++) {
        const row_t *r = &l->rows[i];
        printf("%-*lld  %-9d  %-*s  %-*s  %-24s  %-8s  %s\n", wo, (long long)r->offset,
               (int)r->partition, wor, r->original, wex, r->exception, r->time,
               r->replayed ? "replayed" : "pending", r->message);
    }
}

static int list_run(brook__cli_t *cli, int argc, char **argv) {
    static const struct option opts[] = {FILTER_OPTIONS, {0}};
    filter_t f = {.partition = -1, .last = INT64_MAX};
    int c, bad;
    while ((c = brook__cli_getopt(cli, argc, argv, opts)) != -1)
        if ((bad = filter_option(&f, c)) >= 0)
            return bad == BROOK_CLI_USAGE ? brook__cli_usage(cli) : bad;
    if (optind != argc - 1)
        return brook__cli_usage(cli);
    const char *topic = argv[optind];
    int rc = brook__cli_prepare(cli);
    if (rc)
        return rc;
    progress_set_t ps = {0};
    snprintf(ps.group, sizeof(ps.group), "brook-dlt-replay.%s", topic);
    lister_t l = {.filter = &f, .progress = &ps};
    rc = progress_load(cli, topic, &ps);
    brook__cli_read_opts_t o = {
        .topic = topic, .partition = f.partition, .from = BROOK_CLI_FROM_BEGINNING};
    if (!rc)
        rc = brook__cli_read(cli, &o, list_record, &l);
    if (!rc) {
        qsort(l.rows, l.count, sizeof(*l.rows), by_position);
        size_t replayed = 0;
        for (size_t i = 0; i < l.count; i++)
            replayed += l.rows[i].replayed;
        if (l.count)
            print_rows(&l);
        printf("%zu record(s) in %s: %zu pending, %zu replayed (replay progress: consumer group "
               "%s)\n",
               l.count, topic, l.count - replayed, replayed, ps.group);
    }
    free(l.rows);
    progress_free(&ps);
    return rc;
}

const brook__cli_cmd_t brook__cli_dlt_list = {
    .group = "dlt",
    .name = "list",
    .synopsis = "TOPIC [--offsets A..B] [--key K] [--partition P]",
    .brief = "a dead-letter topic's records and their failures",
    .summary =
        "Lists the records of dead-letter topic TOPIC, one a line: offset, partition, where it\n"
        "failed (original topic[partition]@offset), the failure's name (the exception), when\n"
        "it was dead-lettered, whether `brook dlt replay` replayed it, and the failure's\n"
        "message. The headers are Brook's or Spring's (kafka_dlt-*, or kafka_original-* and\n"
        "kafka_exception-* of retry topics).",
    .help = FILTER_HELP,
    .run = list_run,
};

/* ---- dlt replay ----------------------------------------------------------------------------- */

typedef struct {
    brook__cli_t *cli;
    const char *topic;
    const filter_t *filter;
    progress_set_t progress;
    const struct rd_kafka_metadata *md; /* target topics' partition counts */
    brook__producer_t *producer;
    brook__txn_t *txn;
    brook_buf_t batch; /* lines reporting the records of the open transaction */
    size_t in_batch;
    size_t replayed, skipped, unreplayable, seen_replayed;
    bool full; /* a partition's progress cannot take more ranges */
} replayer_t;

/* Headers that describe the failure (Brook's and Spring's): not replayed. */
static bool failure_header(const char *name) {
    static const char *const prefixes[] = {"kafka_dlt-", "kafka_original-", "kafka_exception-",
                                           "retry_topic-"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

static int target_partitions(const replayer_t *rp, const char *topic) {
    for (int i = 0; rp->md && i < rp->md->topic_cnt; i++)
        if (!strcmp(rp->md->topics[i].topic, topic) && !rp->md->topics[i].err)
            return rp->md->topics[i].partition_cnt;
    return -1;
}

/* Leaves in `offsets` only the partitions whose committed offset is still behind it after the
 * transaction committed: the embedded cluster does not keep the offsets a transaction commits
 * (docs/transactions.md), Kafka does. Never one a newer run has moved past already: a plain
 * commit of an older position would move the progress back. When the committed offsets cannot
 * be read, every partition stays. */
static void keep_behind(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *offsets) {
    rd_kafka_topic_partition_list_t *now = rd_kafka_topic_partition_list_copy(offsets);
    if (!rd_kafka_committed(rk, now, 10000))
        for (int i = offsets->cnt - 1; i >= 0; i--) {
            const rd_kafka_topic_partition_t *c = rd_kafka_topic_partition_list_find(
                now, offsets->elems[i].topic, offsets->elems[i].partition);
            if (c && !c->err && c->offset >= offsets->elems[i].offset)
                rd_kafka_topic_partition_list_del_by_idx(offsets, i);
        }
    rd_kafka_topic_partition_list_destroy(now);
}

/* Commits the open batch's records and the progress in one transaction, and then reports the
 * records. Where the transaction's offsets did not stick (the embedded cluster), the progress
 * is committed through the group too. */
static int commit_batch(replayer_t *rp) {
    rd_kafka_topic_partition_list_t *offsets = progress_offsets(&rp->progress, rp->topic);
    if (!offsets && !rp->in_batch)
        return 0;
    brook_error_t err = {0};
    int rc = 0;
    if (rp->in_batch) {
        rd_kafka_consumer_group_metadata_t *cgmd =
            rd_kafka_consumer_group_metadata_new(rp->progress.group);
        rc = brook__txn_commit(rp->txn, offsets, cgmd, &err);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
    }
    if (rc) {
        rc = brook__cli_fail(BROOK_CLI_KAFKA,
                             "the last %zu record(s) were not replayed: %s (their transaction "
                             "was aborted: read_committed consumers never see them; run again)",
                             rp->in_batch, err.message);
    } else if (offsets) {
        if (rp->in_batch)
            keep_behind(rp->progress.rk, offsets);
        rd_kafka_resp_err_t e = offsets->cnt ? rd_kafka_commit(rp->progress.rk, offsets, 0)
                                             : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e && !rp->in_batch)
            rc = brook__cli_fail(BROOK_CLI_KAFKA, "cannot commit the replay progress: %s",
                                 rd_kafka_err2str(e));
        else if (e)
            brook_log(BROOK_LOG_WARN, "cli", "group %s: %s (the transaction committed it)",
                      rp->progress.group, rd_kafka_err2str(e));
    }
    if (!rc) {
        brook__cli_progress_end();
        fwrite(rp->batch.data, 1, rp->batch.len, stdout);
        fflush(stdout);
        rp->replayed += rp->in_batch;
        for (int i = 0; i < rp->progress.count; i++)
            rp->progress.parts[i].dirty = false;
    }
    brook_buf_reset(&rp->batch);
    rp->in_batch = 0;
    if (offsets)
        rd_kafka_topic_partition_list_destroy(offsets);
    return rc;
}

/* Sends one record to `target` in the open transaction; its line is reported once committed. */
static int replay_one(replayer_t *rp, const brook_record_t *r, const char *target,
                      int32_t partition) {
    brook_error_t err = {0};
    if (brook__txn_begin(rp->txn, &err))
        return brook__cli_fail(BROOK_CLI_KAFKA, "%s", err.message);
    rd_kafka_headers_t *h = rd_kafka_headers_new(r->header_count ? r->header_count : 1);
    for (size_t i = 0; i < r->header_count; i++)
        if (!failure_header(r->headers[i].name))
            rd_kafka_header_add(h, r->headers[i].name, -1, r->headers[i].value,
                                r->headers[i].value ? (ssize_t)r->headers[i].len : 0);
    int e = brook__producer_forward(rp->producer, target, partition, r->key, r->key_len, r->value,
                                    r->value_len, h);
    if (e)
        return brook__cli_fail(BROOK_CLI_KAFKA, "cannot replay %s[%d]@%lld to %s: %s", r->topic,
                               (int)r->partition, (long long)r->offset, target, brook_err2str(e));
    char to[300], line[800];
    if (partition >= 0)
        snprintf(to, sizeof(to), "%s[%d]", target, (int)partition);
    else
        snprintf(to, sizeof(to), "%s (by key)", target);
    snprintf(line, sizeof(line), "replayed %s[%d]@%lld -> %s key %s%.*s%s\n", r->topic,
             (int)r->partition, (long long)r->offset, to, r->key ? "\"" : "null",
             r->key ? (int)(r->key_len < 200 ? r->key_len : 200) : 0,
             r->key ? (const char *)r->key : "", r->key ? "\"" : "");
    rp->in_batch++;
    return brook_avro_json_raw(&rp->batch, line);
}

static int replay_record(const brook_record_t *r, void *opaque) {
    replayer_t *rp = opaque;
    progress_t *p = progress_of(&rp->progress, r->partition);
    if (!p)
        return 0;
    if (replayed_before(p, r->offset)) {
        rp->seen_replayed++;
        return mark_replayed(p, r->offset) ? BROOK_CLI_KAFKA : 0;
    }
    brook_failure_info_t f;
    brook_record_failure_info(r, &f);
    char target[256];
    if (rp->filter->to)
        snprintf(target, sizeof(target), "%s", rp->filter->to);
    else if (f.original_topic.data)
        snprintf(target, sizeof(target), "%.*s", (int)f.original_topic.len, f.original_topic.data);
    else
        target[0] = 0;
    int partitions = target[0] ? target_partitions(rp, target) : -1;
    if (!matches(rp->filter, r) || rp->full) {
        p->open = false;
        rp->skipped++;
        return 0;
    }
    if (partitions < 0) {
        p->open = false;
        rp->unreplayable++;
        brook__cli_fail(BROOK_CLI_NOTHING, "%s[%d]@%lld not replayed: %s", r->topic,
                        (int)r->partition, (long long)r->offset,
                        rp->filter->to ? "--to names no topic of the cluster"
                        : target[0]    ? "its original topic does not exist (give --to)"
                                       : "no header names its original topic (give --to)");
        return 0;
    }
    /* Back to the partition it failed on; elsewhere (--to, fewer partitions) by key. */
    int32_t to_partition =
        !rp->filter->to && f.original_partition >= 0 && f.original_partition < partitions
            ? f.original_partition
            : RD_KAFKA_PARTITION_UA;
    if (rp->filter->dry_run) {
        p->open = false;
        printf("would replay %s[%d]@%lld -> %s\n", r->topic, (int)r->partition,
               (long long)r->offset, target);
        rp->replayed++;
        return 0;
    }
    /* Progress beyond a record left alone is kept as ranges in the commit's metadata, whose size
     * Kafka bounds. */
    char meta[PROGRESS_MAX_METADATA + 64];
    if (!p->open && encode_progress(p, meta, sizeof(meta)) + 24 > PROGRESS_MAX_METADATA) {
        rp->full = true;
        brook__cli_fail(BROOK_CLI_OK,
                        "partition %d: the replay progress cannot record more ranges; replay "
                        "without --key/--offsets what they left out, then run again",
                        (int)r->partition);
        p->open = false;
        rp->skipped++;
        return 0;
    }
    int rc = replay_one(rp, r, target, to_partition);
    if (!rc && mark_replayed(p, r->offset))
        rc = BROOK_CLI_KAFKA;
    if (!rc && (int64_t)rp->in_batch >= rp->filter->batch)
        rc = commit_batch(rp);
    if (!rc && brook__cli_stopping())
        return 1;
    return rc;
}

/* The runtime's producer with a transactional producer of id `id` bound to this thread: making
 * it fences an earlier replay of the same topic and aborts what it left open. */
static int open_producer(replayer_t *rp, brook_decl_t **decl, brook__types_t **types,
                         const char *id) {
    brook_error_t err = {0};
    if (!(*decl = brook__cli_decl(rp->cli, NULL, &err)) || !(*types = brook__types_new()) ||
        !(rp->producer = brook__producer_new(*decl)))
        return brook__cli_fail(BROOK_CLI_USAGE, "%s",
                               err.message[0] ? err.message : "out of memory");
    if (brook__producer_resolve(rp->producer, *types, &err) ||
        brook__producer_start(rp->producer, rp->cli->bootstrap, &err) ||
        !(rp->txn = brook__txn_new(rp->producer, id, &err)))
        return brook__cli_fail(BROOK_CLI_KAFKA, "%s", err.message);
    brook__txn_bind(rp->txn);
    return 0;
}

static int replay_run(brook__cli_t *cli, int argc, char **argv) {
    static const struct option opts[] = {FILTER_OPTIONS,
                                         {"to", required_argument, NULL, 't'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {0}};
    filter_t f = {.partition = -1, .last = INT64_MAX, .batch = DEFAULT_BATCH};
    int c, bad;
    while ((c = brook__cli_getopt(cli, argc, argv, opts)) != -1) {
        if (c == 't')
            f.to = optarg;
        else if (c == 'n')
            f.dry_run = true;
        else if (c == 'b' && (!brook__cli_parse_count(optarg, &f.batch) || !f.batch))
            return brook__cli_fail(BROOK_CLI_USAGE, "--batch wants a positive number");
        else if (c != 'b' && (bad = filter_option(&f, c)) >= 0)
            return bad == BROOK_CLI_USAGE ? brook__cli_usage(cli) : bad;
    }
    if (optind != argc - 1)
        return brook__cli_usage(cli);
    replayer_t rp = {.cli = cli, .topic = argv[optind], .filter = &f};
    brook_buf_init(&rp.batch);
    brook_decl_t *decl = NULL;
    brook__types_t *types = NULL;
    snprintf(rp.progress.group, sizeof(rp.progress.group), "brook-dlt-replay.%s", rp.topic);
    int rc = brook__cli_prepare(cli);
    /* The transactional producer first: it fences a replay still running, so the progress read
     * next is final. */
    if (!rc && !f.dry_run)
        rc = open_producer(&rp, &decl, &types, rp.progress.group);
    if (!rc)
        rc = progress_load(cli, rp.topic, &rp.progress);
    if (!rc)
        rc = brook__cli_metadata(cli, rp.progress.rk, NULL, &rp.md);
    rd_kafka_topic_partition_list_t *start = rd_kafka_topic_partition_list_new(1);
    for (int i = 0; i < rp.progress.count; i++)
        rd_kafka_topic_partition_list_add(start, rp.topic, rp.progress.parts[i].partition)->offset =
            rp.progress.parts[i].committed;
    brook__cli_read_opts_t o = {.topic = rp.topic,
                                .partition = f.partition,
                                .from = BROOK_CLI_FROM_OFFSETS,
                                .offsets = start};
    brook__cli_catch_signals();
    if (!rc)
        rc = brook__cli_read(cli, &o, replay_record, &rp);
    if (!rc && !f.dry_run)
        rc = commit_batch(&rp);
    else if (rc && rp.txn)
        brook__txn_abort(rp.txn, NULL);
    rd_kafka_topic_partition_list_destroy(start);
    if (!rc && rp.replayed)
        printf("%s %zu record(s) of %s; %zu left out by the filters, %zu replayed before, %zu "
               "not replayable\n",
               f.dry_run ? "would replay" : "replayed", rp.replayed, rp.topic, rp.skipped,
               rp.seen_replayed, rp.unreplayable);
    /* Some replayed, some could not be (each reported above): a script must be able to tell. */
    if (!rc && rp.replayed && rp.unreplayable)
        rc = BROOK_CLI_NOTHING;
    if (!rc && !rp.replayed)
        rc = brook__cli_fail(BROOK_CLI_NOTHING,
                             "nothing to replay in %s: %s (replay progress: consumer group %s)",
                             rp.topic,
                             rp.unreplayable ? "no record could be replayed"
                             : rp.skipped    ? "no record matches"
                                             : "every record up to its end offsets was replayed "
                                               "before",
                             rp.progress.group);
    brook__txn_bind(NULL);
    brook__txn_free(rp.txn);
    if (rp.producer)
        brook__producer_stop(rp.producer, brook__now_ms() + 10000, false);
    brook__producer_free(rp.producer);
    brook__types_free(types);
    brook_decl_destroy(decl);
    if (rp.md)
        rd_kafka_metadata_destroy(rp.md);
    progress_free(&rp.progress);
    brook_buf_free(&rp.batch);
    return rc;
}

const brook__cli_cmd_t brook__cli_dlt_replay = {
    .group = "dlt",
    .name = "replay",
    .synopsis =
        "TOPIC [--offsets A..B] [--key K] [--partition P] [--to TOPIC] [--dry-run] [--batch N]",
    .brief = "send dead-lettered records back, each once",
    .summary =
        "Sends the records of dead-letter topic TOPIC back to the topic each failed on (its\n"
        "original-topic header; --to for another), to the partition it failed on, with its key,\n"
        "value and headers but the failure's (kafka_dlt-*, kafka_original-*, kafka_exception-*,\n"
        "retry_topic-*). Each record is replayed once: the progress is kept in Kafka (consumer\n"
        "group brook-dlt-replay.TOPIC) and committed with the replayed records in one\n"
        "transaction, so a second run replays only what is new, and says so when nothing is\n"
        "(exit code 2).",
    .help =
        FILTER_HELP "  --to TOPIC             replay to TOPIC (by key), whatever the headers say\n"
                    "  --dry-run              only say what would be replayed\n"
                    "  --batch N              records per transaction (default 500)\n",
    .run = replay_run,
};
