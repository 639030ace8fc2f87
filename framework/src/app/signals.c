/* Process signals for brook_app_run() (app/signals.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "app/signals.h"

/*
 * SIGINT/SIGTERM stop every brook_app_run() in the process. The handler only writes to a
 * process-wide pipe (async-signal-safe, and it touches no app, so none can be freed under
 * it); the pipe stays readable, so every running app sees it. The handler is installed while
 * at least one app runs, and the previous one is restored when the last stops running.
 */
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static int signal_runners;
static int signal_pipe[2] = {-1, -1};
static struct sigaction signal_old_int, signal_old_term;

static void on_signal(int sig) {
    int saved = errno;
    ssize_t n = write(signal_pipe[1], "s", 1);
    (void)n;
    errno = saved;
}

void brook__drain_fd(int fd) {
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

int brook__signals_begin(void) {
    pthread_mutex_lock(&signal_lock);
    if (signal_runners++ == 0) {
        if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC))
            signal_pipe[0] = signal_pipe[1] = -1;
        if (signal_pipe[0] >= 0) {
            brook__drain_fd(signal_pipe[0]);
            struct sigaction sa = {0};
            sa.sa_handler = on_signal;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGINT, &sa, &signal_old_int);
            sigaction(SIGTERM, &sa, &signal_old_term);
        }
    }
    int fd = signal_pipe[0];
    pthread_mutex_unlock(&signal_lock);
    return fd;
}

void brook__signals_end(void) {
    pthread_mutex_lock(&signal_lock);
    if (--signal_runners == 0 && signal_pipe[0] >= 0) {
        sigaction(SIGINT, &signal_old_int, NULL);
        sigaction(SIGTERM, &signal_old_term, NULL);
        brook__drain_fd(signal_pipe[0]);
    }
    pthread_mutex_unlock(&signal_lock);
}
