/*
 * wake_cost.c: what a wait costs this machine, with no library and no network: the CPU
 * (getrusage(RUSAGE_SELF)) of a process that blocks and is woken, and of fixed work done
 * right after such a wait. For reading c_single_slow / floor_slow (bench/README.md, "A hub
 * that takes its time"); run.py does not run it.
 *
 *   wake_cost pipe N DELAY_MS        block in poll() on a pipe that a child writes to every
 *                                    DELAY_MS (0: back to back): CPU per wake-up of the reader
 *   wake_cost work N SLEEP_MS KB     a fixed loop over a KB buffer, then poll(NULL, 0, SLEEP_MS)
 *                                    (-1: no sleep at all): CPU per iteration
 *
 * Build: cc -O2 -o wake_cost bench/wake_cost.c. Pin it to one CPU (taskset -c 0) as the bench
 * pins its clients.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static int pipe_mode(long n, int delay_ms) {
    int p[2];
    if (pipe(p) != 0) { perror("pipe"); return 2; }
    pid_t child = fork();
    if (child < 0) { perror("fork"); return 2; }
    if (child == 0) {
        close(p[0]);
        for (;;) {
            if (delay_ms > 0) poll(NULL, 0, delay_ms);
            if (write(p[1], "x", 1) != 1) _exit(0);
        }
    }
    close(p[1]);
    char b;
    if (read(p[0], &b, 1) != 1) return 2;
    double c0 = cpu_s();
    long i;
    for (i = 0; i < n; i++) {
        struct pollfd f = {p[0], POLLIN, 0};
        poll(&f, 1, -1);
        if (read(p[0], &b, 1) != 1) break;
    }
    double c1 = cpu_s();
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("{\"mode\":\"pipe\",\"delay_ms\":%d,\"wakeups\":%ld,\"cpu_us_per_wakeup\":%.2f}\n", delay_ms, i,
           i ? (c1 - c0) / i * 1e6 : 0.0);
    return 0;
}

static int work_mode(long n, int sleep_ms, long kb) {
    size_t size = (size_t)(kb > 0 ? kb : 1) * 1024;
    unsigned char *buf = malloc(size);
    if (!buf) return 2;
    memset(buf, 1, size);
    volatile unsigned long sink = 0;
    double c0 = cpu_s();
    for (long i = 0; i < n; i++) {
        unsigned long h = (unsigned long)i;
        for (size_t j = 0; j < size; j += 64) h = h * 31 + buf[(j * 7919) % size];  /* one byte a cache line */
        sink += h;
        if (sleep_ms >= 0) poll(NULL, 0, sleep_ms);
    }
    double c1 = cpu_s();
    free(buf);
    printf("{\"mode\":\"work\",\"sleep_ms\":%d,\"kb\":%ld,\"iterations\":%ld,\"cpu_us_per_iteration\":%.2f}\n",
           sleep_ms, kb, n, (c1 - c0) / n * 1e6);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "pipe") == 0) return pipe_mode(atol(argv[2]), atoi(argv[3]));
    if (argc == 5 && strcmp(argv[1], "work") == 0) return work_mode(atol(argv[2]), atoi(argv[3]), atol(argv[4]));
    fprintf(stderr, "usage: wake_cost pipe N DELAY_MS | wake_cost work N SLEEP_MS KB\n");
    return 2;
}
