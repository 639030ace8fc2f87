/*
 * brook-devbroker: one embedded cluster shared by several service processes.
 *
 *   brook-devbroker [--brokers N] service.brook ...
 *
 * Starts the embedded cluster, creates the topics every given service declares (retry and
 * dead-letter topics included: a Kafka client cannot create topics on it), prints its
 * bootstrap list as the first line of standard output, and serves until SIGINT or SIGTERM.
 * Point services at it with BROOK_BOOTSTRAP=<that list>.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brook/brook.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    stop = 1;
}

int main(int argc, char **argv) {
    int brokers = 1;
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "--brokers")) {
        brokers = atoi(argv[2]);
        first = 3;
    }
    if (brokers < 1 || (first < argc && argv[first][0] == '-')) {
        fprintf(stderr, "usage: brook-devbroker [--brokers N] service.brook ...\n");
        return 2;
    }
    /* SIGINT and SIGTERM stay blocked (in the cluster's threads too, which inherit the mask)
     * except inside sigsuspend() below, so none is lost between the check and the wait. */
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &wait_mask);
    brook_error_t err = {0};
    brook_cluster_t *c = brook_cluster_acquire(brokers, &err);
    if (!c) {
        fprintf(stderr, "brook-devbroker: %s\n", err.message);
        return 1;
    }
    for (int i = first; i < argc; i++) {
        if (brook_cluster_provision(c, argv[i], &err)) {
            fprintf(stderr, "brook-devbroker: %s\n", err.message);
            brook_cluster_release(c);
            return 1;
        }
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("%s\n", brook_cluster_bootstrap(c));
    fflush(stdout);
    brook_log(BROOK_LOG_INFO, "devbroker", "serving %s; topics of %d service(s) created",
              brook_cluster_bootstrap(c), argc - first);
    while (!stop)
        sigsuspend(&wait_mask);
    brook_cluster_release(c);
    return 0;
}
