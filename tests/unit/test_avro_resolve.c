/* The schema resolver's skipping of writer-only data stays linear in the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "serde/avro_resolve.h"

/* A writer-only array of nulls claims 2^40 items in 7 bytes; skipping it must not loop over
 * them (it took 5.5 s per 2^30 before), and the field after it must come through. */
static void test_huge_null_array_is_skipped_at_once(void **state) {
    const char *w = "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
                    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
                    "{\"name\":\"b\",\"type\":\"int\"}]}";
    const char *r =
        "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"b\",\"type\":\"int\"}]}";
    brook_error_t err = {0};
    brook__avro_resolver_t *res = brook__avro_resolver_new(w, r, &err);
    assert_non_null(res);
    uint64_t z = ((uint64_t)1 << 40) << 1; /* zigzag of 2^40 */
    uint8_t in[32];
    size_t k = 0;
    while (z >= 0x80) {
        in[k++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    in[k++] = (uint8_t)z;
    in[k++] = 0; /* end of the array */
    in[k++] = 2; /* b = 1 */
    brook_buf_t out;
    brook_buf_init(&out);
    assert_int_equal(brook__avro_resolver_convert(res, in, k, &out, &err), 0);
    assert_int_equal(out.len, 1);
    assert_int_equal(out.data[0], 2);
    brook_buf_free(&out);
    /* A block of ints claiming more items than bytes left is corrupt, not a long loop. */
    const char *wi = "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
                     "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},"
                     "{\"name\":\"b\",\"type\":\"int\"}]}";
    brook__avro_resolver_t *ri = brook__avro_resolver_new(wi, r, &err);
    assert_non_null(ri);
    assert_int_not_equal(brook__avro_resolver_convert(ri, in, k, &out, &err), 0);
    brook_buf_free(&out);
    brook__avro_resolver_destroy(ri);
    brook__avro_resolver_destroy(res);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_null_array_is_skipped_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
