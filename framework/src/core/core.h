/* What every module of the runtime uses: clocks. (Errors, logging and buffers are public:
 * brook/brook.h.) */
#ifndef BROOK_CORE_H
#define BROOK_CORE_H

#include <stdint.h>

/* Milliseconds on a monotonic clock. */
int64_t brook__now_ms(void);
/* Milliseconds since the epoch. */
int64_t brook__wall_ms(void);
/* a + b, saturating at INT64_MAX (durations in declarations may be very large). */
static inline int64_t brook__add_ms(int64_t a, int64_t b) {
    return b > INT64_MAX - a ? INT64_MAX : a + b;
}

#endif
