/*
 * brook: the command of Brook's operations (docs/cli.md).
 *
 *   brook [--bootstrap HOST:PORT] [--decl FILE.brook]... <command> [<subcommand>] ...
 *
 * Picks the subcommand and hands it the rest of the command line (common options may come
 * anywhere); the subcommands live one group per file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const brook__cli_cmd_t *const commands[] = {
    &brook__cli_topics_apply, &brook__cli_topics_describe, &brook__cli_consume,
    &brook__cli_produce,      &brook__cli_dlt_list,        &brook__cli_dlt_replay,
    &brook__cli_groups_lag,   &brook__cli_offsets_reset,
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void overview(FILE *f) {
    fprintf(f, "usage: brook [--bootstrap HOST:PORT] [--decl FILE.brook]... COMMAND ...\n\n"
               "Operations on the Kafka cluster of Brook services (docs/cli.md):\n\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const brook__cli_cmd_t *c = commands[i];
        char name[64];
        snprintf(name, sizeof(name), "%s%s%s", c->group, c->name ? " " : "",
                 c->name ? c->name : "");
        fprintf(f, "  %-16s %s\n", name, c->brief);
    }
    fprintf(f,
            "\n`brook COMMAND --help` for its options. Exit codes: 0 done, 1 usage, 2 not found\n"
            "or nothing to do, 3 Kafka error, 4 refused (active group members), 5 input that\n"
            "does not fit.\n");
}

/* Messages of the runtime's code the command runs (provisioning, the producer) as the
 * command's own; librdkafka's only with --verbose. */
static void log_sink(brook_log_level_t level, const char *component, const char *message,
                     void *opaque) {
    const bool *verbose = opaque;
    if (!strcmp(component, "rdkafka") && !*verbose)
        return;
    brook__cli_progress_end();
    fprintf(stderr, "brook: %s%s\n", level <= BROOK_LOG_WARN ? "warning: " : "", message);
}

int main(int argc, char **argv) {
    brook__cli_t cli = {0};
    brook_log_set_sink(log_sink, &cli.verbose);
    if (!getenv("BROOK_LOG_LEVEL"))
        brook_log_set_level(BROOK_LOG_WARN);
    /* Common options before the command. */
    int first = 1;
    while (first < argc && argv[first][0] == '-') {
        const char *a = argv[first];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            overview(stdout);
            return BROOK_CLI_OK;
        }
        if (!strcmp(a, "--version")) {
            printf("brook %s\n", BROOK_VERSION_STR);
            return BROOK_CLI_OK;
        }
        if (!strcmp(a, "--verbose")) {
            first++;
            continue;
        }
        if ((strcmp(a, "--bootstrap") && strcmp(a, "--decl")) || first + 1 >= argc)
            break;
        first += 2;
    }
    if (first >= argc || argv[first][0] == '-') {
        overview(stderr);
        return BROOK_CLI_USAGE;
    }
    if (!strcmp(argv[first], "help")) {
        overview(stdout);
        return BROOK_CLI_OK;
    }
    const brook__cli_cmd_t *cmd = NULL;
    bool group_known = false;
    for (size_t i = 0; i < COMMAND_COUNT && !cmd; i++) {
        const brook__cli_cmd_t *c = commands[i];
        if (strcmp(c->group, argv[first]))
            continue;
        group_known = true;
        if (!c->name || (first + 1 < argc && !strcmp(c->name, argv[first + 1])))
            cmd = c;
    }
    if (!cmd) {
        if (!group_known)
            fprintf(stderr, "brook: unknown command \"%s\"\n\n", argv[first]);
        else
            fprintf(stderr, "brook: \"%s\" wants a subcommand%s%s\n\n", argv[first],
                    first + 1 < argc ? ", not " : "", first + 1 < argc ? argv[first + 1] : "");
        overview(stderr);
        return BROOK_CLI_USAGE;
    }
    cli.cmd = cmd;
    /* The subcommand sees the common options given before the command too: they are moved
     * behind its name, where its getopt_long finds them. */
    int word = first + (cmd->name ? 1 : 0);
    int sub_argc = argc - word + (first - 1);
    char **sub = calloc((size_t)sub_argc + 1, sizeof(*sub));
    if (!sub)
        return BROOK_CLI_USAGE;
    sub[0] = argv[word];
    memcpy(sub + 1, argv + 1, (size_t)(first - 1) * sizeof(*sub));
    memcpy(sub + first, argv + word + 1, (size_t)(argc - word - 1) * sizeof(*sub));
    optind = 0;
    int rc = cmd->run(&cli, sub_argc, sub);
    brook__cli_progress_end();
    brook__cli_cleanup(&cli);
    free(sub);
    return rc;
}
