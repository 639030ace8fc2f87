/*
 * The operations endpoint (docs/operations.md): /metrics read by Prometheus' own text parser
 * (Debian's python3-prometheus-client, through prom_scrape.py next to this file) and checked
 * against what the test did; /health ready only once the listener is assigned, DOWN again as
 * soon as a stop begins; BROOK_HTTP_PORT; a port in use fails the start.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "../interop/interop.h"
#include "itest.h"

/* ---- a plain HTTP GET ------------------------------------------------------------------------ */

typedef struct {
    int status; /* -1: no answer (connection refused, timed out) */
    char body[65536];
} http_t;

/* GET path on 127.0.0.1:port, HTTP/1.0 (the server closes when done); every wait bounded. */
static http_t *get(int port, const char *path) {
    static http_t r; /* the test's thread only */
    r.status = -1;
    r.body[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static char raw[sizeof(r.body) + 4096];
    size_t len = 0;
    if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        char req[256];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
        if (write(fd, req, (size_t)n) == n) {
            ssize_t got;
            while (len < sizeof(raw) - 1 && (got = read(fd, raw + len, sizeof(raw) - 1 - len)) > 0)
                len += (size_t)got;
        }
    }
    close(fd);
    raw[len] = '\0';
    char *body = strstr(raw, "\r\n\r\n");
    if (len > 12 && !strncmp(raw, "HTTP/1.", 7) && body) {
        r.status = atoi(raw + 9);
        snprintf(r.body, sizeof(r.body), "%s", body + 4);
    }
    return &r;
}

static int status_of(int port, const char *path) {
    return get(port, path)->status;
}

/* ---- the scrape through Prometheus' parser --------------------------------------------------- */

typedef struct {
    char *text; /* prom_scrape.py's output */
    char **lines;
    size_t n;
} scrape_t;

static void scrape(int port, scrape_t *s) {
    char script[1024], url[64];
    const char *slash = strrchr(__FILE__, '/');
    snprintf(script, sizeof(script), "%.*s/prom_scrape.py", slash ? (int)(slash - __FILE__) : 1,
             slash ? __FILE__ : ".");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    char *argv[] = {IX_PYTHON, script, url, NULL};
    ix_run_t r;
    assert_int_equal(ix_run(argv, NULL, 0, 60000, &r), 0);
    ix_assert_ran(&r, "prom_scrape.py");
    s->text = r.out;
    r.out = NULL;
    ix_run_free(&r);
    s->n = ix_lines(s->text, &s->lines);
    assert_true(s->n > 1);
    assert_non_null(strstr(s->lines[s->n - 1], "# families "));
}

static void scrape_free(scrape_t *s) {
    free(s->lines);
    free(s->text);
}

/* The value of the sample written exactly as `key` (name{sorted labels}); fails when absent. */
static double sample(const scrape_t *s, const char *key) {
    size_t k = strlen(key);
    for (size_t i = 0; i < s->n; i++)
        if (!strncmp(s->lines[i], key, k) && s->lines[i][k] == ' ')
            return strtod(s->lines[i] + k + 1, NULL);
    fail_msg("no sample %s in the scrape", key);
    return -1;
}

/* Samples whose line starts with `prefix`. */
static int samples_with(const scrape_t *s, const char *prefix) {
    int n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += !strncmp(s->lines[i], prefix, strlen(prefix));
    return n;
}

/* ---- the app --------------------------------------------------------------------------------- */

#define N_OK 10
#define N_FLAKY 3 /* fail once, then succeed */
#define N_BAD 2   /* fail both attempts: dead-lettered */
#define SVC "service=\"it-http\""

static const char decl[] =
    "service = { name = \"it-http\"; commit_interval_ms = 200; http = { port = 0; }; };\n"
    "topics = ( { name = \"it.http.in\"; partitions = 3; },\n"
    "           { name = \"it.http.out\"; partitions = 1; } );\n"
    "templates = ( { name = \"out\"; topic = \"it.http.out\"; value = \"string\"; } );\n"
    "listeners = ( { id = \"l\"; topics = [ \"it.http.in\" ]; value = \"string\";\n"
    "  handler = \"on_record\";\n"
    "  retry = { attempts = 2; mode = \"blocking\"; backoff = { delay_ms = 50; }; };\n"
    "  dlt = { enabled = true; }; } );\n";

static atomic_int calls;
static atomic_bool slow_entered, slow_release;

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    brook_app_t *app = op;
    const char *v = value;
    atomic_fetch_add(&calls, 1);
    if (!strncmp(v, "bad-", 4))
        return brook_ctx_fail(ctx, "it.Bad", "bad %s", v);
    if (!strncmp(v, "flaky-", 6) && brook_ctx_attempt(ctx) == 1)
        return BROOK_RETRY;
    if (!strncmp(v, "slow-", 5)) {
        /* Held in flight until the test has seen the health checks during the stop. */
        atomic_store(&slow_entered, true);
        BROOK_TEST_WAIT_UNTIL(atomic_load(&slow_release), 60000);
    }
    brook_template_send(brook_app_template(app, "out"), NULL, v, NULL);
    return BROOK_OK;
}

static void produce(const char *prefix, int n) {
    assert_int_equal(brook_test_produce_n(cluster, "it.http.in", prefix, 0, n), 0);
}

static bool processed(brook_app_t *app) {
    brook_listener_stats_t ls;
    brook_template_stats_t ts;
    brook_listener_stats(brook_app_listener(app, "l"), &ls);
    brook_template_stats(brook_app_template(app, "out"), &ts);
    return ls.handled == N_OK + N_FLAKY && ls.dead_lettered == N_BAD &&
           ts.delivered == N_OK + N_FLAKY;
}

/* Every partition of it.http.in has a lag sample and all are 0; commits have been made; the
 * producer's statistics (every 5 s) have come in. */
static bool settled(int port) {
    const char *body = get(port, "/metrics")->body;
    int parts = 0, zero = 0;
    for (const char *p = body; (p = strstr(p, "brook_listener_lag_records{")); p++) {
        const char *end = strchr(p, '\n');
        parts++;
        zero += end && end - p > 2 && !strncmp(end - 2, " 0", 2);
    }
    return parts == 3 && zero == 3 && strstr(body, "brook_producer_broker_up{") &&
           !strstr(body, "brook_listener_commits_total{" SVC ",listener=\"l\"} 0\n");
}

static void *stopper(void *app) {
    return (void *)(intptr_t)brook_app_stop(app);
}

static void test_metrics_and_health(void **state) {
    brook_app_t *app = it_app(decl);
    assert_int_equal(brook_app_set_handler(app, "l", on_record, app), 0);
    assert_int_equal(brook_app_http_port(app), 0); /* not started */
    it_start(app);
    int port = brook_app_http_port(app);
    assert_true(port > 0);

    /* Not ready before the group assigned the listener its partitions. */
    http_t *h = get(port, "/health/ready");
    if (!brook_listener_assigned(brook_app_listener(app, "l"))) {
        assert_int_equal(h->status, 503);
        assert_non_null(strstr(h->body, "\"status\":\"DOWN\""));
        assert_non_null(strstr(h->body, "without an assignment yet"));
    }
    assert_int_equal(status_of(port, "/health/live"), 200);
    assert_true(BROOK_TEST_WAIT_UNTIL(status_of(port, "/health/ready") == 200, 30000));
    assert_true(brook_listener_assigned(brook_app_listener(app, "l")));
    h = get(port, "/health");
    assert_int_equal(h->status, 200);
    assert_non_null(strstr(h->body, "{\"status\":\"UP\",\"service\":\"it-http\""));
    assert_int_equal(status_of(port, "/nothing"), 404);

    produce("ok", N_OK);
    produce("flaky", N_FLAKY);
    produce("bad", N_BAD);
    assert_true(BROOK_TEST_WAIT_UNTIL(processed(app), 30000));
    assert_true(BROOK_TEST_WAIT_UNTIL(settled(port), 30000));

    scrape_t s;
    scrape(port, &s);
    const char *l = "{listener=\"l\"," SVC "}";
    char key[256];
#define VALUE(name) (snprintf(key, sizeof(key), "%s%s", name, l), sample(&s, key))
    assert_true(VALUE("brook_listener_records_handled_total") == N_OK + N_FLAKY);
    assert_true(VALUE("brook_listener_records_failed_total") == N_FLAKY + 2 * N_BAD);
    assert_true(VALUE("brook_listener_records_retried_total") == N_FLAKY + N_BAD);
    assert_true(VALUE("brook_listener_records_dead_lettered_total") == N_BAD);
    assert_true(VALUE("brook_listener_rebalances_total") >= 1);
    assert_true(VALUE("brook_listener_commits_total") >= 1);
    assert_true(VALUE("brook_listener_commit_failures_total") == 0);
    assert_true(VALUE("brook_listener_handler_seconds_count") == atomic_load(&calls));
    assert_true(VALUE("brook_listener_handler_seconds_sum") > 0);
    assert_true(VALUE("brook_listener_commit_seconds_count") >= 1);
    assert_true(VALUE("brook_listener_members_assigned") == 1);
    /* Buckets are cumulative, up to le="+Inf" which counts every call. */
    double prev = 0;
    int buckets = 0;
    for (size_t i = 0; i < s.n; i++)
        if (!strncmp(s.lines[i], "brook_listener_handler_seconds_bucket{", 38)) {
            double v = strtod(strrchr(s.lines[i], ' ') + 1, NULL);
            assert_true(v >= prev);
            prev = v;
            buckets++;
        }
    assert_int_equal(buckets, 15);
    assert_true(prev == atomic_load(&calls));
    assert_true(sample(&s, "brook_listener_handler_seconds_bucket{le=\"+Inf\",listener=\"l\"," SVC
                           "}") == atomic_load(&calls));
    for (int p = 0; p < 3; p++) {
        snprintf(key, sizeof(key),
                 "brook_listener_lag_records{listener=\"l\",partition=\"%d\"," SVC
                 ",topic=\"it.http.in\"}",
                 p);
        assert_true(sample(&s, key) == 0);
    }
    /* Not an exactly-once listener: no transaction samples. */
    assert_int_equal(samples_with(&s, "brook_listener_transactions"), 0);
    const char *t = "{" SVC ",template=\"out\",topic=\"it.http.out\"}";
#define TVALUE(name) (snprintf(key, sizeof(key), "%s%s", name, t), sample(&s, key))
    assert_true(TVALUE("brook_template_records_sent_total") == N_OK + N_FLAKY);
    assert_true(TVALUE("brook_template_records_delivered_total") == N_OK + N_FLAKY);
    assert_true(TVALUE("brook_template_records_failed_total") == 0);
    assert_true(sample(&s, "brook_producer_queue_depth{" SVC "}") == 0);
    assert_true(sample(&s, "brook_producer_replacements_total{" SVC "}") == 0);
    assert_true(sample(&s, "brook_app_ready{" SVC "}") == 1);
    assert_true(samples_with(&s, "brook_producer_broker_up{broker=") >= 1);
    assert_true(samples_with(&s, "brook_producer_broker_rtt_avg_seconds{broker=") >= 1);
    scrape_free(&s);

    /* A stop begins while a record is in flight: not ready at once, alive until it is done. */
    produce("slow", 1);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&slow_entered), 30000));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper, app), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(status_of(port, "/health/ready") == 503, 30000));
    h = get(port, "/health/ready");
    assert_non_null(strstr(h->body, "\"state\":\"stopping\""));
    assert_int_equal(status_of(port, "/health/live"), 200);
    atomic_store(&slow_release, true);
    void *rc;
    pthread_join(th, &rc);
    assert_int_equal((int)(intptr_t)rc, 0);
    /* Stopped: down, and the last figures still served. */
    h = get(port, "/health");
    assert_int_equal(h->status, 503);
    assert_non_null(strstr(h->body, "\"state\":\"stopped\""));
    assert_int_equal(status_of(port, "/health/live"), 503);
    h = get(port, "/metrics");
    assert_int_equal(h->status, 200);
    assert_non_null(
        strstr(h->body, "brook_listener_records_handled_total{" SVC ",listener=\"l\"} 14\n"));
    assert_non_null(strstr(h->body, "brook_app_ready{" SVC "} 0\n"));
    brook_app_destroy(app);
    assert_int_equal(status_of(port, "/health"), -1); /* closed */
}

/* BROOK_HTTP_PORT turns the endpoint on; without it and without service.http there is none; a
 * port in use fails the start, naming it. */
static void test_env_and_port_in_use(void **state) {
    static const char plain[] = "service = { name = \"it-http-env\"; };\n"
                                "topics = ( { name = \"it.http.env\"; } );\n"
                                "templates = ( { name = \"t\"; topic = \"it.http.env\"; } );\n";
    brook_app_t *app = it_app(plain);
    it_start(app);
    assert_int_equal(brook_app_http_port(app), 0);
    brook_app_destroy(app);

    setenv("BROOK_HTTP_PORT", "0", 1);
    app = it_app(plain);
    unsetenv("BROOK_HTTP_PORT");
    it_start(app);
    int port = brook_app_http_port(app);
    assert_true(port > 0);
    /* No listener to wait for: ready once started. */
    assert_int_equal(status_of(port, "/health/ready"), 200);
    http_t *h = get(port, "/metrics");
    assert_int_equal(h->status, 200);
    assert_non_null(strstr(h->body, "# TYPE brook_producer_queue_depth gauge\n"));

    char busy[512];
    snprintf(busy, sizeof(busy),
             "service = { name = \"it-http-busy\"; http = { port = %d; bind = \"127.0.0.1\"; }; "
             "};\n",
             port);
    brook_app_t *second = it_app(busy);
    brook_error_t err = {0};
    assert_int_equal(brook_app_start(second, &err), BROOK_ERR_IO);
    assert_non_null(strstr(err.message, "cannot listen on 127.0.0.1 port"));
    brook_app_destroy(second);
    assert_int_equal(status_of(port, "/health/ready"), 200); /* the first one still serves */
    brook_app_destroy(app);

    setenv("BROOK_HTTP_PORT", "http", 1);
    assert_null(brook_app_new(plain, "it.brook", NULL, &err));
    unsetenv("BROOK_HTTP_PORT");
    assert_int_equal(err.code, BROOK_ERR_DECL);
    assert_non_null(strstr(err.message, "BROOK_HTTP_PORT"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_and_health),
        cmocka_unit_test(test_env_and_port_in_use),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
