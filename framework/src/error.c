/* Error codes and messages (brook_err_t, brook_error_t). */
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"

const char *brook_err2str(int err) {
    switch (err) {
#define BROOK__ERR_CASE(name, value, text)                                                         \
    case value:                                                                                    \
        return text;
        BROOK_ERRORS(BROOK__ERR_CASE)
#undef BROOK__ERR_CASE
    default:
        /* Everything else is a librdkafka code, passed through as it came. */
        return rd_kafka_err2str((rd_kafka_resp_err_t)err);
    }
}

int brook_error_set(brook_error_t *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}
