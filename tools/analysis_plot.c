/* analysis_plot.c: line charts as PNG (analysis_plot.h). */
#include "analysis_plot.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "png_canvas.h"

/* the raster: png_canvas.h */
typedef pc_canvas canvas;

static void rect(canvas *cv, int x0, int y0, int x1, int y1, uint32_t c) { pc_rect(cv, x0, y0, x1, y1, c); }
static void line(canvas *cv, int x0, int y0, int x1, int y1, int t, int dash, uint32_t c) {
    pc_line(cv, x0, y0, x1, y1, t, dash, c);
}
static int text_width(const char *s, int scale) { return pc_text_width(s, scale); }
static void text(canvas *cv, int x, int y, const char *s, int scale, int vertical, uint32_t c) {
    pc_text(cv, x, y, s, scale, vertical, c);
}

static const uint32_t k_black = 0x000000, k_grid = 0xE1E1E1, k_ref = 0x285ADC;
static const uint32_t k_colors[] = {0xD62728, 0x2CA02C, 0xFF7F0E, 0x9467BD, 0x17BECF, 0x8C564B, 0xE377C2, 0x7F7F7F};

static double tr(double v, int lg) { return lg ? (v > 0 ? log10(v) : NAN) : v; }

static void fmt_tick(char *buf, size_t n, double v, int lg) {
    if (lg) {
        double e = round(v);
        if (e >= -2 && e <= 4) snprintf(buf, n, "%g", pow(10, e));
        else snprintf(buf, n, "1E%d", (int)e);
    } else {
        snprintf(buf, n, "%g", fabs(v) < 1e-12 ? 0.0 : v);
    }
}

static double nice_step(double span, int k) { return pc_nice_step(span, k); }

int ap_line_chart(const char *path, const ap_chart *c, const ap_series *s, int ns) {
    canvas cv;
    int W = c->width > 0 ? c->width : 960, H = c->height > 0 ? c->height : 600;
    if (W < 200 || H < 150 || W > 8000 || H > 8000) return hnd_error_set("plot: bad size %dx%d", W, H);
    if (pc_init(&cv, W, H) != 0) return -1;
    int cat = c->categories != NULL;
    /* data range */
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = cat || !s[k].x ? i : tr(s[k].x[i], c->log_x), y = tr(s[k].y[i], c->log_y);
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (c->has_hline && isfinite(tr(c->hline, c->log_y))) {
        y0 = fmin(y0, tr(c->hline, c->log_y));
        y1 = fmax(y1, tr(c->hline, c->log_y));
    }
    if (cat) x0 = 0, x1 = c->n_categories > 1 ? c->n_categories - 1 : 1;
    if (!isfinite(x0)) x0 = 0, x1 = 1;
    if (!isfinite(y0)) y0 = 0, y1 = 1;
    if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
    if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
    if (c->log_y) y0 = floor(y0), y1 = ceil(y1);
    else {
        double st = nice_step(y1 - y0, 6);
        y0 = floor(y0 / st) * st;
        y1 = ceil(y1 / st) * st;
    }
    if (c->log_x) x0 = floor(x0), x1 = ceil(x1);
    /* the legend sits between the title and the plot, two columns */
    int legend_rows = (ns + 1) / 2;
    int L = 90, R = cv.w - 20, T = 44 + 14 * legend_rows + 8, B = cv.h - (cat ? 110 : 70);
    if (B - T < 60) {
        pc_free(&cv);
        return hnd_error_set("plot: %dx%d is too small for %d series", cv.w, cv.h, ns);
    }
#define PX(x) ((int)lround(L + ((x) - x0) / (x1 - x0) * (R - L)))
#define PY(y) ((int)lround(B - ((y) - y0) / (y1 - y0) * (B - T)))
    char buf[64];
    /* y grid and ticks */
    double ys = c->log_y ? 1 : nice_step(y1 - y0, 6);
    for (double y = y0; y <= y1 + ys * 1e-9; y += ys) {
        line(&cv, L, PY(y), R, PY(y), 1, 0, k_grid);
        fmt_tick(buf, sizeof buf, y, c->log_y);
        text(&cv, L - 8 - text_width(buf, 1), PY(y) - 3, buf, 1, 0, k_black);
    }
    /* x grid and ticks */
    if (cat) {
        for (int i = 0; i < c->n_categories; i++) {
            line(&cv, PX(i), T, PX(i), B, 1, 0, k_grid);
            const char *lab = c->categories[i];
            text(&cv, PX(i) - 4, B + 8 + text_width(lab, 1), lab, 1, 1, k_black);
        }
    } else {
        double xs = c->log_x ? 1 : nice_step(x1 - x0, 8);
        for (double x = c->log_x ? x0 : ceil(x0 / xs) * xs; x <= x1 + xs * 1e-9; x += xs) {
            line(&cv, PX(x), T, PX(x), B, 1, 0, k_grid);
            fmt_tick(buf, sizeof buf, x, c->log_x);
            text(&cv, PX(x) - text_width(buf, 1) / 2, B + 8, buf, 1, 0, k_black);
        }
    }
    /* frame */
    line(&cv, L, T, L, B, 1, 0, k_black);
    line(&cv, L, B, R, B, 1, 0, k_black);
    /* reference line */
    if (c->has_hline && isfinite(tr(c->hline, c->log_y))) {
        int y = PY(tr(c->hline, c->log_y));
        line(&cv, L, y, R, y, 2, 8, k_ref);
        if (c->hline_label) text(&cv, R - text_width(c->hline_label, 1) - 4, y - 11, c->hline_label, 1, 0, k_ref);
    }
    /* series */
    for (int k = 0; k < ns; k++) {
        uint32_t col = k_colors[k % 8];
        int have = 0, px = 0, py = 0;
        for (int i = 0; i < s[k].n; i++) {
            double x = cat || !s[k].x ? i : tr(s[k].x[i], c->log_x), y = tr(s[k].y[i], c->log_y);
            if (!isfinite(x) || !isfinite(y)) continue;   /* a missing point is bridged */
            int X = PX(x), Y = PY(y);
            /* earlier series wider, so that coinciding later ones leave them visible */
            int th = ns - k + 1 < 2 ? 2 : (ns - k + 1 > 5 ? 5 : ns - k + 1), mk = th / 2 + 2;
            if (have) line(&cv, px, py, X, Y, th, k >= 8 ? 6 : 0, col);
            rect(&cv, X - mk, Y - mk, X + mk, Y + mk, col);
            px = X, py = Y, have = 1;
        }
    }
    /* legend */
    for (int k = 0; k < ns; k++) {
        const char *nm = s[k].name ? s[k].name : "";
        int lx = L + (k % 2) * (R - L) / 2, ly = 44 + 14 * (k / 2);
        rect(&cv, lx + 2, ly + 1, lx + 12, ly + 7, k_colors[k % 8]);
        text(&cv, lx + 18, ly + 1, nm, 1, 0, k_black);
    }
    /* titles */
    if (c->title) text(&cv, (cv.w - text_width(c->title, 2)) / 2, 14, c->title, 2, 0, k_black);
    if (c->xlabel) text(&cv, (L + R - text_width(c->xlabel, 1)) / 2, cv.h - 18, c->xlabel, 1, 0, k_black);
    if (c->ylabel) text(&cv, 12, (T + B + text_width(c->ylabel, 1)) / 2, c->ylabel, 1, 1, k_black);
#undef PX
#undef PY
    int rc = pc_write_png(&cv, path);
    pc_free(&cv);
    return rc;
}
