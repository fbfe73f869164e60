/* progress.c: see progress.h. */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define REDRAW_INTERVAL_S 0.1

void progress_start(progress *p, FILE *out, long long total_lines, double interval_s, int enabled) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->terminal = isatty(fileno(out));
    p->enabled = enabled;
    p->total_lines = total_lines;
    p->interval_s = interval_s;
    p->started = cli_now();
    p->last_drawn = p->started;
}

/* 1234567 -> "1,234,567" */
static void group_digits(long long n, char *out, size_t size) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", n < 0 ? -n : n);
    size_t len = strlen(digits), o = 0;
    if (n < 0 && o + 1 < size) out[o++] = '-';
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 1 < size) out[o++] = ',';
        if (o + 1 < size) out[o++] = digits[i];
    }
    out[o] = '\0';
}

static void format_duration(double seconds, char *out, size_t size) {
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else snprintf(out, size, "%ld:%02ld", s / 60, s % 60);
}

static int terminal_width(FILE *out) {
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

static void draw_bar(progress *p, const progress_counts *c, double now) {
    double elapsed = now - p->started;
    double rate = elapsed > 0 ? (double)c->sent / elapsed : 0;
    char sent[32], total[32], rate_text[32], line[512], tail[256];
    group_digits(c->sent, sent, sizeof sent);
    group_digits((long long)(rate + 0.5), rate_text, sizeof rate_text);
    int width = terminal_width(p->out);
    if (p->total_lines > 0) {
        double fraction = (double)c->lines_done / (double)p->total_lines;
        if (fraction > 1) fraction = 1;
        char eta[32] = "--:--";
        double line_rate = elapsed > 0 ? (double)c->lines_done / elapsed : 0;
        if (line_rate > 0) format_duration((double)(p->total_lines - c->lines_done) / line_rate, eta, sizeof eta);
        group_digits(p->total_lines, total, sizeof total);
        snprintf(tail, sizeof tail, " %s/%s events  %s events/s  ETA %s", sent, total, rate_text, eta);
        int bar_width = width - 1 - 7 - (int)strlen(tail);
        if (bar_width > 40) bar_width = 40;
        if (bar_width < 5) bar_width = 0;
        int filled = (int)(fraction * bar_width);
        size_t o = (size_t)snprintf(line, sizeof line, "%3d%% ", (int)(fraction * 100));
        if (bar_width > 0) {
            line[o++] = '[';
            for (int i = 0; i < bar_width; i++) line[o++] = i < filled ? '#' : '-';
            line[o++] = ']';
        }
        snprintf(line + o, sizeof line - o, "%s", tail);
    } else {
        char elapsed_text[32];
        format_duration(elapsed, elapsed_text, sizeof elapsed_text);
        snprintf(line, sizeof line, "%s events  %s events/s  %s elapsed", sent, rate_text, elapsed_text);
    }
    if ((int)strlen(line) > width - 1) line[width - 1] = '\0';
    /* \r, the line, then erase what an earlier, longer line left */
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    p->bar_shown = 1;
}

static void print_plain(progress *p, const progress_counts *c, double now) {
    double elapsed = now - p->started;
    double rate = elapsed > 0 ? (double)c->sent / elapsed : 0;
    if (p->total_lines > 0) {
        double fraction = (double)c->lines_done / (double)p->total_lines;
        fprintf(p->out, "suprsend-events import: %lld of %lld lines (%d%%), %lld accepted, %lld failed, %.0f events/s, %.1f s\n",
                c->lines_done, p->total_lines, (int)(fraction * 100), c->accepted, c->failed, rate, elapsed);
    } else {
        fprintf(p->out, "suprsend-events import: %lld lines, %lld accepted, %lld failed, %.0f events/s, %.1f s\n",
                c->lines_done, c->accepted, c->failed, rate, elapsed);
    }
    fflush(p->out);
}

void progress_update(progress *p, const progress_counts *counts) {
    if (!p->enabled) return;
    double now = cli_now();
    if (p->terminal) {
        if (now - p->last_drawn < REDRAW_INTERVAL_S) return;
        p->last_drawn = now;
        draw_bar(p, counts, now);
    } else {
        if (p->interval_s <= 0 || now - p->last_drawn < p->interval_s) return;
        p->last_drawn = now;
        print_plain(p, counts, now);
    }
}

void progress_clear(progress *p) {
    if (p->bar_shown) {
        fputs("\r\033[K", p->out);
        fflush(p->out);
        p->bar_shown = 0;
        p->last_drawn = 0; /* redraw at the next update */
    }
}
