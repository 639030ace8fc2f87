/*
 * The shop as separate processes on brook-devbroker (or, with BROOK_TEST_KAFKA or
 * BROOK_TEST_BOOTSTRAP set, on that real cluster, where each service provisions its own topics
 * and runs with Kafka's default timeouts): one process per service, the inventory
 * killed with SIGKILL while orders flow and started again. Then the invariants are checked
 * from the topics with a plain librdkafka client: every order closed exactly once, the DLT
 * holding exactly the malformed orders; and every service, stopped with SIGTERM, exits 0
 * (the inventory only when its stock balances against the reservations it holds).
 *
 *   shop_processes_test SHOP_BINARY DEVBROKER_BINARY service.brook ...
 *   shop_processes_test --spring-shipping LAUNCHER JAR DIR SCHEMAS SHOP_BINARY ...
 *
 * With --spring-shipping (real cluster only), the shipping service is the Spring Boot one of
 * tests/interop/spring (started with LAUNCHER run JAR, its events in DIR, SCHEMAS the Avro
 * files it reads, comma-separated), and it is the service killed and restarted.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "brook/brook_test.h"

#define ORDERS 300
/* Order ids are TAG-00000...: "p", or "s" for the run with the Spring shipping service (on a
 * cluster the other run may have used before). */
static const char *TAG = "p";

static const char *shop_bin, *devbroker_bin;
static char **decls;
static int decl_count;
static char bootstrap[512];
static bool real_cluster; /* no dev-broker: services provision their topics themselves */
static const char *spring_launcher, *spring_jar, *spring_dir, *spring_schemas;

/* ---- the catalog's expectations, as shop.c defines them (kept in step by hand: this test
 * deliberately links nothing of the shop) ---- */

static uint32_t fnv(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static bool is_invalid(int i) {
    return i % 100 == 42 || i % 100 == 77;
}

static bool is_completed(int i) {
    char id[32];
    snprintf(id, sizeof(id), "%s-%05d", TAG, i);
    uint32_t h = fnv(id) >> 8;
    return !is_invalid(i) && i % 40 != 17 && h % 17 != 5;
}

/* ---- processes ---- */

/* Every child, so that a failed assertion leaves no process behind. */
static pid_t children[16];
static int child_count;

static pid_t spawn(const char *const *argv, int stdout_pipe[2]) {
    pid_t pid = fork();
    if (pid > 0 && child_count < 16)
        children[child_count++] = pid;
    if (pid == 0) {
        if (stdout_pipe) {
            dup2(stdout_pipe[1], STDOUT_FILENO);
            close(stdout_pipe[0]);
            close(stdout_pipe[1]);
        }
        if (*bootstrap)
            setenv("BROOK_BOOTSTRAP", bootstrap, 1);
        if (real_cluster) {
            /* A real broker needs none of the dev-broker's settings below. */
            unsetenv("BROOK_KAFKA_SESSION_TIMEOUT_MS");
            unsetenv("BROOK_KAFKA_HEARTBEAT_INTERVAL_MS");
        } else if (*bootstrap) {
            /* The dev-broker is librdkafka's mock cluster, which rebalances only after
             * session.timeout.ms - 1 s; the runtime shortens it only for "embedded". */
            setenv("BROOK_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
            setenv("BROOK_KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static pid_t start_service(const char *name) {
    const char *argv[] = {shop_bin, "--service", name, NULL};
    return spawn(argv, NULL);
}

/* The Spring Boot shipping service, once it reported that it is assigned its partitions. */
static pid_t start_spring_shipping(void) {
    static int starts;
    char events[1024], log[1024], a_boot[600], a_events[1100], a_schemas[2048];
    snprintf(events, sizeof(events), "%s/shipping-%d.events", spring_dir, ++starts);
    snprintf(log, sizeof(log), "%s/shipping-%d.log", spring_dir, starts);
    unlink(events);
    snprintf(a_boot, sizeof(a_boot), "--spring.kafka.bootstrap-servers=%s", bootstrap);
    snprintf(a_events, sizeof(a_events), "--peer.events=%s", events);
    snprintf(a_schemas, sizeof(a_schemas), "--peer.schemas=%s", spring_schemas);
    pid_t pid = fork();
    if (pid > 0 && child_count < 16)
        children[child_count++] = pid;
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
            _exit(127);
        execl(spring_launcher, spring_launcher, "run", spring_jar, a_boot, a_events,
              "--peer.mode=shipping", a_schemas, (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    int64_t deadline = brook_test_now_ms() + 120000;
    for (;;) {
        char line[4096] = "";
        FILE *f = fopen(events, "r");
        bool ready = false;
        while (f && fgets(line, sizeof(line), f))
            ready |= strstr(line, "\"ready\"") != NULL;
        if (f)
            fclose(f);
        if (ready)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid || brook_test_now_ms() > deadline)
            fail_msg("the Spring shipping service did not get ready; see %s", log);
        brook_test_nap();
    }
}

/* Waits for pid to exit within timeout_ms; its exit status, or -1 (then it is killed). */
static int wait_exit(pid_t pid, int timeout_ms) {
    int status;
    int64_t deadline = brook_test_now_ms() + timeout_ms;
    while (brook_test_now_ms() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        brook_test_nap();
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* ---- reading topics with a client of our own ---- */

static rd_kafka_t *client(void) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "shop-test-reader", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    return rk;
}

static int partitions_of(rd_kafka_t *rk, const char *topic) {
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    assert_int_equal(rd_kafka_metadata(rk, 0, t, &md, 10000), 0);
    int n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return n;
}

static int64_t records_in(rd_kafka_t *rk, const char *topic) {
    int64_t sum = 0, lo, hi;
    int n = partitions_of(rk, topic);
    for (int p = 0; p < n; p++)
        if (!rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000))
            sum += hi;
    return sum;
}

/* Counts, per order index, the records of `topic` keyed by that order. */
static int read_topic(const char *topic, int counts[ORDERS]) {
    rd_kafka_t *rk = client();
    int n = partitions_of(rk, topic), eof = 0, total = 0;
    assert_true(n > 0);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    int64_t deadline = brook_test_now_ms() + 20000;
    while (eof < n && brook_test_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof++;
        } else if (!m->err && m->key && m->key_len > strlen(TAG) + 1) {
            char key[64];
            snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
            int i = atoi(key + strlen(TAG) + 1);
            if (!strncmp(key, TAG, strlen(TAG)) && key[strlen(TAG)] == '-' && i >= 0 && i < ORDERS)
                counts[i]++;
            total++;
        }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(eof, n);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return total;
}

/* ---- the test ---- */

/* The dev-broker: topics of every service, then its bootstrap list on stdout. */
static pid_t start_devbroker(void) {
    int out[2];
    assert_int_equal(pipe(out), 0);
    const char **argv = calloc(decl_count + 2, sizeof(char *));
    argv[0] = devbroker_bin;
    for (int i = 0; i < decl_count; i++)
        argv[i + 1] = decls[i];
    bootstrap[0] = 0;
    pid_t broker = spawn(argv, out);
    free(argv);
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    assert_non_null(fgets(bootstrap, sizeof(bootstrap), f));
    fclose(f);
    bootstrap[strcspn(bootstrap, "\r\n")] = 0;
    assert_true(strlen(bootstrap) > 0);
    return broker;
}

static void test_shop_survives_a_killed_service(void **state) {
    pid_t broker = -1;
    brook_test_cluster_t *real = NULL;
    if (spring_jar && !getenv("BROOK_TEST_KAFKA") && !getenv("BROOK_TEST_BOOTSTRAP"))
        fail_msg("--spring-shipping needs a real cluster (BROOK_TEST_KAFKA)");
    if (getenv("BROOK_TEST_KAFKA") || getenv("BROOK_TEST_BOOTSTRAP")) {
        assert_non_null(real = brook_test_cluster_new(1));
        assert_false(brook_test_is_embedded(real));
        snprintf(bootstrap, sizeof(bootstrap), "%s", brook_test_bootstrap(real));
        real_cluster = true;
    } else {
        broker = start_devbroker();
    }

    pid_t inventory = start_service("inventory");
    pid_t payment = start_service("payment");
    pid_t shipping = spring_jar ? start_spring_shipping() : start_service("shipping");
    pid_t notification = start_service("notification");
    char orders[16];
    snprintf(orders, sizeof(orders), "%d", ORDERS);
    const char *order_argv[] = {shop_bin, "--service", "order", "--orders",  orders, "--rate",
                                "40",     "--tag",     TAG,     "--timeout", "150",  NULL};
    pid_t order = spawn(order_argv, NULL);

    /* Mid-run: once the inventory (or the Spring shipping service) has handled a good part
     * of the orders, kill it outright and start another; uncommitted records come again to
     * the new one. */
    rd_kafka_t *rk = client();
    const char *progress = spring_jar ? "shop.orders.shipped" : "shop.inventory.reserved";
    assert_true(BROOK_TEST_WAIT_UNTIL(records_in(rk, progress) >= 60, 90000));
    rd_kafka_destroy(rk);
    pid_t *victim = spring_jar ? &shipping : &inventory;
    assert_int_equal(kill(*victim, SIGKILL), 0);
    assert_int_equal(wait_exit(*victim, 5000), 128 + SIGKILL);
    *victim = spring_jar ? start_spring_shipping() : start_service("inventory");

    /* The order service exits 0 once every order reached exactly one terminal state. */
    assert_int_equal(wait_exit(order, 170000), 0);

    int closed[ORDERS] = {0}, dead[ORDERS] = {0}, completed[ORDERS] = {0};
    read_topic("shop.orders.completed", completed);
    for (int i = 0; i < ORDERS; i++)
        closed[i] = completed[i];
    int cancelled[ORDERS] = {0};
    read_topic("shop.orders.cancelled", cancelled);
    read_topic("shop.orders.placed-dlt", dead);
    for (int i = 0; i < ORDERS; i++) {
        closed[i] += cancelled[i];
        if (closed[i] != 1 || (completed[i] == 1) != is_completed(i))
            fail_msg("order %s-%05d: %d terminal events, %d completed", TAG, i, closed[i],
                     completed[i]);
        /* At-least-once: a killed inventory may dead-letter a redelivered order again, so
         * the DLT holds the malformed orders, each at least once, and nothing else. */
        if ((dead[i] > 0) != is_invalid(i))
            fail_msg("order %s-%05d: %d DLT records", TAG, i, dead[i]);
    }

    /* Every service stops cleanly; the inventory's books balance for its own lifetime. */
    pid_t services[] = {inventory, payment, shipping, notification};
    for (size_t i = 0; i < 4; i++)
        kill(services[i], SIGTERM);
    for (size_t i = 0; i < 4; i++) {
        int status = wait_exit(services[i], 30000);
        /* A JVM stopped by SIGTERM exits 143 after its shutdown hooks (Spring's graceful
         * stop) ran. */
        if (spring_jar && services[i] == shipping && status == 128 + SIGTERM)
            status = 0;
        assert_int_equal(status, 0);
    }
    if (broker > 0) {
        kill(broker, SIGTERM);
        assert_int_equal(wait_exit(broker, 10000), 0);
    }
    brook_test_cluster_destroy(real);
}

static int kill_children(void **state) {
    for (int i = 0; i < child_count; i++)
        if (kill(children[i], SIGKILL) == 0)
            waitpid(children[i], NULL, 0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 6 && !strcmp(argv[1], "--spring-shipping")) {
        spring_launcher = argv[2];
        spring_jar = argv[3];
        spring_dir = argv[4];
        spring_schemas = argv[5];
        TAG = "s";
        mkdir(spring_dir, 0755);
        argv += 5;
        argc -= 5;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: %s SHOP DEVBROKER service.brook ...\n", argv[0]);
        return 2;
    }
    shop_bin = argv[1];
    devbroker_bin = argv[2];
    decls = argv + 3;
    decl_count = argc - 3;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_shop_survives_a_killed_service, kill_children)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
