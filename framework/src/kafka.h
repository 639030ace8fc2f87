/* Small shared helpers over librdkafka: configuration with Brook's logging attached. */
#ifndef BROOK_KAFKA_H
#define BROOK_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"

/* librdkafka's log callback: a line through brook_log (component "rdkafka"). */
void brook__kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* A new configuration whose logs go through brook_log (component "rdkafka"). */
rd_kafka_conf_t *brook__kafka_conf_new(void);

/* Sets one property; BROOK_ERR_INVALID_ARG with librdkafka's reason, naming the property. */
int brook__kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                          brook_error_t *err);

/* Milliseconds on a monotonic clock. */
int64_t brook__now_ms(void);
/* a + b, saturating at INT64_MAX (durations in declarations may be very large). */
static inline int64_t brook__add_ms(int64_t a, int64_t b) {
    return b > INT64_MAX - a ? INT64_MAX : a + b;
}
/* Milliseconds since the epoch. */
int64_t brook__wall_ms(void);

#endif
