/* What every module of the runtime uses: clocks, latency histograms (core/histogram.h), the
 * gate (core/gate.h), the logging thread's service. (Errors, logging and buffers are public:
 * brook/brook.h.) */
#ifndef BROOK_CORE_H
#define BROOK_CORE_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "core/gate.h"
#include "core/histogram.h"

/* A thread-local read on every record (the arena's spare block, the sending thread's buffers
 * and transaction): initial-exec, so that reading it is a single load where the default model
 * of a shared library calls __tls_get_addr. */
#if defined(__GNUC__)
#define BROOK__TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define BROOK__TLS_FAST
#endif

/* Milliseconds on a monotonic clock. */
int64_t brook__now_ms(void);
/* Milliseconds since the epoch. */
int64_t brook__wall_ms(void);
/* a + b, saturating at INT64_MAX (durations in declarations may be very large). */
static inline int64_t brook__add_ms(int64_t a, int64_t b) {
    return b > INT64_MAX - a ? INT64_MAX : a + b;
}

/* Names the service the calling thread works for in the lines it logs (the "service" of
 * BROOK_LOG_FORMAT=json); NULL: none. `service` is borrowed until it is replaced. Returns the
 * previous one, for the caller to put back. */
const char *brook__log_service(const char *service);

/* A condition variable whose timed waits take brook__now_ms() deadlines. */
int brook__cond_init_monotonic(pthread_cond_t *cond);
/* A brook__now_ms() deadline as the absolute time pthread_cond_timedwait() takes. */
static inline struct timespec brook__deadline_ts(int64_t deadline_ms) {
    struct timespec ts = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000};
    return ts;
}

#endif
