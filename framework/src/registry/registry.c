/* The schema registry client (registry/registry.h): requests, answers and the id cache. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "registry/registry.h"

/* How long an id the registry did not know is answered from memory. */
#define MISSING_TTL_MS 5000

/* ENTRY_FAILED: the request failed (no answer, a server error) while other threads waited
 * for it; they take its error, and the last one removes the entry. */
typedef enum { ENTRY_FETCHING, ENTRY_READY, ENTRY_MISSING, ENTRY_FAILED } entry_state_t;

typedef struct {
    int32_t id;
    entry_state_t state;
    char *schema;        /* ENTRY_READY */
    int64_t expires_ms;  /* ENTRY_MISSING */
    uint64_t used;       /* the cache's clock at the last use: the least recent goes first */
    unsigned waiters;    /* threads waiting for its request: it stays while there are any */
    brook_error_t error; /* ENTRY_FAILED */
} entry_t;

struct brook__registry_s {
    const brook_decl_registry_t *decl;
    char *base; /* url without a trailing '/' */
    atomic_uint_fast64_t requests, failures;
    pthread_mutex_t lock;
    pthread_cond_t fetched; /* an ENTRY_FETCHING entry changed */
    entry_t *entries;
    size_t count, cap;
    uint64_t clock;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) {
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

brook__registry_t *brook__registry_new(const brook_decl_registry_t *d, brook_error_t *err) {
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc) {
        brook_error_set(err, BROOK_ERR_IO, "schema registry: libcurl: %s",
                        curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    brook__registry_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->base = strdup(d->url))) {
        free(r);
        brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t n = strlen(r->base);
    while (n && r->base[n - 1] == '/')
        r->base[--n] = 0;
    r->decl = d;
    pthread_mutex_init(&r->lock, NULL);
    brook__cond_init_monotonic(&r->fetched);
    return r;
}

void brook__registry_free(brook__registry_t *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++)
        free(r->entries[i].schema);
    free(r->entries);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->fetched);
    free(r->base);
    free(r);
}

uint64_t brook__registry_requests(const brook__registry_t *r) {
    return r ? atomic_load(&r->requests) : 0;
}

uint64_t brook__registry_failures(const brook__registry_t *r) {
    return r ? atomic_load(&r->failures) : 0;
}

void brook__registry_subject(brook_subject_strategy_t strategy, const char *topic, bool is_key,
                             const char *record_name, char *out, size_t out_size) {
    switch (strategy) {
    case BROOK_SUBJECT_RECORD:
        snprintf(out, out_size, "%s", record_name);
        break;
    case BROOK_SUBJECT_TOPIC_RECORD:
        snprintf(out, out_size, "%s-%s", topic, record_name);
        break;
    case BROOK_SUBJECT_TOPIC:
    default:
        snprintf(out, out_size, "%s-%s", topic, is_key ? "key" : "value");
        break;
    }
}

/* ---- requests ------------------------------------------------------------------------------ */

typedef struct {
    long status;
    json_t *body;      /* the answer's JSON, or NULL */
    int error_code;    /* Confluent's error_code of an error answer, or 0 */
    char message[256]; /* its message */
} answer_t;

static size_t collect(char *data, size_t size, size_t n, void *opaque) {
    brook_buf_t *b = opaque;
    return brook_buf_append(b, data, size * n) ? 0 : size * n;
}

/* An answer's status and body: its JSON (NULL when it is not JSON), and the error_code and
 * message Confluent's error answers carry. */
static void answer_read(answer_t *out, long status, const void *body, size_t len) {
    memset(out, 0, sizeof(*out));
    out->status = status;
    out->body = json_loadb(body ? (const char *)body : "", body ? len : 0, 0, NULL);
    json_t *code = json_object_get(out->body, "error_code");
    json_t *message = json_object_get(out->body, "message");
    if (out->status >= 300 && json_is_integer(code))
        out->error_code = (int)json_integer_value(code);
    if (out->status >= 300)
        snprintf(out->message, sizeof(out->message), "%s",
                 json_is_string(message) ? json_string_value(message) : "");
}

/* One request: `body` (may be NULL) is sent as JSON. 0 with the answer (any status), or
 * BROOK_ERR_UNAVAILABLE when no answer came. */
static int request(brook__registry_t *r, const char *method, const char *path, json_t *body,
                   answer_t *out, brook_error_t *err) {
    const brook_decl_registry_t *d = r->decl;
    memset(out, 0, sizeof(*out));
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", r->base, path);
    CURL *c = curl_easy_init();
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!c || (body && !text)) {
        curl_easy_cleanup(c);
        free(text);
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    }
    struct curl_slist *headers =
        curl_slist_append(NULL, "Accept: application/vnd.schemaregistry.v1+json, "
                                "application/vnd.schemaregistry+json, application/json");
    if (text)
        headers =
            curl_slist_append(headers, "Content-Type: application/vnd.schemaregistry.v1+json");
    brook_buf_t received;
    brook_buf_init(&received);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (text)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &received);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* called from many threads */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "brook");
    if (d->username) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, d->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, d->password);
    }
    if (d->ca_location)
        curl_easy_setopt(c, CURLOPT_CAINFO, d->ca_location);
    if (d->certificate_location)
        curl_easy_setopt(c, CURLOPT_SSLCERT, d->certificate_location);
    if (d->key_location)
        curl_easy_setopt(c, CURLOPT_SSLKEY, d->key_location);
    if (d->key_password)
        curl_easy_setopt(c, CURLOPT_KEYPASSWD, d->key_password);
    if (!d->ssl_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    atomic_fetch_add(&r->requests, 1);
    CURLcode rc = curl_easy_perform(c);
    int result = 0;
    if (rc != CURLE_OK) {
        result = brook_error_set(err, BROOK_ERR_UNAVAILABLE, "schema registry %s: %s %s: %s",
                                 r->base, method, path, curl_easy_strerror(rc));
    } else {
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        answer_read(out, status, received.data, received.len);
    }
    if (rc != CURLE_OK || out->status >= 500)
        atomic_fetch_add(&r->failures, 1);
    brook_buf_free(&received);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    free(text);
    return result;
}

/* An answer that is neither success nor one the caller expects, as an error. */
static int unexpected(const brook__registry_t *r, const char *what, const answer_t *a,
                      brook_error_t *err) {
    int code = a->status >= 500 ? BROOK_ERR_UNAVAILABLE : BROOK_ERR_IO;
    return brook_error_set(err, code, "schema registry %s: %s: HTTP %ld%s%s", r->base, what,
                           a->status, a->message[0] ? ": " : "", a->message);
}

/* "/path/<escaped segment>/rest" */
static int path_with(char *out, size_t n, const char *before, const char *segment,
                     const char *after) {
    char *escaped = curl_easy_escape(NULL, segment, 0);
    if (!escaped)
        return BROOK_ERR_NOMEM;
    snprintf(out, n, "%s%s%s", before, escaped, after);
    curl_free(escaped);
    return 0;
}

static json_t *schema_body(const char *schema_json) {
    return json_pack("{s:s}", "schema", schema_json);
}

/* The id in an answer to registering (auto_register) or looking up a schema under subject. */
static int id_answer(const brook__registry_t *r, const char *subject, bool auto_register,
                     const answer_t *a, int32_t *id, brook_error_t *err) {
    json_t *v = json_object_get(a->body, "id");
    if (a->status == 200 && json_is_integer(v)) {
        /* Confluent framing carries an id of 4 bytes, and registries give ids from 0 (1) up:
         * anything else would be cut to some other schema's id. */
        json_int_t n = json_integer_value(v);
        if (n < 0 || n > INT32_MAX)
            return brook_error_set(err, BROOK_ERR_IO,
                                   "schema registry %s: %s: the answer's id %" JSON_INTEGER_FORMAT
                                   " is not a schema id",
                                   r->base, auto_register ? "register" : "look up", n);
        *id = (int32_t)n;
        return 0;
    }
    if (a->status == 409)
        return brook_error_set(err, BROOK_ERR_SCHEMA,
                               "schema registry refuses the schema under subject \"%s\" as "
                               "incompatible with its earlier versions%s%s",
                               subject, a->message[0] ? ": " : "", a->message);
    if (a->status == 422)
        return brook_error_set(err, BROOK_ERR_SCHEMA,
                               "schema registry refuses the schema under subject \"%s\" as "
                               "invalid%s%s",
                               subject, a->message[0] ? ": " : "", a->message);
    if (a->status == 404 && !auto_register)
        return brook_error_set(err, BROOK_ERR_NOT_FOUND,
                               "schema registry: the schema is not registered under subject "
                               "\"%s\" (auto_register is false)%s%s",
                               subject, a->message[0] ? ": " : "", a->message);
    return unexpected(r, auto_register ? "register" : "look up", a, err);
}

int brook__registry_id_answer(const brook__registry_t *r, const char *subject, bool auto_register,
                              long status, const void *body, size_t len, int32_t *id,
                              brook_error_t *err) {
    answer_t a;
    answer_read(&a, status, body, len);
    int rc = id_answer(r, subject, auto_register, &a, id, err);
    json_decref(a.body);
    return rc;
}

int brook__registry_schema_id(brook__registry_t *r, const char *subject, const char *schema_json,
                              bool auto_register, int32_t *id, brook_error_t *err) {
    char path[1024];
    if (path_with(path, sizeof(path), "/subjects/", subject, auto_register ? "/versions" : ""))
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    json_t *body = schema_body(schema_json);
    if (!body)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    answer_t a;
    int rc = request(r, "POST", path, body, &a, err);
    json_decref(body);
    if (rc)
        return rc;
    rc = id_answer(r, subject, auto_register, &a, id, err);
    json_decref(a.body);
    return rc;
}

/* The schema in an answer to GET /schemas/ids/<id>: *schema (malloc'd) or an error. */
static int schema_answer(const brook__registry_t *r, int32_t id, const answer_t *a, char **schema,
                         brook_error_t *err) {
    json_t *text = json_object_get(a->body, "schema");
    json_t *type = json_object_get(a->body, "schemaType");
    if (a->status == 200 && json_is_string(text)) {
        if (json_is_string(type) && strcmp(json_string_value(type), "AVRO"))
            return brook_error_set(err, BROOK_ERR_SCHEMA, "schema id %d is a %s schema, not Avro",
                                   (int)id, json_string_value(type));
        if (!(*schema = strdup(json_string_value(text))))
            return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return 0;
    }
    if (a->status == 404 && a->error_code == 40403)
        /* Only "schema not found": a 404 of another kind is a wrong URL, not a missing id. */
        return brook_error_set(err, BROOK_ERR_NOT_FOUND,
                               "schema id %d is not in the schema registry%s%s", (int)id,
                               a->message[0] ? ": " : "", a->message);
    return unexpected(r, "schema by id", a, err);
}

int brook__registry_schema_answer(const brook__registry_t *r, int32_t id, long status,
                                  const void *body, size_t len, char **schema_json,
                                  brook_error_t *err) {
    answer_t a;
    answer_read(&a, status, body, len);
    int rc = schema_answer(r, id, &a, schema_json, err);
    json_decref(a.body);
    return rc;
}

/* GET /schemas/ids/<id>: *schema (malloc'd) or an error. */
static int fetch_schema(brook__registry_t *r, int32_t id, char **schema, brook_error_t *err) {
    char path[64];
    snprintf(path, sizeof(path), "/schemas/ids/%d", (int)id);
    answer_t a;
    int rc = request(r, "GET", path, NULL, &a, err);
    if (rc)
        return rc;
    rc = schema_answer(r, id, &a, schema, err);
    json_decref(a.body);
    return rc;
}

/* ---- the id cache ------------------------------------------------------------------------ */

static entry_t *entry_find(brook__registry_t *r, int32_t id) {
    for (size_t i = 0; i < r->count; i++)
        if (r->entries[i].id == id)
            return &r->entries[i];
    return NULL;
}

static void entry_remove(brook__registry_t *r, entry_t *e) {
    free(e->schema);
    *e = r->entries[--r->count];
}

/* A new entry for id, making room by dropping the least recently used one that is not being
 * fetched. NULL when out of memory. */
static entry_t *entry_add(brook__registry_t *r, int32_t id) {
    size_t capacity = (size_t)r->decl->cache_capacity;
    if (r->count >= capacity) {
        entry_t *oldest = NULL;
        for (size_t i = 0; i < r->count; i++)
            if (r->entries[i].state != ENTRY_FETCHING && !r->entries[i].waiters &&
                (!oldest || r->entries[i].used < oldest->used))
                oldest = &r->entries[i];
        if (oldest)
            entry_remove(r, oldest);
    }
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        entry_t *grown = realloc(r->entries, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        r->entries = grown;
        r->cap = cap;
    }
    entry_t *e = &r->entries[r->count++];
    *e = (entry_t){.id = id, .state = ENTRY_FETCHING};
    return e;
}

int brook__registry_schema(brook__registry_t *r, int32_t id, char **schema_json,
                           brook_error_t *err) {
    *schema_json = NULL;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        entry_t *e = entry_find(r, id);
        if (e && e->state == ENTRY_FETCHING) {
            /* Another thread asks the registry: its answer is this one's too. */
            e->waiters++;
            pthread_cond_wait(&r->fetched, &r->lock);
            entry_find(r, id)->waiters--; /* not removed while waited for */
            continue;
        }
        if (e && e->state == ENTRY_FAILED) {
            /* The request this thread waited for failed: so does this lookup. */
            int rc = e->error.code;
            if (err)
                *err = e->error;
            if (!e->waiters)
                entry_remove(r, e);
            pthread_mutex_unlock(&r->lock);
            return rc;
        }
        if (e && e->state == ENTRY_MISSING && !e->waiters && brook__now_ms() >= e->expires_ms) {
            entry_remove(r, e);
            e = NULL;
        }
        if (e) {
            e->used = ++r->clock;
            int rc = 0;
            if (e->state == ENTRY_MISSING)
                rc = brook_error_set(err, BROOK_ERR_NOT_FOUND,
                                     "schema id %d is not in the schema registry", (int)id);
            else if (!(*schema_json = strdup(e->schema)))
                rc = brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
            pthread_mutex_unlock(&r->lock);
            return rc;
        }
        break;
    }
    if (!entry_add(r, id)) {
        pthread_mutex_unlock(&r->lock);
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_unlock(&r->lock);

    char *schema = NULL;
    brook_error_t error = {0};
    int rc = fetch_schema(r, id, &schema, &error);

    pthread_mutex_lock(&r->lock);
    entry_t *e = entry_find(r, id); /* entries may have moved meanwhile */
    if (!rc && (*schema_json = strdup(schema))) {
        e->state = ENTRY_READY;
        e->schema = schema;
        e->used = ++r->clock;
    } else if (rc == BROOK_ERR_NOT_FOUND) {
        e->state = ENTRY_MISSING;
        e->expires_ms = brook__add_ms(brook__now_ms(), MISSING_TTL_MS);
        e->used = ++r->clock;
    } else {
        if (!rc) {
            free(schema);
            rc = brook_error_set(&error, BROOK_ERR_NOMEM, "out of memory");
        }
        if (e->waiters) { /* they fail with this one; asked again after them */
            e->state = ENTRY_FAILED;
            e->error = error;
        } else {
            entry_remove(r, e); /* asked again next time */
        }
    }
    if (rc && err)
        *err = error;
    pthread_cond_broadcast(&r->fetched);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---- compatibility ------------------------------------------------------------------------ */

/* The compatibility level of subject, else the registry's. */
static int compat_level(brook__registry_t *r, const char *subject, char *out, size_t n,
                        brook_error_t *err) {
    char path[1024];
    for (int global = 0; global < 2; global++) {
        if (global)
            snprintf(path, sizeof(path), "/config");
        else if (path_with(path, sizeof(path), "/config/", subject, ""))
            return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        answer_t a;
        int rc = request(r, "GET", path, NULL, &a, err);
        if (rc)
            return rc;
        json_t *level = json_object_get(a.body, "compatibilityLevel");
        if (!level)
            level = json_object_get(a.body, "compatibility");
        if (a.status == 200 && json_is_string(level)) {
            snprintf(out, n, "%s", json_string_value(level));
            json_decref(a.body);
            return 0;
        }
        if (a.status != 404 || global) {
            rc = unexpected(r, "compatibility level", &a, err);
            json_decref(a.body);
            return rc;
        }
        json_decref(a.body);
    }
    return 0;
}

int brook__registry_check(brook__registry_t *r, const char *subject, const char *schema_json,
                          brook__registry_compat_t *out, brook_error_t *err) {
    memset(out, 0, sizeof(*out));
    int rc = compat_level(r, subject, out->level, sizeof(out->level), err);
    if (rc)
        return rc;
    char path[1024];
    if (path_with(path, sizeof(path), "/compatibility/subjects/", subject,
                  "/versions/latest?verbose=true"))
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    json_t *body = schema_body(schema_json);
    if (!body)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    answer_t a;
    rc = request(r, "POST", path, body, &a, err);
    json_decref(body);
    if (rc)
        return rc;
    json_t *ok = json_object_get(a.body, "is_compatible");
    if (a.status == 200 && json_is_boolean(ok)) {
        out->subject_exists = true;
        out->compatible = json_is_true(ok);
        json_t *messages = json_object_get(a.body, "messages");
        size_t used = 0;
        for (size_t i = 0; i < json_array_size(messages) && used + 1 < sizeof(out->reason); i++) {
            const char *m = json_string_value(json_array_get(messages, i));
            if (m)
                used += (size_t)snprintf(out->reason + used, sizeof(out->reason) - used, "%s%s",
                                         used ? "; " : "", m);
        }
        /* Apicurio says why in one "reason". */
        json_t *why = json_object_get(a.body, "reason");
        if (!used && json_is_string(why))
            snprintf(out->reason, sizeof(out->reason), "%s", json_string_value(why));
    } else if (a.status == 404) {
        /* No subject (or no version) yet: the first version is accepted whatever it is. */
        out->compatible = true;
    } else if (a.status == 422) {
        out->subject_exists = true;
        snprintf(out->reason, sizeof(out->reason), "invalid schema: %s", a.message);
    } else {
        rc = unexpected(r, "compatibility check", &a, err);
    }
    json_decref(a.body);
    return rc;
}
