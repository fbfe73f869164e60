#ifndef SUPRSEND_CSQLITE_SHIM_H
#define SUPRSEND_CSQLITE_SHIM_H
/*
 * SQLite for Swift. SQLITE_TRANSIENT is a macro that casts -1 to a function pointer, which
 * Swift cannot import; these wrappers bind copies of the caller's bytes.
 */
#include <sqlite3.h>

static inline int suprsend_sqlite_bind_blob(sqlite3_stmt *statement, int index, const void *bytes, int count) {
    return sqlite3_bind_blob(statement, index, bytes, count, SQLITE_TRANSIENT);
}
static inline int suprsend_sqlite_bind_text(sqlite3_stmt *statement, int index, const char *text, int count) {
    return sqlite3_bind_text(statement, index, text, count, SQLITE_TRANSIENT);
}
/* sqlite3_db_config is variadic, which Swift cannot call. With on != 0 the connection does not
 * checkpoint when it closes, so that a connection that only looked at a file leaves it as it was. */
static inline int suprsend_sqlite_set_no_checkpoint_on_close(sqlite3 *db, int on) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on, (int *)0);
}
#endif
