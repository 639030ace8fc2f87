/* brook_buf_t: the growable byte buffer generated codecs and serdes write into. */
#include <stdlib.h>
#include <string.h>

#include "brook/brook.h"

void brook_buf_init(brook_buf_t *b) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void brook_buf_reset(brook_buf_t *b) {
    b->len = 0;
}

void brook_buf_free(brook_buf_t *b) {
    free(b->data);
    brook_buf_init(b);
}

int brook_buf_reserve(brook_buf_t *b, size_t n) {
    if (b->cap - b->len >= n)
        return 0;
    if (n > SIZE_MAX / 2 - b->len)
        return BROOK_ERR_NOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return BROOK_ERR_NOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int brook_buf_append(brook_buf_t *b, const void *data, size_t n) {
    if (n == 0)
        return 0;
    int rc = brook_buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}
