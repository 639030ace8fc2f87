/* Brook's error values (brook_error_t). brook_err2str, which also names librdkafka's codes,
 * lives with the Kafka helpers (kafka/kafka.c), so that brookc needs no librdkafka. */
#include <stdarg.h>
#include <stdio.h>

#include "brook/brook.h"

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
