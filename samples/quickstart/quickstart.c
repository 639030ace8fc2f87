/* The quickstart: the runtime API without generated code. A template sends N greetings, a
 * listener with three members prints where each landed, and the app stops once all arrived. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "brook/brook.h"

static atomic_int received;

static brook_result_t on_greeting(brook_ctx_t *ctx, const void *key, const void *value,
                                  void *opaque) {
    const brook_record_t *r = brook_ctx_record(ctx);
    printf("  %-10s -> %s [%d] @%lld: %s\n", (const char *)key, r->topic, (int)r->partition,
           (long long)r->offset, (const char *)value);
    atomic_fetch_add(&received, 1);
    return BROOK_OK;
}

int main(int argc, char **argv) {
    const char *decl = argc > 1 ? argv[1] : "quickstart.brook";
    int n = argc > 2 ? atoi(argv[2]) : 10;
    brook_error_t err = {0};
    brook_app_t *app = brook_app_new_from_file(decl, &err);
    if (!app) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    brook_app_set_handler(app, "printer", on_greeting, NULL);
    if (brook_app_start(app, &err)) {
        fprintf(stderr, "start: %s\n", err.message);
        brook_app_destroy(app);
        return 1;
    }
    brook_template_t *greeter = brook_app_template(app, "greeter");
    for (int i = 0; i < n; i++) {
        char key[32], value[64];
        snprintf(key, sizeof(key), "user-%d", i);
        snprintf(value, sizeof(value), "hello #%d from Brook", i);
        brook_template_send(greeter, key, value, NULL);
    }
    /* BROOK_ERR_TIMEOUT: some greetings were still queued after 10 s. */
    int rc = brook_template_flush(greeter, 10000);
    if (rc)
        fprintf(stderr, "flush: %s\n", brook_err2str(rc));
    printf("sent %d greetings; waiting for the listener\n", n);
    /* The main thread has nothing else to do: check on the listener now and then. */
    for (int waited = 0; atomic_load(&received) < n && waited < 30000; waited += 50) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    int got = atomic_load(&received);
    /* Not 0 when the stop was not clean: it ran past shutdown_timeout_ms or a commit failed. */
    rc = brook_app_stop(app);
    if (rc)
        fprintf(stderr, "stop: %s\n", brook_err2str(rc));
    brook_app_destroy(app);
    printf("received %d of %d greetings\n", got, n);
    return got == n && !rc ? 0 : 1;
}
