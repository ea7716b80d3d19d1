/* plot_legend.c: the chart's legend (plot_chart_int.h): a few entries go
 * into a corner of the plot where they hide no data, else (many entries,
 * or no free corner) into rows above the plot. */
#include <math.h>

#include "plot_chart_int.h"
#include "plot_surface.h"

#define LG_PT 12.5
#define LG_ROW 19.0
#define LG_SAMPLE 30.0
#define LG_PAD 8.0

static const char *series_label(const ch_series *s) { return s->label && *s->label ? s->label : NULL; }
static const char *hline_label(const ch_hline *h) { return h->label && *h->label ? h->label : NULL; }

int ch_legend_count(const ch_chart *c) {
    int n = 0;
    for (int i = 0; i < c->n_series; i++) n += series_label(&c->series[i]) != NULL;
    for (int i = 0; i < c->n_hlines; i++) n += hline_label(&c->hlines[i]) != NULL;
    return n;
}

/* Entry i's label and sample (a series, or a reference line when hl). */
static const char *entry(const ch_chart *c, int i, const ch_series **s, const ch_hline **h) {
    *s = NULL;
    *h = NULL;
    for (int j = 0; j < c->n_series; j++)
        if (series_label(&c->series[j]) && i-- == 0) return (*s = &c->series[j])->label;
    for (int j = 0; j < c->n_hlines; j++)
        if (hline_label(&c->hlines[j]) && i-- == 0) return (*h = &c->hlines[j])->label;
    return "";
}

static double entry_width(ch_ctx *k) {
    const ch_series *s;
    const ch_hline *h;
    double w = 0;
    ps_font(k->cr, LG_PT, 0);
    for (int i = 0; i < ch_legend_count(k->c); i++) w = fmax(w, ps_text_width(k->cr, entry(k->c, i, &s, &h)));
    return LG_SAMPLE + 8 + w;
}

static int columns_above(ch_ctx *k, double width) {
    int n = ch_legend_count(k->c), cols = (int)floor(width / (entry_width(k) + 20));
    return cols < 1 ? 1 : cols > n ? n : cols;
}

double ch_legend_above_height(ch_ctx *k, double width) {
    int n = ch_legend_count(k->c), cols = columns_above(k, width);
    return (n + cols - 1) / cols * LG_ROW;
}

static void sample(ch_ctx *k, const ch_series *s, const ch_hline *h, double x, double y) {
    cairo_t *cr = k->cr;
    double dash[2] = {7, 4};
    int style = s ? (s->style ? s->style : CH_LINE | CH_POINTS) : CH_LINE | CH_DASHED;
    if (style & CH_LINE) {
        cairo_set_dash(cr, dash, style & CH_DASHED ? 2 : 0, 0);
        cairo_set_line_width(cr, s && s->width > 0 ? fmin(s->width, 4) : 2);
        ps_rgb(cr, s ? s->rgb : h->rgb, 1);
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x + LG_SAMPLE, y);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    if (s && (style & CH_POINTS)) ch_marker(cr, s, x + LG_SAMPLE / 2, y);
}

static void entries(ch_ctx *k, double x0, double y0, int cols, double col_w) {
    const ch_series *s;
    const ch_hline *h;
    for (int i = 0; i < ch_legend_count(k->c); i++) {
        double x = x0 + (i % cols) * col_w, y = y0 + (i / cols + 0.5) * LG_ROW;
        const char *label = entry(k->c, i, &s, &h);
        sample(k, s, h, x, y);
        ps_font(k->cr, LG_PT, 0);
        ps_rgb(k->cr, 0x222222, 1);
        ps_text(k->cr, x + LG_SAMPLE + 8, y, label, 0, 0.5, 0);
    }
}

/* How many sampled points of the data fall into the box (x0, y0, w, h). */
static int covered(ch_ctx *k, double x0, double y0, double w, double h) {
    const ch_chart *c = k->c;
    int n = 0;
#define IN(px, py) ((px) >= x0 - 4 && (px) <= x0 + w + 4 && (py) >= y0 - 4 && (py) <= y0 + h + 4)
    for (int j = 0; j < c->n_series; j++) {
        const ch_series *s = &c->series[j];
        double px = NAN, py = NAN;
        for (int i = 0; i < s->n; i++) {
            double x = ch_px(k, ch_sx(s, i)), y = ch_py(k, s->y[i]);
            if (!isfinite(x) || !isfinite(y)) continue;
            n += 3 * IN(x, y);   /* a hidden marker is worse than a hidden stretch of line */
            if (isfinite(px))
                for (int t = 1; t < 16; t++) n += IN(px + (x - px) * t / 16, py + (y - py) * t / 16);
            px = x, py = y;
        }
    }
    for (int i = 0; i < c->n_hlines; i++)
        for (int t = 0; t <= 32; t++) n += IN(k->L + (k->R - k->L) * t / 32, ch_py(k, c->hlines[i].y));
    for (int i = 0; i < c->n_notes; i++) n += 2 * IN(ch_px(k, c->notes[i].x) + 20, ch_py(k, c->notes[i].y) - 10);
#undef IN
    return n;
}

/* The legend box inside the plot: top right, top left, bottom right or
 * bottom left, the first that covers the least data. Returns how much it
 * covers (0: nothing). */
static int corner(ch_ctx *k, double *x, double *y, double *w, double *h) {
    double m = 8;
    *w = entry_width(k) + 2 * LG_PAD;
    *h = ch_legend_count(k->c) * LG_ROW + LG_PAD;
    double xs[4] = {k->R - m - *w, k->L + m, k->R - m - *w, k->L + m};
    double ys[4] = {k->T + m, k->T + m, k->B - m - *h, k->B - m - *h};
    int best = 0, best_n = -1;
    for (int i = 0; i < 4; i++) {
        int c = covered(k, xs[i], ys[i], *w, *h);
        if (best_n < 0 || c < best_n) best = i, best_n = c;
    }
    *x = xs[best];
    *y = ys[best];
    return best_n;
}

int ch_legend_inside_covers(ch_ctx *k) {
    double x, y, w, h;
    return ch_legend_count(k->c) ? corner(k, &x, &y, &w, &h) : 0;
}

void ch_legend_draw(ch_ctx *k) {
    if (ch_legend_count(k->c) == 0) return;
    if (k->legend_above) {
        int cols = columns_above(k, k->R - k->L);
        entries(k, k->L, k->T - 6 - k->legend_h, cols, (k->R - k->L) / cols);
        return;
    }
    double x, y, w, h;
    corner(k, &x, &y, &w, &h);
    cairo_t *cr = k->cr;
    cairo_rectangle(cr, floor(x) + 0.5, floor(y) + 0.5, floor(w), floor(h));
    ps_rgb(cr, 0xFFFFFF, 0.88);
    cairo_fill_preserve(cr);
    ps_rgb(cr, 0xB0B0B0, 1);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    entries(k, x + LG_PAD, y + LG_PAD / 2, 1, w);
}
