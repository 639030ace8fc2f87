/*
 * The service under test in kafka.ordered_kill (ordered_kill.c): a Brook listener with ordered
 * retries (retry.preserve_key_order) on IN, whose handler appends every call to LOG (one line,
 * written with O_APPEND and fdatasync before the handler returns, so a SIGKILL loses no line of
 * a call that returned) and fails the records the plan below names. Runs until SIGTERM/SIGINT.
 *
 *   brook-ordered-service IN GROUP LOG failures|none   (cluster from BROOK_BOOTSTRAP)
 *
 * Values are "k<key>:<seq>:<send ms>". Log lines: "<key> <seq> <attempt> <result> <call ms>
 * <send ms>", result 0 OK, 1 RETRY, 2 FAIL.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "brook/brook.h"

static int log_fd = -1;
static bool failures;

static long long wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Kept in step by hand with ordered_kill.c: keys 1, 4 and 7 fail once every 20th record (seq
 * 5, 25, ...); k7:30 fails twice (so it moves to the second retry topic); k2:50 always fails
 * (dead-lettered after 3 attempts); k9:70 is not retryable (dead-lettered at once). */
static brook_result_t plan(brook_ctx_t *ctx, int key, int seq, int attempt) {
    if (!failures)
        return BROOK_OK;
    if (key == 2 && seq == 50)
        return brook_ctx_fail(ctx, "test.Always", "k%d:%d", key, seq);
    if (key == 9 && seq == 70)
        return brook_ctx_fail(ctx, "test.Invalid", "k%d:%d", key, seq);
    if (key == 7 && seq == 30 && attempt <= 2)
        return brook_ctx_fail(ctx, "test.Flaky", "k%d:%d attempt %d", key, seq, attempt);
    if ((key == 1 || key == 4 || key == 7) && seq % 20 == 5 && attempt == 1)
        return brook_ctx_fail(ctx, "test.Flaky", "k%d:%d attempt %d", key, seq, attempt);
    return BROOK_OK;
}

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    (void)key;
    (void)op;
    int k = -1, s = -1;
    long long sent = 0;
    if (!value || sscanf(value, "k%d:%d:%lld", &k, &s, &sent) != 3)
        return brook_ctx_fail(ctx, "test.Garbage", "%s", value ? (const char *)value : "(null)");
    int attempt = brook_ctx_attempt(ctx);
    brook_result_t res = plan(ctx, k, s, attempt);
    char line[128];
    int n = snprintf(line, sizeof(line), "%d %d %d %d %lld %lld\n", k, s, attempt, (int)res,
                     wall_ms(), sent);
    /* Durable before the handler returns (and so before its offset can be committed). */
    if (write(log_fd, line, (size_t)n) != n || fdatasync(log_fd))
        return brook_ctx_fail(ctx, "test.Log", "cannot write the log");
    return res;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s IN GROUP LOG failures|none\n", argv[0]);
        return 2;
    }
    failures = !strcmp(argv[4], "failures");
    if ((log_fd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0644)) < 0) {
        perror(argv[3]);
        return 1;
    }
    char decl[2048];
    snprintf(decl, sizeof(decl),
             "service = { name = \"ordered-service\"; commit_interval_ms = 200;\n"
             "  shutdown_timeout_ms = 20000; kafka = { acks = \"all\"; }; };\n"
             "topics = ( { name = \"%s\"; partitions = 6; } );\n"
             "listeners = ( { id = \"ordered\"; group = \"%s\"; topics = [ \"%s\" ];\n"
             "  value = \"string\"; handler = \"on_record\"; concurrency = 2;\n"
             "  retry = { attempts = 3; mode = \"topics\"; preserve_key_order = true;\n"
             "            backoff = { delay_ms = 500; multiplier = 2.0; };\n"
             "            not_retryable = [ \"test.Invalid\" ]; };\n"
             "  dlt = { enabled = true; }; } );\n",
             argv[1], argv[2], argv[1]);
    brook_error_t err = {0};
    brook_app_t *app = brook_app_new(decl, "ordered-service.brook", NULL, &err);
    if (!app) {
        fprintf(stderr, "ordered-service: %s\n", err.message);
        return 1;
    }
    brook_app_set_handler(app, "ordered", on_record, NULL);
    int rc = brook_app_run(app);
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "ordered"), &st);
    printf("ordered-service: handled %llu failed %llu retried %llu dead-lettered %llu\n",
           (unsigned long long)st.handled, (unsigned long long)st.failed,
           (unsigned long long)st.retried, (unsigned long long)st.dead_lettered);
    brook_app_destroy(app);
    close(log_fd);
    if (rc)
        fprintf(stderr, "ordered-service: stop: %s\n", brook_err2str(rc));
    return rc ? 1 : 0;
}
