/* Values of test.All (tests/codegen/valid/alltypes) exercising every branch, shared by the
 * round-trip and interop tests. Memory is static or the caller's; values are not cleared. */
#ifndef BROOK_TEST_ALL_VALUES_H
#define BROOK_TEST_ALL_VALUES_H
#include <math.h>
#include <stdlib.h>

static inline char *big_string(size_t n) {
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    s[n] = 0;
    return s;
}

/* Fills v with values exercising every branch; memory is static or owned by the caller. */
static inline void fill(test_All *v, int variant, char *big) {
    static int32_t ints[] = {0, -1, 1, INT32_MIN, INT32_MAX};
    static char *strs[] = {"", "x", "\xe2\x82\xac uro"};
    static shop_Money monies[2];
    static double dbl[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e308};
    static char *keys[] = {"k1", "", "k3"};
    static struct {
        bool has;
        int32_t value;
    } opt_ints[] = {{true, 5}, {false, 0}, {true, INT32_MIN}};
    static struct {
        size_t n;
        struct {
            bool has;
            int32_t value;
        } * items;
    } arrs[3];
    static uint8_t bytes[] = {0, 1, 2, 0xff, 0x80};
    test_All_init(v);
    v->b = variant & 1;
    v->i = variant ? INT32_MIN : INT32_MAX;
    v->l = variant ? INT64_MAX : INT64_MIN;
    v->f = variant == 2 ? NAN : variant == 1 ? -INFINITY : 3.25f;
    v->d = variant == 2 ? INFINITY : variant == 1 ? NAN : -1e-300;
    v->by.data = variant ? bytes : NULL;
    v->by.len = variant ? sizeof bytes : 0;
    v->s = variant == 1 ? big : strs[variant % 3];
    v->e = (shop_Currency)(variant % 3);
    for (int i = 0; i < 16; i++)
        v->fx.bytes[i] = (uint8_t)(i * 17 + variant);
    v->arr.n = variant ? 5 : 0;
    v->arr.items = ints;
    v->arr_s.n = 3;
    v->arr_s.items = strs;
    v->m.n = variant ? 0 : 1;
    v->has_opt = variant != 0;
    v->opt = "optional";
    monies[0].currency = shop_Currency_USD;
    monies[0].units = -42;
    monies[0].nanos = 999999999;
    monies[1].currency = shop_Currency_EUR;
    monies[1].units = 0;
    v->has_opt_rec = variant == 1;
    v->opt_rec = monies[0];
    v->u.branch = variant % 5;
    switch (v->u.branch) {
    case 1:
        v->u.value.int_ = -7;
        break;
    case 2:
        v->u.value.string = "branch";
        break;
    case 3:
        v->u.value.shop_Money = monies[0];
        break;
    case 4:
        v->u.value.array.n = 6;
        v->u.value.array.items = dbl;
        break;
    }
    v->u2.branch = 1;
    v->u2.value.long_ = -1;
    v->nested = monies[1];
    v->arr_rec.n = 2;
    v->arr_rec.items = monies;
    arrs[0].n = 3;
    arrs[0].items = (void *)opt_ints;
    arrs[1].n = 0;
    arrs[2].n = 1;
    arrs[2].items = (void *)opt_ints;
    v->map_arr.n = 3;
    v->map_arr.keys = keys;
    v->map_arr.values = (void *)arrs;
    v->int_ = 1;
    v->default_ = "default";
    v->has_opt_2 = true;
    v->has_rev = variant != 1;
    v->day = brook_avro_date_from_ymd(2024, 2, 29);
    v->ts = 1700000000123;
    v->id = "123e4567-e89b-12d3-a456-426614174000";
    static uint8_t dec[8];
    v->amount.len = brook_avro_decimal_from_int64(-12345, dec);
    v->amount.data = dec;
    v->node.value = 1;
    v->has_outer = variant == 3;
    v->outer.inner.z = true;
}

#endif
