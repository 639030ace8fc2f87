/* Shared librdkafka helpers. */
#include <string.h>
#include <time.h>

#include "kafka.h"

void brook__kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    /* librdkafka uses syslog levels; Brook's levels are the same numbers, coarser. */
    brook_log_level_t l = level <= 3   ? BROOK_LOG_ERROR
                          : level == 4 ? BROOK_LOG_WARN
                          : level <= 6 ? BROOK_LOG_INFO
                                       : BROOK_LOG_DEBUG;
    brook_log(l, "rdkafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

rd_kafka_conf_t *brook__kafka_conf_new(void) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, brook__kafka_log);
    return conf;
}

int brook__kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                          brook_error_t *err) {
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return brook_error_set(err, BROOK_ERR_INVALID_ARG, "kafka property %s=%s: %s", name, value,
                               errstr);
    return 0;
}

int64_t brook__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t brook__wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
