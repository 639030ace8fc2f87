/* What the fuzz target needs of libbrook besides the codec: brook_error_set. */
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
