/* The schema registry client (registry/registry.h) against a registry played in-process by
 * libmicrohttpd: the id cache (one request per id, concurrent lookups coalesced, bounded with
 * the least recently used id dropped first, unknown ids remembered, failures not), the mapping
 * of answers to error codes, registration and lookup, compatibility checks (Confluent's and
 * Apicurio's answers), subject names, and the requests themselves (paths, bodies, headers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "registry/registry.h"

/* ---- the registry, played by libmicrohttpd -------------------------------------------------
 *
 * GET  /schemas/ids/<id>       ids 1..99: {"schema": SCHEMA_OF(id)} (after `delay_ms`);
 *                              `fail_id`: 500; 77: a PROTOBUF schema; others: 404 40403
 * POST /subjects/<s>/versions  "bad-value": 409; others: {"id": 7}
 * POST /subjects/<s>           "good-value": {"id": 7, ...}; others: 404 40403
 * GET  /config/<s>             "leveled": FULL; others: 404 40408
 * GET  /config                 BACKWARD
 * POST /compatibility/subjects/<s>/versions/latest
 *                              "ok": compatible; "confluent": messages; "apicurio": reason;
 *                              others: 404 40401
 * Every request is counted under "<METHOD> <path>" (the path as the server saw it). */

#define MAX_PATHS 64

typedef struct {
    char key[256];
    int count;
} path_count_t;

static struct {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    /* what it does */
    int delay_ms;
    int fail_id;
    /* what it saw */
    path_count_t paths[MAX_PATHS];
    size_t path_count;
    int total;
    char last_body[1024];
    char last_content_type[128];
    char last_verbose[16];
    int64_t answered_ms; /* when the last schema by id was answered (after the delay) */
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void schema_of(int id, char *out, size_t n) {
    snprintf(out, n,
             "{\"type\":\"record\",\"name\":\"t.R%d\",\"doc\":\"a \\\"quoted\\\" doc\","
             "\"fields\":[{\"name\":\"n\",\"type\":\"int\"}]}",
             id);
}

static int count_of(const char *key) {
    pthread_mutex_lock(&srv.lock);
    int n = 0;
    for (size_t i = 0; i < srv.path_count; i++)
        if (!strcmp(srv.paths[i].key, key))
            n = srv.paths[i].count;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

static int total_requests(void) {
    pthread_mutex_lock(&srv.lock);
    int n = srv.total;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

static int id_requests(int id) {
    char key[64];
    snprintf(key, sizeof(key), "GET /schemas/ids/%d", id);
    return count_of(key);
}

/* Called with srv.lock held. */
static void record_request(const char *method, const char *url) {
    char key[256];
    snprintf(key, sizeof(key), "%s %s", method, url);
    srv.total++;
    for (size_t i = 0; i < srv.path_count; i++)
        if (!strcmp(srv.paths[i].key, key)) {
            srv.paths[i].count++;
            return;
        }
    if (srv.path_count < MAX_PATHS) {
        snprintf(srv.paths[srv.path_count].key, sizeof(srv.paths[0].key), "%s", key);
        srv.paths[srv.path_count++].count = 1;
    }
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *text) {
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    if (!copy)
        return MHD_NO;
    memcpy(copy, text, n + 1);
    struct MHD_Response *r = MHD_create_response_from_buffer(n, copy, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(copy);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/vnd.schemaregistry.v1+json");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* The body of a request, collected over the handler's calls. */
typedef struct {
    char data[4096];
    size_t len;
} upload_t;

static bool segment_after(const char *url, const char *prefix, const char *suffix, char *out,
                          size_t n) {
    size_t p = strlen(prefix), s = strlen(suffix), u = strlen(url);
    if (u <= p + s || strncmp(url, prefix, p) || strcmp(url + u - s, suffix))
        return false;
    size_t len = u - p - s;
    if (len >= n || memchr(url + p, '/', len))
        return false;
    memcpy(out, url + p, len);
    out[len] = 0;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)cls;
    (void)version;
    upload_t *up = *con_cls;
    if (!up) {
        if (!(up = calloc(1, sizeof(*up))))
            return MHD_NO;
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t room = sizeof(up->data) - 1 - up->len;
        size_t n = *upload_data_size < room ? *upload_data_size : room;
        memcpy(up->data + up->len, upload_data, n);
        up->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }

    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *verbose = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "verbose");
    pthread_mutex_lock(&srv.lock);
    record_request(method, url);
    if (!strcmp(method, "POST")) {
        snprintf(srv.last_body, sizeof(srv.last_body), "%.*s", (int)up->len, up->data);
        snprintf(srv.last_content_type, sizeof(srv.last_content_type), "%s", type ? type : "");
        snprintf(srv.last_verbose, sizeof(srv.last_verbose), "%s", verbose ? verbose : "");
    }
    int delay_ms = srv.delay_ms, fail_id = srv.fail_id;
    pthread_mutex_unlock(&srv.lock);

    char s[256], body[1024];
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (get && segment_after(url, "/schemas/ids/", "", s, sizeof(s))) {
        int id = atoi(s);
        if (delay_ms)
            usleep((useconds_t)delay_ms * 1000);
        pthread_mutex_lock(&srv.lock);
        srv.answered_ms = brook__now_ms();
        pthread_mutex_unlock(&srv.lock);
        if (id == fail_id)
            return answer(c, 500, "{\"error_code\":50001,\"message\":\"store unavailable\"}");
        if (id == 77)
            return answer(c, 200, "{\"schemaType\":\"PROTOBUF\",\"schema\":\"message M {}\"}");
        if (id < 1 || id > 99) {
            snprintf(body, sizeof(body),
                     "{\"error_code\":40403,\"message\":\"Schema %d not found\"}", id);
            return answer(c, 404, body);
        }
        char schema[512];
        schema_of(id, schema, sizeof(schema));
        json_t *j = json_pack("{s:s}", "schema", schema);
        char *text = json_dumps(j, JSON_COMPACT);
        enum MHD_Result rc = answer(c, 200, text);
        free(text);
        json_decref(j);
        return rc;
    }
    if (post && segment_after(url, "/subjects/", "/versions", s, sizeof(s))) {
        if (!strcmp(s, "bad-value"))
            return answer(c, 409,
                          "{\"error_code\":409,\"message\":\"Schema being registered is "
                          "incompatible with an earlier schema for subject \\\"bad-value\\\"\"}");
        return answer(c, 200, "{\"id\":7}");
    }
    if (post && segment_after(url, "/subjects/", "", s, sizeof(s))) {
        if (!strcmp(s, "good-value"))
            return answer(c, 200,
                          "{\"subject\":\"good-value\",\"id\":7,\"version\":3,\"schema\":\"\"}");
        return answer(c, 404, "{\"error_code\":40403,\"message\":\"Schema not found\"}");
    }
    if (get && !strcmp(url, "/config"))
        return answer(c, 200, "{\"compatibilityLevel\":\"BACKWARD\"}");
    if (get && segment_after(url, "/config/", "", s, sizeof(s))) {
        if (!strcmp(s, "leveled"))
            return answer(c, 200, "{\"compatibilityLevel\":\"FULL\"}");
        return answer(c, 404,
                      "{\"error_code\":40408,\"message\":\"Subject does not have subject-level "
                      "compatibility configured\"}");
    }
    if (post && segment_after(url, "/compatibility/subjects/", "/versions/latest", s, sizeof(s))) {
        if (!strcmp(s, "ok"))
            return answer(c, 200, "{\"is_compatible\":true}");
        if (!strcmp(s, "confluent"))
            return answer(c, 200,
                          "{\"is_compatible\":false,\"messages\":[\"READER_FIELD_MISSING_DEFAULT_"
                          "VALUE n\",\"TYPE_MISMATCH m\"]}");
        if (!strcmp(s, "apicurio"))
            return answer(c, 200,
                          "{\"is_compatible\":false,\"reason\":\"field n has no default\"}");
        snprintf(body, sizeof(body),
                 "{\"error_code\":40401,\"message\":\"Subject '%s' not found.\"}", s);
        return answer(c, 404, body);
    }
    return answer(c, 404, "{\"error_code\":404,\"message\":\"HTTP 404 Not Found\"}");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static int server_start(void **state) {
    (void)state;
    pthread_mutex_lock(&srv.lock);
    srv.delay_ms = 0;
    srv.fail_id = 0;
    srv.path_count = 0;
    srv.total = 0;
    srv.last_body[0] = srv.last_content_type[0] = srv.last_verbose[0] = 0;
    srv.answered_ms = 0;
    pthread_mutex_unlock(&srv.lock);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!srv.daemon)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv.port = info ? info->port : 0;
    return srv.port ? 0 : -1;
}

static int server_stop(void **state) {
    (void)state;
    MHD_stop_daemon(srv.daemon);
    srv.daemon = NULL;
    return 0;
}

/* ---- the client ------------------------------------------------------------------------- */

static char url[128];

static brook_decl_registry_t decl_for(const char *suffix, int cache_capacity) {
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv.port, suffix);
    return (brook_decl_registry_t){.declared = true,
                                   .url = url,
                                   .subject_strategy = BROOK_SUBJECT_TOPIC,
                                   .auto_register = true,
                                   .ssl_verify = true,
                                   .timeout_ms = 10000,
                                   .cache_capacity = cache_capacity};
}

static void assert_schema(brook__registry_t *r, int id) {
    char *schema = NULL, expected[512];
    brook_error_t err = {0};
    schema_of(id, expected, sizeof(expected));
    assert_int_equal(brook__registry_schema(r, id, &schema, &err), 0);
    assert_non_null(schema);
    assert_string_equal(schema, expected);
    free(schema);
}

/* 1. Served from the cache after the first time; every caller gets its own copy. */
static void test_known_id_cached(void **state) {
    brook_decl_registry_t d = decl_for("", 1000);
    brook_error_t err = {0};
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    assert_schema(r, 5);
    assert_int_equal(id_requests(5), 1);
    for (int i = 0; i < 100; i++)
        assert_schema(r, 5);
    assert_int_equal(id_requests(5), 1);
    assert_int_equal(total_requests(), 1);
    assert_int_equal(brook__registry_requests(r), 1);
    assert_int_equal(brook__registry_failures(r), 0);
    brook__registry_free(r);
}

/* 2. Eight threads ask for one id while the registry takes 200 ms: one request for all. */
typedef struct {
    brook__registry_t *r;
    pthread_barrier_t *barrier;
    int rc;
    char *schema;
    int64_t started_ms;
} asker_t;

static void *ask(void *opaque) {
    asker_t *a = opaque;
    brook_error_t err = {0};
    pthread_barrier_wait(a->barrier);
    a->started_ms = brook__now_ms();
    a->rc = brook__registry_schema(a->r, 9, &a->schema, &err);
    return NULL;
}

static void test_coalescing(void **state) {
    brook_decl_registry_t d = decl_for("", 1000);
    brook_error_t err = {0};
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    pthread_mutex_lock(&srv.lock);
    srv.delay_ms = 200;
    pthread_mutex_unlock(&srv.lock);
    enum { THREADS = 8 };
    pthread_t threads[THREADS];
    asker_t askers[THREADS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        askers[i] = (asker_t){.r = r, .barrier = &barrier, .rc = -1};
        assert_int_equal(pthread_create(&threads[i], NULL, ask, &askers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);
    char expected[512];
    schema_of(9, expected, sizeof(expected));
    pthread_mutex_lock(&srv.lock);
    int64_t answered_ms = srv.answered_ms;
    pthread_mutex_unlock(&srv.lock);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(askers[i].rc, 0);
        assert_non_null(askers[i].schema);
        assert_string_equal(askers[i].schema, expected);
        assert_ptr_not_equal(askers[i].schema, askers[(i + 1) % THREADS].schema);
        /* Every thread asked before the registry answered: none was served by a full cache,
         * so one request means the lookups were coalesced. */
        assert_true(askers[i].started_ms <= answered_ms);
    }
    for (int i = 0; i < THREADS; i++)
        free(askers[i].schema);
    assert_int_equal(id_requests(9), 1);
    assert_int_equal(brook__registry_requests(r), 1);
    brook__registry_free(r);
}

/* 2b. The same while the registry fails: the one request's error is every thread's (they do
 * not each ask again, one after another). */
static void test_coalescing_failure(void **state) {
    brook_decl_registry_t d = decl_for("", 1000);
    brook_error_t err = {0};
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    pthread_mutex_lock(&srv.lock);
    srv.delay_ms = 200;
    srv.fail_id = 9;
    pthread_mutex_unlock(&srv.lock);
    enum { THREADS = 8 };
    pthread_t threads[THREADS];
    asker_t askers[THREADS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        askers[i] = (asker_t){.r = r, .barrier = &barrier, .rc = -1};
        assert_int_equal(pthread_create(&threads[i], NULL, ask, &askers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(askers[i].rc, BROOK_ERR_UNAVAILABLE);
        assert_null(askers[i].schema);
    }
    assert_int_equal(id_requests(9), 1);
    /* Not remembered: the next lookup asks again. */
    pthread_mutex_lock(&srv.lock);
    srv.fail_id = 0;
    pthread_mutex_unlock(&srv.lock);
    assert_schema(r, 9);
    assert_int_equal(id_requests(9), 2);
    brook__registry_free(r);
}

/* 3. cache_capacity 2: the least recently used id goes first. */
static void test_bounded_lru(void **state) {
    brook_decl_registry_t d = decl_for("", 2);
    brook_error_t err = {0};
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    assert_schema(r, 1);
    assert_schema(r, 2);
    assert_schema(r, 3); /* drops 1 */
    assert_int_equal(total_requests(), 3);
    assert_schema(r, 1); /* asked again; drops 2 */
    assert_int_equal(id_requests(1), 2);
    assert_int_equal(total_requests(), 4);
    assert_schema(r, 3); /* still there */
    assert_int_equal(total_requests(), 4);
    brook__registry_free(r);

    r = brook__registry_new(&d, &err);
    assert_non_null(r);
    assert_schema(r, 1);
    assert_schema(r, 2);
    assert_schema(r, 1); /* from the cache: 1 is now more recent than 2 */
    assert_int_equal(total_requests(), 6);
    assert_schema(r, 3); /* drops 2, not 1 */
    assert_int_equal(total_requests(), 7);
    assert_schema(r, 1); /* still cached */
    assert_int_equal(id_requests(1), 3);
    assert_int_equal(total_requests(), 7);
    assert_schema(r, 2); /* was dropped */
    assert_int_equal(id_requests(2), 3);
    assert_int_equal(total_requests(), 8);
    assert_int_equal(brook__registry_requests(r), 4);
    brook__registry_free(r);
}

/* 4. An id the registry does not know: NOT_FOUND naming it, remembered for a while. */
static void test_unknown_id(void **state) {
    brook_decl_registry_t d = decl_for("", 1000);
    brook_error_t err = {0};
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    char *schema = (char *)"not reset";
    assert_int_equal(brook__registry_schema(r, 4242, &schema, &err), BROOK_ERR_NOT_FOUND);
    assert_null(schema);
    assert_int_equal(err.code, BROOK_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "schema id 4242 is not in the schema registry"));
    assert_non_null(strstr(err.message, "Schema 4242 not found")); /* the registry's message */
    assert_int_equal(id_requests(4242), 1);

    memset(&err, 0, sizeof(err));
    assert_int_equal(brook__registry_schema(r, 4242, &schema, &err), BROOK_ERR_NOT_FOUND);
    assert_null(schema);
    assert_non_null(strstr(err.message, "schema id 4242"));
    assert_int_equal(id_requests(4242), 1); /* answered from memory */

    /* Another unknown id is asked for; known ids are unaffected. */
    assert_int_equal(brook__registry_schema(r, 4243, &schema, &err), BROOK_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "schema id 4243"));
    assert_int_equal(id_requests(4243), 1);
    assert_schema(r, 1);
    assert_int_equal(total_requests(), 3);
    assert_int_equal(brook__registry_failures(r), 0); /* a 404 is an answer */

    /* An id of a schema that is not Avro: BROOK_ERR_SCHEMA naming its type. */
    assert_int_equal(brook__registry_schema(r, 77, &schema, &err), BROOK_ERR_SCHEMA);
    assert_null(schema);
    assert_non_null(strstr(err.message, "schema id 77 is a PROTOBUF schema, not Avro"));
    brook__registry_free(r);
}

/* 5. A server error: UNAVAILABLE, counted as a failure, and asked again next time. */
static void test_server_error(void **state) {
    brook_decl_registry_t d = decl_for("", 1000);
    brook_error_t err = {0};
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    pthread_mutex_lock(&srv.lock);
    srv.fail_id = 13;
    pthread_mutex_unlock(&srv.lock);
    char *schema = NULL;
    assert_int_equal(brook__registry_schema(r, 13, &schema, &err), BROOK_ERR_UNAVAILABLE);
    assert_null(schema);
    assert_non_null(strstr(err.message, "HTTP 500"));
    assert_non_null(strstr(err.message, "store unavailable"));
    assert_non_null(strstr(err.message, url));
    assert_int_equal(id_requests(13), 1);
    assert_int_equal(brook__registry_failures(r), 1);

    assert_int_equal(brook__registry_schema(r, 13, &schema, &err), BROOK_ERR_UNAVAILABLE);
    assert_int_equal(id_requests(13), 2); /* not remembered */
    assert_int_equal(brook__registry_failures(r), 2);
    assert_int_equal(brook__registry_requests(r), 2);

    /* Once the registry is back, the id is served and cached. */
    pthread_mutex_lock(&srv.lock);
    srv.fail_id = 0;
    pthread_mutex_unlock(&srv.lock);
    assert_schema(r, 13);
    assert_schema(r, 13);
    assert_int_equal(id_requests(13), 3);
    assert_int_equal(brook__registry_failures(r), 2);
    brook__registry_free(r);
}

/* 6. Nothing listening: UNAVAILABLE with the registry's URL. */
static void test_no_server(void **state) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    char dead[64];
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", ntohs(sa.sin_port));
    brook_decl_registry_t d = decl_for("", 1000);
    d.url = dead;
    brook_error_t err = {0};
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    char *schema = NULL;
    assert_int_equal(brook__registry_schema(r, 1, &schema, &err), BROOK_ERR_UNAVAILABLE);
    assert_null(schema);
    assert_non_null(strstr(err.message, dead));
    assert_non_null(strstr(err.message, "GET /schemas/ids/1"));
    assert_int_equal(brook__registry_requests(r), 1);
    assert_int_equal(brook__registry_failures(r), 1);
    /* Not remembered either. */
    assert_int_equal(brook__registry_schema(r, 1, &schema, &err), BROOK_ERR_UNAVAILABLE);
    assert_int_equal(brook__registry_requests(r), 2);
    int32_t id = -1;
    assert_int_equal(brook__registry_schema_id(r, "t-value", "\"int\"", true, &id, &err),
                     BROOK_ERR_UNAVAILABLE);
    assert_int_equal(id, -1);
    assert_non_null(strstr(err.message, dead));
    assert_int_equal(brook__registry_failures(r), 3);
    assert_int_equal(total_requests(), 0); /* the test's server saw none of it */
    brook__registry_free(r);
}

/* The last POST carried {"schema": schema} as the registry's JSON (and ?verbose as given). */
static void assert_posted(const char *schema, const char *verbose) {
    pthread_mutex_lock(&srv.lock);
    char body[sizeof(srv.last_body)], type[sizeof(srv.last_content_type)];
    memcpy(body, srv.last_body, sizeof(body));
    memcpy(type, srv.last_content_type, sizeof(type));
    char v[sizeof(srv.last_verbose)];
    memcpy(v, srv.last_verbose, sizeof(v));
    pthread_mutex_unlock(&srv.lock);
    assert_string_equal(type, "application/vnd.schemaregistry.v1+json");
    assert_string_equal(v, verbose);
    json_error_t jerr;
    json_t *j = json_loads(body, 0, &jerr);
    assert_non_null(j);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 1);
    json_t *s = json_object_get(j, "schema");
    assert_true(json_is_string(s));
    assert_string_equal(json_string_value(s), schema);
    json_decref(j);
}

/* 7. Registering and looking up a schema's id, and the answers that refuse it. */
static void test_schema_id(void **state) {
    brook_decl_registry_t d = decl_for("", 1000);
    brook_error_t err = {0};
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    char schema[512];
    schema_of(3, schema, sizeof(schema)); /* has quotes to escape */
    int32_t id = -1;

    assert_int_equal(brook__registry_schema_id(r, "good-value", schema, true, &id, &err), 0);
    assert_int_equal(id, 7);
    assert_int_equal(count_of("POST /subjects/good-value/versions"), 1);
    assert_posted(schema, "");

    id = -1;
    assert_int_equal(brook__registry_schema_id(r, "bad-value", schema, true, &id, &err),
                     BROOK_ERR_SCHEMA);
    assert_int_equal(id, -1);
    assert_non_null(strstr(err.message, "subject \"bad-value\" as incompatible"));
    assert_non_null(strstr(err.message, "Schema being registered is incompatible"));
    assert_int_equal(count_of("POST /subjects/bad-value/versions"), 1);
    assert_posted(schema, "");

    assert_int_equal(brook__registry_schema_id(r, "good-value", schema, false, &id, &err), 0);
    assert_int_equal(id, 7);
    assert_int_equal(count_of("POST /subjects/good-value"), 1);
    assert_int_equal(count_of("POST /subjects/good-value/versions"), 1); /* not registered */
    assert_posted(schema, "");

    id = -1;
    assert_int_equal(brook__registry_schema_id(r, "missing-value", schema, false, &id, &err),
                     BROOK_ERR_NOT_FOUND);
    assert_int_equal(id, -1);
    assert_non_null(strstr(err.message, "not registered under subject \"missing-value\""));
    assert_int_equal(count_of("POST /subjects/missing-value"), 1);
    assert_int_equal(total_requests(), 4);
    assert_int_equal(brook__registry_failures(r), 0);
    brook__registry_free(r);
}

/* 8. Compatibility checks: the level (the subject's, else the registry's) and the verdict. */
static void test_check(void **state) {
    brook_decl_registry_t d = decl_for("", 1000);
    brook_error_t err = {0};
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    const char *schema = "{\"type\":\"record\",\"name\":\"t.C\",\"fields\":[]}";
    brook__registry_compat_t c;

    assert_int_equal(brook__registry_check(r, "ok", schema, &c, &err), 0);
    assert_true(c.compatible);
    assert_true(c.subject_exists);
    assert_string_equal(c.level, "BACKWARD"); /* no level of its own */
    assert_string_equal(c.reason, "");
    assert_int_equal(count_of("GET /config/ok"), 1);
    assert_int_equal(count_of("GET /config"), 1);
    assert_int_equal(count_of("POST /compatibility/subjects/ok/versions/latest"), 1);
    assert_posted(schema, "true");

    assert_int_equal(brook__registry_check(r, "leveled", schema, &c, &err), 0);
    assert_string_equal(c.level, "FULL");
    assert_int_equal(count_of("GET /config"), 1); /* the subject's level was enough */
    assert_true(c.compatible);                    /* no versions under "leveled" yet: 404 */
    assert_false(c.subject_exists);

    assert_int_equal(brook__registry_check(r, "confluent", schema, &c, &err), 0);
    assert_false(c.compatible);
    assert_true(c.subject_exists);
    assert_string_equal(c.level, "BACKWARD");
    assert_string_equal(c.reason, "READER_FIELD_MISSING_DEFAULT_VALUE n; TYPE_MISMATCH m");

    assert_int_equal(brook__registry_check(r, "apicurio", schema, &c, &err), 0);
    assert_false(c.compatible);
    assert_true(c.subject_exists);
    assert_string_equal(c.reason, "field n has no default");

    assert_int_equal(brook__registry_check(r, "new", schema, &c, &err), 0);
    assert_true(c.compatible);
    assert_false(c.subject_exists);
    assert_string_equal(c.level, "BACKWARD");
    assert_string_equal(c.reason, "");
    assert_int_equal(count_of("POST /compatibility/subjects/new/versions/latest"), 1);
    assert_int_equal(count_of("GET /config"), 4);
    assert_int_equal(total_requests(), 14);
    brook__registry_free(r);
}

/* 9. Subject names by strategy. */
static void test_subject(void **state) {
    char out[64];
    brook__registry_subject(BROOK_SUBJECT_TOPIC, "orders", false, "com.acme.Order", out,
                            sizeof(out));
    assert_string_equal(out, "orders-value");
    brook__registry_subject(BROOK_SUBJECT_TOPIC, "orders", true, "com.acme.Order", out,
                            sizeof(out));
    assert_string_equal(out, "orders-key");
    brook__registry_subject(BROOK_SUBJECT_RECORD, "orders", false, "com.acme.Order", out,
                            sizeof(out));
    assert_string_equal(out, "com.acme.Order");
    brook__registry_subject(BROOK_SUBJECT_RECORD, "orders", true, "com.acme.Order", out,
                            sizeof(out));
    assert_string_equal(out, "com.acme.Order");
    brook__registry_subject(BROOK_SUBJECT_TOPIC_RECORD, "orders", false, "com.acme.Order", out,
                            sizeof(out));
    assert_string_equal(out, "orders-com.acme.Order");
    char small[8];
    brook__registry_subject(BROOK_SUBJECT_TOPIC_RECORD, "orders", false, "com.acme.Order", small,
                            sizeof(small));
    assert_string_equal(small, "orders-"); /* truncated, terminated */
}

/* 10. A URL ending in '/' (or several): no "//" in the paths sent. */
static void test_trailing_slash(void **state) {
    static const char *const suffixes[] = {"/", "//"};
    for (size_t i = 0; i < 2; i++) {
        brook_decl_registry_t d = decl_for(suffixes[i], 1000);
        brook_error_t err = {0};
        brook__registry_t *r = brook__registry_new(&d, &err);
        assert_non_null(r);
        assert_schema(r, 1);
        int32_t id = -1;
        assert_int_equal(brook__registry_schema_id(r, "good-value", "\"int\"", true, &id, &err), 0);
        assert_int_equal(id, 7);
        brook__registry_free(r);
        assert_int_equal(id_requests(1), (int)i + 1);
        assert_int_equal(count_of("POST /subjects/good-value/versions"), (int)i + 1);
        assert_int_equal(total_requests(), 2 * ((int)i + 1));
    }
    pthread_mutex_lock(&srv.lock);
    size_t n = srv.path_count;
    path_count_t seen[MAX_PATHS];
    memcpy(seen, srv.paths, sizeof(seen));
    pthread_mutex_unlock(&srv.lock);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_null(strstr(seen[i].key, "//"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_id_cached, server_start, server_stop),
        cmocka_unit_test_setup_teardown(test_coalescing, server_start, server_stop),
        cmocka_unit_test_setup_teardown(test_coalescing_failure, server_start, server_stop),
        cmocka_unit_test_setup_teardown(test_bounded_lru, server_start, server_stop),
        cmocka_unit_test_setup_teardown(test_unknown_id, server_start, server_stop),
        cmocka_unit_test_setup_teardown(test_server_error, server_start, server_stop),
        cmocka_unit_test_setup_teardown(test_no_server, server_start, server_stop),
        cmocka_unit_test_setup_teardown(test_schema_id, server_start, server_stop),
        cmocka_unit_test_setup_teardown(test_check, server_start, server_stop),
        cmocka_unit_test(test_subject),
        cmocka_unit_test_setup_teardown(test_trailing_slash, server_start, server_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
