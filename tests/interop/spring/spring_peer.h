/* The Spring Boot peer (tests/interop/spring/peer) as a child process of a C test: started
 * through tests/interop/spring/spring-peer in one of its modes against the real Kafka
 * cluster, watched through the JSON lines it appends to its events file, stopped with SIGTERM
 * (or killed). Waiting polls the events file with a deadline; a peer that exits or reports an
 * error fails the test at once, with the end of its log.
 *
 * Needs BROOK_SPRING_PEER (the launcher) and BROOK_SPRING_JAR (the built peer) defined. */
#ifndef BROOK_SPRING_PEER_H
#define BROOK_SPRING_PEER_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "brook/brook_test.h"

extern char **environ;

typedef struct {
    pid_t pid;
    int exit_status; /* once reaped: exit code or 128 + signal; -1 while running */
    char events[1400];
    char log[1400];
    json_t *seen; /* the events read so far, an array */
    long read_pos;
} sp_peer_t;

/* The last lines of the peer's log, for failure messages. Static buffer. */
static inline const char *sp_log_tail(const sp_peer_t *p) {
    static char tail[4096];
    tail[0] = 0;
    FILE *f = fopen(p->log, "r");
    if (!f)
        return "(no log)";
    fseek(f, 0, SEEK_END);
    long size = ftell(f), from = size > (long)sizeof(tail) - 1 ? size - (long)sizeof(tail) + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(tail, 1, sizeof(tail) - 1, f);
    tail[n] = 0;
    fclose(f);
    return tail;
}

/* Starts the peer in `dir` (created) as `name` with mode and extra "--peer.x=y" arguments
 * (NULL-terminated). */
static inline void sp_start(sp_peer_t *p, const char *dir, const char *name, const char *bootstrap,
                            const char *mode, ...) {
    memset(p, 0, sizeof(*p));
    p->exit_status = -1;
    mkdir(dir, 0755);
    snprintf(p->events, sizeof(p->events), "%s/%s.events", dir, name);
    snprintf(p->log, sizeof(p->log), "%s/%s.log", dir, name);
    unlink(p->events);
    p->seen = json_array();
    char a_boot[1024], a_events[1500], a_mode[128];
    snprintf(a_boot, sizeof(a_boot), "--spring.kafka.bootstrap-servers=%s", bootstrap);
    snprintf(a_events, sizeof(a_events), "--peer.events=%s", p->events);
    snprintf(a_mode, sizeof(a_mode), "--peer.mode=%s", mode);
    const char *argv[40] = {BROOK_SPRING_PEER, "run", BROOK_SPRING_JAR, a_boot, a_events, a_mode};
    int argc = 6;
    va_list ap;
    va_start(ap, mode);
    for (const char *a; argc < 39 && (a = va_arg(ap, const char *));)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&p->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        fail_msg("cannot start %s: %s", argv[0], strerror(rc));
}

/* Whether the peer is still running (reaps it when not). */
static inline bool sp_running(sp_peer_t *p) {
    if (p->exit_status >= 0)
        return false;
    int status;
    if (waitpid(p->pid, &status, WNOHANG) != p->pid)
        return true;
    p->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
}

/* Reads the events appended since the last call; fails the test on an "error" event. */
static inline void sp_poll_events(sp_peer_t *p) {
    FILE *f = fopen(p->events, "r");
    if (!f)
        return;
    fseek(f, p->read_pos, SEEK_SET);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break; /* a line still being written: read it whole next time */
        p->read_pos += n;
        json_error_t e;
        json_t *ev = json_loads(line, JSON_ALLOW_NUL, &e);
        if (!ev)
            fail_msg("peer %s: unreadable event line (%s): %s", p->events, e.text, line);
        const char *type = json_string_value(json_object_get(ev, "event"));
        if (type && !strcmp(type, "error"))
            fail_msg("peer %s reported: %s\nlog:\n%s", p->events, line, sp_log_tail(p));
        json_array_append_new(p->seen, ev);
    }
    free(line);
    fclose(f);
}

/* How many events of `type` the peer wrote so far. */
static inline size_t sp_count(sp_peer_t *p, const char *type) {
    sp_poll_events(p);
    size_t i, n = 0;
    json_t *ev;
    json_array_foreach(p->seen, i, ev) {
        const char *t = json_string_value(json_object_get(ev, "event"));
        n += t && !strcmp(t, type);
    }
    return n;
}

/* The k-th event of `type` (borrowed), or NULL. */
static inline json_t *sp_event(sp_peer_t *p, const char *type, size_t k) {
    size_t i;
    json_t *ev;
    json_array_foreach(p->seen, i, ev) {
        const char *t = json_string_value(json_object_get(ev, "event"));
        if (t && !strcmp(t, type) && k-- == 0)
            return ev;
    }
    return NULL;
}

/* Waits until the peer wrote `count` events of `type`; fails the test (with its log) when it
 * exits or the deadline passes first. */
static inline void sp_wait(sp_peer_t *p, const char *type, size_t count, int timeout_ms) {
    int64_t deadline = brook_test_now_ms() + timeout_ms;
    for (;;) {
        if (sp_count(p, type) >= count)
            return;
        if (!sp_running(p)) {
            sp_poll_events(p);
            if (sp_count(p, type) >= count)
                return;
            fail_msg("peer %s exited (%d) after %zu of %zu '%s' events; log:\n%s", p->events,
                     p->exit_status, sp_count(p, type), count, type, sp_log_tail(p));
        }
        if (brook_test_now_ms() > deadline)
            fail_msg("peer %s: %zu of %zu '%s' events after %d ms; log:\n%s", p->events,
                     sp_count(p, type), count, type, timeout_ms, sp_log_tail(p));
        brook_test_nap();
    }
}

/* Waits for the peer to exit by itself; its exit status. */
static inline int sp_wait_exit(sp_peer_t *p, int timeout_ms) {
    int64_t deadline = brook_test_now_ms() + timeout_ms;
    while (sp_running(p)) {
        if (brook_test_now_ms() > deadline)
            fail_msg("peer %s still running after %d ms; log:\n%s", p->events, timeout_ms,
                     sp_log_tail(p));
        brook_test_nap();
    }
    return p->exit_status;
}

/* Stops the peer with `sig` (SIGTERM: Spring's graceful shutdown) and waits; its status. */
static inline int sp_stop(sp_peer_t *p, int sig) {
    if (sp_running(p))
        kill(p->pid, sig);
    int64_t deadline = brook_test_now_ms() + 30000;
    while (sp_running(p) && brook_test_now_ms() < deadline)
        brook_test_nap();
    if (sp_running(p)) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->exit_status = 128 + SIGKILL;
    }
    return p->exit_status;
}

/* Kills a peer left running (teardown) and frees what it holds. */
static inline void sp_free(sp_peer_t *p) {
    if (p->pid > 0 && sp_running(p)) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->exit_status = 128 + SIGKILL;
    }
    json_decref(p->seen);
    p->seen = NULL;
}

/* A string member of an event, "" when absent or null. */
static inline const char *sp_str(const json_t *ev, const char *key) {
    const char *s = json_string_value(json_object_get(ev, key));
    return s ? s : "";
}

static inline int64_t sp_int(const json_t *ev, const char *key) {
    const json_t *v = json_object_get(ev, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

#endif
