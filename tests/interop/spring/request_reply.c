/* Request-reply between Brook and a Spring for Apache Kafka service (tests/interop/spring/peer),
 * live, on the real Kafka cluster of the test fixture (docs/request-reply.md):
 *
 *   brook_requests_spring  a Brook template with a reply (partition 1 of its reply topic) asks a
 *                          Spring @KafkaListener with a bare @SendTo
 *   spring_requests_brook  a Spring ReplyingKafkaTemplate (its reply container on partition 1)
 *                          asks a replying Brook listener
 *
 *   spring_request_reply TEST   runs one of them (each is its own ctest test)
 *
 * Both check what each side saw: the correlation id sent is the one that came back, the reply
 * partition named in kafka_replyPartition is where the reply landed, the reply's key is the
 * request's. */
#include <stdatomic.h>

#include "../interop.h"
#include "spring_peer.h"

static brook_test_cluster_t *cluster;
static char work[1024];
static sp_peer_t peer;
static brook_app_t *app;

enum { N = 20 };

static void hex(const void *data, size_t len, char *out) {
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", ((const uint8_t *)data)[i]);
    out[2 * len] = 0;
}

static void test_brook_requests_spring(void **state) {
    sp_start(&peer, work, "peer", brook_test_bootstrap(cluster), "replier",
             "--peer.topic=spring.rr.ask", "--peer.group=spring-replier", "--peer.partitions=2",
             NULL);
    sp_wait(&peer, "ready", 1, 120000);
    app = ix_app("service = { name = \"brook-asks\"; kafka = { linger_ms = 0; }; };\n"
                 "topics = ( { name = \"spring.rr.answers\"; partitions = 2; } );\n"
                 "templates = ( { name = \"ask\"; topic = \"spring.rr.ask\"; value = \"string\";\n"
                 "  reply = { topic = \"spring.rr.answers\"; partition = 1; value = \"string\";\n"
                 "            timeout_ms = 30000; }; } );\n");
    ix_start(app);
    brook_template_t *ask = brook_app_template(app, "ask");
    brook_buf_t reply;
    brook_buf_init(&reply);
    for (int i = 0; i < N; i++) {
        char key[32], value[32], want[48];
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "q%d", i);
        snprintf(want, sizeof(want), "spring:q%d", i);
        brook_error_t err = {0};
        if (brook_template_request(ask, key, value, &reply, 0, NULL, &err))
            fail_msg("request %d: %s\n%s", i, err.message, sp_log_tail(&peer));
        assert_string_equal((const char *)reply.data, want);
    }
    brook_buf_free(&reply);
    brook_request_stats_t s;
    brook_template_request_stats(ask, &s);
    assert_int_equal(s.requests, N);
    assert_int_equal(s.replies, N);
    assert_int_equal(s.timeouts + s.late + s.unmatched, 0);

    /* What Spring read: Brook's headers, through KafkaHeaders' names. */
    sp_wait(&peer, "request", N, 30000);
    brook_test_record_t *reps;
    assert_int_equal(brook_test_consume(cluster, "spring.rr.answers", N, 20000, &reps), N);
    for (int i = 0; i < N; i++) {
        json_t *ev = sp_event(&peer, "request", (size_t)i);
        char reply_topic[64];
        hex("spring.rr.answers", 17, reply_topic);
        assert_string_equal(sp_str(ev, "reply_topic_hex"), reply_topic);
        assert_string_equal(sp_str(ev, "reply_partition_hex"), "00000001");
        const char *corr = sp_str(ev, "correlation_hex");
        assert_int_equal(strlen(corr), 32);
        /* Spring's reply: on partition 1, the correlation id as Brook sent it, Brook's key. */
        int found = 0;
        for (int k = 0; k < N; k++) {
            const brook_header_t *c =
                brook_test_record_header(&reps[k], BROOK_HEADER_CORRELATION_ID);
            char got[40] = "";
            if (c && c->len == 16)
                hex(c->value, 16, got);
            if (strcmp(got, corr))
                continue;
            found++;
            assert_int_equal(reps[k].partition, 1);
            assert_int_equal(reps[k].key_len, strlen(sp_str(ev, "key")));
            assert_memory_equal(reps[k].key, sp_str(ev, "key"), reps[k].key_len);
        }
        assert_int_equal(found, 1);
    }
    brook_test_records_free(reps, N);
    print_message("%d requests from Brook answered by Spring's @SendTo on the partition Brook "
                  "named, with Brook's correlation ids\n",
                  N);
    assert_int_equal(brook_app_stop(app), 0);
    assert_int_equal(sp_stop(&peer, SIGTERM), 0);
}

static atomic_int answered;

static brook_result_t answer(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    brook_buf_t *reply = brook_ctx_reply(ctx);
    brook_buf_append(reply, "brook:", 6);
    brook_buf_append(reply, value, strlen(value));
    atomic_fetch_add(&answered, 1);
    return BROOK_OK;
}

static void test_spring_requests_brook(void **state) {
    app = ix_app("service = { name = \"brook-answers\"; commit_interval_ms = 200; };\n"
                 "topics = ( { name = \"spring.rr2.ask\"; partitions = 2; },\n"
                 "           { name = \"spring.rr2.answers\"; partitions = 2; } );\n"
                 "templates = ( { name = \"answers\"; topic = \"spring.rr2.answers\";"
                 " value = \"string\"; } );\n"
                 "listeners = ( { id = \"answer\"; topics = [ \"spring.rr2.ask\" ];"
                 " value = \"string\"; handler = \"answer\"; reply = \"answers\"; } );\n");
    assert_int_equal(brook_app_set_handler(app, "answer", answer, NULL), 0);
    ix_start(app);
    assert_true(brook_test_wait_assigned(app, 60000));
    sp_start(&peer, work, "peer", brook_test_bootstrap(cluster), "requester",
             "--peer.topic=spring.rr2.ask", "--peer.reply-topic=spring.rr2.answers",
             "--peer.reply-partition=1", "--peer.group=spring-requester", "--peer.count=20", NULL);
    sp_wait(&peer, "done", 1, 180000);
    assert_int_equal(sp_wait_exit(&peer, 30000), 0);
    for (int i = 0; i < N; i++) {
        json_t *ev = sp_event(&peer, "reply", (size_t)i);
        char key[32], want[48];
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(want, sizeof(want), "brook:q%d", i);
        assert_string_equal(sp_str(ev, "request"), want + 6);
        assert_string_equal(sp_str(ev, "value"), want);
        assert_string_equal(sp_str(ev, "key"), key);
        assert_int_equal(sp_int(ev, "partition"), 1);
        const char *sent = sp_str(ev, "request_correlation_hex");
        assert_int_equal(strlen(sent), 32); /* Spring's UUID */
        assert_string_equal(sp_str(ev, "correlation_hex"), sent);
    }
    assert_int_equal(atomic_load(&answered), N);
    /* Every request answered is committed. */
    int64_t total = 0;
    for (int64_t until = brook_test_now_ms() + 30000; total != N && brook_test_now_ms() < until;
         brook_test_nap()) {
        total = 0;
        for (int p = 0; p < 2; p++) {
            int64_t o = brook_test_committed(cluster, "brook-answers", "spring.rr2.ask", p);
            total += o > 0 ? o : 0;
        }
    }
    assert_int_equal(total, N);
    print_message("%d requests from Spring's ReplyingKafkaTemplate answered by Brook on the "
                  "partition Spring named, with Spring's correlation ids\n",
                  N);
    assert_int_equal(brook_app_stop(app), 0);
}

static int setup(void **state) {
    if (!getenv("BROOK_TEST_KAFKA") && !getenv("BROOK_TEST_BOOTSTRAP"))
        fail_msg("the Spring tests run on the real Kafka fixture (BROOK_TEST_KAFKA); "
                 "run them through ctest");
    cluster = brook_test_cluster_new(1);
    assert_non_null(cluster);
    assert_false(brook_test_is_embedded(cluster));
    return 0;
}

static int teardown(void **state) {
    if (peer.seen)
        sp_free(&peer);
    brook_app_destroy(app);
    app = NULL;
    brook_test_cluster_destroy(cluster);
    return 0;
}

int main(int argc, char **argv) {
    const struct CMUnitTest all[] = {
        cmocka_unit_test_setup_teardown(test_brook_requests_spring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spring_requests_brook, setup, teardown),
    };
    const char *names[] = {"brook_requests_spring", "spring_requests_brook"};
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; argc == 2 && i < sizeof(all) / sizeof(all[0]); i++)
        if (!strcmp(argv[1], names[i])) {
            snprintf(work, sizeof(work), "%s/%s", BROOK_SPRING_WORK, names[i]);
            mkdir(BROOK_SPRING_WORK, 0755);
            mkdir(work, 0755);
            return _cmocka_run_group_tests(names[i], &all[i], 1, NULL, NULL);
        }
    fprintf(stderr, "usage: %s TEST (brook_requests_spring, spring_requests_brook)\n", argv[0]);
    return 2;
}
