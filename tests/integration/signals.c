/* SIGTERM stops every brook_app_run() in the process; the previous handler comes back after. */
#include <signal.h>

#include "itest.h"

typedef struct {
    brook_app_t *app;
    atomic_int rc;
    atomic_bool done;
} runner_t;

static void *run(void *arg) {
    runner_t *r = arg;
    atomic_store(&r->rc, brook_app_run(r->app));
    atomic_store(&r->done, true);
    return NULL;
}

static brook_app_t *small_app(const char *name) {
    char decl[256];
    snprintf(decl, sizeof(decl),
             "service = { name = \"%s\"; };\n"
             "templates = ( { name = \"t\"; topic = \"sig.%s\"; } );\n",
             name, name);
    brook_app_t *app = it_app(decl);
    it_start(app);
    return app;
}

static void test_sigterm_stops_every_runner(void **state) {
    runner_t a = {.app = small_app("sig-a"), .rc = -1};
    runner_t b = {.app = small_app("sig-b"), .rc = -1};
    /* SIGTERM must not kill the test if it arrives while no app runs. */
    struct sigaction ignore = {0}, before;
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &ignore, &before);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run, &a);
    pthread_create(&tb, NULL, run, &b);
    /* Signal until both have stopped: a runner that has not reached its loop yet when the
     * other has already stopped (and restored SIG_IGN) gets a later signal. */
    assert_true(BROOK_TEST_WAIT_UNTIL(
        (kill(getpid(), SIGTERM), atomic_load(&a.done) && atomic_load(&b.done)), 20000));
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(atomic_load(&a.rc), 0);
    assert_int_equal(atomic_load(&b.rc), 0);
    struct sigaction now;
    sigaction(SIGTERM, NULL, &now);
    assert_true(now.sa_handler == SIG_IGN); /* the previous disposition is back */
    sigaction(SIGTERM, &before, NULL);
    brook_app_destroy(a.app);
    brook_app_destroy(b.app);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_stops_every_runner),
    };
    return cmocka_run_group_tests(tests, it_setup, it_teardown);
}
