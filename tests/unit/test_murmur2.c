/* brook_test_murmur2 / brook_test_murmur2_partition against Kafka's Java client: the hash
 * decides where keyed records land, and Brook promises the partition a Java producer picks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "brook/brook_test.h"

/* org.apache.kafka.common.utils.UtilsTest.testMurmur2 (Utils.murmur2 of the bytes). */
static const struct {
    const char *key;
    int32_t hash;
} java_vectors[] = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107},
};
#define N_VECTORS (sizeof(java_vectors) / sizeof(java_vectors[0]))

static void test_java_vectors(void **state) {
    for (size_t i = 0; i < N_VECTORS; i++) {
        int32_t h = brook_test_murmur2(java_vectors[i].key, strlen(java_vectors[i].key));
        if (h != java_vectors[i].hash)
            fail_msg("murmur2(\"%s\") = %d, Java says %d", java_vectors[i].key, (int)h,
                     (int)java_vectors[i].hash);
    }
}

/* librdkafka's rdmurmur2.c unit test lists Java's toPositive(murmur2) for keys whose length
 * leaves one trailing byte, which Kafka's vectors above do not cover. */
static void test_one_trailing_byte(void **state) {
    assert_int_equal((uint32_t)brook_test_murmur2("kafka", 5) & 0x7fffffffu, 1348980580u);
    assert_int_equal((uint32_t)brook_test_murmur2("amqp", 4) & 0x7fffffffu, 767747138u);
    assert_int_equal((uint32_t)brook_test_murmur2("giberish123456789", 17) & 0x7fffffffu,
                     257239820u);
}

/* The Java producer's choice: Utils.toPositive(murmur2(key)) % numPartitions, where
 * toPositive masks the sign bit (it is not abs()). */
static void test_partition_is_to_positive_modulo(void **state) {
    static const int32_t counts[] = {1, 2, 3, 4, 6, 7, 12, 50, 100, 1000};
    for (size_t i = 0; i < N_VECTORS; i++) {
        const char *key = java_vectors[i].key;
        uint32_t positive = (uint32_t)java_vectors[i].hash & 0x7fffffffu;
        for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
            int32_t want = (int32_t)(positive % (uint32_t)counts[c]);
            assert_int_equal(brook_test_murmur2_partition(key, strlen(key), counts[c]), want);
        }
    }
    /* Worked by hand: toPositive(-790332482) = 1357151166 = 27143023 * 50 + 16. */
    assert_int_equal(brook_test_murmur2_partition("foobar", 6, 50), 16);
}

/* Only the given bytes count: a key inside a larger buffer hashes like the key alone. */
static void test_reads_only_len_bytes(void **state) {
    const char *buf = "foobarXYZ";
    assert_int_equal(brook_test_murmur2(buf, 6), -790332482);
    assert_int_equal(brook_test_murmur2("abcd", 3), 479470107);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_java_vectors),
        cmocka_unit_test(test_one_trailing_byte),
        cmocka_unit_test(test_partition_is_to_positive_modulo),
        cmocka_unit_test(test_reads_only_len_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
