/*
 * measure.h: what the bench's C programs measure themselves with (peak RSS, wall clock).
 * Each program is built from its own directory, so this is included by name.
 */
#ifndef SUPRSEND_BENCH_MEASURE_H
#define SUPRSEND_BENCH_MEASURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Peak RSS of this process image in KiB: VmHWM of /proc/self/status. (ru_maxrss is not used for
 * this: Linux carries the parent's high-water mark across fork+exec, so a child of a 25 MB
 * Python driver would never report less than 25 MB.) */
static long peak_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) { kb = atol(line + 6); break; }
    fclose(f);
    return kb;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
