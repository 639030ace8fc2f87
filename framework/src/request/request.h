/*
 * Request-reply (docs/request-reply.md): the requests of templates that declare a reply (Spring's
 * ReplyingKafkaTemplate) and the app's reply consumer, which reads their reply topics without a
 * consumer group and hands each reply to the request waiting for it; and the sending of a
 * replying listener's reply (Spring's @SendTo), which copies the request's correlation id and
 * follows its reply topic and partition. Spring's header names and encodings live here.
 */
#ifndef BROOK_REQUEST_H
#define BROOK_REQUEST_H

#include <stdbool.h>

#include "brook/brook.h"
#include "config/decl.h"
#include "produce/produce.h"
#include "serde/serde.h"

typedef struct brook__requests_s brook__requests_t;

/* The requesters of declaration `d`'s templates that declare a reply (none is fine), whose
 * templates are `p`'s. NULL when out of memory. */
brook__requests_t *brook__requests_new(const brook_decl_t *d, brook__producer_t *p);
/* Resolves the reply values' serdes. */
int brook__requests_resolve(brook__requests_t *r, const brook__types_t *types, brook_error_t *err);
/* Once the reply topics exist: starts the reply consumer (when some template declares a reply),
 * assigned the reply topics (partitions) at their end offsets, so that every reply to a request
 * made from now on is read. */
int brook__requests_start(brook__requests_t *r, const char *bootstrap, bool embedded,
                          brook_error_t *err);
/* The app begins to stop: a request waiting for its reply (a handler's, which its listener's
 * stop waits for) waits no longer than `deadline` (brook__now_ms()), then returns
 * BROOK_ERR_STATE; replies that come before still answer it. */
void brook__requests_stopping(brook__requests_t *r, int64_t deadline);
/* Requests waiting return BROOK_ERR_STATE at once, later ones too; the reply consumer stops.
 * After the listeners have stopped (their handlers may be waiting for replies). Idempotent. */
void brook__requests_stop(brook__requests_t *r);
void brook__requests_free(brook__requests_t *r);

/* ---- replies (reply.c) -------------------------------------------------------------------- */

/* Sends `value` (of tpl's value type) through tpl as the reply to `request`, whose headers
 * have been read: to its kafka_replyTopic (tpl's topic when it has none), on its
 * kafka_replyPartition if any, keyed by `key` (the request's key, of tpl's key type), with its
 * kafka_correlationId copied. Runs on the handler's thread (its outputs count the reply). 0;
 * BROOK_ERR_DECODE when a reply header is malformed (err says which); or
 * brook_template_send()'s error. */
int brook__reply_send(brook_template_t *tpl, const brook_record_t *request, const void *key,
                      const void *value, brook_error_t *err);

#endif
