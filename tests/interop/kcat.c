/* kcat (librdkafka's command-line client, a separate process) against Brook on the embedded
 * cluster: records kcat produces reach a Brook listener, records a Brook template sends are
 * read by kcat, and keyed records land where a Java producer would put them. */
#include <pthread.h>

#include "interop.h"

#define PARTITIONS 4

static brook_test_cluster_t *cluster;

/* Kafka's own vectors for Utils.murmur2: org.apache.kafka.common.utils.UtilsTest.testMurmur2. */
static const struct {
    const char *key;
    int32_t hash;
} java_vectors[] = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107},
};
#define N_JAVA (sizeof(java_vectors) / sizeof(java_vectors[0]))

/* The partition a Java producer's default partitioner picks for a key whose murmur2 is h:
 * Utils.toPositive(h) % numPartitions. */
static int32_t java_partition(int32_t h, int32_t partitions) {
    return (int32_t)(((uint32_t)h & 0x7fffffffu) % (uint32_t)partitions);
}

/* Key i of the generated set: mostly ASCII, every fifth one with multi-byte UTF-8, so the
 * hash is checked on the bytes a Java StringSerializer would produce. */
static void make_key(int i, char *buf, size_t size) {
    if (i % 5 == 4)
        snprintf(buf, size, "cl\xc3\xa9-\xe2\x82\xac-%d", i);
    else
        snprintf(buf, size, "key-%d", i);
}

/* ---- 1. kcat produces, a Brook listener receives ------------------------------------------ */

#define N_IN 300

typedef struct {
    pthread_mutex_t lock;
    int calls;
    int unknown;
    int seen[N_IN];
    int32_t partition[N_IN];
    bool key_ok[N_IN];
} in_tracker_t;

static in_tracker_t in_tr;

static int in_calls(void) {
    pthread_mutex_lock(&in_tr.lock);
    int n = in_tr.calls;
    pthread_mutex_unlock(&in_tr.lock);
    return n;
}

/* Runs on the listener's poll thread: records what arrived, asserts nothing (cmocka's
 * assertions belong to the test's thread). */
static brook_result_t on_in(brook_ctx_t *ctx, const void *key, const void *value, void *opaque) {
    in_tracker_t *t = opaque;
    const brook_record_t *r = brook_ctx_record(ctx);
    int i = -1;
    if (value && sscanf(value, "value-%d", &i) != 1)
        i = -1;
    pthread_mutex_lock(&t->lock);
    t->calls++;
    if (i >= 0 && i < N_IN) {
        char want[64];
        make_key(i, want, sizeof(want));
        t->seen[i]++;
        t->partition[i] = r->partition;
        t->key_ok[i] = key && strcmp(key, want) == 0 && r->key_len == strlen(want);
    } else {
        t->unknown++;
    }
    pthread_mutex_unlock(&t->lock);
    return BROOK_OK;
}

static void test_kcat_to_listener(void **state) {
    ix_require_kcat();
    const char *topic = "ix.kcat.in";
    assert_int_equal(brook_test_create_topic(cluster, topic, PARTITIONS), 0);

    memset(&in_tr, 0, sizeof(in_tr));
    pthread_mutex_init(&in_tr.lock, NULL);
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"ix-kcat-in\"; commit_interval_ms = 200; };\n"
             "listeners = ( { id = \"in\"; topics = [ \"%s\" ]; key = \"string\";\n"
             "  value = \"string\"; handler = \"on_in\"; concurrency = 2; } );\n",
             topic);
    brook_app_t *app = ix_app(decl);
    assert_int_equal(brook_app_set_handler(app, "in", on_in, &in_tr), 0);
    ix_start(app);

    /* "key:value" lines; kcat splits each at the first ':'. */
    brook_buf_t input;
    brook_buf_init(&input);
    for (int i = 0; i < N_IN; i++) {
        char line[128], key[64];
        make_key(i, key, sizeof(key));
        int n = snprintf(line, sizeof(line), "%s:value-%d\n", key, i);
        assert_int_equal(brook_buf_append(&input, line, (size_t)n), 0);
    }
    char *argv[] = {"kcat", "-P",          "-q",  "-b", (char *)brook_test_bootstrap(cluster),
                    "-t",   (char *)topic, "-K:", "-X", "partitioner=murmur2_random",
                    NULL};
    ix_run_t run;
    assert_int_equal(ix_run(argv, (const char *)input.data, input.len, 30000, &run), 0);
    brook_buf_free(&input);
    if (run.timed_out || run.exit_code != 0) {
        char err[2048];
        snprintf(err, sizeof(err), "%s", run.err);
        int code = run.exit_code;
        bool to = run.timed_out;
        ix_run_free(&run);
        brook_app_destroy(app);
        fail_msg("kcat -P failed (exit %d%s):\n%s", code, to ? ", timed out" : "", err);
    }
    ix_run_free(&run);
    /* kcat flushed before exiting, so all N_IN are in the log. */
    assert_int_equal(brook_test_end_offsets(cluster, topic), N_IN);

    bool all = BROOK_TEST_WAIT_UNTIL(in_calls() >= N_IN, 30000);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_true(all);

    int used[PARTITIONS] = {0};
    for (int i = 0; i < N_IN; i++) {
        char key[64];
        make_key(i, key, sizeof(key));
        if (in_tr.seen[i] != 1)
            fail_msg("value-%d (key %s) handled %d times", i, key, in_tr.seen[i]);
        if (!in_tr.key_ok[i])
            fail_msg("value-%d arrived without its key %s", i, key);
        int32_t want = brook_test_murmur2_partition(key, strlen(key), PARTITIONS);
        if (in_tr.partition[i] != want)
            fail_msg("key %s landed on partition %d, murmur2 says %d", key, (int)in_tr.partition[i],
                     (int)want);
        used[want]++;
    }
    assert_int_equal(in_tr.calls, N_IN);
    assert_int_equal(in_tr.unknown, 0);
    /* A sanity check that the keys spread, so the partition checks meant something. */
    for (int p = 0; p < PARTITIONS; p++)
        assert_true(used[p] > 0);
    pthread_mutex_destroy(&in_tr.lock);
}

/* ---- 2. a Brook template sends, kcat reads ------------------------------------------------ */

#define N_OUT 200

typedef struct {
    char key[128]; /* "" for the null key */
    bool null_key;
    char value[64];
    int32_t java_hash; /* murmur2 from Kafka's vectors, or 0 when not a vector */
    bool is_vector;
    int found;
    int32_t partition;
} out_rec_t;

static void test_template_to_kcat(void **state) {
    ix_require_kcat();
    /* The fixture's murmur2 is Kafka's: check it against the Java vectors before trusting it
     * for the partitions below. */
    for (size_t v = 0; v < N_JAVA; v++)
        assert_int_equal(brook_test_murmur2(java_vectors[v].key, strlen(java_vectors[v].key)),
                         java_vectors[v].hash);

    const char *topic = "ix.kcat.out";
    assert_int_equal(brook_test_create_topic(cluster, topic, PARTITIONS), 0);
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"ix-kcat-out\"; };\n"
             "templates = ( { name = \"out\"; topic = \"%s\"; key = \"string\";\n"
             "  value = \"string\"; } );\n",
             topic);
    brook_app_t *app = ix_app(decl);
    ix_start(app);
    brook_template_t *tpl = brook_app_template(app, "out");
    assert_non_null(tpl);

    /* The Java vectors' keys, generated keys, and one null key. */
    size_t n = N_JAVA + N_OUT + 1;
    out_rec_t *recs = calloc(n, sizeof(*recs));
    assert_non_null(recs);
    for (size_t i = 0; i < n; i++) {
        out_rec_t *r = &recs[i];
        snprintf(r->value, sizeof(r->value), "payload-%zu", i);
        if (i < N_JAVA) {
            snprintf(r->key, sizeof(r->key), "%s", java_vectors[i].key);
            r->java_hash = java_vectors[i].hash;
            r->is_vector = true;
        } else if (i < N_JAVA + N_OUT) {
            make_key((int)(i - N_JAVA), r->key, sizeof(r->key));
        } else {
            r->null_key = true;
        }
        int rc = brook_template_send(tpl, r->null_key ? NULL : r->key, r->value, NULL);
        if (rc) {
            free(recs);
            brook_app_destroy(app);
            fail_msg("send %zu: %s", i, brook_err2str(rc));
        }
    }
    assert_int_equal(brook_template_flush(tpl, 10000), 0);
    assert_int_equal(brook_test_end_offsets(cluster, topic), (int64_t)n);

    /* -Z prints a null key as NULL, so it is told apart from an empty one. */
    char *argv[] = {
        "kcat", "-C",          "-q",         "-b",        (char *)brook_test_bootstrap(cluster),
        "-t",   (char *)topic, "-o",         "beginning", "-e",
        "-Z",   "-f",          "%k|%s|%p\n", NULL};
    ix_run_t run;
    assert_int_equal(ix_run(argv, NULL, 0, 30000, &run), 0);
    if (run.timed_out || run.exit_code != 0) {
        char err[2048];
        snprintf(err, sizeof(err), "%s", run.err);
        int code = run.exit_code;
        bool to = run.timed_out;
        ix_run_free(&run);
        free(recs);
        brook_app_destroy(app);
        fail_msg("kcat -C failed (exit %d%s):\n%s", code, to ? ", timed out" : "", err);
    }
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);

    char **lines;
    size_t nl = ix_lines(run.out, &lines);
    char problem[512] = "";
    for (size_t l = 0; l < nl && !problem[0]; l++) {
        /* key|value|partition; the key may not contain '|', so split at the first and last. */
        char *bar1 = strchr(lines[l], '|'), *bar2 = strrchr(lines[l], '|');
        if (!bar1 || bar1 == bar2) {
            snprintf(problem, sizeof(problem), "unexpected kcat line: %s", lines[l]);
            break;
        }
        *bar1 = *bar2 = '\0';
        const char *key = lines[l], *value = bar1 + 1;
        int32_t partition = (int32_t)atoi(bar2 + 1);
        size_t i;
        for (i = 0; i < n && strcmp(recs[i].value, value) != 0; i++)
            ;
        if (i == n) {
            snprintf(problem, sizeof(problem), "kcat read a value never sent: %s", value);
            break;
        }
        out_rec_t *r = &recs[i];
        r->found++;
        r->partition = partition;
        const char *want = r->null_key ? "NULL" : r->key;
        if (strcmp(key, want) != 0)
            snprintf(problem, sizeof(problem), "%s: kcat read key '%s', sent '%s'", value, key,
                     want);
    }
    free(lines);
    ix_run_free(&run);
    for (size_t i = 0; i < n && !problem[0]; i++) {
        out_rec_t *r = &recs[i];
        if (r->found != 1) {
            snprintf(problem, sizeof(problem), "%s read %d times by kcat", r->value, r->found);
        } else if (r->is_vector && r->partition != java_partition(r->java_hash, PARTITIONS)) {
            /* What a Java producer computes from Kafka's own published hash. */
            snprintf(problem, sizeof(problem), "key %s on partition %d, a Java producer picks %d",
                     r->key, (int)r->partition, (int)java_partition(r->java_hash, PARTITIONS));
        } else if (!r->null_key && r->partition != brook_test_murmur2_partition(
                                                       r->key, strlen(r->key), PARTITIONS)) {
            snprintf(problem, sizeof(problem), "key %s on partition %d, murmur2 says %d", r->key,
                     (int)r->partition,
                     (int)brook_test_murmur2_partition(r->key, strlen(r->key), PARTITIONS));
        } else if (r->partition < 0 || r->partition >= PARTITIONS) {
            snprintf(problem, sizeof(problem), "%s on partition %d", r->value, (int)r->partition);
        }
    }
    free(recs);
    if (problem[0])
        fail_msg("%s", problem);
}

static int setup(void **state) {
    signal(SIGPIPE, SIG_IGN); /* a child that exits early must not kill the test */
    cluster = brook_test_cluster_new(1);
    return cluster ? 0 : -1;
}

static int teardown(void **state) {
    brook_test_cluster_destroy(cluster);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kcat_to_listener),
        cmocka_unit_test(test_template_to_kcat),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
