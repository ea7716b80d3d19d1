/* plot_png.c: see plot_png.h. */
#include "plot_png.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "png_canvas.h"

#define PP_MAX_SERIES 16
#define PP_MAX_NOTES 64

typedef struct {
    char label[128];
    double *x, *y;
    int n;
    uint32_t rgb;
    int style;
} pp_series;

typedef struct {
    double x, y;
    char text[64];
    uint32_t rgb;
} pp_note;

struct pp_plot {
    int w, h;
    pc_canvas cv;
    char title[256], xl[128], yl[128];
    int xlog, fixed_x, fixed_y;
    double x0, x1, y0, y1;
    pp_series s[PP_MAX_SERIES];
    int ns;
    pp_note notes[PP_MAX_NOTES];
    int nn;
    /* plot area */
    int L, R, T, B;
};

pp_plot *pp_new(int width, int height) {
    if (width < 200 || height < 150 || width > 8000 || height > 8000) {
        hnd_error_set("plot: size %dx%d out of range", width, height);
        return NULL;
    }
    pp_plot *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->w = width;
    p->h = height;
    return p;
}

void pp_free(pp_plot *p) {
    if (!p) return;
    for (int i = 0; i < p->ns; i++) {
        free(p->s[i].x);
        free(p->s[i].y);
    }
    pc_free(&p->cv);
    free(p);
}

void pp_title(pp_plot *p, const char *s) { snprintf(p->title, sizeof p->title, "%s", s ? s : ""); }
void pp_xlabel(pp_plot *p, const char *s) { snprintf(p->xl, sizeof p->xl, "%s", s ? s : ""); }
void pp_ylabel(pp_plot *p, const char *s) { snprintf(p->yl, sizeof p->yl, "%s", s ? s : ""); }
void pp_xlog(pp_plot *p, int on) { p->xlog = on != 0; }
void pp_xrange(pp_plot *p, double lo, double hi) {
    p->fixed_x = 1;
    p->x0 = lo;
    p->x1 = hi;
}
void pp_yrange(pp_plot *p, double lo, double hi) {
    p->fixed_y = 1;
    p->y0 = lo;
    p->y1 = hi;
}

int pp_add(pp_plot *p, const char *label, const double *x, const double *y, int n, uint32_t rgb, int style) {
    if (!p || n < 0 || (n && (!x || !y))) return hnd_error_set("plot: bad series");
    if (p->ns >= PP_MAX_SERIES) return hnd_error_set("plot: at most %d series", PP_MAX_SERIES);
    pp_series *s = &p->s[p->ns];
    s->x = malloc(sizeof(double) * (size_t)(n + 1));
    s->y = malloc(sizeof(double) * (size_t)(n + 1));
    if (!s->x || !s->y) {
        free(s->x);
        free(s->y);
        return hnd_error_set("out of memory");
    }
    memcpy(s->x, x, sizeof(double) * (size_t)n);
    memcpy(s->y, y, sizeof(double) * (size_t)n);
    s->n = n;
    s->rgb = rgb;
    s->style = style ? style : PP_LINE | PP_POINTS;
    snprintf(s->label, sizeof s->label, "%s", label ? label : "");
    p->ns++;
    return 0;
}

int pp_annotate(pp_plot *p, double x, double y, const char *text, uint32_t rgb) {
    if (p->nn >= PP_MAX_NOTES) return hnd_error_set("plot: too many notes");
    pp_note *n = &p->notes[p->nn++];
    n->x = x;
    n->y = y;
    n->rgb = rgb;
    snprintf(n->text, sizeof n->text, "%s", text ? text : "");
    return 0;
}

int pp_text_width(const char *s) { return pc_text_width(s, 1); }

/* ---- raster (png_canvas.h) ---- */

static void put(pp_plot *p, int x, int y, uint32_t rgb) { pc_put(&p->cv, x, y, rgb); }

static void text(pp_plot *p, int x, int y, const char *s, uint32_t rgb, int scale) {
    pc_text(&p->cv, x, y, s, scale, 0, rgb);
}

/* Vertical text, bottom to top (y label). */
static void text_up(pp_plot *p, int x, int y, const char *s, uint32_t rgb) { pc_text(&p->cv, x, y, s, 1, 1, rgb); }

/* dashed: 6 px on, 6 off; thick 2 is drawn 3 px wide, as before the canvas
 * module existed (centred pen) */
static void line(pp_plot *p, double x0, double y0, double x1, double y1, uint32_t rgb, int thick, int dashed) {
    pc_line(&p->cv, x0, y0, x1, y1, thick / 2 * 2 + 1, dashed ? 6 : 0, rgb);
}

static void marker(pp_plot *p, int x, int y, uint32_t rgb) {
    for (int a = -3; a <= 3; a++)
        for (int b = -3; b <= 3; b++)
            if (a * a + b * b <= 10) put(p, x + a, y + b, rgb);
}

static double nice_step(double range, int target) { return pc_nice_step(range, target); }

static void fmt_num(double v, double step, char *buf, size_t n) {
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    snprintf(buf, n, "%.*f", dec, fabs(v) < step * 1e-6 ? 0.0 : v);
}

static double tx(const pp_plot *p, double x) {
    double a = p->xlog ? log10(p->x0) : p->x0, b = p->xlog ? log10(p->x1) : p->x1;
    double v = p->xlog ? log10(x) : x;
    return p->L + (v - a) / (b - a) * (p->R - p->L);
}
static double ty(const pp_plot *p, double y) { return p->B - (y - p->y0) / (p->y1 - p->y0) * (p->B - p->T); }

static void auto_ranges(pp_plot *p) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < p->ns; i++)
        for (int k = 0; k < p->s[i].n; k++) {
            double x = p->s[i].x[k], y = p->s[i].y[k];
            if (!isfinite(x) || !isfinite(y) || (p->xlog && x <= 0)) continue;
            xmin = fmin(xmin, x);
            xmax = fmax(xmax, x);
            ymin = fmin(ymin, y);
            ymax = fmax(ymax, y);
        }
    if (!isfinite(xmin)) xmin = p->xlog ? 0.1 : 0, xmax = p->xlog ? 1 : 1;
    if (!isfinite(ymin)) ymin = 0, ymax = 1;
    if (!p->fixed_x) {
        if (p->xlog) {
            p->x0 = pow(10, floor(log10(xmin) - 0.05));
            p->x1 = pow(10, ceil(log10(xmax) + 0.05));
        } else {
            double m = (xmax - xmin) * 0.08 + (xmax == xmin ? fabs(xmax) * 0.1 + 1e-3 : 0);
            p->x0 = xmin - m;
            p->x1 = xmax + m;
        }
    }
    if (!p->fixed_y) {
        double m = (ymax - ymin) * 0.1 + (ymax == ymin ? fabs(ymax) * 0.1 + 1e-3 : 0);
        p->y0 = ymin - m;
        p->y1 = ymax + m;
        if (ymin >= 0 && p->y0 < 0) p->y0 = 0;
    }
}

static int render(pp_plot *p) {
    pc_free(&p->cv);
    if (pc_init(&p->cv, p->w, p->h) != 0) return -1;
    auto_ranges(p);
    p->L = 70;
    p->R = p->w - 20;
    p->T = 40;
    p->B = p->h - 50;
    const uint32_t axis = 0x000000, grid = 0xE0E0E0, lab = 0x202020;
    /* grid and ticks */
    double ys = nice_step(p->y1 - p->y0, 6);
    for (double v = ceil(p->y0 / ys) * ys; v <= p->y1 + ys * 1e-9; v += ys) {
        int y = (int)lround(ty(p, v));
        line(p, p->L, y, p->R, y, grid, 1, 0);
        line(p, p->L - 4, y, p->L, y, axis, 1, 0);
        char b[32];
        fmt_num(v, ys, b, sizeof b);
        text(p, p->L - 8 - pp_text_width(b), y - 3, b, lab, 1);
    }
    if (p->xlog) {
        for (double d = floor(log10(p->x0)); d <= ceil(log10(p->x1)); d++)
            for (int m = 1; m <= 9; m++) {
                double v = m * pow(10, d);
                if (v < p->x0 * (1 - 1e-9) || v > p->x1 * (1 + 1e-9)) continue;
                int x = (int)lround(tx(p, v));
                line(p, x, p->T, x, p->B, m == 1 ? grid : 0xF2F2F2, 1, 0);
                line(p, x, p->B, x, p->B + (m == 1 ? 5 : 2), axis, 1, 0);
                if (m == 1 || (m == 2 || m == 5)) {
                    char b[32];
                    snprintf(b, sizeof b, "%g", v);
                    text(p, x - pp_text_width(b) / 2, p->B + 8, b, lab, 1);
                }
            }
    } else {
        double xs = nice_step(p->x1 - p->x0, 8);
        for (double v = ceil(p->x0 / xs) * xs; v <= p->x1 + xs * 1e-9; v += xs) {
            int x = (int)lround(tx(p, v));
            line(p, x, p->T, x, p->B, grid, 1, 0);
            line(p, x, p->B, x, p->B + 4, axis, 1, 0);
            char b[32];
            fmt_num(v, xs, b, sizeof b);
            text(p, x - pp_text_width(b) / 2, p->B + 8, b, lab, 1);
        }
    }
    line(p, p->L, p->T, p->L, p->B, axis, 1, 0);
    line(p, p->L, p->B, p->R, p->B, axis, 1, 0);
    line(p, p->R, p->T, p->R, p->B, axis, 1, 0);
    line(p, p->L, p->T, p->R, p->T, axis, 1, 0);
    /* series */
    for (int i = 0; i < p->ns; i++) {
        const pp_series *s = &p->s[i];
        double px = NAN, py = NAN;
        for (int k = 0; k < s->n; k++) {
            if (!isfinite(s->x[k]) || !isfinite(s->y[k]) || (p->xlog && s->x[k] <= 0)) continue;
            double x = tx(p, s->x[k]), y = ty(p, s->y[k]);
            if ((s->style & PP_LINE) && !isnan(px)) line(p, px, py, x, y, s->rgb, 2, s->style & PP_DASHED);
            if (s->style & PP_POINTS) marker(p, (int)lround(x), (int)lround(y), s->rgb);
            px = x;
            py = y;
        }
    }
    for (int i = 0; i < p->nn; i++) {
        const pp_note *n = &p->notes[i];
        if (p->xlog && n->x <= 0) continue;
        text(p, (int)lround(tx(p, n->x)) + 6, (int)lround(ty(p, n->y)) - 12, n->text, n->rgb, 1);
    }
    /* labels */
    text(p, (p->w - 2 * pp_text_width(p->title)) / 2, 10, p->title, axis, 2);
    text(p, (p->L + p->R - pp_text_width(p->xl)) / 2, p->h - 20, p->xl, axis, 1);
    text_up(p, 12, (p->T + p->B + pp_text_width(p->yl)) / 2, p->yl, axis);
    /* legend, bottom right */
    int lw = 0, nl = 0;
    for (int i = 0; i < p->ns; i++)
        if (*p->s[i].label) {
            lw = fmax(lw, pp_text_width(p->s[i].label));
            nl++;
        }
    if (nl) {
        int x0 = p->R - lw - 45, y0 = p->B - 14 * nl - 10;
        for (int y = y0 - 4; y < p->B - 6; y++)
            for (int x = x0 - 6; x < p->R - 6; x++) put(p, x, y, 0xFFFFFF);
        line(p, x0 - 6, y0 - 4, p->R - 6, y0 - 4, 0x808080, 1, 0);
        line(p, x0 - 6, p->B - 6, p->R - 6, p->B - 6, 0x808080, 1, 0);
        line(p, x0 - 6, y0 - 4, x0 - 6, p->B - 6, 0x808080, 1, 0);
        line(p, p->R - 6, y0 - 4, p->R - 6, p->B - 6, 0x808080, 1, 0);
        int k = 0;
        for (int i = 0; i < p->ns; i++) {
            if (!*p->s[i].label) continue;
            int y = y0 + 14 * k++ + 3;
            if (p->s[i].style & PP_LINE) line(p, x0, y, x0 + 24, y, p->s[i].rgb, 2, p->s[i].style & PP_DASHED);
            if (p->s[i].style & PP_POINTS) marker(p, x0 + 12, y, p->s[i].rgb);
            text(p, x0 + 32, y - 3, p->s[i].label, axis, 1);
        }
    }
    return 0;
}

int pp_write(pp_plot *p, const char *path) {
    if (!p || !path) return hnd_error_set("plot: NULL argument");
    if (render(p) != 0) return -1;
    return pc_write_png(&p->cv, path);
}
