/* Python's confluent_kafka (a separate process, as a Python service would run) produces keyed
 * records with headers; a Brook listener receives them with key, value, partition and every
 * header intact. The script is py_produce_headers.py next to this file. */
#include <pthread.h>

#include "interop.h"

#define PARTITIONS 4
#define N 200

static brook_test_cluster_t *cluster;

/* What one handler call saw, copied on the poll thread and checked on the test's thread. */
typedef struct {
    int seen;
    bool key_ok;
    int32_t partition;
    char problem[256]; /* first header mismatch, "" when all matched */
} py_rec_t;

typedef struct {
    pthread_mutex_t lock;
    int calls;
    int unknown;
    py_rec_t recs[N];
} py_tracker_t;

static py_tracker_t tr;

static int calls(void) {
    pthread_mutex_lock(&tr.lock);
    int n = tr.calls;
    pthread_mutex_unlock(&tr.lock);
    return n;
}

/* One expected header, as py_produce_headers.py's headers_for(i) sends it, in order. */
typedef struct {
    const char *name;
    const void *value; /* NULL: a null header value */
    size_t len;
} want_header_t;

/* Fills `w` (7 entries) for record i; text lives in the caller's buffers. */
static size_t want_headers(int i, want_header_t *w, char *trace, size_t trace_size, uint8_t bin[5],
                           char *naive, size_t naive_size) {
    snprintf(trace, trace_size, "trace-%d", i);
    bin[0] = 0;
    bin[1] = 1;
    bin[2] = 0xff;
    bin[3] = 0x80;
    bin[4] = (uint8_t)(i % 256);
    snprintf(naive, naive_size, "v\xc3\xa4rde-%d", i);
    w[0] = (want_header_t){"trace-id", trace, strlen(trace)};
    w[1] = (want_header_t){"bin", bin, 5};
    w[2] = (want_header_t){"empty", "", 0};
    w[3] = (want_header_t){"null", NULL, 0};
    w[4] = (want_header_t){"dup", "first", 5};
    w[5] = (want_header_t){"dup", "second", 6};
    w[6] = (want_header_t){"na\xc3\xafve", naive, strlen(naive)};
    return 7;
}

static bool same_value(const void *a, size_t alen, const void *b, size_t blen) {
    if (!a || !b)
        return a == b;
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Compares the record's headers with what the script sent, through both the record's header
 * list (all of them, in order) and brook_ctx_header (the last of a name). */
static void check_headers(brook_ctx_t *ctx, int i, char *problem, size_t size) {
    want_header_t w[8];
    char trace[32], naive[32];
    uint8_t bin[5];
    size_t nw = want_headers(i, w, trace, sizeof(trace), bin, naive, sizeof(naive));
    const brook_record_t *r = brook_ctx_record(ctx);
    if (r->header_count != nw) {
        snprintf(problem, size, "%zu headers, sent %zu", r->header_count, nw);
        return;
    }
    for (size_t h = 0; h < nw; h++) {
        const brook_header_t *got = &r->headers[h];
        if (!got->name || strcmp(got->name, w[h].name) != 0 ||
            !same_value(got->value, got->len, w[h].value, w[h].len)) {
            snprintf(problem, size, "header %zu: got '%s' (%zu bytes%s), sent '%s' (%zu bytes%s)",
                     h, got->name ? got->name : "(null)", got->len, got->value ? "" : ", null",
                     w[h].name, w[h].len, w[h].value ? "" : ", null");
            return;
        }
    }
    for (size_t h = 0; h < nw; h++) {
        if (h == 4)
            continue; /* the first "dup": brook_ctx_header returns the last */
        const void *v = (const void *)"unset";
        size_t len = 12345;
        if (brook_ctx_header(ctx, w[h].name, &v, &len) != 1) {
            snprintf(problem, size, "brook_ctx_header(%s) found nothing", w[h].name);
            return;
        }
        if (!same_value(v, len, w[h].value, w[h].len)) {
            snprintf(problem, size, "brook_ctx_header(%s): %zu bytes%s, sent %zu%s", w[h].name, len,
                     v ? "" : " (null)", w[h].len, w[h].value ? "" : " (null)");
            return;
        }
    }
    const void *v;
    size_t len;
    if (brook_ctx_header(ctx, "absent", &v, &len) != 0)
        snprintf(problem, size, "brook_ctx_header found a header never sent");
}

/* Runs on the listener's poll thread. */
static brook_result_t on_py(brook_ctx_t *ctx, const void *key, const void *value, void *opaque) {
    py_tracker_t *t = opaque;
    int i = -1;
    if (!value || sscanf(value, "py-value-%d", &i) != 1 || i < 0 || i >= N) {
        pthread_mutex_lock(&t->lock);
        t->calls++;
        t->unknown++;
        pthread_mutex_unlock(&t->lock);
        return BROOK_OK;
    }
    char want_key[32], problem[256] = "";
    snprintf(want_key, sizeof(want_key), "py-key-%d", i);
    check_headers(ctx, i, problem, sizeof(problem));
    pthread_mutex_lock(&t->lock);
    py_rec_t *r = &t->recs[i];
    t->calls++;
    r->seen++;
    r->key_ok = key && strcmp(key, want_key) == 0;
    r->partition = brook_ctx_record(ctx)->partition;
    if (!r->problem[0])
        memcpy(r->problem, problem, sizeof(r->problem));
    pthread_mutex_unlock(&t->lock);
    return BROOK_OK;
}

static void test_python_headers_to_listener(void **state) {
    ix_require_python_kafka();
    const char *topic = "ix.python.in";
    assert_int_equal(brook_test_create_topic(cluster, topic, PARTITIONS), 0);

    memset(&tr, 0, sizeof(tr));
    pthread_mutex_init(&tr.lock, NULL);
    char decl[1024];
    snprintf(decl, sizeof(decl),
             "service = { name = \"ix-python\"; commit_interval_ms = 200; };\n"
             "listeners = ( { id = \"py\"; topics = [ \"%s\" ]; key = \"string\";\n"
             "  value = \"string\"; handler = \"on_py\"; } );\n",
             topic);
    brook_app_t *app = ix_app(decl);
    assert_int_equal(brook_app_set_handler(app, "py", on_py, &tr), 0);
    ix_start(app);

    char count[16];
    snprintf(count, sizeof(count), "%d", N);
    char *argv[] = {IX_PYTHON,
                    BROOK_INTEROP_DIR "/py_produce_headers.py",
                    (char *)brook_test_bootstrap(cluster),
                    (char *)topic,
                    count,
                    NULL};
    ix_run_t run;
    assert_int_equal(ix_run(argv, NULL, 0, 45000, &run), 0);
    if (run.timed_out || run.exit_code != 0) {
        char err[2048];
        snprintf(err, sizeof(err), "%s", run.err);
        int code = run.exit_code;
        bool to = run.timed_out;
        ix_run_free(&run);
        brook_app_destroy(app);
        fail_msg("py_produce_headers.py failed (exit %d%s):\n%s", code, to ? ", timed out" : "",
                 err);
    }
    /* The partitions the Python producer reports, "key|partition" per line. */
    int32_t py_partition[N];
    for (int i = 0; i < N; i++)
        py_partition[i] = -1;
    char **lines;
    size_t nl = ix_lines(run.out, &lines);
    for (size_t l = 0; l < nl; l++) {
        int i, p;
        if (sscanf(lines[l], "py-key-%d|%d", &i, &p) == 2 && i >= 0 && i < N)
            py_partition[i] = p;
    }
    free(lines);
    ix_run_free(&run);

    bool all = BROOK_TEST_WAIT_UNTIL(calls() >= N, 30000);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);
    assert_true(all);

    for (int i = 0; i < N; i++) {
        py_rec_t *r = &tr.recs[i];
        char key[32];
        snprintf(key, sizeof(key), "py-key-%d", i);
        if (r->seen != 1)
            fail_msg("py-value-%d handled %d times", i, r->seen);
        if (!r->key_ok)
            fail_msg("py-value-%d arrived without its key %s", i, key);
        if (r->problem[0])
            fail_msg("py-value-%d: %s", i, r->problem);
        int32_t want = brook_test_murmur2_partition(key, strlen(key), PARTITIONS);
        if (py_partition[i] != want || r->partition != want)
            fail_msg("%s: Python reported partition %d, Brook received it on %d, murmur2 says %d",
                     key, (int)py_partition[i], (int)r->partition, (int)want);
    }
    assert_int_equal(tr.calls, N);
    assert_int_equal(tr.unknown, 0);
    pthread_mutex_destroy(&tr.lock);
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
        cmocka_unit_test(test_python_headers_to_listener),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
