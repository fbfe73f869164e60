/* cli.h: what the commands of the suprsend-events tool share (main.c). */
#ifndef SUPRSEND_CLI_H
#define SUPRSEND_CLI_H

#include <suprsend.h>

/* Exit statuses, the same for every command. */
#define CLI_EXIT_OK      0  /* everything was accepted */
#define CLI_EXIT_FAILED  1  /* something was refused, broke a rule, got no answer, or was a bad line */
#define CLI_EXIT_USAGE   2  /* bad options, no credentials, a file that cannot be opened */

int cmd_track(int argc, char **argv, const char *base_url);
int cmd_import(int argc, char **argv, const char *base_url);

/* Options with the workspace's credentials (SUPRSEND_WORKSPACE_KEY, SUPRSEND_WORKSPACE_SECRET)
 * and the hub's URL (base_url, else SUPRSEND_BASE_URL, else the library's default). NULL after
 * a message on stderr naming what to set. */
suprsend_options *cli_options_new(const char *command, const char *base_url);

/* Matches argv[*i] against --name VALUE or --name=VALUE. Returns 1 with *value set (and *i
 * moved past the value), 0 when argv[*i] is another option, -1 after a message when the value
 * is missing. */
int cli_option_value(const char *command, int argc, char **argv, int *i, const char *name,
                     const char *value_name, const char **value);

/* The hub's URL for messages: what the client was told, or the library's default. */
const char *cli_describe_base_url(const char *base_url);

/* Seconds on a monotonic clock. */
double cli_now(void);

#endif
