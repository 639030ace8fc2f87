/* Inside app/: creating the topics a declaration needs. */
#ifndef BROOK_APP_PROVISION_H
#define BROOK_APP_PROVISION_H

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"
#include "config/decl.h"

/* On the embedded `cluster` (non-NULL), or through `rk`'s Admin API: missing topics are
 * created; existing ones are left as they are (a partition count other than declared is a
 * warning). */
int brook__provision(const brook_decl_t *d, brook_cluster_t *cluster, rd_kafka_t *rk,
                     brook_error_t *err);

#endif
