/* Brook's dead-letter records as a foreign client sees them: Python's confluent_kafka reads the
 * DLT and decodes the failure headers (Spring's retry-topic names, kafka_original-* and
 * kafka_exception-*) with Spring's encodings (struct '>i' / '>q', UTF-8),
 * and gets back the coordinates of the original records. The script is py_dlt_headers.py next
 * to this file. */
#include "interop.h"

#define N 6

static brook_test_cluster_t *cluster;

static brook_result_t on_record(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    (void)op;
    return brook_ctx_fail(ctx, "shop.Declined", "declined %s", (const char *)value);
}

static void test_python_reads_dlt_headers(void **state) {
    ix_require_python_kafka();
    /* Retry topics, so the DLT record comes from a retry topic yet names the main topic. */
    brook_app_t *app = ix_app("service = { name = \"ix-dlt\"; commit_interval_ms = 200; };\n"
                              "topics = ( { name = \"ix.dlt\"; partitions = 3; } );\n"
                              "listeners = ( { id = \"l\"; topics = [ \"ix.dlt\" ];\n"
                              "  group = \"ix-dlt-group\"; value = \"string\";\n"
                              "  handler = \"on_record\";\n"
                              "  retry = { attempts = 2; mode = \"topics\";\n"
                              "            backoff = { delay_ms = 100; }; };\n"
                              "  dlt = { enabled = true; }; } );\n");
    assert_int_equal(brook_app_set_handler(app, "l", on_record, NULL), 0);
    ix_start(app);
    for (int i = 0; i < N; i++) {
        char v[32];
        int n = snprintf(v, sizeof(v), "dlt-%d", i);
        assert_int_equal(
            brook_test_produce(cluster, "ix.dlt", -1, v, (size_t)n, v, (size_t)n, NULL, 0), 0);
    }
    assert_true(BROOK_TEST_WAIT_UNTIL(brook_test_end_offsets(cluster, "ix.dlt-dlt") == N, 30000));
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);

    brook_test_record_t *orig;
    size_t no = brook_test_consume(cluster, "ix.dlt", N, 10000, &orig);
    assert_int_equal(no, N);

    char count[16];
    snprintf(count, sizeof(count), "%d", N);
    char *argv[] = {IX_PYTHON,
                    BROOK_INTEROP_DIR "/py_dlt_headers.py",
                    (char *)brook_test_bootstrap(cluster),
                    "ix.dlt-dlt",
                    count,
                    NULL};
    ix_run_t run;
    assert_int_equal(ix_run(argv, NULL, 0, 60000, &run), 0);
    ix_assert_ran(&run, "py_dlt_headers.py");
    char **lines;
    size_t nl = ix_lines(run.out, &lines);
    assert_int_equal(nl, N);
    for (size_t k = 0; k < nl; k++) {
        /* value|partition|topic|partition|offset|timestamp|type|group|fqcn|message */
        char *f[10];
        char *s = lines[k];
        for (int j = 0; j < 10; j++) {
            f[j] = s;
            char *bar = s ? strchr(s, '|') : NULL;
            if (bar)
                *bar = '\0';
            s = bar ? bar + 1 : NULL;
            assert_non_null(f[j]);
        }
        const brook_test_record_t *o = NULL;
        for (size_t i = 0; i < no; i++)
            if (orig[i].value_len == strlen(f[0]) && !memcmp(orig[i].value, f[0], strlen(f[0])))
                o = &orig[i];
        assert_non_null(o);
        print_message("python: %s in DLT [%s]: original %s [%s] @%s ts %s %s, group %s, %s: %s\n",
                      f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9]);
        assert_int_equal(atoi(f[1]), o->partition); /* the DLT keeps the partition */
        assert_string_equal(f[2], "ix.dlt");
        assert_int_equal(atoi(f[3]), o->partition);
        assert_int_equal(strtoll(f[4], NULL, 10), o->offset);
        assert_int_equal(strtoll(f[5], NULL, 10), o->timestamp);
        assert_string_equal(f[6], "CreateTime");
        assert_string_equal(f[7], "ix-dlt-group");
        assert_string_equal(f[8], "shop.Declined");
        char msg[64];
        snprintf(msg, sizeof(msg), "declined %s", f[0]);
        assert_string_equal(f[9], msg);
    }
    free(lines);
    ix_run_free(&run);
    brook_test_records_free(orig, no);
}

static int setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    cluster = brook_test_cluster_new(1);
    return cluster ? 0 : -1;
}

static int teardown(void **state) {
    brook_test_cluster_destroy(cluster);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_reads_dlt_headers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
