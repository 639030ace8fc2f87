/* A replying listener's reply (request/request.h): where Spring's @SendTo would send it. */
#include <stdio.h>
#include <string.h>

#include "request/request.h"

/* The last header of that name, as Spring reads a name sent twice. */
static const brook_header_t *last_header(const brook_record_t *r, const char *name) {
    for (size_t i = r->header_count; i-- > 0;)
        if (!strcmp(r->headers[i].name, name))
            return &r->headers[i];
    return NULL;
}

/* A topic name as Kafka allows it: 1 to 249 of [A-Za-z0-9._-]. */
static bool topic_name_ok(const char *s, size_t len) {
    if (len == 0 || len > 249)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/*
 * As Spring's MessagingMessageListenerAdapter sends a @SendTo reply: to the topic the request
 * names in kafka_replyTopic, on the partition of kafka_replyPartition (a 4-byte big-endian int,
 * read with ByteBuffer.getInt()), keyed by the request's key, kafka_correlationId copied as it
 * came (Spring's own are 16 bytes; any length is copied). Without kafka_replyTopic the reply
 * goes to the template's topic, as @SendTo("topic") would send it.
 */
int brook__reply_send(brook_template_t *tpl, const brook_record_t *request, const void *key,
                      const void *value, brook_error_t *err) {
    brook_send_opts_t opts = BROOK_SEND_OPTS_INIT;
    char topic[250];
    const brook_header_t *h = last_header(request, BROOK_HEADER_REPLY_TOPIC);
    if (h && h->value) {
        if (!topic_name_ok(h->value, h->len))
            return brook_error_set(err, BROOK_ERR_DECODE, "%s: not a topic name (%zu bytes)",
                                   BROOK_HEADER_REPLY_TOPIC, h->len);
        memcpy(topic, h->value, h->len);
        topic[h->len] = 0;
        opts.topic = topic;
    }
    h = last_header(request, BROOK_HEADER_REPLY_PARTITION);
    if (h && h->value) {
        if (h->len != 4)
            return brook_error_set(err, BROOK_ERR_DECODE,
                                   "%s: %zu bytes, not a 4-byte big-endian int",
                                   BROOK_HEADER_REPLY_PARTITION, h->len);
        const uint8_t *b = h->value;
        int32_t partition = (int32_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                                      (uint32_t)b[2] << 8 | (uint32_t)b[3]);
        if (partition < 0)
            return brook_error_set(err, BROOK_ERR_DECODE, "%s: negative partition %d",
                                   BROOK_HEADER_REPLY_PARTITION, (int)partition);
        opts.partition = partition;
    }
    h = last_header(request, BROOK_HEADER_CORRELATION_ID);
    brook_header_t correlation;
    if (h) {
        correlation = (brook_header_t){BROOK_HEADER_CORRELATION_ID, h->value, h->len};
        opts.headers = &correlation;
        opts.header_count = 1;
    }
    int rc = brook_template_send(tpl, key, value, &opts);
    if (rc)
        return brook_error_set(err, rc, "reply to %s [%d] not sent: %s",
                               opts.topic ? opts.topic : brook_template_topic(tpl),
                               (int)opts.partition, brook_err2str(rc));
    return 0;
}
