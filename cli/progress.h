/* progress.h: the import's progress on stderr: a bar redrawn in place on a terminal, plain
 * lines now and then otherwise. */
#ifndef SUPRSEND_CLI_PROGRESS_H
#define SUPRSEND_CLI_PROGRESS_H

#include <stdio.h>

typedef struct {
    long long lines_done;   /* lines whose outcome is known (blank and bad ones included) */
    long long sent;         /* events the hub answered for: accepted + refused */
    long long accepted;
    long long failed;       /* refused, invalid, not delivered, bad lines */
} progress_counts;

typedef struct {
    FILE *out;
    int terminal;           /* draw a bar (stderr is a terminal) */
    int enabled;
    long long total_lines;  /* -1 when unknown (stdin, a pipe) */
    double interval_s;      /* between plain lines */
    double started, last_drawn;
    int bar_shown;
} progress;

/* interval_s: the pause between plain lines (when out is not a terminal); <= 0 for none. */
void progress_start(progress *p, FILE *out, long long total_lines, double interval_s, int enabled);
/* Redraws when it is time to (at most 10 times a second on a terminal). */
void progress_update(progress *p, const progress_counts *counts);
/* Erases the bar (before other output, and at the end). */
void progress_clear(progress *p);

#endif
