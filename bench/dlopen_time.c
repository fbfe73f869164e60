/*
 * dlopen_time.c: how long dlopen(RTLD_NOW) of a library takes in a fresh process, in ms.
 * Run it many times (run.py takes the median); each run is a new process, so the library
 * and its dependencies (the Swift runtime, libcurl, ...) are really loaded and relocated.
 *
 *   dlopen_time PATH [SYMBOL]   -> "<ms>" on stdout; SYMBOL (e.g. suprsend_version) is looked up too
 *
 * Build: cc -O2 -o dlopen_time dlopen_time.c -ldl
 */
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: dlopen_time PATH [SYMBOL]\n"); return 2; }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h && argc > 2 && !dlsym(h, argv[2])) { fprintf(stderr, "dlsym: %s\n", dlerror()); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    printf("%.4f\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
    return 0;
}
