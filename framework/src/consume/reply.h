/* Inside consume/: a replying listener (declared reply = "<template>", Spring's @SendTo). */
#ifndef BROOK_CONSUME_REPLY_H
#define BROOK_CONSUME_REPLY_H

#include "consume/member.h"

/* At start, for a listener that declares a reply: its template and the reply's type. */
int brook__replier_start(brook_listener_t *l, brook_error_t *err);
/* Frees the listener's replier and its members' reply slots. */
void brook__replier_free(brook_listener_t *l);
/* After the handler (on the member's thread): when it asked for the reply (brook_ctx_reply)
 * and returned BROOK_OK, sends the reply through the template; `key` is the record's decoded
 * key. Returns res, or the failure of a reply that could not be sent (brook.ReplyFailure:
 * BROOK_FAIL for a reply that cannot be encoded or a request whose reply headers are
 * malformed, BROOK_RETRY otherwise). The slot is cleared for the next record. */
brook_result_t brook__reply_finish(brook__member_t *m, brook_result_t res, const void *key);

#endif
