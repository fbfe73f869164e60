/*
 * main.c: the suprsend-events command-line tool. Sends events to SuprSend with libsuprsend's public C
 * API only: `suprsend-events track` for one event, `suprsend-events import` for a file of them.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char main_usage[] =
    "Usage: suprsend-events [--base-url URL] COMMAND [OPTIONS]\n"
    "       suprsend-events --help | --version\n"
    "\n"
    "Send events to SuprSend from the command line (with libsuprsend).\n"
    "\n"
    "Commands:\n"
    "  track     send one event and print its message id\n"
    "  import    send events from a file of JSON lines (one event object per line)\n"
    "\n"
    "`suprsend-events COMMAND --help` describes a command's options.\n"
    "\n"
    "Options:\n"
    "  --base-url URL   the hub to send to (default: SUPRSEND_BASE_URL, else\n"
    "                   https://hub.suprsend.com/); also accepted after the command\n"
    "  -h, --help       this help\n"
    "  -V, --version    the version of libsuprsend in use\n"
    "\n"
    "Environment:\n"
    "  SUPRSEND_WORKSPACE_KEY, SUPRSEND_WORKSPACE_SECRET   the workspace's credentials (required)\n"
    "  SUPRSEND_BASE_URL                                    the hub, when --base-url is not given\n"
    "\n"
    "Exit status: 0 when every event was accepted; 1 when one was refused (by the hub or by\n"
    "a rule checked before sending), got no answer, or a line of an import was bad; 2 for a\n"
    "usage or setup error (bad options, no credentials, a file that cannot be opened).\n";

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_option_value(const char *command, int argc, char **argv, int *i, const char *name,
                     const char *value_name, const char **value) {
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0) return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "suprsend-events%s%s: %s needs a value (%s %s)\n", command ? " " : "", command ? command : "",
                name, name, value_name);
        return -1;
    }
    *i += 1;
    *value = argv[*i];
    return 1;
}

const char *cli_describe_base_url(const char *base_url) {
    if (base_url && *base_url) return base_url;
    const char *env = getenv("SUPRSEND_BASE_URL");
    if (env && *env) return env;
    return "https://hub.suprsend.com/";
}

suprsend_options *cli_options_new(const char *command, const char *base_url) {
    const char *key = getenv("SUPRSEND_WORKSPACE_KEY");
    const char *secret = getenv("SUPRSEND_WORKSPACE_SECRET");
    if (!key || !*key || !secret || !*secret) {
        fprintf(stderr,
                "suprsend-events %s: no credentials: set SUPRSEND_WORKSPACE_KEY and SUPRSEND_WORKSPACE_SECRET\n"
                "  to your workspace's key and secret (from the SuprSend dashboard), e.g.\n"
                "    export SUPRSEND_WORKSPACE_KEY=... SUPRSEND_WORKSPACE_SECRET=...\n",
                command);
        return NULL;
    }
    suprsend_options *opts = suprsend_options_new(key, secret);
    if (!opts) {
        fprintf(stderr, "suprsend-events %s: SUPRSEND_WORKSPACE_KEY/SUPRSEND_WORKSPACE_SECRET: %s\n", command,
                suprsend_last_error());
        return NULL;
    }
    const char *url = base_url;
    const char *from = "--base-url";
    if (!url || !*url) {
        url = getenv("SUPRSEND_BASE_URL");
        from = "SUPRSEND_BASE_URL";
    }
    if (url && *url && suprsend_options_set_base_url(opts, url) != SUPRSEND_OK) {
        fprintf(stderr, "suprsend-events %s: %s '%s': %s (expected e.g. https://hub.suprsend.com/)\n", command, from, url,
                suprsend_last_error());
        suprsend_options_free(opts);
        return NULL;
    }
    return opts;
}

int main(int argc, char **argv) {
    const char *base_url = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(main_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            printf("suprsend-events %s (libsuprsend %s)\n", SUPRSEND_VERSION_STRING, suprsend_version());
            return CLI_EXIT_OK;
        }
        int got = cli_option_value(NULL, argc, argv, &i, "--base-url", "URL", &base_url);
        if (got < 0) return CLI_EXIT_USAGE;
        if (got > 0) continue;
        if (arg[0] == '-') {
            fprintf(stderr, "suprsend-events: unknown option '%s' (see suprsend-events --help)\n", arg);
            return CLI_EXIT_USAGE;
        }
        break;
    }
    if (i >= argc) {
        fprintf(stderr, "suprsend-events: missing COMMAND (track or import; see suprsend-events --help)\n");
        return CLI_EXIT_USAGE;
    }
    const char *command = argv[i];
    if (strcmp(command, "track") == 0) return cmd_track(argc - i, argv + i, base_url);
    if (strcmp(command, "import") == 0) return cmd_import(argc - i, argv + i, base_url);
    if (strcmp(command, "help") == 0) {
        fputs(main_usage, stdout);
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "suprsend-events: unknown command '%s' (commands: track, import; see suprsend-events --help)\n", command);
    return CLI_EXIT_USAGE;
}
