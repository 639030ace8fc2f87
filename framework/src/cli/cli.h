/*
 * The brook command (docs/cli.md): operations on a Kafka cluster with the runtime's own code —
 * declarations (config/), provisioning (app/provision.h), Avro framing (brook/avro.h), the
 * failure headers (brook_record_failure_info), the producer and its transactions (produce/).
 * Not part of libbrook: a program linked with brook_internal and avro-c.
 *
 * One file per subcommand group (topics.c, consume.c, produce.c, dlt.c, groups.c) over the
 * shared pieces declared here: the command line and the connection (client.c), the schemas of
 * the declarations (catalog.c), Avro values as JSON (avro_json.c), reading a topic up to its
 * end offsets (read.c). Everything runs on the main thread.
 */
#ifndef BROOK_CLI_H
#define BROOK_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include <avro.h>
#include <librdkafka/rdkafka.h>

#include "brook/avro.h"
#include "brook/brook.h"
#include "config/decl.h"

/* Exit codes, one per outcome (docs/cli.md). */
typedef enum {
    BROOK_CLI_OK = 0,      /* done */
    BROOK_CLI_USAGE = 1,   /* bad command line or declaration file */
    BROOK_CLI_NOTHING = 2, /* not found, or nothing to do */
    BROOK_CLI_KAFKA = 3, /* the cluster (or the schema registry) could not be reached or refused */
    BROOK_CLI_REFUSED = 4, /* refused for safety: the group has active members */
    BROOK_CLI_DATA = 5,    /* input that does not fit: a JSON line, a value for its schema */
} brook__cli_exit_t;

typedef struct brook__cli_s brook__cli_t;
typedef struct brook__cli_catalog_s brook__cli_catalog_t;

/* One subcommand: `brook <group> [<name>] ...`. */
typedef struct brook__cli_cmd_s {
    const char *group;
    const char *name; /* NULL for a one-word command (consume, produce) */
    const char *synopsis;
    const char *brief;   /* a few words, for `brook --help` */
    const char *summary; /* what it does, for `brook <command> --help` */
    const char *help;    /* its options, one per line */
    int (*run)(brook__cli_t *cli, int argc, char **argv);
} brook__cli_cmd_t;

extern const brook__cli_cmd_t brook__cli_topics_apply, brook__cli_topics_describe,
    brook__cli_consume, brook__cli_produce, brook__cli_dlt_list, brook__cli_dlt_replay,
    brook__cli_groups_lag, brook__cli_offsets_reset;

struct brook__cli_s {
    const brook__cli_cmd_t *cmd;
    const char *bootstrap_opt; /* --bootstrap */
    char **decl_paths;         /* --decl, in order (borrowed from argv) */
    size_t decl_count;
    brook_decl_t **decls; /* parsed by brook__cli_prepare */
    /* The command's own declaration: name "brook-cli", the kafka properties of the first
     * --decl that has some, then BROOK_KAFKA_*; the bootstrap in use. */
    brook_decl_t *client;
    const char *bootstrap;
    brook__cli_catalog_t *catalog; /* NULL until brook__cli_catalog() */
    bool verbose;
    bool help; /* --help was asked for */
};

/* ---- command line (client.c) ------------------------------------------------------------- */

/* getopt_long over the subcommand's options `own` and the common ones (--bootstrap, --decl,
 * --verbose, --help), which it handles itself. Returns an option of `own`, -1 at the end, or
 * '?' for a bad option or --help (cli->help tells which). Positionals are then
 * argv[optind..argc). */
int brook__cli_getopt(brook__cli_t *cli, int argc, char **argv, const struct option *own);
/* Prints the command's help (to stdout after --help, else a usage line to stderr) and returns
 * BROOK_CLI_OK or BROOK_CLI_USAGE. */
int brook__cli_usage(brook__cli_t *cli);
/* "brook: <message>" on stderr (the progress line cleared first); returns code. */
int brook__cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A whole non-negative number, or false. */
bool brook__cli_parse_count(const char *s, int64_t *out);

/* Parses the --decl files, makes the client declaration and picks the bootstrap: --bootstrap,
 * else BROOK_BOOTSTRAP, else the first declaration's that names a cluster. Returns an exit
 * code, having said what is wrong. */
int brook__cli_prepare(brook__cli_t *cli);
void brook__cli_cleanup(brook__cli_t *cli);
/* A declaration for the runtime's own code the command runs (the producer): service
 * "brook-cli", `more` declaration text (templates), the kafka properties of the first --decl
 * that has some, BROOK_KAFKA_* and the bootstrap in use. NULL and err on failure; free with
 * brook_decl_destroy. */
brook_decl_t *brook__cli_decl(brook__cli_t *cli, const char *more, brook_error_t *err);

/* ---- the cluster (client.c) -------------------------------------------------------------- */

/* A client of the cluster with the client declaration's properties. A consumer gets group.id
 * `group` (NULL: none, it never commits), read_committed, no auto commit, partition EOF events;
 * a producer is a plain one (for Admin requests). `extra`: more properties, name and value
 * pairs, NULL-terminated (may be NULL). NULL after saying why. */
rd_kafka_t *brook__cli_client(brook__cli_t *cli, rd_kafka_type_t type, const char *group,
                              const char *const *extra);
/* brook__cli_prepare, then brook__cli_client: 0 and *rk, or an exit code having said why. */
int brook__cli_connect(brook__cli_t *cli, rd_kafka_type_t type, const char *group, rd_kafka_t **rk);
/* The same in two steps, for callbacks to be set between: the configuration (NULL after
 * saying why), then the client, which takes the configuration (NULL after saying why). */
rd_kafka_conf_t *brook__cli_conf(brook__cli_t *cli, rd_kafka_type_t type, const char *group,
                                 const char *const *extra);
rd_kafka_t *brook__cli_new(rd_kafka_type_t type, rd_kafka_conf_t *conf);
/* Takes (assign) or gives back `parts` in a rebalance callback as the group's protocol wants:
 * all at once (eager) or incrementally (cooperative, as Brook's listeners use). */
void brook__cli_rebalance(rd_kafka_t *rk, bool assign, rd_kafka_topic_partition_list_t *parts);
/* The cluster's metadata of `topic` (NULL: all topics): 0, or an exit code having said why. A
 * missing topic is BROOK_CLI_NOTHING. */
int brook__cli_metadata(brook__cli_t *cli, rd_kafka_t *rk, const char *topic,
                        const struct rd_kafka_metadata **md);
/* The partition count of `topic`, or an exit code (negated) having said why. */
int brook__cli_partitions(brook__cli_t *cli, rd_kafka_t *rk, const char *topic);
/* Low and high watermarks of every partition of `list` into its entries' offset (high) and,
 * when `low` is not NULL, low[i]. 0 or BROOK_CLI_KAFKA having said why. */
int brook__cli_watermarks(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list, int64_t *low);
/* Every partition of `topic` (count `partitions`) added to list. */
void brook__cli_add_partitions(rd_kafka_topic_partition_list_t *list, const char *topic,
                               int partitions);

/* SIGINT/SIGTERM ask the running command to stop (consume --follow, a replay between batches). */
void brook__cli_catch_signals(void);
bool brook__cli_stopping(void);

/* The single updating line on a terminal (stderr), at most ten times a second; nothing when
 * stderr is not a terminal. */
void brook__cli_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void brook__cli_progress_end(void);

/* ---- bytes as text (client.c) ------------------------------------------------------------ */

/* Valid UTF-8; with `text`, also no control characters but tab, CR and LF: what is shown as
 * text rather than base64. */
bool brook__cli_is_utf8(const void *data, size_t len, bool text);
/* Appends the RFC 4648 base64 of data. */
int brook__cli_base64(brook_buf_t *out, const void *data, size_t len);
/* Appends a JSON string of len bytes of UTF-8 (brook__cli_is_utf8) without NUL. */
int brook__cli_json_text(brook_buf_t *out, const void *data, size_t len);
/* "2024-05-01T12:00:00.123Z" for epoch ms; "-" when negative. */
void brook__cli_iso_time(int64_t ms, char *out, size_t size);

/* ---- schemas of the declarations (catalog.c) ---------------------------------------------- */

/* One Avro named type of the declarations' schemas (writer_schemas included), standalone. */
typedef struct {
    char *name;           /* full name */
    char *canonical;      /* Parsing Canonical Form */
    uint64_t fingerprint; /* CRC-64-AVRO of canonical: the single-object fingerprint */
    bool writer_only;     /* from writer_schemas: an older version */
    avro_schema_t schema;
    avro_value_iface_t *iface;
    /* The runtime's bounds-checked reader of the schema (serde/avro_resolve.h, writer and
     * reader alike): what avro-c reads has passed it, since avro-c trusts the lengths in the
     * data (a DLT's records are the malformed ones). */
    struct brook__avro_resolver_s *check;
} brook__cli_schema_t;

/* The catalog of the --decl files' schemas (built on first use). NULL after saying why. */
brook__cli_catalog_t *brook__cli_catalog(brook__cli_t *cli);
void brook__cli_catalog_free(brook__cli_catalog_t *c);
/* How many types the catalog holds. */
size_t brook__cli_catalog_size(const brook__cli_catalog_t *c);
const brook__cli_schema_t *brook__cli_catalog_fingerprint(const brook__cli_catalog_t *c,
                                                          uint64_t fingerprint);
/* The current (not writer-only) schema of a full name. */
const brook__cli_schema_t *brook__cli_catalog_name(const brook__cli_catalog_t *c, const char *name);
/* The schema a Confluent schema id names: the type of a template declaring that schema_id,
 * else the writer schema added for it by brook__cli_catalog_add_id. */
const brook__cli_schema_t *brook__cli_catalog_schema_id(const brook__cli_catalog_t *c, int32_t id);
/* Adds the writer schema of Confluent schema id `id` that no template declares, as the schema
 * registry holds it (`schema_json`, any form; a type's own name, or its canonical form when it
 * has none, becomes the schema's name): parsed once, and brook__cli_catalog_schema_id finds it
 * from then on. Borrowed, valid until the catalog is freed; NULL and err (BROOK_ERR_SCHEMA
 * saying why) when it is not a schema avro-c reads. */
const brook__cli_schema_t *brook__cli_catalog_add_id(brook__cli_catalog_t *c, int32_t id,
                                                     const char *schema_json, brook_error_t *err);

/* ---- Avro values as JSON (avro_json.c) ---------------------------------------------------- */

/* Decodes one datum written with s (no framing) and appends its Avro JSON encoding: what the
 * generated T_to_json writes. BROOK_ERR_DECODE with a message when it does not fit s. */
int brook__cli_avro_to_json(const brook__cli_schema_t *s, const void *data, size_t len,
                            brook_buf_t *out, brook_error_t *err);
/* Encodes `j` (Avro JSON encoding of s) as Avro binary appended to out. BROOK_ERR_ENCODE with a
 * message naming where it does not fit from `root`, e.g. "value.items[2].price: expected a
 * long". */
int brook__cli_avro_from_json(const brook__cli_schema_t *s, const brook_json_t *j, const char *root,
                              brook_buf_t *out, brook_error_t *err);

/* ---- reading a topic (read.c) ------------------------------------------------------------- */

typedef enum {
    BROOK_CLI_FROM_END = 0,   /* only what comes after the start */
    BROOK_CLI_FROM_BEGINNING, /* the first record kept */
    BROOK_CLI_FROM_OFFSETS,   /* read_opts.offsets */
} brook__cli_from_t;

typedef struct {
    const char *topic;
    int32_t partition; /* -1: every partition */
    brook__cli_from_t from;
    /* BROOK_CLI_FROM_OFFSETS: where each partition starts (offset < 0: the beginning). */
    const rd_kafka_topic_partition_list_t *offsets;
    /* A member of this consumer group (NULL: none): starts at its committed offsets (`from`
     * where it has none) and commits what fn took. */
    const char *group;
    bool follow; /* read on past the end offsets of the start, until SIGINT */
    int64_t max; /* records at most (0: no limit) */
    bool quiet;  /* no progress line */
} brook__cli_read_opts_t;

/* Called for each record, in offset order per partition. `r` is borrowed for the call.
 * Returns 0 to go on, 1 to stop, or an exit code (> 1) to stop with it. */
typedef int(brook__cli_record_fn)(const brook_record_t *r, void *opaque);

/* Reads o->topic from where `o` says up to the end offsets it had at the start (or on, with
 * follow), calling fn for each record. Returns 0 or an exit code, having said why. */
int brook__cli_read(brook__cli_t *cli, const brook__cli_read_opts_t *o, brook__cli_record_fn *fn,
                    void *opaque);

#endif
