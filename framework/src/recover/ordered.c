/*
 * Ordered retries (retry.preserve_key_order; docs/ordered-retries.md has the design and why it
 * holds). Per main-topic partition the member keeps, for each key that has a record in the
 * retry chain or parked records:
 *
 *   head     the main-topic offset of its record in the retry chain (retry records carry it in
 *            brook_order-offset), done when head <= done;
 *   pending  its retry records this member knows of and has not finished or skipped yet;
 *   parked   its records that came behind the head, in order: copies of what was written to
 *            <topic>-parked (durably, before the main offset was stored).
 *
 * A main-topic record of a blocked key is parked; when the key's retry record is done
 * (handled, dead-lettered) its parked records are released one by one, each handled as the
 * main-topic record it is, until one fails into the retry chain again. Nothing here is only in
 * memory: at assignment the state is rebuilt from the retry and parking partitions between
 * their committed offsets and their ends, which the member reads with a consumer of its own
 * before it handles any record of the partition. The member assigns itself the retry and
 * parking partitions of the main partitions the group gives it, so one member (one thread)
 * sees every record of a key, whatever the assignor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kafka/kafka.h"
#include "recover/headers.h"
#include "recover/ordered.h"

/* A rebuild that could not read its partitions is tried again after this long. */
#define REBUILD_RETRY_MS 1000
/* How long one rebuild may read before it gives up (and is tried again). */
#define REBUILD_MAX_MS 30000
/* A park that could not be written is tried again after this long. */
#define PARK_RETRY_MS 1000

/* One parked record: a copy of what is in the parking topic. */
typedef struct parked_s {
    struct parked_s *next;
    int64_t main_offset;   /* its offset on the main topic */
    int64_t parked_offset; /* its offset on the parking topic */
    brook_record_t rec;    /* as handled: the main topic's topic, partition and offset */
    brook_header_t *headers;
    uint8_t *blob; /* key, value, header names and values */
} parked_t;

typedef struct okey_s okey_t;
typedef struct opart_s opart_t;

struct okey_s {
    okey_t *bucket_next;
    okey_t *ready_next; /* on the member's ready list */
    bool ready;
    opart_t *part;
    uint32_t hash;
    uint8_t *key;
    size_t key_len;
    int64_t head; /* main offset of its record in the retry chain; -1: none */
    int64_t done; /* its records at or below this main offset are done */
    int unknown;  /* retry records without a main offset (written before ordering) */
    int pending;  /* retry records known, not finished or skipped yet */
    int64_t seen; /* the largest main offset in the chain or parked */
    parked_t *first, *last;
    int64_t not_before; /* wall ms: a release that could not be done now */
};

/* The parking topic's offsets in memory, in order: the offset to commit is the first not done. */
typedef struct {
    int64_t offset;
    bool done;
} ledger_t;

struct opart_s {
    size_t topic; /* index in o->topics */
    int32_t partition;
    bool built;
    int64_t rebuild_at; /* monotonic ms: a failed rebuild is tried again then */
    okey_t **buckets;
    size_t nbuckets, nkeys;
    ledger_t *ledger;
    size_t led_first, led_count, led_cap;
    int64_t led_end;    /* the parking offset after the last one known */
    int64_t led_stored; /* the parking offset last stored */
};

typedef struct {
    char *main;
    char *parking;
    char **retry;
    size_t retry_count;
} otopic_t;

struct brook__ordered_s {
    rd_kafka_t *rk;
    const brook_decl_listener_t *decl;
    brook__producer_t *producer;
    const brook_decl_t *service;
    const char *bootstrap;
    brook__recover_store_fn *store;
    void *store_opaque;
    otopic_t *topics;
    size_t topic_count;
    opart_t **parts;
    size_t part_count, part_cap;
    okey_t *ready_first, *ready_last;
    okey_t *releasing_key; /* the key whose first parked record is in hand */
    rd_kafka_t *reader;    /* reads retry and parking partitions when rebuilding */
    bool warm;             /* the producer knows the topics it forwards to */
};

/* ---- topics ---------------------------------------------------------------------------------- */

typedef enum { ROLE_OTHER, ROLE_MAIN, ROLE_RETRY, ROLE_PARKING } role_t;

static void add_retry_topic(const char *topic, const char *source, brook__topic_kind_t kind,
                            void *opaque) {
    brook__ordered_t *o = opaque;
    if (kind != BROOK__TOPIC_RETRY)
        return;
    for (size_t t = 0; t < o->topic_count; t++) {
        otopic_t *ot = &o->topics[t];
        if (strcmp(ot->main, source))
            continue;
        char **r = realloc(ot->retry, (ot->retry_count + 1) * sizeof(*r));
        if (!r)
            return;
        ot->retry = r;
        if ((r[ot->retry_count] = strdup(topic)))
            ot->retry_count++;
    }
}

static role_t classify(const brook__ordered_t *o, const char *topic, size_t *index) {
    for (size_t t = 0; t < o->topic_count; t++) {
        const otopic_t *ot = &o->topics[t];
        *index = t;
        if (!strcmp(topic, ot->main))
            return ROLE_MAIN;
        if (!strcmp(topic, ot->parking))
            return ROLE_PARKING;
        for (size_t i = 0; i < ot->retry_count; i++)
            if (!strcmp(topic, ot->retry[i]))
                return ROLE_RETRY;
    }
    return ROLE_OTHER;
}

bool brook__ordered_is_parking(const brook__ordered_t *o, const char *topic) {
    size_t t;
    return classify(o, topic, &t) == ROLE_PARKING;
}

bool brook__ordered_keeps_partition(const brook__ordered_t *o, const char *topic) {
    size_t t;
    role_t role = classify(o, topic, &t);
    return role == ROLE_RETRY || role == ROLE_PARKING;
}

brook__ordered_t *brook__ordered_new(rd_kafka_t *rk, const brook_decl_listener_t *d,
                                     brook__producer_t *producer) {
    brook__ordered_t *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->rk = rk;
    o->decl = d;
    o->producer = producer;
    o->topics = calloc(d->topic_count ? d->topic_count : 1, sizeof(*o->topics));
    if (!o->topics) {
        free(o);
        return NULL;
    }
    for (size_t t = 0; t < d->topic_count; t++) {
        char name[600];
        brook__recover_parking_topic(d->topics[t], name, sizeof(name));
        o->topics[t].main = strdup(d->topics[t]);
        o->topics[t].parking = strdup(name);
        o->topic_count++;
        if (!o->topics[t].main || !o->topics[t].parking) {
            brook__ordered_free(o);
            return NULL;
        }
    }
    brook__recover_topics_foreach(d, add_retry_topic, o);
    return o;
}

void brook__ordered_set_env(brook__ordered_t *o, const brook_decl_t *service, const char *bootstrap,
                            brook__recover_store_fn *store, void *opaque) {
    o->service = service;
    o->bootstrap = bootstrap;
    o->store = store;
    o->store_opaque = opaque;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static uint32_t hash_key(const void *key, size_t len) {
    const uint8_t *b = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static okey_t *key_find(opart_t *p, const void *key, size_t len) {
    if (!p->nbuckets)
        return NULL;
    uint32_t h = hash_key(key, len);
    for (okey_t *k = p->buckets[h & (p->nbuckets - 1)]; k; k = k->bucket_next)
        if (k->hash == h && k->key_len == len && !memcmp(k->key, key, len))
            return k;
    return NULL;
}

static bool key_grow(opart_t *p) {
    size_t n = p->nbuckets ? p->nbuckets * 2 : 64;
    okey_t **b = calloc(n, sizeof(*b));
    if (!b)
        return false;
    for (size_t i = 0; i < p->nbuckets; i++)
        for (okey_t *k = p->buckets[i], *next; k; k = next) {
            next = k->bucket_next;
            k->bucket_next = b[k->hash & (n - 1)];
            b[k->hash & (n - 1)] = k;
        }
    free(p->buckets);
    p->buckets = b;
    p->nbuckets = n;
    return true;
}

static okey_t *key_get(opart_t *p, const void *key, size_t len) {
    okey_t *k = key_find(p, key, len);
    if (k)
        return k;
    if (p->nkeys >= p->nbuckets && !key_grow(p))
        return NULL;
    if (!(k = calloc(1, sizeof(*k))) || !(k->key = malloc(len ? len : 1))) {
        free(k);
        return NULL;
    }
    memcpy(k->key, key, len);
    k->key_len = len;
    k->hash = hash_key(key, len);
    k->part = p;
    k->head = k->done = k->seen = -1;
    size_t i = k->hash & (p->nbuckets - 1);
    k->bucket_next = p->buckets[i];
    p->buckets[i] = k;
    p->nkeys++;
    return k;
}

static void parked_free(parked_t *e) {
    if (e) {
        free(e->headers);
        free(e->blob);
        free(e);
    }
}

static void ready_unlink(brook__ordered_t *o, okey_t *k) {
    if (!k->ready)
        return;
    okey_t **pp = &o->ready_first, *prev = NULL;
    while (*pp && *pp != k) {
        prev = *pp;
        pp = &(*pp)->ready_next;
    }
    if (*pp) {
        *pp = k->ready_next;
        if (o->ready_last == k)
            o->ready_last = prev;
    }
    k->ready_next = NULL;
    k->ready = false;
}

static void key_free(brook__ordered_t *o, okey_t *k) {
    ready_unlink(o, k);
    if (o->releasing_key == k)
        o->releasing_key = NULL;
    for (parked_t *e = k->first, *next; e; e = next) {
        next = e->next;
        parked_free(e);
    }
    free(k->key);
    free(k);
}

static void key_remove(brook__ordered_t *o, okey_t *k) {
    opart_t *p = k->part;
    okey_t **pp = &p->buckets[k->hash & (p->nbuckets - 1)];
    while (*pp && *pp != k)
        pp = &(*pp)->bucket_next;
    if (*pp) {
        *pp = k->bucket_next;
        p->nkeys--;
    }
    key_free(o, k);
}

/* Its record in the retry chain is not done yet. */
static bool chained(const okey_t *k) {
    return k->head > k->done || k->unknown > 0;
}

static bool blocked(const brook__ordered_t *o, const okey_t *k) {
    return chained(k) || k->first || o->releasing_key == k;
}

/* A key whose chain is clear and that has parked records goes on the ready list; one with
 * nothing left to know about is forgotten. */
static void key_settle(brook__ordered_t *o, okey_t *k) {
    if (o->releasing_key == k)
        return;
    if (!chained(k) && k->first) {
        if (!k->ready) {
            k->ready = true;
            k->ready_next = NULL;
            if (o->ready_last)
                o->ready_last->ready_next = k;
            else
                o->ready_first = k;
            o->ready_last = k;
        }
    } else if (!k->first && k->pending <= 0 && k->unknown <= 0) {
        key_remove(o, k);
    }
}

/* ---- the parking ledger ------------------------------------------------------------------------
 */

static bool ledger_add(opart_t *p, int64_t offset, bool done) {
    if (p->led_first + p->led_count == p->led_cap) {
        if (p->led_first > 0) {
            memmove(p->ledger, p->ledger + p->led_first, p->led_count * sizeof(*p->ledger));
            p->led_first = 0;
        } else {
            size_t cap = p->led_cap ? p->led_cap * 2 : 64;
            ledger_t *l = realloc(p->ledger, cap * sizeof(*l));
            if (!l)
                return false;
            p->ledger = l;
            p->led_cap = cap;
        }
    }
    p->ledger[p->led_first + p->led_count++] = (ledger_t){offset, done};
    if (offset + 1 > p->led_end)
        p->led_end = offset + 1;
    return true;
}

/* Stores the parking offset to commit: the first not done, or the end. */
static void ledger_store(brook__ordered_t *o, opart_t *p) {
    while (p->led_count && p->ledger[p->led_first].done) {
        p->led_first++;
        p->led_count--;
    }
    if (!p->led_count)
        p->led_first = 0;
    int64_t next = p->led_count ? p->ledger[p->led_first].offset : p->led_end;
    if (next != p->led_stored && next >= 0 && o->store) {
        o->store(o->store_opaque, o->topics[p->topic].parking, p->partition, next);
        p->led_stored = next;
    }
}

static void ledger_done(brook__ordered_t *o, opart_t *p, int64_t offset) {
    size_t lo = p->led_first, hi = p->led_first + p->led_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->ledger[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < p->led_first + p->led_count && p->ledger[lo].offset == offset)
        p->ledger[lo].done = true;
    ledger_store(o, p);
}

/* ---- partitions ---------------------------------------------------------------------------- */

static opart_t *part_find(brook__ordered_t *o, size_t topic, int32_t partition) {
    for (size_t i = 0; i < o->part_count; i++)
        if (o->parts[i]->topic == topic && o->parts[i]->partition == partition)
            return o->parts[i];
    return NULL;
}

/* Forgets what is known of the partition; it is read again before its next record. */
static void part_clear(brook__ordered_t *o, opart_t *p) {
    for (size_t i = 0; i < p->nbuckets; i++)
        for (okey_t *k = p->buckets[i], *next; k; k = next) {
            next = k->bucket_next;
            key_free(o, k);
        }
    free(p->buckets);
    p->buckets = NULL;
    p->nbuckets = p->nkeys = 0;
    free(p->ledger);
    p->ledger = NULL;
    p->led_first = p->led_count = p->led_cap = 0;
    p->led_end = p->led_stored = -1;
    p->built = false;
    p->rebuild_at = 0;
}

static opart_t *part_add(brook__ordered_t *o, size_t topic, int32_t partition) {
    opart_t *p = part_find(o, topic, partition);
    if (p) {
        part_clear(o, p);
        return p;
    }
    if (o->part_count == o->part_cap) {
        size_t cap = o->part_cap ? o->part_cap * 2 : 16;
        opart_t **parts = realloc(o->parts, cap * sizeof(*parts));
        if (!parts)
            return NULL;
        o->parts = parts;
        o->part_cap = cap;
    }
    if (!(p = calloc(1, sizeof(*p))))
        return NULL;
    p->topic = topic;
    p->partition = partition;
    p->led_end = p->led_stored = -1;
    o->parts[o->part_count++] = p;
    return p;
}

static void part_remove(brook__ordered_t *o, size_t i) {
    part_clear(o, o->parts[i]);
    free(o->parts[i]);
    o->parts[i] = o->parts[--o->part_count];
}

void brook__ordered_drop(brook__ordered_t *o) {
    while (o->part_count)
        part_remove(o, 0);
    o->ready_first = o->ready_last = NULL;
    o->releasing_key = NULL;
}

void brook__ordered_free(brook__ordered_t *o) {
    if (!o)
        return;
    brook__ordered_drop(o);
    free(o->parts);
    for (size_t t = 0; t < o->topic_count; t++) {
        free(o->topics[t].main);
        free(o->topics[t].parking);
        for (size_t i = 0; i < o->topics[t].retry_count; i++)
            free(o->topics[t].retry[i]);
        free(o->topics[t].retry);
    }
    free(o->topics);
    if (o->reader) {
        rd_kafka_consumer_close(o->reader);
        rd_kafka_destroy(o->reader);
    }
    free(o);
}

/* ---- records --------------------------------------------------------------------------------- */

static int64_t header_be64(const brook_header_t *h) {
    if (!h || !h->value || h->len != 8)
        return -1;
    const uint8_t *b = h->value;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return (int64_t)v;
}

/* The main-topic offset of a retry or parking record: its brook_order-offset, or for a retry
 * record written before the listener kept order, Spring's kafka_original-offset when that
 * names this main topic and partition; -1 when unknown. */
static int64_t main_offset_of(const brook__ordered_t *o, size_t topic, const brook_record_t *r) {
    int64_t v = header_be64(brook__record_header(r, BROOK_HDR_ORDER_OFFSET));
    if (v >= 0)
        return v;
    const brook_header_t *t = brook__record_header(r, BROOK_HDR_ORIG_TOPIC);
    const brook_header_t *p = brook__record_header(r, BROOK_HDR_ORIG_PARTITION);
    const char *main = o->topics[topic].main;
    if (t && t->value && t->len == strlen(main) && !memcmp(t->value, main, t->len) && p &&
        p->value && p->len == 4) {
        const uint8_t *b = p->value;
        int32_t part = (int32_t)(((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
                                 ((uint32_t)b[2] << 8) | b[3]);
        if (part == r->partition)
            return header_be64(brook__record_header(r, BROOK_HDR_ORIG_OFFSET));
    }
    return -1;
}

/* The parking topic's own headers, which a parked record's handler does not see. */
static bool parking_header(const char *name) {
    return !strcmp(name, BROOK_HDR_ORDER_OFFSET) || !strcmp(name, BROOK_HDR_ORDER_BEHIND);
}

/* A copy of r to keep (parked), presented as the record at main_offset on its main topic:
 * without the parking topic's headers when r was read from it. */
static parked_t *parked_copy(const brook__ordered_t *o, size_t topic, const brook_record_t *r,
                             int64_t main_offset, int64_t parked_offset) {
    size_t size = r->key_len + r->value_len + 2;
    for (size_t i = 0; i < r->header_count; i++)
        size += strlen(r->headers[i].name) + 1 + r->headers[i].len;
    parked_t *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->blob = malloc(size);
    e->headers = calloc(r->header_count ? r->header_count : 1, sizeof(*e->headers));
    if (!e->blob || !e->headers) {
        parked_free(e);
        return NULL;
    }
    uint8_t *b = e->blob;
    e->rec = *r;
    e->rec.topic = o->topics[topic].main;
    e->rec.offset = main_offset;
    if (r->key) {
        memcpy(b, r->key, r->key_len);
        e->rec.key = b;
        b += r->key_len;
    }
    if (r->value) {
        memcpy(b, r->value, r->value_len);
        e->rec.value = b;
        b += r->value_len;
    }
    size_t kept = 0;
    for (size_t i = 0; i < r->header_count; i++) {
        if (parking_header(r->headers[i].name))
            continue;
        brook_header_t *h = &e->headers[kept++];
        size_t n = strlen(r->headers[i].name) + 1;
        memcpy(b, r->headers[i].name, n);
        h->name = (const char *)b;
        b += n;
        h->len = r->headers[i].len;
        if (r->headers[i].value) {
            memcpy(b, r->headers[i].value, r->headers[i].len);
            h->value = b;
            b += r->headers[i].len;
        }
    }
    e->rec.headers = e->headers;
    e->rec.header_count = kept;
    e->main_offset = main_offset;
    e->parked_offset = parked_offset;
    return e;
}

static void park_append(okey_t *k, parked_t *e) {
    if (k->last)
        k->last->next = e;
    else
        k->first = e;
    k->last = e;
    if (e->main_offset > k->seen)
        k->seen = e->main_offset;
}

/* Writes r to the parking topic and keeps its copy. The write is one of the member's outputs:
 * not waited for here (the main offset is stored at once), but before any commit; if it fails,
 * or lands elsewhere than at the parking partition's next offset (this member is its only
 * writer), the member goes back to its committed offsets and reads this state again. */
static bool park(brook__ordered_t *o, opart_t *p, okey_t *k, const brook_record_t *r) {
    const char *topic = o->topics[p->topic].parking;
    int64_t offset = p->led_end;
    parked_t *e = parked_copy(o, p->topic, r, r->offset, offset);
    if (!e || !ledger_add(p, offset, false)) {
        parked_free(e);
        brook_log(BROOK_LOG_ERROR, "retry",
                  "%s: out of memory parking %s [%d] @%lld; trying "
                  "again in %d ms",
                  o->decl->id, r->topic, (int)r->partition, (long long)r->offset, PARK_RETRY_MS);
        return false;
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(r->header_count + 2);
    for (size_t i = 0; i < r->header_count; i++)
        rd_kafka_header_add(h, r->headers[i].name, -1, r->headers[i].value,
                            r->headers[i].value ? (ssize_t)r->headers[i].len : 0);
    uint8_t b[8];
    brook__put_be64(b, r->offset);
    rd_kafka_header_add(h, BROOK_HDR_ORDER_OFFSET, -1, b, 8);
    brook__put_be64(b, chained(k) ? k->head : -1);
    rd_kafka_header_add(h, BROOK_HDR_ORDER_BEHIND, -1, b, 8);
    int err = brook__producer_forward_async(
        o->producer, topic, r->partition,
        r->timestamp_type == BROOK_TS_CREATE_TIME && r->timestamp > 0 ? r->timestamp : 0, r->key,
        r->key_len, r->value, r->value_len, h, offset);
    if (err) {
        brook_log(BROOK_LOG_ERROR, "retry",
                  "%s: cannot park %s [%d] @%lld in %s: %s; trying again in %d ms", o->decl->id,
                  r->topic, (int)r->partition, (long long)r->offset, topic, rd_kafka_err2str(err),
                  PARK_RETRY_MS);
        p->led_count--; /* the entry just added */
        p->led_end = offset;
        parked_free(e);
        return false;
    }
    park_append(k, e);
    brook_log(BROOK_LOG_DEBUG, "retry", "%s: %s [%d] @%lld parked at %s @%lld", o->decl->id,
              r->topic, (int)r->partition, (long long)r->offset, topic, (long long)offset);
    return true;
}

/* ---- rebuilding a partition's state from its retry and parking partitions ---------------------
 */

static rd_kafka_t *reader(brook__ordered_t *o) {
    if (o->reader)
        return o->reader;
    if (!o->bootstrap)
        return NULL;
    brook_error_t err = {0};
    rd_kafka_conf_t *conf = brook__kafka_conf_new();
    char client_id[300], group[300];
    snprintf(client_id, sizeof(client_id), "%s-%s-order", o->service ? o->service->name : "brook",
             o->decl->id);
    /* librdkafka polls a consumer only with a group; this one never joins it nor commits: it
     * is assigned partitions and offsets. */
    snprintf(group, sizeof(group), "%s.brook-order-reader", o->decl->group);
    int rc = brook__kafka_conf_set(conf, "bootstrap.servers", o->bootstrap, &err);
    if (!rc && o->service)
        rc = brook__kafka_apply_user(o->service, conf, false, &err);
    const char *props[][2] = {
        {"client.id", client_id},
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "true"},
        {"isolation.level", "read_committed"},
        {"fetch.wait.max.ms", "50"},
        {"auto.offset.reset", "earliest"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]) && !rc; i++)
        rc = brook__kafka_conf_set(conf, props[i][0], props[i][1], &err);
    char errstr[512];
    if (!rc && !(o->reader = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
        brook_log(BROOK_LOG_ERROR, "retry", "%s: cannot create the ordered retries' reader: %s",
                  o->decl->id, errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (rc) {
        brook_log(BROOK_LOG_ERROR, "retry", "%s: ordered retries' reader: %s", o->decl->id,
                  err.message);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(o->reader);
    return o->reader;
}

/* One record read while rebuilding. */
static bool rebuild_record(brook__ordered_t *o, opart_t *p, role_t role,
                           const rd_kafka_message_t *msg) {
    brook_record_t r;
    brook_header_t *hdrs = NULL;
    size_t cap = 0;
    brook__kafka_record(msg, &r);
    brook__kafka_record_headers(msg, &r, &hdrs, &cap);
    bool ok = true;
    int64_t mo = main_offset_of(o, p->topic, &r);
    okey_t *k = r.key ? key_get(p, r.key, r.key_len) : NULL;
    if (role == ROLE_PARKING) {
        parked_t *e = k && mo >= 0 ? parked_copy(o, p->topic, &r, mo, msg->offset) : NULL;
        ok = ledger_add(p, msg->offset, !e);
        if (e)
            park_append(k, e);
        else if (r.key)
            ok = false; /* out of memory (or a record that is not Brook's: logged below) */
        if (r.key && mo < 0) {
            brook_log(BROOK_LOG_WARN, "retry", "%s: %s [%d] @%lld has no %s: not released",
                      o->decl->id, rd_kafka_topic_name(msg->rkt), (int)msg->partition,
                      (long long)msg->offset, BROOK_HDR_ORDER_OFFSET);
            ok = true;
        }
    } else if (k) {
        k->pending++;
        if (mo < 0)
            k->unknown++;
        else if (mo > k->head)
            k->head = mo;
        if (mo > k->seen)
            k->seen = mo;
    } else if (r.key) {
        ok = false;
    }
    free(hdrs);
    return ok;
}

/* What the rebuilt records say: a key's retry record with the largest main offset is its head,
 * and every record of the key before it is done (it entered the chain only once they were),
 * so older retry copies are skipped and parked copies at or below it dropped. */
static void rebuild_settle(brook__ordered_t *o, opart_t *p) {
    for (size_t i = 0; i < p->nbuckets; i++)
        for (okey_t *k = p->buckets[i], *next; k; k = next) {
            next = k->bucket_next;
            if (k->head >= 0 && k->head - 1 > k->done)
                k->done = k->head - 1;
            while (k->first && k->first->main_offset <= k->head) {
                parked_t *e = k->first;
                k->first = e->next;
                if (!k->first)
                    k->last = NULL;
                for (size_t l = p->led_first; l < p->led_first + p->led_count; l++)
                    if (p->ledger[l].offset == e->parked_offset)
                        p->ledger[l].done = true;
                parked_free(e);
            }
            key_settle(o, k);
        }
    ledger_store(o, p);
}

/* The producer learns a topic's partitions when it first sends to it, which takes a metadata
 * round trip (about a second on the embedded cluster) while the forwarding member waits, and
 * every key of its partitions with it: asked once, before the first record is handled. */
static void warm_up(brook__ordered_t *o) {
    rd_kafka_t *prk = brook__producer_handle(o->producer);
    if (o->warm || !prk)
        return;
    o->warm = true;
    for (size_t t = 0; t < o->topic_count; t++) {
        const otopic_t *ot = &o->topics[t];
        char dlt[600];
        for (size_t i = 0; i < ot->retry_count + 2; i++) {
            const char *name = i < ot->retry_count    ? ot->retry[i]
                               : i == ot->retry_count ? ot->parking
                                                      : dlt;
            if (i == ot->retry_count + 1 &&
                !brook__recover_dlt_topic(o->decl, ot->main, dlt, sizeof(dlt)))
                continue;
            rd_kafka_topic_t *rkt = rd_kafka_topic_new(prk, name, NULL);
            const struct rd_kafka_metadata *md = NULL;
            if (rkt && !rd_kafka_metadata(prk, 0, rkt, &md, 5000))
                rd_kafka_metadata_destroy(md);
            /* librdkafka keeps the topic and what it learnt of it: only the handle goes. */
            if (rkt)
                rd_kafka_topic_destroy(rkt);
        }
    }
}

static bool rebuild(brook__ordered_t *o, opart_t *p) {
    warm_up(o);
    const otopic_t *ot = &o->topics[p->topic];
    size_t n = ot->retry_count + 1;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < ot->retry_count; i++)
        rd_kafka_topic_partition_list_add(list, ot->retry[i], p->partition);
    rd_kafka_topic_partition_list_add(list, ot->parking, p->partition);
    int64_t *end = calloc(n, sizeof(*end));
    bool ok = end != NULL;
    rd_kafka_resp_err_t err = ok ? rd_kafka_committed(o->rk, list, 10000) : 0;
    if (err) {
        brook_log(BROOK_LOG_WARN, "retry", "%s: %s [%d]: committed offsets: %s", o->decl->id,
                  ot->main, (int)p->partition, rd_kafka_err2str(err));
        ok = false;
    }
    /* From the committed offset (or where the member's consumer starts without one) to the
     * end: every record there may be waiting, or done and not yet committed. */
    size_t to_read = 0;
    for (int i = 0; ok && i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(o->rk, tp->topic, tp->partition, &lo, &hi, 10000);
        if (err || tp->err) {
            rd_kafka_resp_err_t e = err ? err : tp->err;
            bool missing = e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                           e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
            brook_log(missing ? BROOK_LOG_ERROR : BROOK_LOG_WARN, "retry",
                      "%s: %s [%d]: %s%s; reading it again in %d ms", o->decl->id, tp->topic,
                      (int)tp->partition, rd_kafka_err2str(e),
                      missing ? " (ordered retries need every retry and parking topic to have "
                                "the main topic's partitions)"
                              : "",
                      REBUILD_RETRY_MS);
            ok = false;
            break;
        }
        int64_t from = tp->offset >= 0                             ? tp->offset
                       : o->decl->start_from == BROOK_START_LATEST ? hi
                                                                   : lo;
        if (from < lo)
            from = lo;
        end[i] = hi;
        tp->offset = from;
        if (i == list->cnt - 1) {
            p->led_end = from;
            p->led_stored = from;
        }
        if (from < hi)
            to_read++;
        else
            tp->offset = RD_KAFKA_OFFSET_INVALID; /* nothing to read */
    }
    rd_kafka_t *rk = ok && to_read ? reader(o) : NULL;
    if (ok && to_read && !rk)
        ok = false;
    if (ok && to_read) {
        rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new((int)n);
        for (int i = 0; i < list->cnt; i++)
            if (list->elems[i].offset != RD_KAFKA_OFFSET_INVALID)
                rd_kafka_topic_partition_list_add(assign, list->elems[i].topic,
                                                  list->elems[i].partition)
                    ->offset = list->elems[i].offset;
        err = rd_kafka_assign(rk, assign);
        rd_kafka_topic_partition_list_destroy(assign);
        bool *finished = calloc(n, sizeof(*finished));
        ok = !err && finished;
        for (int i = 0; ok && i < list->cnt; i++)
            finished[i] = list->elems[i].offset == RD_KAFKA_OFFSET_INVALID;
        int64_t deadline = brook__add_ms(brook__now_ms(), REBUILD_MAX_MS);
        size_t left = to_read;
        while (ok && left && brook__now_ms() < deadline) {
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
            if (!msg)
                continue;
            int i = 0;
            const char *topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "";
            while (i < list->cnt && (strcmp(list->elems[i].topic, topic) ||
                                     list->elems[i].partition != msg->partition))
                i++;
            if (i < list->cnt && !finished[i]) {
                if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    if (msg->offset >= end[i]) {
                        finished[i] = true;
                        left--;
                    }
                } else if (msg->err) {
                    brook_log(BROOK_LOG_WARN, "retry", "%s: reading %s [%d]: %s", o->decl->id,
                              topic, (int)msg->partition, rd_kafka_message_errstr(msg));
                } else if (msg->offset < end[i]) {
                    ok = rebuild_record(o, p, i == list->cnt - 1 ? ROLE_PARKING : ROLE_RETRY, msg);
                    if (msg->offset + 1 >= end[i]) {
                        finished[i] = true;
                        left--;
                    }
                }
            }
            rd_kafka_message_destroy(msg);
        }
        if (ok && left) {
            brook_log(BROOK_LOG_WARN, "retry",
                      "%s: %s [%d]: retry and parking topics not read "
                      "to their ends within %d ms",
                      o->decl->id, ot->main, (int)p->partition, REBUILD_MAX_MS);
            ok = false;
        }
        free(finished);
        rd_kafka_assign(rk, NULL);
    }
    if (ok) {
        if (end[list->cnt - 1] > p->led_end)
            p->led_end = end[list->cnt - 1];
        rebuild_settle(o, p);
        p->built = true;
        brook_log(BROOK_LOG_DEBUG, "retry", "%s: %s [%d]: ordered state rebuilt, %zu key(s)",
                  o->decl->id, ot->main, (int)p->partition, p->nkeys);
    } else {
        part_clear(o, p);
        p->rebuild_at = brook__add_ms(brook__now_ms(), REBUILD_RETRY_MS);
    }
    free(end);
    rd_kafka_topic_partition_list_destroy(list);
    return ok;
}

void brook__ordered_tick(brook__ordered_t *o) {
    int64_t now = brook__now_ms();
    for (size_t i = 0; i < o->part_count; i++)
        if (!o->parts[i]->built && now >= o->parts[i]->rebuild_at) {
            rebuild(o, o->parts[i]);
            return; /* one per turn of the poll loop */
        }
}

/* ---- the member's records ---------------------------------------------------------------- */

brook__ordered_admit_t brook__ordered_admit(brook__ordered_t *o, const brook_record_t *rec,
                                            int64_t *hold_ms) {
    size_t t;
    role_t role = classify(o, rec->topic, &t);
    if (role != ROLE_MAIN && role != ROLE_RETRY)
        return BROOK__ORDERED_HANDLE;
    opart_t *p = part_find(o, t, rec->partition);
    if (!p)
        return BROOK__ORDERED_HANDLE;
    if (!p->built && !rebuild(o, p)) {
        *hold_ms = REBUILD_RETRY_MS;
        return BROOK__ORDERED_HOLD;
    }
    if (!rec->key) /* keyless records have no order to keep */
        return BROOK__ORDERED_HANDLE;
    okey_t *k = key_find(p, rec->key, rec->key_len);
    if (role == ROLE_MAIN) {
        if (!k)
            return BROOK__ORDERED_HANDLE;
        if (rec->offset <= k->seen) {
            brook_log(BROOK_LOG_DEBUG, "retry", "%s: %s [%d] @%lld already parked or retried",
                      o->decl->id, rec->topic, (int)rec->partition, (long long)rec->offset);
            return BROOK__ORDERED_DONE;
        }
        if (!blocked(o, k))
            return BROOK__ORDERED_HANDLE;
        if (!park(o, p, k, rec)) {
            *hold_ms = PARK_RETRY_MS;
            return BROOK__ORDERED_HOLD;
        }
        return BROOK__ORDERED_DONE;
    }
    int64_t mo = main_offset_of(o, t, rec);
    if (!k) {
        /* A retry record this member did not know of: its key waits behind it all the same. */
        if (!(k = key_get(p, rec->key, rec->key_len)))
            return BROOK__ORDERED_HANDLE;
        k->pending = 1;
        if (mo < 0)
            k->unknown = 1;
        else
            k->head = k->seen = mo;
        return BROOK__ORDERED_HANDLE;
    }
    if (mo >= 0 && mo <= k->done) {
        /* A copy of a record done already (forwarded again after a crash): skipped. */
        brook_log(BROOK_LOG_DEBUG, "retry", "%s: %s [%d] @%lld: a copy of a record done, skipped",
                  o->decl->id, rec->topic, (int)rec->partition, (long long)rec->offset);
        k->pending--;
        key_settle(o, k);
        return BROOK__ORDERED_DONE;
    }
    return BROOK__ORDERED_HANDLE;
}

void brook__ordered_forward_headers(brook__ordered_t *o, const brook_record_t *rec,
                                    rd_kafka_headers_t *h) {
    size_t t;
    if (classify(o, rec->topic, &t) != ROLE_MAIN)
        return;
    uint8_t b[8];
    brook__put_be64(b, rec->offset);
    rd_kafka_header_add(h, BROOK_HDR_ORDER_OFFSET, -1, b, 8);
}

/* Whether rec is the released record in hand. */
static bool is_releasing(const brook__ordered_t *o, const brook_record_t *rec) {
    const okey_t *k = o->releasing_key;
    return k && k->first && rec->partition == k->part->partition &&
           rec->offset == k->first->main_offset && !strcmp(rec->topic, k->first->rec.topic);
}

void brook__ordered_done(brook__ordered_t *o, const brook_record_t *rec,
                         brook__ordered_outcome_t outcome) {
    size_t t;
    role_t role = classify(o, rec->topic, &t);
    if (role != ROLE_MAIN && role != ROLE_RETRY)
        return;
    opart_t *p = part_find(o, t, rec->partition);
    if (!p || !p->built || !rec->key)
        return;
    if (role == ROLE_MAIN && is_releasing(o, rec)) {
        okey_t *k = o->releasing_key;
        parked_t *e = k->first;
        k->first = e->next;
        if (!k->first)
            k->last = NULL;
        o->releasing_key = NULL;
        ledger_done(o, p, e->parked_offset);
        if (outcome == BROOK__ORDERED_CHAINED) {
            k->head = e->main_offset;
            k->pending++;
        } else if (e->main_offset > k->done) {
            k->done = e->main_offset;
        }
        parked_free(e);
        key_settle(o, k);
        return;
    }
    okey_t *k = key_find(p, rec->key, rec->key_len);
    if (role == ROLE_MAIN) {
        if (outcome == BROOK__ORDERED_CHAINED) {
            if (!k && !(k = key_get(p, rec->key, rec->key_len))) {
                brook_log(BROOK_LOG_ERROR, "retry",
                          "%s: out of memory: key order of %s [%d] "
                          "is read again",
                          o->decl->id, rec->topic, (int)rec->partition);
                part_clear(o, p);
                return;
            }
            k->head = rec->offset;
            k->pending++;
            if (rec->offset > k->seen)
                k->seen = rec->offset;
        } else if (k && rec->offset > k->done) {
            k->done = rec->offset;
        }
        if (k)
            key_settle(o, k);
        return;
    }
    if (!k || outcome == BROOK__ORDERED_CHAINED)
        return; /* a retry record forwarded to the next retry topic: still the head */
    int64_t mo = main_offset_of(o, t, rec);
    k->pending--;
    if (mo < 0) {
        if (k->unknown > 0)
            k->unknown--;
    } else if (mo > k->done) {
        k->done = mo;
    }
    key_settle(o, k);
}

bool brook__ordered_hold(brook__ordered_t *o, const brook_record_t *rec, int64_t due_ms) {
    if (!is_releasing(o, rec))
        return false;
    okey_t *k = o->releasing_key;
    o->releasing_key = NULL;
    k->not_before = due_ms;
    key_settle(o, k);
    return true;
}

const brook_record_t *brook__ordered_released(brook__ordered_t *o) {
    if (!o->ready_first || o->releasing_key)
        return NULL;
    int64_t now = 0;
    for (okey_t *k = o->ready_first; k; k = k->ready_next) {
        if (k->not_before) {
            if (!now)
                now = brook__wall_ms();
            if (now < k->not_before)
                continue;
            k->not_before = 0;
        }
        ready_unlink(o, k);
        if (!k->first || chained(k)) {
            key_settle(o, k);
            return NULL;
        }
        o->releasing_key = k;
        brook_log(BROOK_LOG_DEBUG, "retry", "%s: %s [%d] @%lld released from %s @%lld", o->decl->id,
                  k->first->rec.topic, (int)k->part->partition, (long long)k->first->main_offset,
                  o->topics[k->part->topic].parking, (long long)k->first->parked_offset);
        return &k->first->rec;
    }
    return NULL;
}

/* ---- assignment ---------------------------------------------------------------------------- */

rd_kafka_topic_partition_list_t *
brook__ordered_with_derived(brook__ordered_t *o, const rd_kafka_topic_partition_list_t *parts,
                            bool assigning) {
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_copy(parts);
    /* librdkafka refuses a whole (un)assignment when one partition in it is already (or not)
     * assigned: only derived partitions not (or still) assigned are added. */
    rd_kafka_topic_partition_list_t *now = NULL;
    if (rd_kafka_assignment(o->rk, &now) || !now)
        now = rd_kafka_topic_partition_list_new(0);
    for (int i = 0; i < parts->cnt; i++) {
        size_t t;
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (classify(o, tp->topic, &t) != ROLE_MAIN)
            continue;
        const otopic_t *ot = &o->topics[t];
        for (size_t r = 0; r <= ot->retry_count; r++) {
            const char *topic = r < ot->retry_count ? ot->retry[r] : ot->parking;
            bool assigned = rd_kafka_topic_partition_list_find(now, topic, tp->partition);
            if (assigned != assigning &&
                !rd_kafka_topic_partition_list_find(all, topic, tp->partition))
                rd_kafka_topic_partition_list_add(all, topic, tp->partition);
        }
        /* Read again before the partition's first record is handled. */
        if (assigning && !part_add(o, t, tp->partition))
            brook_log(BROOK_LOG_ERROR, "retry", "%s: out of memory assigning %s [%d]", o->decl->id,
                      tp->topic, (int)tp->partition);
    }
    rd_kafka_topic_partition_list_destroy(now);
    return all;
}

void brook__ordered_assigned(brook__ordered_t *o, const rd_kafka_topic_partition_list_t *all) {
    rd_kafka_topic_partition_list_t *parking = rd_kafka_topic_partition_list_new(4);
    for (int i = 0; i < all->cnt; i++)
        if (brook__ordered_is_parking(o, all->elems[i].topic))
            rd_kafka_topic_partition_list_add(parking, all->elems[i].topic,
                                              all->elems[i].partition);
    if (parking->cnt)
        rd_kafka_pause_partitions(o->rk, parking);
    rd_kafka_topic_partition_list_destroy(parking);
}

void brook__ordered_revoked(brook__ordered_t *o, const rd_kafka_topic_partition_list_t *parts) {
    for (size_t i = 0; i < o->part_count;) {
        opart_t *p = o->parts[i];
        if (rd_kafka_topic_partition_list_find(parts, o->topics[p->topic].main, p->partition))
            part_remove(o, i);
        else
            i++;
    }
}

void brook__ordered_rewound(brook__ordered_t *o) {
    for (size_t i = 0; i < o->part_count; i++)
        part_clear(o, o->parts[i]);
}
