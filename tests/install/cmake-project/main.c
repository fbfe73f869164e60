/* A first program against an installed libsuprsend: the header and the library it loaded agree
 * on the version, and the library answers (a client is made and freed; a bad argument is
 * refused with a reason). Used by tests/install/run.sh, built with CMake, pkg-config and plain
 * `cc -lsuprsend`. Prints "libsuprsend X.Y.Z ok" and exits 0, or says what failed and exits 1. */
#include <stdio.h>
#include <string.h>
#include <suprsend.h>

static int fail(const char *what) {
    const char *why = suprsend_last_error();
    fprintf(stderr, "install check: %s%s%s\n", what, why ? ": " : "", why ? why : "");
    return 1;
}

int main(void) {
    if (suprsend_version_number() != SUPRSEND_VERSION_NUMBER ||
        strcmp(suprsend_version(), SUPRSEND_VERSION_STRING) != 0) {
        fprintf(stderr, "install check: header %s, library %s (%d)\n", SUPRSEND_VERSION_STRING,
                suprsend_version(), suprsend_version_number());
        return 1;
    }
    if (strcmp(suprsend_status_name(SUPRSEND_OK), "SUPRSEND_OK") != 0)
        return fail("suprsend_status_name(SUPRSEND_OK) is not \"SUPRSEND_OK\"");

    /* No workspace key: refused, with a reason, and nothing else happens. */
    if (suprsend_options_new(NULL, "secret") != NULL)
        return fail("suprsend_options_new(NULL, ...) was accepted");
    const char *why = suprsend_last_error();
    if (why == NULL || why[0] == '\0')
        return fail("suprsend_options_new(NULL, ...) left no reason");

    /* A client is made without any network traffic (it checks libcurl's version on the way). */
    suprsend_options *opts = suprsend_options_new("install-check-key", "install-check-secret");
    if (opts == NULL)
        return fail("suprsend_options_new");
    suprsend_client *client = NULL;
    int rc = suprsend_client_new(opts, &client);
    suprsend_options_free(opts);
    if (rc != SUPRSEND_OK)
        return fail(suprsend_status_name(rc));
    suprsend_client_free(client);

    printf("libsuprsend %s ok\n", suprsend_version());
    return 0;
}
