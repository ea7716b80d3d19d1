/* analysis_plot.c: line charts as PNG (analysis_plot.h). */
#include "analysis_plot.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "hnd_error.h"

/* 5x7 glyphs, one byte per row, bit 4 = leftmost column. */
static const struct {
    char c;
    unsigned char rows[7];
} k_font[] = {
    {'0', {14,17,19,21,25,17,14}},
    {'1', {4,12,4,4,4,4,14}},
    {'2', {14,17,1,2,4,8,31}},
    {'3', {31,2,4,2,1,17,14}},
    {'4', {2,6,10,18,31,2,2}},
    {'5', {31,16,30,1,1,17,14}},
    {'6', {6,8,16,30,17,17,14}},
    {'7', {31,1,2,4,8,8,8}},
    {'8', {14,17,17,14,17,17,14}},
    {'9', {14,17,17,15,1,2,12}},
    {'A', {14,17,17,31,17,17,17}},
    {'B', {30,17,17,30,17,17,30}},
    {'C', {14,17,16,16,16,17,14}},
    {'D', {30,17,17,17,17,17,30}},
    {'E', {31,16,16,30,16,16,31}},
    {'F', {31,16,16,30,16,16,16}},
    {'G', {14,17,16,23,17,17,15}},
    {'H', {17,17,17,31,17,17,17}},
    {'I', {14,4,4,4,4,4,14}},
    {'J', {7,2,2,2,2,18,12}},
    {'K', {17,18,20,24,20,18,17}},
    {'L', {16,16,16,16,16,16,31}},
    {'M', {17,27,21,21,17,17,17}},
    {'N', {17,17,25,21,19,17,17}},
    {'O', {14,17,17,17,17,17,14}},
    {'P', {30,17,17,30,16,16,16}},
    {'Q', {14,17,17,17,21,18,13}},
    {'R', {30,17,17,30,20,18,17}},
    {'S', {15,16,16,14,1,1,30}},
    {'T', {31,4,4,4,4,4,4}},
    {'U', {17,17,17,17,17,17,14}},
    {'V', {17,17,17,17,17,10,4}},
    {'W', {17,17,17,21,21,21,10}},
    {'X', {17,17,10,4,10,17,17}},
    {'Y', {17,17,10,4,4,4,4}},
    {'Z', {31,1,2,4,8,16,31}},
    {'.', {0,0,0,0,0,12,12}},
    {',', {0,0,0,0,12,4,8}},
    {'-', {0,0,0,31,0,0,0}},
    {'+', {0,4,4,31,4,4,0}},
    {'_', {0,0,0,0,0,0,31}},
    {'(', {2,4,8,8,8,4,2}},
    {')', {8,4,2,2,2,4,8}},
    {'/', {0,1,2,4,8,16,0}},
    {'%', {24,25,2,4,8,19,3}},
    {'=', {0,0,31,0,31,0,0}},
    {':', {0,12,12,0,12,12,0}},
    {'[', {14,8,8,8,8,8,14}},
    {']', {14,2,2,2,2,2,14}},
    {'^', {4,10,17,0,0,0,0}},
};

typedef struct {
    int w, h;
    unsigned char *px;   /* RGB */
} canvas;

static void put(canvas *cv, int x, int y, const unsigned char c[3]) {
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h) return;
    memcpy(cv->px + 3 * ((size_t)y * cv->w + x), c, 3);
}

static void rect(canvas *cv, int x0, int y0, int x1, int y1, const unsigned char c[3]) {
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) put(cv, x, y, c);
}

/* Bresenham, thickness t (square pen); dash > 0 draws dash-on/dash-off. */
static void line(canvas *cv, int x0, int y0, int x1, int y1, int t, int dash, const unsigned char c[3]) {
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy, k = 0;
    for (;;) {
        if (!dash || (k / dash) % 2 == 0) rect(cv, x0 - t / 2, y0 - t / 2, x0 + (t - 1) / 2, y0 + (t - 1) / 2, c);
        k++;
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

static const unsigned char *glyph(char ch) {
    ch = (char)toupper((unsigned char)ch);
    for (size_t i = 0; i < sizeof k_font / sizeof k_font[0]; i++)
        if (k_font[i].c == ch) return k_font[i].rows;
    return NULL;
}

static int text_width(const char *s, int scale) { return (int)strlen(s) * 6 * scale; }

/* Text with its top-left corner at (x, y); vertical: rotated 90 degrees
 * counter-clockwise (reading bottom to top), (x, y) the bottom-left. */
static void text(canvas *cv, int x, int y, const char *s, int scale, int vertical, const unsigned char c[3]) {
    for (int i = 0; s[i]; i++) {
        const unsigned char *g = glyph(s[i]);
        if (!g) continue;
        for (int r = 0; r < 7; r++)
            for (int col = 0; col < 5; col++)
                if (g[r] & (16 >> col))
                    for (int a = 0; a < scale; a++)
                        for (int b = 0; b < scale; b++) {
                            int gx = (i * 6 + col) * scale + a, gy = r * scale + b;
                            if (vertical) put(cv, x + gy, y - gx, c);
                            else put(cv, x + gx, y + gy, c);
                        }
    }
}

static const unsigned char k_black[3] = {0, 0, 0}, k_grid[3] = {225, 225, 225},
                           k_ref[3] = {40, 90, 220};
static const unsigned char k_colors[][3] = {{214, 39, 40}, {44, 160, 44},  {255, 127, 14}, {148, 103, 189},
                                            {23, 190, 207}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};

static int write_png(const char *path, const canvas *cv) {
    af_file a;
    FILE *f = af_open(&a, path);
    if (!f) return -1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!p || !info || setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        af_abort(&a);
        return hnd_error_set("%s: cannot write PNG", path);
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)cv->w, (png_uint_32)cv->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < cv->h; y++) png_write_row(p, cv->px + (size_t)y * 3 * cv->w);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    return af_commit(&a, 0);
}

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

/* "Nice" step for about k ticks over span. */
static double nice_step(double span, int k) {
    double raw = span / k, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

int ap_line_chart(const char *path, const ap_chart *c, const ap_series *s, int ns) {
    canvas cv;
    cv.w = c->width > 0 ? c->width : 960;
    cv.h = c->height > 0 ? c->height : 600;
    if (cv.w < 200 || cv.h < 150 || cv.w > 8000 || cv.h > 8000) return hnd_error_set("plot: bad size %dx%d", cv.w, cv.h);
    cv.px = malloc((size_t)cv.w * cv.h * 3);
    if (!cv.px) return hnd_error_set("out of memory");
    memset(cv.px, 255, (size_t)cv.w * cv.h * 3);
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
        free(cv.px);
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
        const unsigned char *col = k_colors[k % 8];
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
    int rc = write_png(path, &cv);
    free(cv.px);
    return rc;
}
