/* Inside app/: creating the topics a declaration needs. */
#ifndef BROOK_APP_PROVISION_H
#define BROOK_APP_PROVISION_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"
#include "config/decl.h"

/* On the embedded `cluster` (non-NULL), or through `rk`'s Admin API: missing topics are
 * created; existing ones are left as they are (a partition count other than declared is a
 * warning). */
int brook__provision(const brook_decl_t *d, brook_cluster_t *cluster, rd_kafka_t *rk,
                     brook_error_t *err);

/* What provisioning found or did with one topic the declaration needs (the brook command's
 * `topics apply` reports it). */
typedef enum {
    BROOK__PROVISION_EXISTS,  /* there already; partitions and replication as found */
    BROOK__PROVISION_CREATED, /* created now; replication -1: the broker's default */
    BROOK__PROVISION_MISSING, /* a dry run's: would be created so */
} brook__provision_state_t;
/* Runs on the calling thread, before brook__provision_admin returns; `topic` is borrowed. */
typedef void(brook__provision_fn)(const char *topic, brook__provision_state_t state, int partitions,
                                  int replication, void *opaque);

/* brook__provision through rk's Admin API, telling fn (may be NULL) about each topic the
 * declaration needs (declared, retry and DLT topics) once: those that exist as they are found,
 * those created once created. With dry_run nothing is created. */
int brook__provision_admin(const brook_decl_t *d, rd_kafka_t *rk, bool dry_run,
                           brook__provision_fn *fn, void *opaque, brook_error_t *err);

#endif
