/* Inside recover/: Spring Kafka's header encodings (big-endian ints, Java BigInteger bytes)
 * and the headers a forwarded record carries. */
#ifndef BROOK_RECOVER_HEADERS_H
#define BROOK_RECOVER_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recover/recover.h"

void brook__put_be32(uint8_t *b, int32_t v);
void brook__put_be64(uint8_t *b, int64_t v);
/* Java's BigInteger.toByteArray() of v into b (8 bytes room); its length. */
size_t brook__put_bigint(uint8_t *b, int64_t v);
/* A BigInteger header's value, or -1. */
int64_t brook__header_bigint(const void *value, size_t len);
/* retry_topic-attempts (4-byte big-endian, or Spring's older 1 byte), or 0. */
int brook__header_attempts(const void *value, size_t len);
/* The headers of a forward of the failed record by listener `d` (Spring's
 * DeadLetterPublishingRecoverer): the record's, with the failure's facts under the names of
 * Spring's retry topics (`retry_topics`: retry records and the DLT records of a listener with
 * retry topics) or of a plain dead-letter forward (kafka_dlt-*). */
rd_kafka_headers_t *brook__forward_headers(const brook__failure_t *f,
                                           const brook_decl_listener_t *d, bool retry_topics);

#endif
