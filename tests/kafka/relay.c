/*
 * The service under test in the fault matrix (faults.py): a Brook listener on IN whose handler
 * sends every record, key and value unchanged, through a Brook template to OUT. At-least-once:
 * an input is committed only after its output is delivered. Runs until SIGTERM/SIGINT.
 *
 *   brook-relay IN OUT GROUP [exactly-once]     (cluster from BROOK_BOOTSTRAP)
 *
 * With "exactly-once" the listener is exactly_once: outputs and input offsets commit in one
 * transaction per batch, so a read_committed reader sees each output once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/brook.h"

static brook_result_t relay(brook_ctx_t *ctx, const void *key, const void *value, void *op) {
    return brook_template_send(op, key, value, NULL) ? BROOK_RETRY : BROOK_OK;
}

int main(int argc, char **argv) {
    if (argc != 4 && !(argc == 5 && !strcmp(argv[4], "exactly-once"))) {
        fprintf(stderr, "usage: %s IN OUT GROUP [exactly-once]\n", argv[0]);
        return 2;
    }
    /* Transactions of about a second: a SIGKILL almost always finds one open with records
     * written, which a read_uncommitted reader then sees aborted. */
    const char *eos =
        argc == 5 ? "exactly_once = true; transaction = { max_records = 5000; max_ms = 1000; };"
                  : "";
    char decl[2048];
    snprintf(
        decl, sizeof(decl),
        "service = { name = \"relay\"; commit_interval_ms = 200; shutdown_timeout_ms = 20000;\n"
        "  kafka = { acks = \"all\"; }; };\n"
        "topics = (\n"
        "  { name = \"%s\"; partitions = 6; replication = 3;\n"
        "    config = { min_insync_replicas = 2; }; },\n"
        "  { name = \"%s\"; partitions = 6; replication = 3;\n"
        "    config = { min_insync_replicas = 2; }; } );\n"
        "templates = ( { name = \"out\"; topic = \"%s\"; value = \"string\"; } );\n"
        "listeners = ( { id = \"relay\"; group = \"%s\"; topics = [ \"%s\" ];\n"
        "  value = \"string\"; handler = \"relay\"; concurrency = 2; %s\n"
        "  retry = { attempts = 1000000; backoff = { delay_ms = 200; }; }; } );\n",
        argv[1], argv[2], argv[2], argv[3], argv[1], eos);
    brook_error_t err = {0};
    brook_app_t *app = brook_app_new(decl, "relay.brook", NULL, &err);
    if (!app) {
        fprintf(stderr, "relay: %s\n", err.message);
        return 1;
    }
    brook_app_set_handler(app, "relay", relay, brook_app_template(app, "out"));
    int rc = brook_app_run(app);
    /* What this instance handled, for the matrix to tell its re-handling from duplicates a
     * producer would add. */
    brook_listener_stats_t st;
    brook_listener_stats(brook_app_listener(app, "relay"), &st);
    brook_template_stats_t ts;
    brook_template_stats(brook_app_template(app, "out"), &ts);
    printf("relay: handled %llu failed %llu rebalances %llu producer_replacements %llu\n",
           (unsigned long long)st.handled, (unsigned long long)st.failed,
           (unsigned long long)st.rebalances, (unsigned long long)ts.producer_replacements);
    brook_app_destroy(app);
    /* A stop that was not clean (timed out, or its commit failed) fails the matrix's run. */
    if (rc)
        fprintf(stderr, "relay: stop: %s\n", brook_err2str(rc));
    return rc ? 1 : 0;
}
