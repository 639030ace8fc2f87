/*
 * The schema registry client: Confluent's REST API (as Confluent Schema Registry, Karapace and
 * Apicurio's ccompat API serve it) over libcurl, JSON through jansson. Templates register or
 * look up their schemas at start; decoders fetch the writer schema of an id they do not know,
 * once per process: a cache shared by every thread, bounded, with concurrent lookups of one id
 * coalesced into one request. docs/schema-registry.md.
 *
 * Errors: BROOK_ERR_UNAVAILABLE when the registry cannot be reached or answers with a server
 * error (worth trying again), BROOK_ERR_NOT_FOUND when it answers that the id, subject or
 * schema does not exist, BROOK_ERR_SCHEMA when it refuses a schema (incompatible, invalid) or
 * the id names a schema that is not Avro, BROOK_ERR_IO for any other answer (credentials
 * refused, not a registry).
 */
#ifndef BROOK_REGISTRY_H
#define BROOK_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "brook/brook.h"
#include "config/decl.h"

typedef struct brook__registry_s brook__registry_t;

/* `d` is borrowed and must outlive the client. */
brook__registry_t *brook__registry_new(const brook_decl_registry_t *d, brook_error_t *err);
void brook__registry_free(brook__registry_t *r);

/* The subject a schema goes under: "<topic>-key"/"<topic>-value", "<record>" or
 * "<topic>-<record>" by the strategy. */
void brook__registry_subject(brook_subject_strategy_t strategy, const char *topic, bool is_key,
                             const char *record_name, char *out, size_t out_size);

/* The id of `schema_json` under `subject`: registered (`auto_register`) or looked up. */
int brook__registry_schema_id(brook__registry_t *r, const char *subject, const char *schema_json,
                              bool auto_register, int32_t *id, brook_error_t *err);

/* The writer schema of `id` as the registry holds it (*schema_json malloc'd, the caller
 * frees it). Served from the cache after the first time; an id the registry did not know is
 * remembered for a few seconds, so a stream of records with a bad id costs few requests. */
int brook__registry_schema(brook__registry_t *r, int32_t id, char **schema_json,
                           brook_error_t *err);

typedef struct {
    bool compatible;
    bool subject_exists; /* false: nothing registered yet, so anything is compatible */
    char level[32];      /* the subject's compatibility level (or the registry's default) */
    char reason[512];    /* why not, when the registry says */
} brook__registry_compat_t;

/* Whether the subject's compatibility level accepts `schema_json` as its next version. */
int brook__registry_check(brook__registry_t *r, const char *subject, const char *schema_json,
                          brook__registry_compat_t *out, brook_error_t *err);

/* How the client reads the registry's answers, apart from the requests (the fuzz target
 * tests/fuzz/fuzz_registry_json.c feeds them any bytes): `status` is the HTTP status, `body`
 * and `len` the answer's bytes as received (may be NULL), `r` names the registry in errors.
 * The answer to registering or looking up a schema (brook__registry_schema_id): *id or an
 * error as that function gives it. */
int brook__registry_id_answer(const brook__registry_t *r, const char *subject, bool auto_register,
                              long status, const void *body, size_t len, int32_t *id,
                              brook_error_t *err);
/* The answer to GET /schemas/ids/<id>: *schema_json (malloc'd, the caller frees it) or an
 * error (BROOK_ERR_NOT_FOUND: the registry does not know the id; BROOK_ERR_SCHEMA: not Avro). */
int brook__registry_schema_answer(const brook__registry_t *r, int32_t id, long status,
                                  const void *body, size_t len, char **schema_json,
                                  brook_error_t *err);

/* HTTP requests this client has sent, and those of them that got no answer or a server error
 * (the registry unavailable). */
uint64_t brook__registry_requests(const brook__registry_t *r);
uint64_t brook__registry_failures(const brook__registry_t *r);

#endif
