/* The operations endpoint's server (http/http.h): libmicrohttpd on a socket Brook binds itself,
 * so that the address in use and the port picked for port 0 are known before it serves. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "core/core.h"
#include "http/http.h"

struct brook__http_s {
    int fd; /* listening; MHD's while it serves */
    bool ipv6;
    int port;
    char url[96];
    struct MHD_Daemon *daemon;
    brook__http_app_t app;
};

brook__http_t *brook__http_open(const char *bind_addr, int port, brook_error_t *err) {
    const char *host = bind_addr && *bind_addr ? bind_addr : "127.0.0.1";
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *ai = NULL;
    int gai = getaddrinfo(host, service, &hints, &ai);
    if (gai) {
        brook_error_set(err, BROOK_ERR_IO, "http: bind address \"%s\": %s", host,
                        gai_strerror(gai));
        return NULL;
    }
    brook__http_t *h = calloc(1, sizeof(*h));
    int fd = -1, one = 1, e = ENOMEM;
    if (h) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64))
            e = errno;
        else
            e = 0;
    }
    if (e) {
        brook_error_set(err, BROOK_ERR_IO, "http: cannot listen on %s port %d: %s", host, port,
                        strerror(e));
        if (fd >= 0)
            close(fd);
        free(h);
        freeaddrinfo(ai);
        return NULL;
    }
    h->fd = fd;
    h->ipv6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    /* The address as bound: the port the system picked, the address the name resolved to. */
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    char addr[INET6_ADDRSTRLEN] = "?";
    getsockname(fd, (struct sockaddr *)&sa, &len);
    if (h->ipv6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
        h->port = ntohs(s6->sin6_port);
        snprintf(h->url, sizeof(h->url), "http://[%s]:%d", addr, h->port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
        h->port = ntohs(s4->sin_port);
        snprintf(h->url, sizeof(h->url), "http://%s:%d", addr, h->port);
    }
    return h;
}

int brook__http_port(const brook__http_t *h) {
    return h ? h->port : 0;
}

const char *brook__http_url(const brook__http_t *h) {
    return h ? h->url : NULL;
}

/* ---- requests --------------------------------------------------------------------------------
 * All on the server's thread, one at a time. */

/* Queues `body` (taken: MHD frees it once sent). */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               brook_buf_t *body) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        body->len, body->data, body->data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        brook_buf_free(body);
        return MHD_NO;
    }
    brook_buf_init(body); /* MHD's now */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text) {
    brook_buf_t body;
    brook_buf_init(&body);
    if (brook_buf_append(&body, text, strlen(text)))
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    return respond(c, status, "text/plain; charset=utf-8", &body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    brook__http_t *h = cls;
    brook__log_service(h->app.decl->name);
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD\n");
    brook_buf_t body;
    brook_buf_init(&body);
    if (!strcmp(url, "/metrics")) {
        if (brook__http_metrics(&h->app, &body)) {
            brook_buf_free(&body);
            return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        }
        return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &body);
    }
    brook_health_probe_t probe;
    if (!strcmp(url, "/health") || !strcmp(url, "/health/ready"))
        probe = BROOK_HEALTH_READINESS;
    else if (!strcmp(url, "/health/live"))
        probe = BROOK_HEALTH_LIVENESS;
    else
        return respond_text(c, MHD_HTTP_NOT_FOUND,
                            "not found: /metrics, /health, /health/live, /health/ready\n");
    int up = brook__http_health(&h->app, probe, &body);
    if (up < 0) {
        brook_buf_free(&body);
        return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    return respond(c, up ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", &body);
}

static void on_log(void *cls, const char *fmt, va_list ap) {
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    if (n && line[n - 1] == '\n')
        line[n - 1] = '\0';
    brook_log(BROOK_LOG_WARN, "http", "%s", line);
}

int brook__http_serve(brook__http_t *h, const brook__http_app_t *app, brook_error_t *err) {
    h->app = *app;
    /* A thread per connection (at most 32, each with a timeout): a scrape waiting on a lag
     * lookup (the group coordinator, up to a second a member) never holds up a health probe.
     * Everything a request reads is safe to read from several threads. MHD_USE_ITC lets close
     * take the socket back (MHD_quiesce_daemon). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG | (h->ipv6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->fd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->daemon)
        return brook_error_set(err, BROOK_ERR_IO, "http: cannot serve on %s", h->url);
    return 0;
}

void brook__http_close(brook__http_t *h) {
    if (!h)
        return;
    if (h->daemon) {
        /* The socket is ours again, unless MHD cannot give it back: then it closes it. */
        if (MHD_quiesce_daemon(h->daemon) == MHD_INVALID_SOCKET)
            h->fd = -1;
        MHD_stop_daemon(h->daemon);
    }
    if (h->fd >= 0)
        close(h->fd);
    free(h);
}
