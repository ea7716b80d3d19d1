/* progress.c: see progress.h. */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mono_clock.h"

struct prg_bar {
    char label[96];
    char unit[16];
    uint64_t total, done;
    double t0, last_draw;
};

static void fmt_amount(char *buf, size_t n, uint64_t v, const char *unit) {
    if (strcmp(unit, "B") == 0)
        snprintf(buf, n, "%.1f MiB", (double)v / (1024.0 * 1024.0));
    else
        snprintf(buf, n, "%llu%s%s", (unsigned long long)v, *unit ? " " : "", unit);
}

static void draw(prg_bar *b, int final) {
    char d[48], t[48];
    double el = mono_now_s() - b->t0;
    fmt_amount(d, sizeof d, b->done, b->unit);
    if (b->total) {
        double f = (double)b->done / (double)b->total;
        if (f > 1) f = 1;
        int w = 30, k = (int)(f * w);
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < k ? '#' : '.';
        bar[w] = '\0';
        fmt_amount(t, sizeof t, b->total, b->unit);
        fprintf(stderr, "\r%s [%s] %5.1f%% %s / %s  %.1f s%s", b->label, bar, 100.0 * f, d, t, el,
                final ? "\n" : "");
    } else {
        fprintf(stderr, "\r%s %s  %.1f s%s", b->label, d, el, final ? "\n" : "");
    }
    fflush(stderr);
}

prg_bar *prg_begin(const char *label, uint64_t total, const char *unit, int enabled) {
    if (!enabled || !isatty(2)) return NULL;
    const char *e = getenv("HND_NO_PROGRESS");
    if (e && *e && strcmp(e, "0") != 0) return NULL;
    prg_bar *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    snprintf(b->label, sizeof b->label, "%s", label ? label : "");
    snprintf(b->unit, sizeof b->unit, "%s", unit ? unit : "");
    b->total = total;
    b->t0 = b->last_draw = mono_now_s();
    return b;
}

void prg_update(prg_bar *b, uint64_t done) {
    if (!b) return;
    b->done = done;
    double t = mono_now_s();
    if (t - b->last_draw >= 0.1) {
        b->last_draw = t;
        draw(b, 0);
    }
}

void prg_end(prg_bar *b) {
    if (!b) return;
    if (b->total) b->done = b->total > b->done ? b->done : b->total;
    draw(b, 1);
    free(b);
}
