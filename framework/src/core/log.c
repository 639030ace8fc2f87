/* Logging: levels and a pluggable, process-wide sink. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brook/brook.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static brook_log_sink_fn *log_sink;
static void *log_sink_opaque;
/* -1: not read from the environment yet. */
static atomic_int log_level = -1;

static void default_sink(brook_log_level_t level, const char *component, const char *message,
                         void *opaque) {
    static const char *names[8] = {"", "", "", "ERROR", "WARN", "", "INFO", "DEBUG"};
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s [%s] %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, names[level & 7], component, message);
}

void brook_log_set_sink(brook_log_sink_fn *sink, void *opaque) {
    pthread_mutex_lock(&log_lock);
    log_sink = sink;
    log_sink_opaque = opaque;
    pthread_mutex_unlock(&log_lock);
}

void brook_log_set_level(brook_log_level_t level) {
    atomic_store(&log_level, (int)level);
}

brook_log_level_t brook_log_get_level(void) {
    int level = atomic_load(&log_level);
    if (level < 0) {
        const char *env = getenv("BROOK_LOG_LEVEL");
        level = BROOK_LOG_INFO;
        if (env) {
            if (!strcmp(env, "error"))
                level = BROOK_LOG_ERROR;
            else if (!strcmp(env, "warn"))
                level = BROOK_LOG_WARN;
            else if (!strcmp(env, "debug"))
                level = BROOK_LOG_DEBUG;
        }
        int unset = -1;
        atomic_compare_exchange_strong(&log_level, &unset, level);
        level = atomic_load(&log_level);
    }
    return (brook_log_level_t)level;
}

void brook_log(brook_log_level_t level, const char *component, const char *fmt, ...) {
    if ((int)level > (int)brook_log_get_level())
        return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    /* The lock also keeps lines from interleaving and a sink from being swapped mid-call. */
    pthread_mutex_lock(&log_lock);
    if (log_sink)
        log_sink(level, component, message, log_sink_opaque);
    else
        default_sink(level, component, message, NULL);
    pthread_mutex_unlock(&log_lock);
}
