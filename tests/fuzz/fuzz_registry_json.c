/* libFuzzer target for how the schema registry client reads answers
 * (framework/src/registry/registry.c): brook__registry_schema_answer (GET /schemas/ids/<id>,
 * what a listener asks for the writer schema of a Confluent id) and brook__registry_id_answer
 * (registering or looking up a template's schema), the same code the client runs on what
 * libcurl received.
 *
 *   byte 0   the HTTP status: one of 200, 404, 409, 422, 500, 401, 301, 204 (low 3 bits);
 *            bit 3: auto_register
 *   then     the answer's body
 *
 * Properties: nothing crashes, reads out of bounds or leaks; success only with status 200 and
 * exactly what the answer says (the "schema" string, whole; the "id", a schema id: an int of
 * 0..2^31-1); a failure says why and is classified as registry.h documents it
 * (BROOK_ERR_NOT_FOUND only for a 404, BROOK_ERR_UNAVAILABLE only for a server error).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

static brook__registry_t *registry;
static brook_decl_registry_t decl;

static void check_failure(int rc, long status, const brook_error_t *err) {
    if (rc == 0 || err->code != rc || !err->message[0])
        abort();
    if (rc == BROOK_ERR_NOT_FOUND && status != 404)
        abort();
    if (rc == BROOK_ERR_UNAVAILABLE && status < 500)
        abort();
    if (rc != BROOK_ERR_NOT_FOUND && rc != BROOK_ERR_UNAVAILABLE && rc != BROOK_ERR_SCHEMA &&
        rc != BROOK_ERR_IO) {
        fprintf(stderr, "unexpected error %d: %s\n", rc, err->message);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!registry) {
        decl.declared = true;
        decl.url = "http://registry.invalid:8081/";
        decl.timeout_ms = 1000;
        decl.cache_capacity = 10;
        brook_error_t err;
        if (!(registry = brook__registry_new(&decl, &err)))
            abort();
    }
    if (size < 1)
        return 0;
    static const long statuses[] = {200, 404, 409, 422, 500, 401, 301, 204};
    long status = statuses[data[0] & 7];
    bool auto_register = data[0] & 8;
    /* the body in an allocation of its own size: a read past it is caught */
    size_t len = size - 1;
    uint8_t *body = malloc(len ? len : 1);
    memcpy(body, data + 1, len);
    json_t *doc = json_loadb((const char *)body, len, 0, NULL);

    brook_error_t err = {0};
    char *schema = NULL;
    int rc = brook__registry_schema_answer(registry, 42, status, body, len, &schema, &err);
    if (rc == 0) {
        json_t *s = json_object_get(doc, "schema");
        if (status != 200 || !schema || !json_is_string(s) ||
            strlen(schema) != json_string_length(s) || strcmp(schema, json_string_value(s)))
            abort();
    } else {
        check_failure(rc, status, &err);
        if (schema)
            abort();
    }
    free(schema);

    int32_t id = -1;
    memset(&err, 0, sizeof err);
    rc = brook__registry_id_answer(registry, "orders-value", auto_register, status, body, len, &id,
                                   &err);
    if (rc == 0) {
        json_t *v = json_object_get(doc, "id");
        if (status != 200 || !json_is_integer(v) || json_integer_value(v) != id || id < 0) {
            fprintf(stderr, "id %d taken from %.*s\n", (int)id, (int)len, (const char *)body);
            abort();
        }
    } else {
        check_failure(rc, status, &err);
        if (rc == BROOK_ERR_NOT_FOUND && auto_register)
            abort(); /* registering answers 404 only for a wrong URL */
    }
    json_decref(doc);
    free(body);
    return 0;
}
