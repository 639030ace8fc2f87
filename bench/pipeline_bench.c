/*
 * Pipeline benchmark: typed Avro records (bench.Event, ~100 bytes) sent through a generated
 * template, the embedded cluster and a generated listener (ack = record), against a
 * hand-written librdkafka program doing the same work (same framed bytes through the generated
 * codec, same producer and consumer settings, offset stored per record, asynchronous commit
 * every 1000 ms from the poll thread), and against librdkafka with opaque bytes of the same size
 * (no encoding or decoding) as the ceiling. All three share one embedded cluster in this
 * process and run side by side, rounds interleaved, so a noisy machine hurts them alike.
 *
 *   pipeline_bench run            throughput, latency at a fixed rate, allocations per record
 *   pipeline_bench rss VARIANT N  peak RSS after N records through one variant (brook|raw)
 *
 * Prints `bench: <name> <value> <unit>` and `ratio: <name> <value>` lines.
 *
 * Pacing: the embedded cluster keeps ~5 MiB / 100k messages per partition and drops older data,
 * so the producer never runs more than WINDOW records ahead of the handler (a few thousand per
 * partition); every phase checks that exactly the records sent were handled.
 *
 * Allocations are counted by malloc/calloc/realloc/memalign defined in this executable, which
 * the dynamic linker binds for every library, and attributed to the sending thread, the
 * handling thread or any other thread (librdkafka's broker threads, the embedded cluster, the
 * app's producer thread), and to the object that called (this binary with its generated code,
 * libbrook, librdkafka, libc).
 */
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook_test.h"
#include "pipeline_bench.brook.h"

/* ---- allocation counter ------------------------------------------------------------------- */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

enum { ROLE_OTHER, ROLE_SEND, ROLE_HANDLE, ROLES };
enum { OBJ_BENCH, OBJ_BROOK, OBJ_RDKAFKA, OBJ_LIBC, OBJ_OTHER, OBJS };
static const char *const obj_names[OBJS] = {"bench", "brook", "rdkafka", "libc", "other"};

static _Thread_local int tl_role;
static atomic_bool counting;
static atomic_ulong allocs[ROLES][OBJS];

typedef struct {
    uintptr_t lo, hi;
    int obj;
} text_range_t;
static text_range_t ranges[64];
static int range_count;

static int add_ranges(struct dl_phdr_info *info, size_t size, void *arg) {
    const char *name = info->dlpi_name;
    int obj = !name || !*name              ? OBJ_BENCH
              : strstr(name, "libbrook")   ? OBJ_BROOK
              : strstr(name, "librdkafka") ? OBJ_RDKAFKA
              : strstr(name, "/libc.so")   ? OBJ_LIBC
                                           : OBJ_OTHER;
    for (int i = 0; i < info->dlpi_phnum && range_count < 64; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
            ranges[range_count++] = (text_range_t){
                info->dlpi_addr + ph->p_vaddr, info->dlpi_addr + ph->p_vaddr + ph->p_memsz, obj};
    }
    return 0;
}

static inline void count_alloc(void *caller) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed))
        return;
    uintptr_t a = (uintptr_t)caller;
    int obj = OBJ_OTHER;
    for (int i = 0; i < range_count; i++)
        if (a >= ranges[i].lo && a < ranges[i].hi) {
            obj = ranges[i].obj;
            break;
        }
    atomic_fetch_add_explicit(&allocs[tl_role][obj], 1, memory_order_relaxed);
}

void *malloc(size_t n) {
    count_alloc(__builtin_return_address(0));
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
    count_alloc(__builtin_return_address(0));
    return __libc_calloc(n, size);
}
/* Every realloc counts: it may move, and it is how a growing buffer allocates. */
void *realloc(void *p, size_t n) {
    count_alloc(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
void free(void *p) {
    __libc_free(p);
}
void *memalign(size_t align, size_t n) {
    count_alloc(__builtin_return_address(0));
    return __libc_memalign(align, n);
}
void *aligned_alloc(size_t align, size_t n) {
    count_alloc(__builtin_return_address(0));
    return __libc_memalign(align, n);
}
int posix_memalign(void **out, size_t align, size_t n) {
    count_alloc(__builtin_return_address(0));
    void *p = __libc_memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

static void counts_reset(void) {
    for (int r = 0; r < ROLES; r++)
        for (int o = 0; o < OBJS; o++)
            atomic_store(&allocs[r][o], 0);
}

static unsigned long role_total(int role) {
    unsigned long t = 0;
    for (int o = 0; o < OBJS; o++)
        t += atomic_load(&allocs[role][o]);
    return t;
}

/* ---- time ----------------------------------------------------------------------------------- */

static int64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t t) {
    struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
        ;
}

static void nap_us(int us) {
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

/* ---- the workload --------------------------------------------------------------------------- */

#define WINDOW 40000   /* records sent but not yet handled, at most */
#define NKEYS 4096     /* distinct keys (and ids), spread over the partitions */
#define LAT_RING 32768 /* latencies of the last records handled */
#define PARTITIONS 4
#define COMMIT_INTERVAL_MS 1000
static char keys[NKEYS][16];
static char ids[NKEYS][40];

static void workload_init(void) {
    for (int i = 0; i < NKEYS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "acct-%010d", 7919 * i + 1000003);
        snprintf(ids[i], sizeof(ids[i]), "%08x-%04x-4%03x-a%03x-%012x", 0x2f1c9a7eu + i, i,
                 i & 0xfff, (i * 7) & 0xfff, 0x1d2f3e4au + i * 31);
    }
}

static void fill(bench_Event *e, long i, int64_t sent_ns) {
    e->id = ids[i & (NKEYS - 1)];
    e->account = keys[i & (NKEYS - 1)];
    e->sent_ns = sent_ns;
    e->amount = 10.0 + (double)(i % 1000) * 0.25;
    e->quantity = (int32_t)(i % 50) + 1;
    e->currency = "EUR";
    e->channel = bench_Channel_WEB;
    e->note = "gift wrap, leave at the door";
}

typedef struct variant_s variant_t;
struct variant_s {
    const char *name;
    /* Queues record i (key keys[i], value stamped with sent_ns). Runs on the main thread. */
    void (*send)(variant_t *v, long i, int64_t sent_ns);
    /* Called while the main thread waits (serves delivery reports where the program must). */
    void (*service)(variant_t *v);
    long seq; /* records sent so far */
    atomic_long handled;
    double checksum;       /* consumer thread only: keeps the decoded values used */
    bench_Event decoded;   /* raw typed consumer thread only: decoded into, record after record */
    int64_t lat[LAT_RING]; /* handle time - send time, by handled count */
    /* raw variants */
    rd_kafka_t *producer, *consumer;
    rd_kafka_topic_t *rkt;
    pthread_t thread;
    atomic_bool stop;
    bool typed;
    brook_buf_t buf;
    uint8_t blob[256];
    size_t blob_len;
    atomic_long delivery_errors;
    /* results */
    double best_rps, median_rps, rps[8];
    double last_cpu_ns, best_cpu_ns; /* process CPU time per record (all threads) */
    int rounds;
    double send_allocs, handle_allocs;
};

/* What every handler does with a record: use the value, note its latency, count it. Runs on the
 * variant's consumer thread. */
static inline void sink(variant_t *v, int64_t sent_ns, double use) {
    long h = atomic_load_explicit(&v->handled, memory_order_relaxed);
    v->checksum += use;
    v->lat[h & (LAT_RING - 1)] = now_ns() - sent_ns;
    atomic_store_explicit(&v->handled, h + 1, memory_order_release);
}

/* ---- Brook: generated template and listener ------------------------------------------------- */

static variant_t v_brook = {.name = "brook"};
static pipeline_bench_t *svc;

brook_result_t on_event(brook_ctx_t *ctx, const char *key, const bench_Event *value) {
    if (!tl_role)
        tl_role = ROLE_HANDLE;
    sink(&v_brook, value->sent_ns, value->amount + value->quantity + key[5]);
    return BROOK_OK;
}

static void brook_send(variant_t *v, long i, int64_t sent_ns) {
    bench_Event e;
    bench_Event_init(&e);
    fill(&e, i, sent_ns);
    if (pipeline_bench_events_send(svc, e.account, &e)) {
        fprintf(stderr, "pipeline_bench: brook send failed\n");
        exit(1);
    }
}

static int brook_setup(void) {
    brook_error_t err = {0};
    v_brook.send = brook_send;
    if (!(svc = pipeline_bench_new(NULL, &err))) {
        fprintf(stderr, "pipeline_bench: %s\n", err.message);
        return -1;
    }
    if (pipeline_bench_start(svc, &err)) {
        fprintf(stderr, "pipeline_bench: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void brook_teardown(void) {
    pipeline_bench_stop(svc);
    pipeline_bench_destroy(svc);
}

/* ---- hand-written librdkafka ---------------------------------------------------------------- */

static variant_t v_raw = {.name = "raw", .typed = true};
static variant_t v_opaque = {.name = "opaque", .typed = false};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    if (m->err)
        atomic_fetch_add(&((variant_t *)opaque)->delivery_errors, 1);
}

static void raw_service(variant_t *v) {
    rd_kafka_poll(v->producer, 0);
}

static void raw_send(variant_t *v, long i, int64_t sent_ns) {
    const char *key = keys[i & (NKEYS - 1)];
    const void *value;
    size_t len;
    if (v->typed) {
        bench_Event e;
        bench_Event_init(&e);
        fill(&e, i, sent_ns);
        brook_buf_reset(&v->buf);
        if (brook_avro_write_single_object_header(&v->buf, bench_Event_type.fingerprint) ||
            bench_Event_encode(&e, &v->buf))
            exit(1);
        value = v->buf.data;
        len = v->buf.len;
    } else {
        memcpy(v->blob + v->blob_len - 8, &sent_ns, 8);
        value = v->blob;
        len = v->blob_len;
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        v->producer, RD_KAFKA_V_RKT(v->rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK), RD_KAFKA_V_KEY(key, 15),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END);
    if (err) {
        fprintf(stderr, "pipeline_bench: produce: %s\n", rd_kafka_err2str(err));
        exit(1);
    }
    if ((i & 63) == 0)
        rd_kafka_poll(v->producer, 0);
}

static void raw_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts, void *opaque) {
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
    } else {
        rd_kafka_commit(rk, NULL, 0);
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    }
}

static void handle_raw(variant_t *v, const rd_kafka_message_t *m) {
    const uint8_t *p = m->payload;
    if (!v->typed) {
        int64_t sent_ns;
        memcpy(&sent_ns, p + m->len - 8, 8);
        sink(v, sent_ns, (double)m->len + ((const char *)m->key)[5]);
        return;
    }
    /* Single-object framing: C3 01, the schema fingerprint (little endian), the datum. */
    uint64_t fp = 0;
    if (m->len < 10 || p[0] != 0xC3 || p[1] != 0x01)
        goto bad;
    for (int i = 0; i < 8; i++)
        fp |= (uint64_t)p[2 + i] << (8 * i);
    if (fp != bench_Event_type.fingerprint)
        goto bad;
    /* Into the same value every time, as Brook's listener does: each decode empties it and
     * reuses its memory (raw_consumer_main clears it at the end). */
    bench_Event *e = &v->decoded;
    brook_error_t err;
    if (bench_Event_decode(e, p + 10, m->len - 10, &err))
        goto bad;
    sink(v, e->sent_ns, e->amount + e->quantity + ((const char *)m->key)[5]);
    return;
bad:
    fprintf(stderr, "pipeline_bench: undecodable record\n");
    exit(1);
}

/* BENCH_RAW_PARSE_HEADERS=1: the raw handler also asks for the record's headers, as Brook's
 * listener does for every record (to show what that costs). */
static bool raw_parse_headers;

static void *raw_consumer_main(void *arg) {
    variant_t *v = arg;
    tl_role = ROLE_HANDLE;
    int64_t next_commit = now_ns() / 1000000 + COMMIT_INTERVAL_MS;
    while (!atomic_load(&v->stop)) {
        int64_t now = now_ns() / 1000000;
        if (now >= next_commit) {
            rd_kafka_commit(v->consumer, NULL, 1);
            next_commit = now + COMMIT_INTERVAL_MS;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(v->consumer, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (raw_parse_headers) {
                rd_kafka_headers_t *h;
                rd_kafka_message_headers(m, &h);
            }
            handle_raw(v, m);
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_commit(v->consumer, NULL, 0);
    rd_kafka_consumer_close(v->consumer);
    bench_Event_clear(&v->decoded);
    return NULL;
}

/* What pipeline.brook declares (kafka.fetch_wait_max_ms), or the environment's override, which
 * Brook applies to its listener too. The embedded cluster answers a Fetch that finds no data
 * only after fetch.wait.max.ms, even when data arrives meanwhile; at librdkafka's default of
 * 500 ms a consumer that catches up stalls for half a second. */
static const char *fetch_wait_max_ms(void) {
    const char *e = getenv("BROOK_KAFKA_FETCH_WAIT_MAX_MS");
    return e ? e : "10";
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "pipeline_bench: %s=%s: %s\n", name, value, errstr);
        return -1;
    }
    return 0;
}

/* The same settings Brook gives its producer and its listener members on the embedded
 * cluster. */
static int raw_setup(variant_t *v, brook_test_cluster_t *cluster, const char *topic) {
    char errstr[512], group[64];
    const char *bootstrap = brook_test_bootstrap(cluster);
    if (brook_test_create_topic(cluster, topic, PARTITIONS))
        return -1;
    v->send = raw_send;
    v->service = raw_service;
    brook_buf_init(&v->buf);
    bench_Event e;
    bench_Event_init(&e);
    fill(&e, 0, now_ns());
    brook_buf_t b;
    brook_buf_init(&b);
    brook_avro_write_single_object_header(&b, bench_Event_type.fingerprint);
    bench_Event_encode(&e, &b);
    memcpy(v->blob, b.data, b.len); /* opaque: bytes of the same size as a typed record */
    v->blob_len = b.len;
    brook_buf_free(&b);

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    rd_kafka_conf_set_opaque(pc, v);
    if (conf_set(pc, "bootstrap.servers", bootstrap) || conf_set(pc, "client.id", v->name) ||
        conf_set(pc, "enable.idempotence", "true") || conf_set(pc, "partitioner", "murmur2_random"))
        return -1;
    if (!(v->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr)))) {
        fprintf(stderr, "pipeline_bench: %s\n", errstr);
        return -1;
    }
    v->rkt = rd_kafka_topic_new(v->producer, topic, NULL);

    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    rd_kafka_conf_set_rebalance_cb(cc, raw_rebalance);
    snprintf(group, sizeof(group), "bench-%s", v->name);
    if (conf_set(cc, "bootstrap.servers", bootstrap) || conf_set(cc, "client.id", group) ||
        conf_set(cc, "group.id", group) || conf_set(cc, "enable.auto.commit", "false") ||
        conf_set(cc, "enable.auto.offset.store", "false") ||
        conf_set(cc, "auto.offset.reset", "earliest") ||
        conf_set(cc, "enable.partition.eof", "false") ||
        conf_set(cc, "session.timeout.ms", "6000") ||
        conf_set(cc, "heartbeat.interval.ms", "500") ||
        conf_set(cc, "partition.assignment.strategy", "cooperative-sticky") ||
        conf_set(cc, "fetch.wait.max.ms", fetch_wait_max_ms()))
        return -1;
    if (!(v->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof(errstr)))) {
        fprintf(stderr, "pipeline_bench: %s\n", errstr);
        return -1;
    }
    rd_kafka_poll_set_consumer(v->consumer);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(v->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err)
        return -1;
    return pthread_create(&v->thread, NULL, raw_consumer_main, v) ? -1 : 0;
}

static void raw_teardown(variant_t *v) {
    atomic_store(&v->stop, true);
    pthread_join(v->thread, NULL);
    rd_kafka_destroy(v->consumer);
    rd_kafka_flush(v->producer, 10000);
    rd_kafka_topic_destroy(v->rkt);
    rd_kafka_destroy(v->producer);
    brook_buf_free(&v->buf);
}

/* ---- phases --------------------------------------------------------------------------------- */

/* Sends n records (at `rate` per second, or as fast as the window allows when 0) and waits until
 * all are handled. Returns the records per second from the first send to the last handled. */
static double phase(variant_t *v, long n, double rate) {
    long base = atomic_load(&v->handled);
    int64_t c0 = cpu_ns();
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (rate > 0)
            sleep_until_ns(t0 + (int64_t)((double)i * 1e9 / rate));
        while (i - (atomic_load_explicit(&v->handled, memory_order_acquire) - base) >= WINDOW) {
            if (v->service)
                v->service(v);
            nap_us(50);
        }
        v->send(v, v->seq++, now_ns());
    }
    int64_t deadline = now_ns() + 120 * 1000000000LL;
    while (atomic_load_explicit(&v->handled, memory_order_acquire) - base < n) {
        if (v->service)
            v->service(v);
        if (now_ns() > deadline) {
            fprintf(stderr, "pipeline_bench: %s: %ld of %ld records handled after 120 s\n", v->name,
                    atomic_load(&v->handled) - base, n);
            exit(1);
        }
        nap_us(20);
    }
    int64_t t1 = now_ns();
    v->last_cpu_ns = (double)(cpu_ns() - c0) / (double)n;
    long extra = atomic_load(&v->handled) - base - n;
    if (extra)
        fprintf(stderr, "pipeline_bench: %s: %ld records handled twice\n", v->name, extra);
    if (atomic_load(&v->delivery_errors)) {
        fprintf(stderr, "pipeline_bench: %s: delivery errors\n", v->name);
        exit(1);
    }
    return (double)n / ((double)(t1 - t0) / 1e9);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void latency(variant_t *v, double rate, double seconds) {
    long n = (long)(rate * seconds);
    if (n > LAT_RING)
        n = LAT_RING;
    long base = atomic_load(&v->handled);
    phase(v, n, rate);
    int64_t *a = malloc((size_t)n * sizeof(*a));
    for (long i = 0; i < n; i++)
        a[i] = v->lat[(base + i) & (LAT_RING - 1)];
    qsort(a, (size_t)n, sizeof(*a), cmp_i64);
    double p[3] = {0.5, 0.99, 0.999};
    const char *names[3] = {"p50", "p99", "p999"};
    for (int k = 0; k < 3; k++)
        printf("bench: latency_%s_%s %.3f ms\n", v->name, names[k],
               (double)a[(long)((double)(n - 1) * p[k])] / 1e6);
    printf("bench: latency_%s_max %.3f ms\n", v->name, (double)a[n - 1] / 1e6);
    free(a);
}

/* Allocations per record in each path, for n records through v. */
static void alloc_phase(variant_t *v, long n) {
    counts_reset();
    atomic_store(&counting, true);
    phase(v, n, 0);
    atomic_store(&counting, false);
    const char *roles[ROLES] = {"other_threads", "send", "handle"};
    for (int r = ROLE_SEND; r <= ROLE_HANDLE; r++) {
        printf("bench: allocs_%s_%s %.3f allocs/record\n", roles[r], v->name,
               (double)role_total(r) / (double)n);
        for (int o = 0; o < OBJS; o++) {
            unsigned long c = atomic_load(&allocs[r][o]);
            if (c)
                printf("bench: allocs_%s_%s_by_%s %.3f allocs/record\n", roles[r], v->name,
                       obj_names[o], (double)c / (double)n);
        }
    }
    printf("bench: allocs_other_threads_%s %.3f allocs/record\n", v->name,
           (double)role_total(ROLE_OTHER) / (double)n);
    v->send_allocs = (double)role_total(ROLE_SEND) / (double)n;
    v->handle_allocs = (double)role_total(ROLE_HANDLE) / (double)n;
}

static long rss_now_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static long rss_peak_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    double s[8];
    memcpy(s, v, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- main ----------------------------------------------------------------------------------- */

#define ROUNDS 5
#define ROUND_RECORDS 1000000
#define WARMUP_RECORDS 20000

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "run";
    raw_parse_headers = getenv("BENCH_RAW_PARSE_HEADERS") != NULL;
    dl_iterate_phdr(add_ranges, NULL);
    tl_role = ROLE_SEND;
    workload_init();
    brook_log_set_level(BROOK_LOG_WARN);
    /* The bench holds the embedded cluster for its whole run; the app uses the same one. With
     * BROOK_TEST_KAFKA (or BROOK_TEST_BOOTSTRAP) set, all three run on that real cluster, and
     * the figures are printed with a "kafka_" prefix. */
    brook_test_cluster_t *cluster = brook_test_cluster_new(1);
    if (!cluster) {
        fprintf(stderr, "pipeline_bench: no cluster\n");
        return 1;
    }
    bool real = !brook_test_is_embedded(cluster);
    const char *pfx = real ? "kafka_" : "";
    /* A real broker writes every record to disk and replicates it: fewer, smaller rounds. */
    int rounds = real ? 4 : ROUNDS;
    long round_records = real ? 400000 : ROUND_RECORDS;
    /* The broker's JIT warms up over the first hundreds of thousands of records. */
    long warmup = real ? 300000 : WARMUP_RECORDS;

    /* One program, n records: peak RSS (rss), or nothing else (count: for bench/instructions,
     * which runs it under callgrind for two n and takes the difference, setup cancelling out).
     * Counted, the raw program serves its delivery reports only in raw_send (every 64
     * records) and in the flush at its end, so that its send path is those two, as Brook's is
     * its send plus its producer thread, and neither counts the idle polling of a waiting main
     * thread. */
    bool count = !strcmp(mode, "count");
    if (count || !strcmp(mode, "rss")) {
        const char *which = argc > 2 ? argv[2] : "brook";
        long n = argc > 3 ? atol(argv[3]) : 1000000;
        bool brook = !strcmp(which, "brook");
        variant_t *v = brook ? &v_brook : &v_raw;
        if (brook ? brook_setup() : raw_setup(v, cluster, "bench.raw"))
            return 1;
        if (count)
            v->service = NULL;
        phase(v, 1000, 0); /* joined and flowing */
        long setup = rss_now_kib();
        phase(v, n, 0);
        if (!count) {
            printf("bench: rss_%s_after_setup %.1f MiB\n", v->name, (double)setup / 1024);
            printf("bench: rss_%s_peak_%ldk_records %.1f MiB\n", v->name, n / 1000,
                   (double)rss_peak_kib() / 1024);
        }
        brook ? brook_teardown() : raw_teardown(v);
        brook_test_cluster_destroy(cluster);
        return 0;
    }
    if (strcmp(mode, "run")) {
        fprintf(stderr, "usage: pipeline_bench [run | rss brook|raw N | count brook|raw N]\n");
        return 2;
    }

    variant_t *vs[3] = {&v_brook, &v_raw, &v_opaque};
    if (brook_setup() || raw_setup(&v_raw, cluster, "bench.raw") ||
        raw_setup(&v_opaque, cluster, "bench.opaque"))
        return 1;
    /* Groups join (the embedded cluster waits 3 s for a first join), connections warm up. */
    for (int k = 0; k < 3; k++)
        phase(vs[k], warmup, 0);

    /* Throughput: rounds interleaved across variants; the median round is the figure, the best
     * is printed too (other processes on the machine only ever make a round slower). */
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 3; k++) {
            double rps = phase(vs[k], round_records, 0);
            vs[k]->rps[vs[k]->rounds++] = rps;
            if (rps > vs[k]->best_rps)
                vs[k]->best_rps = rps;
            if (!r || vs[k]->last_cpu_ns < vs[k]->best_cpu_ns)
                vs[k]->best_cpu_ns = vs[k]->last_cpu_ns;
        }
    printf("bench: %spipeline_record_bytes %zu bytes\n", pfx, v_raw.blob_len);
    for (int k = 0; k < 3; k++) {
        vs[k]->median_rps = median(vs[k]->rps, vs[k]->rounds);
        printf("bench: %spipeline_%s %.0f records/s\n", pfx, vs[k]->name, vs[k]->median_rps);
        printf("bench: %spipeline_%s_best %.0f records/s\n", pfx, vs[k]->name, vs[k]->best_rps);
        printf("bench: %spipeline_%s_rounds", pfx, vs[k]->name);
        for (int r = 0; r < vs[k]->rounds; r++)
            printf(" %.0f", vs[k]->rps[r]);
        printf(" records/s\n");
        printf("bench: %spipeline_%s_cpu %.2f us/record\n", pfx, vs[k]->name,
               vs[k]->best_cpu_ns / 1e3);
    }
    printf("ratio: %spipeline_brook_vs_raw %.3f\n", pfx, v_brook.median_rps / v_raw.median_rps);
    printf("ratio: %spipeline_brook_vs_opaque %.3f\n", pfx,
           v_brook.median_rps / v_opaque.median_rps);
    printf("ratio: %spipeline_raw_vs_opaque %.3f\n", pfx, v_raw.median_rps / v_opaque.median_rps);
    printf("ratio: %spipeline_best_brook_vs_raw %.3f\n", pfx, v_brook.best_rps / v_raw.best_rps);
    /* CPU per record of the whole process (cluster included): the cost side of the same. */
    printf("ratio: %spipeline_cpu_brook_vs_raw %.3f\n", pfx,
           v_brook.best_cpu_ns / v_raw.best_cpu_ns);
    fflush(stdout);

    /* Latency at a fixed rate, well below capacity. */
    for (int k = 0; k < 3 && !real; k++)
        latency(vs[k], 5000, 3.0);
    fflush(stdout);

    /* Allocations per record (the same code paths on either cluster). */
    for (int k = 0; k < 3 && !real; k++)
        alloc_phase(vs[k], 50000);
    /* What Brook adds to the hand-written program in each path. */
    if (!real)
        printf("bench: allocs_send_brook_over_raw %.3f allocs/record\n",
               v_brook.send_allocs - v_raw.send_allocs);
    if (!real)
        printf("bench: allocs_handle_brook_over_raw %.3f allocs/record\n",
               v_brook.handle_allocs - v_raw.handle_allocs);

    brook_teardown();
    raw_teardown(&v_raw);
    raw_teardown(&v_opaque);
    brook_test_cluster_destroy(cluster);
    return 0;
}
