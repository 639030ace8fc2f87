/* Shared by the interop tests: running a foreign client (kcat, Python) as a child process with
 * a deadline, finding it, and an app from declaration text.
 *
 * A foreign tool that is missing fails the test with a message saying what to install: the
 * interop suite proves compatibility, so a silent skip would prove nothing. */
#ifndef BROOK_INTEROP_H
#define BROOK_INTEROP_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "brook/brook.h"
#include "brook/brook_test.h"

extern char **environ;

/* Debian's interpreter: it has python3-confluent-kafka; a pyenv `python3` on PATH may not. */
#define IX_PYTHON "/usr/bin/python3"

/* What a child process did. `out` and `err` are NUL-terminated; free with ix_run_free. */
typedef struct {
    int exit_code; /* exit status, or 128 + signal number; -1 when it could not be started */
    bool timed_out;
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
} ix_run_t;

static inline void ix_run_free(ix_run_t *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

/* Appends up to what one read returns; false at EOF or on a hard error. */
static inline bool ix__drain(int fd, char **buf, size_t *len, size_t *cap) {
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0)
        return false;
    if (*len + (size_t)n + 1 > *cap) {
        size_t ncap = *cap ? *cap : 4096;
        while (ncap < *len + (size_t)n + 1)
            ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return false;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, chunk, (size_t)n);
    *len += (size_t)n;
    (*buf)[*len] = '\0';
    return true;
}

/* Runs argv[0] (a path, or a name looked up on PATH) with `input` on its stdin, collecting its
 * stdout and stderr, and kills it when `timeout_ms` passes. Waiting is a poll() on its pipes
 * with the deadline, never a sleep. Returns 0 when the child ran (whatever its exit code),
 * -1 when it could not be started (errno-style message in r->err). */
static inline int ix_run(char *const argv[], const char *input, size_t input_len, int timeout_ms,
                         ix_run_t *r) {
    memset(r, 0, sizeof(*r));
    r->exit_code = -1;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                close(in[i]);
            if (out[i] >= 0)
                close(out[i]);
            if (err[i] >= 0)
                close(err[i]);
        }
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    /* The test process ignores SIGPIPE (a child may exit before reading all its input); the
     * child gets default dispositions and an empty mask back. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (rc) {
        close(in[1]);
        close(out[0]);
        close(err[0]);
        char msg[256];
        int n = snprintf(msg, sizeof(msg), "cannot start %s: %s", argv[0], strerror(rc));
        r->err = strdup(msg);
        r->err_len = r->err ? (size_t)n : 0;
        return -1;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);

    size_t written = 0, out_cap = 0, err_cap = 0;
    int in_fd = in[1], out_fd = out[0], err_fd = err[0];
    if (input_len == 0) {
        close(in_fd);
        in_fd = -1;
    }
    int64_t deadline = brook_test_now_ms() + timeout_ms;
    while (out_fd >= 0 || err_fd >= 0) {
        int64_t left = deadline - brook_test_now_ms();
        if (left <= 0) {
            r->timed_out = true;
            break;
        }
        struct pollfd p[3] = {{in_fd, POLLOUT, 0}, {out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
        if (poll(p, 3, (int)(left < 200 ? left : 200)) < 0 && errno != EINTR)
            break;
        if (in_fd >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(in_fd, input + written, input_len - written);
            if (n > 0)
                written += (size_t)n;
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input_len) {
                close(in_fd); /* EOF: the child sees the end of its input */
                in_fd = -1;
            }
        }
        if (out_fd >= 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP)) &&
            !ix__drain(out_fd, &r->out, &r->out_len, &out_cap)) {
            close(out_fd);
            out_fd = -1;
        }
        if (err_fd >= 0 && (p[2].revents & (POLLIN | POLLERR | POLLHUP)) &&
            !ix__drain(err_fd, &r->err, &r->err_len, &err_cap)) {
            close(err_fd);
            err_fd = -1;
        }
    }
    if (r->timed_out)
        kill(pid, SIGKILL);
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (!r->out)
        r->out = calloc(1, 1);
    if (!r->err)
        r->err = calloc(1, 1);
    return 0;
}

/* Fails the test unless the child ran to a zero exit within its deadline; prints what it said
 * on stderr either way when it failed. */
static inline void ix_assert_ran(const ix_run_t *r, const char *what) {
    if (r->timed_out)
        fail_msg("%s timed out; stderr:\n%s", what, r->err ? r->err : "");
    if (r->exit_code != 0)
        fail_msg("%s exited with %d; stderr:\n%s", what, r->exit_code, r->err ? r->err : "");
}

/* True when `name` is an executable on PATH (or, containing '/', is an executable path). */
static inline bool ix_have_program(const char *name) {
    if (strchr(name, '/'))
        return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char buf[4096];
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        if (n && n + strlen(name) + 2 <= sizeof(buf)) {
            memcpy(buf, path, n);
            buf[n] = '/';
            strcpy(buf + n + 1, name);
            if (access(buf, X_OK) == 0)
                return true;
        }
        path += n + (colon ? 1 : 0);
    }
    return false;
}

/* Fails the test (never skips) when kcat is not installed. */
static inline void ix_require_kcat(void) {
    if (!ix_have_program("kcat"))
        fail_msg("kcat is not installed (not found on PATH): the interop tests need it; "
                 "install it with `apt-get install kcat` or `make deps`");
}

/* Fails the test (never skips) unless Debian's python3 can import confluent_kafka. */
static inline void ix_require_python_kafka(void) {
    if (!ix_have_program(IX_PYTHON))
        fail_msg("%s is not installed: the interop tests need Debian's python3 with "
                 "python3-confluent-kafka (`apt-get install python3 python3-confluent-kafka` "
                 "or `make deps`)",
                 IX_PYTHON);
    char *argv[] = {IX_PYTHON, "-c", "import confluent_kafka", NULL};
    ix_run_t r;
    if (ix_run(argv, NULL, 0, 30000, &r) != 0 || r.exit_code != 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", r.err ? r.err : "");
        ix_run_free(&r);
        fail_msg("%s cannot import confluent_kafka: install python3-confluent-kafka "
                 "(`apt-get install python3-confluent-kafka` or `make deps`); it said:\n%s",
                 IX_PYTHON, msg);
    }
    ix_run_free(&r);
}

/* An app from declaration text, asserted to build and start. */
static inline brook_app_t *ix_app(const char *decl) {
    brook_error_t err = {0};
    brook_app_t *app = brook_app_new(decl, "interop.brook", NULL, &err);
    if (!app)
        fail_msg("declaration: %s", err.message);
    return app;
}

static inline void ix_start(brook_app_t *app) {
    brook_error_t err = {0};
    if (brook_app_start(app, &err)) {
        brook_app_destroy(app);
        fail_msg("start: %s", err.message);
    }
}

/* Splits `text` in place into lines (the last one without '\n' counts too); returns how many,
 * *lines is malloc'ed (caller frees) and points into text. */
static inline size_t ix_lines(char *text, char ***lines) {
    size_t n = 0, cap = 64;
    char **v = malloc(cap * sizeof(*v));
    char *s = text;
    while (v && *s) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        if (n == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        v[n++] = s;
        if (!nl)
            break;
        s = nl + 1;
    }
    *lines = v;
    return v ? n : 0;
}

#endif
