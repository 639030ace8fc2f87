/* The codegen test programs' harness: CHECK counts failures and goes on; checks_done() prints
 * the verdict and gives main's exit status. */
#ifndef BROOK_CODEGEN_CHECK_H
#define BROOK_CODEGEN_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static inline int checks_done(const char *what) {
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("%s: all checks passed\n", what);
    return 0;
}

#endif
