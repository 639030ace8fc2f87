/* Inside app/: SIGINT and SIGTERM for brook_app_run(). */
#ifndef BROOK_APP_SIGNALS_H
#define BROOK_APP_SIGNALS_H

/* Installs the handler for the first caller; the fd that becomes readable on a signal, or -1. */
int brook__signals_begin(void);
/* Restores the previous handlers after the last caller. */
void brook__signals_end(void);
/* Reads a non-blocking fd empty. */
void brook__drain_fd(int fd);

#endif
