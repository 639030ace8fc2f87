/*
 * Brook's test fixture, for users' tests and Brook's own: a cluster held for the test's
 * length, raw produce and consume, offsets, waiting with a deadline, and fault injection.
 * Every call runs on the caller's thread.
 *
 * The cluster is the process's embedded one, unless the environment names a real one:
 *   BROOK_TEST_BOOTSTRAP=host:port,...   a Kafka cluster of your own;
 *   BROOK_TEST_KAFKA=DIR                 a cluster started by tests/kafka/kafka-cluster (its
 *                                        bootstrap is read from DIR, and broker faults are
 *                                        real: a broker is killed and started again).
 * On a real cluster the fixture sets BROOK_BOOTSTRAP (so apps declared "embedded" go there)
 * and, unless set, BROOK_KAFKA_SESSION_TIMEOUT_MS=6000 and BROOK_KAFKA_HEARTBEAT_INTERVAL_MS=
 * 500, so a member that vanished is replaced in seconds; topics are created with the Admin
 * API. Faults a real cluster cannot be told to make return BROOK_ERR_UNSUPPORTED.
 */
#ifndef BROOK_BROOK_TEST_H
#define BROOK_BROOK_TEST_H

#include <stdbool.h>
#include <stdint.h>

#include "brook/brook.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef struct brook_test_cluster_s brook_test_cluster_t;

/* Holds the process's embedded cluster (started with `brokers` brokers if not running), so
 * apps can be destroyed and started again against the same data. Apps declared with
 * bootstrap "embedded" use it. NULL on failure (logged). */
brook_test_cluster_t *brook_test_cluster_new(int brokers);
/* Releases the cluster (it stops when no app holds it either). NULL is a no-op. */
void brook_test_cluster_destroy(brook_test_cluster_t *c);
/* Borrowed, valid for c's life. */
const char *brook_test_bootstrap(const brook_test_cluster_t *c);
/* The embedded cluster, or NULL when the fixture runs on a real one. */
brook_cluster_t *brook_test_embedded(brook_test_cluster_t *c);
/* True on the embedded cluster, false on a real one. */
bool brook_test_is_embedded(const brook_test_cluster_t *c);
/* Brokers in the cluster. */
int brook_test_broker_count(const brook_test_cluster_t *c);

/* Creates `topic` (replicated on up to 3 brokers) unless it exists; 0 when it exists now. */
int brook_test_create_topic(brook_test_cluster_t *c, const char *topic, int partitions);

/* Produces one record and waits until it is acknowledged. partition -1: by key (murmur2,
 * like a Java producer). key/value NULL: null. Returns 0 or the delivery error. */
int brook_test_produce(brook_test_cluster_t *c, const char *topic, int32_t partition,
                       const void *key, size_t key_len, const void *value, size_t value_len,
                       const brook_header_t *headers, size_t header_count);
/* Produces records "<prefix>-<i>" for i in [first, first + n) (key and value alike) to
 * `topic`, partitioned by key, and waits until all are acknowledged. */
int brook_test_produce_n(brook_test_cluster_t *c, const char *topic, const char *prefix, int first,
                         int n);

/* A consumed record, owned by the caller (brook_test_records_free). */
typedef struct brook_test_record_s {
    char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    brook_ts_type_t timestamp_type;
    void *key; /* NUL-terminated copies; NULL when null */
    size_t key_len;
    void *value;
    size_t value_len;
    brook_header_t *headers; /* names and values owned by the record */
    size_t header_count;
} brook_test_record_t;

/* Reads `topic` from the start, without a group, until `n` records arrived or `timeout_ms`
 * passed. Returns how many were read (*out, caller frees); they are in offset order per
 * partition. */
size_t brook_test_consume(brook_test_cluster_t *c, const char *topic, size_t n, int timeout_ms,
                          brook_test_record_t **out);
/* The same with isolation.level read_uncommitted: records of aborted (and open) transactions
 * too, which brook_test_consume (read_committed) never returns. */
size_t brook_test_consume_uncommitted(brook_test_cluster_t *c, const char *topic, size_t n,
                                      int timeout_ms, brook_test_record_t **out);
void brook_test_records_free(brook_test_record_t *records, size_t count);
/* The last header of that name of a consumed record (as brook_ctx_header), or NULL. */
const brook_header_t *brook_test_record_header(const brook_test_record_t *r, const char *name);

/* What brook_test_committed() returns when the group has committed nothing on the partition
 * (librdkafka's RD_KAFKA_OFFSET_INVALID). */
#define BROOK_TEST_NO_OFFSET (-1001)
/* The committed offset of group on topic/partition, asked of the broker: the offset (>= 0),
 * BROOK_TEST_NO_OFFSET when there is none, or BROOK_ERR_KAFKA when the broker could not be
 * asked (the reason is logged). Both are negative: check the query succeeded before
 * comparing, e.g. `o >= 0 || o == BROOK_TEST_NO_OFFSET`, or a test passes on a failed query. */
int64_t brook_test_committed(brook_test_cluster_t *c, const char *group, const char *topic,
                             int32_t partition);
/* How many members the broker counts in consumer group `group` (0 for an empty or unknown
 * group), BROOK_ERR_KAFKA when it could not be asked, BROOK_ERR_UNSUPPORTED on the embedded
 * cluster (librdkafka's mock cannot describe groups). */
int brook_test_group_members(brook_test_cluster_t *c, const char *group);
/* Sum over partitions of the end offsets of topic (how many records it holds), or
 * BROOK_ERR_KAFKA (negative) when the topic or one of its partitions could not be queried. */
int64_t brook_test_end_offsets(brook_test_cluster_t *c, const char *topic);

/* Fault injection. Each returns 0 when the fault is in place, or the reason it is not
 * (BROOK_ERR_UNSUPPORTED where the cluster cannot make it), so a test can assert it.
 * The next `count` requests of `api_key` fail with `error_code` (embedded only). */
int brook_test_push_request_errors(brook_test_cluster_t *c, int16_t api_key, size_t count,
                                   int error_code);
/* Moves a partition's leadership to `broker_id`, or -1 for none: records to a leader-less
 * partition wait in their producer until it has a leader again (embedded only). */
int brook_test_partition_leader(brook_test_cluster_t *c, const char *topic, int32_t partition,
                                int32_t broker_id);
/* A broker goes down and comes back. Embedded: its connections are refused. Real cluster
 * started by kafka-cluster: the broker process is killed (SIGKILL) and started again; up
 * returns once it serves again. */
int brook_test_broker_down(brook_test_cluster_t *c, int32_t broker_id);
int brook_test_broker_up(brook_test_cluster_t *c, int32_t broker_id);
int brook_test_broker_rtt(brook_test_cluster_t *c, int32_t broker_id, int rtt_ms);

/* Waits until every running listener of the app has all its members assigned
 * (brook_listener_assigned), so records produced from now on are seen by the group. A listener
 * stopped on purpose (brook_listener_stop, auto_startup = false) is not waited for. */
bool brook_test_wait_assigned(brook_app_t *app, int timeout_ms);

/* Polls `cond(arg)` every few milliseconds until it is true (returns true) or timeout_ms has
 * passed (returns false). */
bool brook_test_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);
/* The same for an expression. */
#define BROOK_TEST_WAIT_UNTIL(expr, timeout_ms)                                                    \
    ({                                                                                             \
        int64_t brook__deadline = brook_test_now_ms() + (timeout_ms);                              \
        bool brook__ok;                                                                            \
        while (!(brook__ok = (expr)) && brook_test_now_ms() < brook__deadline)                     \
            brook_test_nap();                                                                      \
        brook__ok;                                                                                 \
    })
int64_t brook_test_now_ms(void);
/* A few milliseconds' pause between two polls of a condition. */
void brook_test_nap(void);

/* Kafka's default partitioner for a key (murmur2, positive, modulo partitions), as a Java
 * producer computes it. */
int32_t brook_test_murmur2(const void *key, size_t len);
int32_t brook_test_murmur2_partition(const void *key, size_t len, int32_t partitions);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
