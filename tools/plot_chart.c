/* plot_chart.c: see plot_chart.h; the legend is plot_legend.c. */
#include "plot_chart.h"

#include <math.h>
#include <stdio.h>

#include "hnd_error.h"
#include "plot_chart_int.h"
#include "plot_surface.h"

/* type sizes (device units: pixels in a PNG, points in SVG/PDF) */
#define CH_TITLE_PT 18.0
#define CH_LABEL_PT 14.0
#define CH_TICK_PT 12.0
#define CH_NOTE_PT 11.5
#define CH_PAD 10.0

static const uint32_t k_ink = 0x222222, k_grid = 0xDADADA, k_grid_minor = 0xEFEFEF;

double ch_sx(const ch_series *s, int i) { return s->x ? s->x[i] : (double)i; }
double ch_px(const ch_ctx *k, double x) { return k->L + pa_frac(&k->ax, x) * (k->R - k->L); }
double ch_py(const ch_ctx *k, double y) { return k->B - pa_frac(&k->ay, y) * (k->B - k->T); }

/* Ranges from every point that can be drawn, the reference lines and notes. */
static void fit_axes(ch_ctx *k) {
    const ch_chart *c = k->c;
    pa_bounds bx, by;
    pa_bounds_init(&bx);
    pa_bounds_init(&by);
    k->ax.kind = c->xkind;
    k->ay.kind = c->ykind == PA_LOG ? PA_LOG : PA_LINEAR;
    for (int j = 0; j < c->n_series; j++)
        for (int i = 0; i < c->series[j].n; i++) {
            double x = ch_sx(&c->series[j], i), y = c->series[j].y[i];
            if (!isfinite(pa_frac(&(pa_axis){k->ax.kind, 1, 10}, x)) ||
                !isfinite(pa_frac(&(pa_axis){k->ay.kind, 1, 10}, y)))
                continue;
            pa_bounds_add(&bx, k->ax.kind, x);
            pa_bounds_add(&by, k->ay.kind, y);
        }
    for (int i = 0; i < c->n_hlines; i++) pa_bounds_add(&by, k->ay.kind, c->hlines[i].y);
    for (int i = 0; i < c->n_notes; i++) {
        pa_bounds_add(&bx, k->ax.kind, c->notes[i].x);
        pa_bounds_add(&by, k->ay.kind, c->notes[i].y);
    }
    pa_fit(&k->ax, &bx, c->n_categories);
    pa_fit(&k->ay, &by, 0);
    if (c->fixed_x) k->ax.lo = c->x0, k->ax.hi = c->x1;
    if (c->fixed_y) k->ay.lo = c->y0, k->ay.hi = c->y1;
}

static const char *xtick_label(const ch_ctx *k, const pa_tick *t) {
    if (k->ax.kind != PA_CATEGORY) return t->label;
    int i = (int)lround(t->v);
    return k->c->categories && i >= 0 && i < k->c->n_categories ? k->c->categories[i] : "";
}

/* Category names turn 45 degrees when they would run into each other. */
static int xlabels_slanted(ch_ctx *k, const pa_tick *xt, int nx) {
    if (k->ax.kind != PA_CATEGORY || nx < 2) return 0;
    ps_font(k->cr, CH_TICK_PT, 0);
    double room = (k->R - k->L) / (k->ax.hi - k->ax.lo);
    for (int i = 0; i < nx; i++)
        if (ps_text_width(k->cr, xtick_label(k, &xt[i])) > 0.9 * room) return 1;
    return 0;
}

/* Margins from what goes in them: the title and legend above, tick labels
 * and axis titles left and below. */
static void layout(ch_ctx *k, const pa_tick *xt, int nx, const pa_tick *yt, int ny, int above, int *slanted) {
    cairo_t *cr = k->cr;
    const ch_chart *c = k->c;
    cairo_font_extents_t fe;
    ps_font(cr, CH_TICK_PT, 0);
    cairo_font_extents(cr, &fe);
    double tick_h = fe.ascent + fe.descent, yw = 0, last_xw = 0;
    for (int i = 0; i < ny; i++)
        if (yt[i].major) yw = fmax(yw, ps_text_width(cr, yt[i].label));
    if (nx > 0 && k->ax.kind != PA_CATEGORY) last_xw = ps_text_width(cr, xt[nx - 1].label);
    k->L = CH_PAD + (c->ylabel && *c->ylabel ? CH_LABEL_PT * 1.3 + 6 : 0) + yw + 10;
    k->R = k->W - fmax(2 * CH_PAD, last_xw / 2 + 6);
    k->T = CH_PAD + (c->title && *c->title ? CH_TITLE_PT * 1.4 + 6 : 0);
    k->legend_above = above;
    if (above) k->T += (k->legend_h = ch_legend_above_height(k, k->R - k->L)) + 6;
    else k->T += 6;
    *slanted = xlabels_slanted(k, xt, nx);
    double below = tick_h;
    if (*slanted) {
        ps_font(cr, CH_TICK_PT, 0);
        double w = 0;
        for (int i = 0; i < nx; i++) w = fmax(w, ps_text_width(cr, xtick_label(k, &xt[i])));
        below = (w + tick_h) * M_SQRT1_2;
    }
    k->B = k->H - CH_PAD - (c->xlabel && *c->xlabel ? CH_LABEL_PT * 1.3 + 6 : 0) - below - 10;
}

static double snap(double v) { return floor(v) + 0.5; }   /* crisp 1-unit lines in a PNG */

static void stroke_line(cairo_t *cr, double x0, double y0, double x1, double y1, uint32_t rgb, double w) {
    ps_rgb(cr, rgb, 1);
    cairo_set_line_width(cr, w);
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    cairo_stroke(cr);
}

static void draw_axes(ch_ctx *k, const pa_tick *xt, int nx, const pa_tick *yt, int ny, int slanted) {
    cairo_t *cr = k->cr;
    ps_font(cr, CH_TICK_PT, 0);
    for (int i = 0; i < ny; i++) {
        double y = snap(ch_py(k, yt[i].v));
        if (!isfinite(y)) continue;
        stroke_line(cr, k->L, y, k->R, y, yt[i].major ? k_grid : k_grid_minor, 1);
        stroke_line(cr, k->L - (yt[i].major ? 5 : 3), y, k->L, y, k_ink, 1);
        ps_rgb(cr, k_ink, 1);
        ps_text(cr, k->L - 8, y, yt[i].label, 1, 0.5, 0);
    }
    for (int i = 0; i < nx; i++) {
        double x = snap(ch_px(k, xt[i].v));
        if (!isfinite(x)) continue;
        stroke_line(cr, x, k->T, x, k->B, xt[i].major ? k_grid : k_grid_minor, 1);
        stroke_line(cr, x, k->B, x, k->B + (xt[i].major ? 5 : 3), k_ink, 1);
        ps_rgb(cr, k_ink, 1);
        if (slanted) ps_text(cr, x + 4, k->B + 8, xtick_label(k, &xt[i]), 1, 0, 45);
        else ps_text(cr, x, k->B + 7, xtick_label(k, &xt[i]), 0.5, 0, 0);
    }
    ps_rgb(cr, k_ink, 1);
    cairo_set_line_width(cr, 1.2);
    cairo_rectangle(cr, snap(k->L), snap(k->T), snap(k->R) - snap(k->L), snap(k->B) - snap(k->T));
    cairo_stroke(cr);
}

void ch_marker(cairo_t *cr, const ch_series *s, double x, double y) {
    double r = 4 + (s->width > 2 ? (s->width - 2) / 2 : 0);
    switch (s->marker) {
    case CH_SQUARE: cairo_rectangle(cr, x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7); break;
    case CH_TRIANGLE:
        cairo_move_to(cr, x, y - r * 1.15);
        cairo_line_to(cr, x + r, y + r * 0.7);
        cairo_line_to(cr, x - r, y + r * 0.7);
        cairo_close_path(cr);
        break;
    case CH_DIAMOND:
        cairo_move_to(cr, x, y - r * 1.2);
        cairo_line_to(cr, x + r, y);
        cairo_line_to(cr, x, y + r * 1.2);
        cairo_line_to(cr, x - r, y);
        cairo_close_path(cr);
        break;
    default: cairo_arc(cr, x, y, r, 0, 2 * M_PI);
    }
    ps_rgb(cr, s->rgb, 1);
    cairo_fill_preserve(cr);
    /* a white rim keeps coinciding markers of different series apart */
    ps_rgb(cr, 0xFFFFFF, 1);
    cairo_set_line_width(cr, 1);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_stroke(cr);
}

static void draw_series(ch_ctx *k, const ch_series *s) {
    cairo_t *cr = k->cr;
    int style = s->style ? s->style : CH_LINE | CH_POINTS, have = 0;
    if (style & CH_LINE) {
        double dash[2] = {7, 5};
        cairo_set_dash(cr, dash, style & CH_DASHED ? 2 : 0, 0);
        cairo_set_line_width(cr, s->width > 0 ? s->width : 2);
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
        for (int i = 0; i < s->n; i++) {   /* a missing point is bridged */
            double x = ch_px(k, ch_sx(s, i)), y = ch_py(k, s->y[i]);
            if (!isfinite(x) || !isfinite(y)) continue;
            if (have) cairo_line_to(cr, x, y);
            else cairo_move_to(cr, x, y);
            have = 1;
        }
        ps_rgb(cr, s->rgb, 1);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    if (style & CH_POINTS)
        for (int i = 0; i < s->n; i++) {
            double x = ch_px(k, ch_sx(s, i)), y = ch_py(k, s->y[i]);
            if (isfinite(x) && isfinite(y)) ch_marker(cr, s, x, y);
        }
}

static void draw_data(ch_ctx *k) {
    cairo_t *cr = k->cr;
    const ch_chart *c = k->c;
    cairo_save(cr);
    cairo_rectangle(cr, k->L, k->T, k->R - k->L, k->B - k->T);
    cairo_clip(cr);
    for (int i = 0; i < c->n_hlines; i++) {
        double y = ch_py(k, c->hlines[i].y), dash[2] = {9, 5};
        if (!isfinite(y)) continue;
        cairo_set_dash(cr, dash, 2, 0);
        stroke_line(cr, k->L, y, k->R, y, c->hlines[i].rgb, 2);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    for (int j = 0; j < c->n_series; j++) draw_series(k, &c->series[j]);
    ps_font(cr, CH_NOTE_PT, 0);
    for (int i = 0; i < c->n_notes; i++) {
        double x = ch_px(k, c->notes[i].x), y = ch_py(k, c->notes[i].y);
        if (!isfinite(x) || !isfinite(y)) continue;
        ps_rgb(cr, c->notes[i].rgb, 1);
        ps_text(cr, x + 6, y - 5, c->notes[i].text, 0, 1, 0);
    }
    cairo_restore(cr);
}

static void draw_titles(ch_ctx *k) {
    cairo_t *cr = k->cr;
    const ch_chart *c = k->c;
    ps_rgb(cr, k_ink, 1);
    if (c->title && *c->title) {
        /* a long title shrinks to the width rather than being cut */
        double pt = CH_TITLE_PT;
        ps_font(cr, pt, 1);
        double w = ps_text_width(cr, c->title);
        if (w > k->W - 2 * CH_PAD) ps_font(cr, pt * (k->W - 2 * CH_PAD) / w, 1);
        ps_text(cr, k->W / 2.0, CH_PAD, c->title, 0.5, 0, 0);
    }
    ps_font(cr, CH_LABEL_PT, 0);
    if (c->xlabel) ps_text(cr, (k->L + k->R) / 2, k->H - CH_PAD, c->xlabel, 0.5, 1, 0);
    if (c->ylabel) ps_text(cr, CH_PAD, (k->T + k->B) / 2, c->ylabel, 0.5, 0, 90);
}

int ch_write(const ch_chart *c, const char *path, pf_format f) {
    ch_ctx k = {.c = c, .W = c->width > 0 ? c->width : 960, .H = c->height > 0 ? c->height : 600};
    if (k.W < 200 || k.H < 150 || k.W > 8000 || k.H > 8000)
        return hnd_error_set("plot: size %dx%d out of range (200x150 .. 8000x8000)", k.W, k.H);
    if (c->xkind == PA_CATEGORY && c->n_categories < 1) return hnd_error_set("plot: no categories");
    ps_surface s;
    if (ps_open(&s, path, f, k.W, k.H) != 0) return -1;
    k.cr = s.cr;
    fit_axes(&k);
    pa_tick xt[PA_MAX_TICKS], yt[PA_MAX_TICKS];
    int nx = pa_ticks(&k.ax, xt, PA_MAX_TICKS), ny = pa_ticks(&k.ay, yt, PA_MAX_TICKS), slanted;
    /* the legend goes inside when it is short and a corner is free of data */
    layout(&k, xt, nx, yt, ny, ch_legend_count(c) > 6, &slanted);
    if (!k.legend_above && ch_legend_inside_covers(&k) > 0) layout(&k, xt, nx, yt, ny, 1, &slanted);
    if (k.B - k.T < 60 || k.R - k.L < 60) {
        ps_close(&s, 1);
        return hnd_error_set("plot: %dx%d leaves no room for the plot", k.W, k.H);
    }
    draw_axes(&k, xt, nx, yt, ny, slanted);
    draw_data(&k);
    ch_legend_draw(&k);
    draw_titles(&k);
    return ps_close(&s, 0);
}
