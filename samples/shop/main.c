/*
 * shop: the Brook shop, a choreographed saga of five services.
 *
 *   shop                      all five services in this process, on the embedded cluster
 *   shop --service NAME       one service (order, inventory, payment, shipping, notification);
 *                             with BROOK_BOOTSTRAP set, against brook-devbroker or real Kafka
 *   options: --orders N (1000)  --rate PER_SECOND (250)  --tag TAG  --timeout SECONDS  --quiet
 *
 * The order service places the orders and exits once every one is closed, with status 0 when
 * each reached exactly one terminal state. The other services run until SIGINT or SIGTERM.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shop.h"

static void on_signal(int sig) {
    shop_request_stop();
}

static void usage(void) {
    fprintf(stderr, "usage: shop [--service NAME] [--orders N] [--rate PER_SECOND] [--tag TAG] "
                    "[--timeout SECONDS] [--quiet]\n");
}

int main(int argc, char **argv) {
    shop_options_t o = {.orders = 1000, .rate = 250};
    char tag[16];
    /* Order ids differ from run to run, so runs against one real cluster do not mix. */
    snprintf(tag, sizeof(tag), "%04lx", (unsigned long)(time(NULL) % 0xffff));
    o.tag = tag;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quiet")) {
            o.quiet = true;
        } else if (!v) {
            usage();
            return 2;
        } else if (!strcmp(a, "--service")) {
            o.service = argv[++i];
        } else if (!strcmp(a, "--orders")) {
            o.orders = atoi(argv[++i]);
        } else if (!strcmp(a, "--rate")) {
            o.rate = atoi(argv[++i]);
        } else if (!strcmp(a, "--tag")) {
            o.tag = argv[++i];
        } else if (!strcmp(a, "--timeout")) {
            o.timeout_s = atoi(argv[++i]);
        } else {
            usage();
            return 2;
        }
    }
    if (o.orders < 1 || o.rate < 1) {
        usage();
        return 2;
    }
    if (!o.timeout_s)
        o.timeout_s = 60 + o.orders / o.rate;
    /* The demo reads better without the runtime's informational lines. */
    if (!getenv("BROOK_LOG_LEVEL"))
        brook_log_set_level(BROOK_LOG_WARN);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return shop_run(&o);
}
