/* The shop's runner: starts the services this process runs, places the orders, shows progress
 * and prints the summary. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shop.h"

/* Downstream first, so every listener is up before the first order is placed. */
static const shop_service_t *const all_services[] = {
    &shop_notification_service, &shop_shipping_service, &shop_payment_service,
    &shop_inventory_service,    &shop_order_service,
};
#define SERVICE_COUNT 5

static volatile sig_atomic_t stop_requested;

void shop_request_stop(void) {
    stop_requested = 1;
}

typedef struct {
    const shop_service_t *def;
    void *svc;
    brook_app_t *app;
} running_t;

static void nap_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static brook_listener_stats_t service_stats(const running_t *r) {
    brook_listener_stats_t sum = {0}, s;
    for (const char *const *id = r->def->listener_ids; *id; id++) {
        brook_listener_stats(brook_app_listener(r->app, *id), &s);
        sum.handled += s.handled;
        sum.failed += s.failed;
        sum.retried += s.retried;
        sum.dead_lettered += s.dead_lettered;
        sum.rebalances += s.rebalances;
    }
    return sum;
}

static brook_listener_stats_t total_stats(const running_t *run, int n) {
    brook_listener_stats_t sum = {0};
    for (int i = 0; i < n; i++) {
        brook_listener_stats_t s = service_stats(&run[i]);
        sum.handled += s.handled;
        sum.retried += s.retried;
        sum.dead_lettered += s.dead_lettered;
    }
    return sum;
}

static int closed(const shop_progress_t *p) {
    return p->completed + p->cancelled[0] + p->cancelled[1] + p->cancelled[2];
}

static void print_progress(const shop_options_t *o, const running_t *run, int n, int64_t t0,
                           bool tty) {
    shop_progress_t p;
    shop_order_progress(&p);
    brook_listener_stats_t s = total_stats(run, n);
    printf("%s  %5.1fs  placed %5d/%d | completed %5d  cancelled %4d  open %4d | retries %4llu  "
           "dead letters %3llu%s",
           tty ? "\r" : "", (shop_now_ms() - t0) / 1000.0, p.placed, o->orders, p.completed,
           p.cancelled[0] + p.cancelled[1] + p.cancelled[2], p.placed - closed(&p),
           (unsigned long long)s.retried, (unsigned long long)s.dead_lettered, tty ? "" : "\n");
    fflush(stdout);
}

static void print_summary(const shop_options_t *o, const running_t *run, int n, int64_t ms,
                          int unfinished) {
    shop_progress_t p;
    shop_order_progress(&p);
    brook_listener_stats_t s = total_stats(run, n);
    const char *bootstrap = getenv("BROOK_BOOTSTRAP");
    printf("\nBrook shop: %d orders in %.1f s (%s, %s)\n\n", p.placed, ms / 1000.0,
           n == SERVICE_COUNT ? "5 services in one process" : "order service alone",
           bootstrap && *bootstrap ? bootstrap : "embedded cluster");
    printf("  orders placed                 %6d\n", p.placed);
    printf("    completed                   %6d\n", p.completed);
    printf("    cancelled: out of stock     %6d\n", p.cancelled[0]);
    printf("    cancelled: payment declined %6d   (stock released)\n", p.cancelled[1]);
    printf("    cancelled: invalid order    %6d   (dead-lettered by inventory)\n", p.cancelled[2]);
    printf("    still open                  %6d\n", unfinished);
    printf("  duplicate events ignored      %6d\n", p.duplicates);
    if (n > 1) {
        printf("  retries (retry topics)        %6llu\n", (unsigned long long)s.retried);
        printf("  dead-letter records           %6llu\n", (unsigned long long)s.dead_lettered);
    }
    printf("  end-to-end latency            p50 %lld ms, p99 %lld ms\n\n", (long long)p.p50_ms,
           (long long)p.p99_ms);
    printf("  %-13s %-10s %8s %7s %8s %6s  %s\n", "service", "listener", "handled", "failed",
           "retried", "dlt", "delivery");
    for (int i = 0; i < n; i++)
        for (const char *const *id = run[i].def->listener_ids; *id; id++) {
            brook_listener_stats_t ls;
            brook_listener_stats(brook_app_listener(run[i].app, *id), &ls);
            char delivery[96] = "at-least-once";
            if (ls.transactions || ls.aborted_transactions)
                snprintf(delivery, sizeof(delivery),
                         "exactly-once (%llu transactions, %llu aborted)",
                         (unsigned long long)ls.transactions,
                         (unsigned long long)ls.aborted_transactions);
            printf("  %-13s %-10s %8llu %7llu %8llu %6llu  %s\n",
                   id == run[i].def->listener_ids ? run[i].def->name : "", *id,
                   (unsigned long long)ls.handled, (unsigned long long)ls.failed,
                   (unsigned long long)ls.retried, (unsigned long long)ls.dead_lettered, delivery);
        }
    printf("\n");
}

/* Each service serves its own /metrics and /health (service.http in its declaration: a free
 * port, or BROOK_HTTP_PORT when one service runs per process). */
static void print_endpoints(const running_t *run, int n) {
    printf("metrics and health (Prometheus text, JSON):\n");
    for (int i = 0; i < n; i++) {
        int port = brook_app_http_port(run[i].app);
        if (port)
            printf("  %-13s http://127.0.0.1:%d/metrics  http://127.0.0.1:%d/health\n",
                   run[i].def->name, port, port);
    }
    fflush(stdout);
}

/* On a terminal, warnings (the dead-lettered orders) print above the live progress line. */
static void tty_sink(brook_log_level_t level, const char *component, const char *message,
                     void *opaque) {
    printf("\r\033[K  %s %s\n", level <= BROOK_LOG_ERROR ? "error:" : "!", message);
    fflush(stdout);
}

/* Every listener of this process has its partitions: orders placed from now on are handled
 * at once, so latencies measure the saga rather than the consumer groups' first join. */
static bool groups_joined(const running_t *run, int n) {
    for (int i = 0; i < n; i++)
        for (const char *const *id = run[i].def->listener_ids; *id; id++) {
            brook_listener_stats_t s;
            brook_listener_stats(brook_app_listener(run[i].app, *id), &s);
            if (!s.rebalances)
                return false;
        }
    return true;
}

/* Places the orders at the requested rate and waits until each is closed (or time runs out).
 * Returns how many orders are not in exactly one terminal state. */
static int drive_orders(const shop_options_t *o, running_t *run, int n) {
    bool tty = isatty(STDOUT_FILENO) && !o->quiet;
    if (!o->quiet)
        printf("waiting for the services' consumer groups...\n");
    for (int64_t until = shop_now_ms() + 30000; !groups_joined(run, n) && shop_now_ms() < until;)
        nap_ms(20);
    if (tty)
        brook_log_set_sink(tty_sink, NULL);
    int64_t t0 = shop_now_ms(), deadline = t0 + (int64_t)o->timeout_s * 1000, last = 0;
    int placed = 0;
    while (!stop_requested && shop_now_ms() < deadline) {
        int64_t now = shop_now_ms();
        int due = (int)((now - t0) * o->rate / 1000) + 1;
        while (placed < o->orders && placed < due)
            if (shop_place_order(o->tag, placed++))
                fprintf(stderr, "shop: cannot place order %d\n", placed - 1);
        shop_progress_t p;
        shop_order_progress(&p);
        bool done = placed == o->orders && closed(&p) == o->orders;
        if (!o->quiet && (now - last >= (tty ? 200 : 1000) || done)) {
            print_progress(o, run, n, t0, tty);
            last = now;
        }
        if (done)
            break;
        nap_ms(5);
    }
    if (tty) {
        brook_log_set_sink(NULL, NULL);
        printf("\n");
    }
    /* All five here: let the notification service catch up before stopping. */
    for (int i = 0; i < n; i++)
        if (run[i].def == &shop_notification_service)
            for (int64_t until = shop_now_ms() + 10000;
                 service_stats(&run[i]).handled < (uint64_t)o->orders && shop_now_ms() < until;)
                nap_ms(10);
    int unfinished = shop_order_unfinished(o->tag, o->orders, stderr);
    if (!o->quiet)
        print_summary(o, run, n, shop_now_ms() - t0, unfinished);
    return unfinished;
}

int shop_run(const shop_options_t *o) {
    running_t run[SERVICE_COUNT];
    int n = 0, status = 0;
    bool has_order = false;
    stop_requested = 0;
    for (int i = 0; i < SERVICE_COUNT; i++) {
        if (o->service && strcmp(o->service, all_services[i]->name))
            continue;
        brook_error_t err = {0};
        run[n].def = all_services[i];
        if (!(run[n].svc = run[n].def->create(&err))) {
            fprintf(stderr, "shop: %s service: %s\n", run[n].def->name, err.message);
            status = 1;
            break;
        }
        run[n].app = run[n].def->app(run[n].svc);
        if (brook_app_start(run[n].app, &err)) {
            fprintf(stderr, "shop: %s service: %s\n", run[n].def->name, err.message);
            run[n].def->destroy(run[n].svc);
            status = 1;
            break;
        }
        has_order |= run[n].def == &shop_order_service;
        n++;
    }
    if (!n && !status) {
        fprintf(stderr,
                "shop: no service named \"%s\" (order, inventory, payment, shipping, "
                "notification)\n",
                o->service);
        return 2;
    }
    if (!status && !o->quiet)
        print_endpoints(run, n);
    if (!status) {
        if (has_order) {
            status = drive_orders(o, run, n) ? 1 : 0;
        } else {
            printf("%s service running; SIGINT or SIGTERM stops it\n", run[0].def->name);
            fflush(stdout);
            while (!stop_requested)
                nap_ms(50);
        }
    }
    /* Upstream first, so no service stops while another still sends it work. */
    for (int i = n - 1; i >= 0; i--)
        brook_app_stop(run[i].app);
    for (int i = n - 1; i >= 0; i--) {
        if (!has_order && !o->quiet) {
            brook_listener_stats_t s = service_stats(&run[i]);
            printf("%s service: handled %llu, retried %llu, dead-lettered %llu\n", run[i].def->name,
                   (unsigned long long)s.handled, (unsigned long long)s.retried,
                   (unsigned long long)s.dead_lettered);
        }
        if (run[i].def->report && !o->quiet && run[i].def->report(stdout))
            status = 1;
        else if (run[i].def->report && o->quiet && run[i].def->report(stderr))
            status = 1;
        run[i].def->destroy(run[i].svc);
    }
    if (has_order && !o->quiet)
        printf("every order reached exactly one terminal state: %s\n", status ? "NO" : "yes");
    return status;
}
