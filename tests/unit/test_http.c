/* The operations endpoint without a cluster: service.http in declarations (defaults, errors,
 * the override file, BROOK_HTTP_PORT / BROOK_HTTP_BIND), the latency histogram's buckets, and
 * what /metrics and /health render for an app that has not started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/decl.h"
#include "core/core.h"

static const char with_http[] =
    "service = { name = \"svc\"; http = { port = 9464; bind = \"0.0.0.0\"; }; };\n";
static const char without_http[] = "service = { name = \"svc\"; };\n";

static brook_decl_t *parse(const char *text, brook_error_t *err) {
    brook_decl_t *d = NULL;
    brook_decl_parse_string(text, "svc.brook", &d, err);
    return d;
}

static void test_declaration(void **state) {
    brook_error_t err = {0};
    brook_decl_t *d = parse(without_http, &err);
    assert_non_null(d);
    assert_int_equal(d->http_port, -1); /* no endpoint */
    assert_null(d->http_bind);
    brook_decl_destroy(d);

    d = parse(with_http, &err);
    assert_non_null(d);
    assert_int_equal(d->http_port, 9464);
    assert_string_equal(d->http_bind, "0.0.0.0");
    brook_decl_destroy(d);

    d = parse("service = { name = \"svc\"; http = { }; };\n", &err);
    assert_non_null(d);
    assert_int_equal(d->http_port, 0); /* declared without a port: a free one */
    brook_decl_destroy(d);

    static const struct {
        const char *text, *message;
    } bad[] = {
        {"service = { name = \"svc\"; http = { port = 65536; }; };",
         "svc.brook:1: service.http.port: must be between 0 and 65535, got 65536"},
        {"service = { name = \"svc\"; http = { prot = 1; }; };",
         "svc.brook:1: service.http.prot: unknown setting"},
        {"service = { name = \"svc\"; http = 9464; };",
         "svc.brook:1: service.http: expected a group, got an integer"},
        {"service = { name = \"svc\"; http = { bind = \"\"; }; };",
         "svc.brook:1: service.http.bind: must not be empty"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(parse(bad[i].text, &err));
        assert_int_equal(err.code, BROOK_ERR_DECL);
        assert_string_equal(err.message, bad[i].message);
    }
}

/* The endpoint is a tunable: an override file's (or its absence) wins; then the environment. */
static void test_override_and_environment(void **state) {
    brook_error_t err = {0};
    brook_decl_t *base = parse(without_http, &err), *over = parse(with_http, &err);
    assert_int_equal(brook_decl_merge(base, over, &err), 0);
    assert_int_equal(base->http_port, 9464);
    assert_string_equal(base->http_bind, "0.0.0.0");
    brook_decl_destroy(over);
    over = parse(without_http, &err);
    assert_int_equal(brook_decl_merge(base, over, &err), 0);
    assert_int_equal(base->http_port, -1);
    assert_null(base->http_bind);
    brook_decl_destroy(over);

    setenv("BROOK_HTTP_PORT", "0", 1);
    setenv("BROOK_HTTP_BIND", "::1", 1);
    assert_int_equal(brook_decl_apply_env(base, &err), 0);
    assert_int_equal(base->http_port, 0);
    assert_string_equal(base->http_bind, "::1");
    setenv("BROOK_HTTP_PORT", "99999", 1);
    assert_int_equal(brook_decl_apply_env(base, &err), BROOK_ERR_DECL);
    assert_string_equal(err.message,
                        "BROOK_HTTP_PORT: \"99999\" is not a port number (0 to 65535)");
    unsetenv("BROOK_HTTP_PORT");
    unsetenv("BROOK_HTTP_BIND");
    brook_decl_destroy(base);
}

static void test_histogram(void **state) {
    brook__histogram_t h = {0};
    brook__histogram_observe(&h, 0);             /* le 0.0005 */
    brook__histogram_observe(&h, 500000);        /* le 0.0005: the bounds are inclusive */
    brook__histogram_observe(&h, 500001);        /* le 0.001 */
    brook__histogram_observe(&h, 2000000000);    /* le 2.5 */
    brook__histogram_observe(&h, 60000000000LL); /* above 10: +Inf */
    brook__histogram_observe(&h, -5);            /* a clock step back counts as 0 */
    brook__histogram_snap_t s = {0};
    brook__histogram_read(&h, &s);
    brook__histogram_read(&h, &s); /* reads add up */
    assert_int_equal(s.counts[0], 6);
    assert_int_equal(s.counts[1], 2);
    assert_int_equal(s.counts[11], 2);
    assert_int_equal(s.counts[BROOK__HISTOGRAM_BUCKETS], 2);
    assert_int_equal(s.sum_ns, 2 * (500000 + 500001 + 2000000000 + 60000000000ULL));
}

/* Before start: the families are there (every listener and template listed, no lag or broker
 * samples), and both probes are DOWN, saying why. */
static void test_render_not_started(void **state) {
    static const char decl[] =
        "service = { name = \"a\\\"b\"; };\n"
        "templates = ( { name = \"t\"; topic = \"out\"; } );\n"
        "listeners = ( { id = \"l\"; topics = [ \"in\" ]; handler = \"h\"; exactly_once = true; "
        "} );\n";
    brook_error_t err = {0};
    brook_app_t *app = brook_app_new(decl, "a.brook", NULL, &err);
    assert_non_null(app);
    assert_int_equal(brook_app_http_port(app), 0);
    brook_buf_t b;
    brook_buf_init(&b);
    assert_int_equal(brook_app_metrics(app, &b), 0);
    assert_int_equal(brook_buf_append(&b, "", 1), 0);
    const char *text = (const char *)b.data;
    assert_non_null(strstr(text, "# TYPE brook_listener_records_handled_total counter\n"
                                 "brook_listener_records_handled_total{service=\"a\\\"b\","
                                 "listener=\"l\"} 0\n"));
    assert_non_null(strstr(text, "brook_listener_transactions_total{service=\"a\\\"b\","
                                 "listener=\"l\"} 0\n"));
    assert_non_null(strstr(text, "# TYPE brook_listener_handler_seconds histogram\n"
                                 "brook_listener_handler_seconds_bucket{service=\"a\\\"b\","
                                 "listener=\"l\",le=\"0.0005\"} 0\n"));
    assert_non_null(strstr(text, "le=\"+Inf\"} 0\nbrook_listener_handler_seconds_sum{"));
    assert_non_null(strstr(text, "brook_template_records_sent_total{service=\"a\\\"b\","
                                 "template=\"t\",topic=\"out\"} 0\n"));
    assert_non_null(strstr(text, "brook_app_ready{service=\"a\\\"b\"} 0\n"));
    assert_null(strstr(text, "brook_listener_lag_records{"));
    assert_null(strstr(text, "brook_producer_queue_depth{")); /* no producer yet */
    brook_buf_reset(&b);
    assert_int_equal(brook_app_health(app, BROOK_HEALTH_READINESS, &b), 0);
    assert_int_equal(brook_buf_append(&b, "", 1), 0);
    assert_string_equal(
        (const char *)b.data,
        "{\"status\":\"DOWN\",\"service\":\"a\\\"b\",\"components\":{"
        "\"app\":{\"status\":\"DOWN\",\"details\":{\"reason\":\"not started\",\"state\":\"not "
        "started\"}},"
        "\"listeners\":{\"status\":\"DOWN\",\"components\":{\"l\":{\"status\":\"DOWN\","
        "\"details\":{\"reason\":\"not running\",\"members\":0,\"assigned\":0}}}},"
        "\"producer\":{\"status\":\"DOWN\",\"details\":{\"reason\":\"not running\"}}}}");
    assert_int_equal(brook_app_health(app, BROOK_HEALTH_LIVENESS, NULL), 0);
    brook_buf_free(&b);
    brook_app_destroy(app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declaration),
        cmocka_unit_test(test_override_and_environment),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_render_not_started),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
