/* Logging: levels filter, a sink receives every line, librdkafka's lines go through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "brook/brook.h"
#include "core/core.h"
#include "kafka/kafka.h"

typedef struct {
    int count;
    int rdkafka_lines;
    brook_log_level_t last_level;
    char last_component[32];
    char last_message[256];
} seen_t;

static void sink(brook_log_level_t level, const char *component, const char *message,
                 void *opaque) {
    seen_t *s = opaque;
    s->count++;
    s->last_level = level;
    snprintf(s->last_component, sizeof(s->last_component), "%s", component);
    snprintf(s->last_message, sizeof(s->last_message), "%s", message);
    if (!strcmp(component, "rdkafka"))
        s->rdkafka_lines++;
}

static void test_levels_and_sink(void **state) {
    seen_t seen = {0};
    brook_log_set_sink(sink, &seen);
    brook_log_set_level(BROOK_LOG_WARN);
    brook_log(BROOK_LOG_INFO, "t", "filtered %d", 1);
    brook_log(BROOK_LOG_DEBUG, "t", "filtered %d", 2);
    assert_int_equal(seen.count, 0);
    brook_log(BROOK_LOG_WARN, "app", "kept %d", 3);
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.last_level, BROOK_LOG_WARN);
    assert_string_equal(seen.last_component, "app");
    assert_string_equal(seen.last_message, "kept 3");
    brook_log(BROOK_LOG_ERROR, "app", "%s", "error too");
    assert_int_equal(seen.count, 2);
    assert_int_equal(brook_log_get_level(), BROOK_LOG_WARN);
    brook_log_set_sink(NULL, NULL);
}

/* A librdkafka client configured by Brook logs through Brook's sink: an invalid property
 * value makes librdkafka warn when the client is created. */
static void test_rdkafka_logs_go_through_the_sink(void **state) {
    seen_t seen = {0};
    brook_log_set_sink(sink, &seen);
    brook_log_set_level(BROOK_LOG_DEBUG);
    rd_kafka_conf_t *conf = brook__kafka_conf_new();
    /* No bootstrap servers: librdkafka says so at creation (CONFWARN). */
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    rd_kafka_destroy(rk);
    assert_true(seen.rdkafka_lines > 0);
    brook_log_set_sink(NULL, NULL);
    brook_log_set_level(BROOK_LOG_INFO);
}

/* BROOK_LOG_FORMAT=json (read at the default sink's first line): one JSON object per line,
 * with the service of the logging thread, and text escaped. */
static void test_json_lines(void **state) {
    setenv("BROOK_LOG_FORMAT", "json", 1);
    brook_log_set_level(BROOK_LOG_INFO);
    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
    const char *caller = brook__log_service("pay-svc");
    brook_log(BROOK_LOG_WARN, "listener", "said \"no\"\tthen\\\n%d", 7);
    brook__log_service(caller);
    brook_log(BROOK_LOG_ERROR, "app", "no service");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    unsetenv("BROOK_LOG_FORMAT");
    char lines[2][512] = {"", ""};
    rewind(f);
    for (int i = 0; i < 2; i++)
        assert_non_null(fgets(lines[i], sizeof(lines[i]), f));
    fclose(f);
    assert_true(!strncmp(lines[0], "{\"time\":\"20", 11));
    assert_non_null(strstr(lines[0], "Z\",\"level\":\"WARN\",\"component\":\"listener\","
                                     "\"service\":\"pay-svc\","
                                     "\"message\":\"said \\\"no\\\"\\u0009then\\\\\\n7\"}\n"));
    assert_non_null(strstr(lines[1], "\"level\":\"ERROR\",\"component\":\"app\",\"message\":"));
    assert_null(strstr(lines[1], "\"service\""));
}

static void test_err2str(void **state) {
    assert_string_equal(brook_err2str(0), "success");
    assert_string_equal(brook_err2str(BROOK_ERR_DECODE), "cannot decode");
    /* librdkafka's codes pass through. */
    assert_string_equal(brook_err2str(RD_KAFKA_RESP_ERR__TIMED_OUT),
                        rd_kafka_err2str(RD_KAFKA_RESP_ERR__TIMED_OUT));
    brook_error_t e;
    assert_int_equal(brook_error_set(&e, BROOK_ERR_IO, "x %d", 7), BROOK_ERR_IO);
    assert_int_equal(e.code, BROOK_ERR_IO);
    assert_string_equal(e.message, "x 7");
    assert_int_equal(brook_error_set(NULL, BROOK_ERR_IO, "ignored"), BROOK_ERR_IO);
}

static void test_buf(void **state) {
    brook_buf_t b;
    brook_buf_init(&b);
    assert_null(b.data);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(brook_buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 3000);
    assert_true(b.cap >= 3000);
    assert_memory_equal(b.data + 2997, "abc", 3);
    size_t cap = b.cap;
    brook_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_int_equal(brook_buf_append(&b, NULL, 0), 0);
    brook_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lines), /* first: the format is read at the first line */
        cmocka_unit_test(test_levels_and_sink),
        cmocka_unit_test(test_rdkafka_logs_go_through_the_sink),
        cmocka_unit_test(test_err2str),
        cmocka_unit_test(test_buf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
