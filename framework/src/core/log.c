/* Logging: levels and a pluggable, process-wide sink; the default one writes text lines, or
 * with BROOK_LOG_FORMAT=json one JSON object per line for log shippers. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brook/brook.h"
#include "core/core.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static brook_log_sink_fn *log_sink;
static void *log_sink_opaque;
/* -1: not read from the environment yet. */
static atomic_int log_level = -1;
/* The service the calling thread works for, when it works for one (brook__log_service). */
static __thread const char *log_service;

const char *brook__log_service(const char *service) {
    const char *previous = log_service;
    log_service = service;
    return previous;
}

/* Appends s to out[*n] as it is (json false) or as the inside of a JSON string, as much as fits
 * in cap bytes with the NUL. */
static void put_text(char *out, size_t *n, size_t cap, const char *s, bool json) {
    for (; *s && *n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (!json) {
            out[(*n)++] = (char)c;
        } else if (c == '"' || c == '\\' || c == '\n') {
            out[(*n)++] = '\\';
            out[(*n)++] = c == '\n' ? 'n' : (char)c;
        } else if (c < 0x20) {
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
        } else {
            out[(*n)++] = (char)c;
        }
    }
    out[*n] = '\0';
}

static void default_sink(brook_log_level_t level, const char *component, const char *message,
                         void *opaque) {
    static const char *names[8] = {"", "", "", "ERROR", "WARN", "", "INFO", "DEBUG"};
    static atomic_int json = -1; /* BROOK_LOG_FORMAT=json, read once */
    if (atomic_load(&json) < 0) {
        const char *format = getenv("BROOK_LOG_FORMAT");
        atomic_store(&json, format && !strcmp(format, "json"));
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!atomic_load(&json)) {
        localtime_r(&ts.tv_sec, &tm);
        fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s [%s] %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                ts.tv_nsec / 1000000, names[level & 7], component, message);
        return;
    }
    /* One write per line, so that a shipper never reads half an object. */
    char line[8192];
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = (size_t)snprintf(
        line, sizeof(line), "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        ts.tv_nsec / 1000000, names[level & 7]);
    const char *fields[3][2] = {
        {"component", component}, {"service", log_service}, {"message", message}};
    for (int i = 0; i < 3; i++) {
        if (!fields[i][1])
            continue;
        put_text(line, &n, sizeof(line) - 3, ",\"", false);
        put_text(line, &n, sizeof(line) - 3, fields[i][0], false);
        put_text(line, &n, sizeof(line) - 3, "\":\"", false);
        put_text(line, &n, sizeof(line) - 3, fields[i][1], true);
        put_text(line, &n, sizeof(line) - 3, "\"", false);
    }
    memcpy(line + n, "}\n", 3);
    fputs(line, stderr);
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
