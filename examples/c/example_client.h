/*
 * example_client.h: what every example does first: a client for the workspace named in the
 * environment, and a way to say what went wrong.
 *
 *   SUPRSEND_WORKSPACE_KEY, SUPRSEND_WORKSPACE_SECRET   the workspace (default: the local hub's
 *                                                        demo workspace, demo_key/demo_secret)
 *   SUPRSEND_BASE_URL                                    the hub (default: SuprSend's own)
 */
#ifndef SUPRSEND_EXAMPLE_CLIENT_H
#define SUPRSEND_EXAMPLE_CLIENT_H

#include <stdio.h>
#include <stdlib.h>

#include <suprsend.h>

/* The value of an environment variable, or dflt when it is unset or empty. */
static inline const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

/* Prints what went wrong in the last suprsend_* call, with the status code's name. */
static inline void report(const char *what, int status) {
    fflush(stdout); /* keep the order of the lines when both streams go to one place */
    fprintf(stderr, "%s failed: %s: %s\n", what, suprsend_status_name(status), suprsend_last_error());
}

/* Options for the workspace in the environment, to set more options on before creating a
 * client. Returns NULL (after printing why) on failure. */
static inline suprsend_options *options_from_env(void) {
    suprsend_options *opts = suprsend_options_new(env_or("SUPRSEND_WORKSPACE_KEY", "demo_key"),
                                                  env_or("SUPRSEND_WORKSPACE_SECRET", "demo_secret"));
    if (!opts) {
        report("suprsend_options_new", SUPRSEND_E_ARGUMENT);
        return NULL;
    }
    int rc;
    const char *base_url = getenv("SUPRSEND_BASE_URL"); /* unset: https://hub.suprsend.com/ */
    if (base_url && *base_url && (rc = suprsend_options_set_base_url(opts, base_url)) != SUPRSEND_OK) {
        report("suprsend_options_set_base_url", rc);
        suprsend_options_free(opts);
        return NULL;
    }
    return opts;
}

/* A client for the workspace in the environment. Returns NULL (after printing why) on failure. */
static inline suprsend_client *client_from_env(void) {
    suprsend_options *opts = options_from_env();
    if (!opts) return NULL;
    suprsend_client *client = NULL;
    int rc = suprsend_client_new(opts, &client);
    suprsend_options_free(opts); /* the client keeps its own copy */
    if (rc != SUPRSEND_OK) {
        report("suprsend_client_new", rc);
        return NULL;
    }
    return client;
}

#endif
