/* plot_png.c: see plot_png.h. Collects what the caller adds, then hands it
 * to plot_chart.h in one ch_chart. */
#include "plot_png.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "plot_chart.h"

#define PP_MAX_SERIES 16
#define PP_MAX_HLINES 8
#define PP_MAX_NOTES 64

struct pp_plot {
    int w, h;
    char title[256], xl[256], yl[256];
    int xlog;
    char labels[PP_MAX_SERIES][128];
    ch_series s[PP_MAX_SERIES];    /* x, y owned */
    int ns;
    char hline_labels[PP_MAX_HLINES][128];
    ch_hline hl[PP_MAX_HLINES];
    int nh;
    char note_text[PP_MAX_NOTES][64];
    ch_note notes[PP_MAX_NOTES];
    int nn;
};

pp_plot *pp_new(int width, int height) {
    if (width < 200 || height < 150 || width > 8000 || height > 8000) {
        hnd_error_set("plot: size %dx%d out of range", width, height);
        return NULL;
    }
    pp_plot *p = calloc(1, sizeof *p);
    if (!p) {
        hnd_error_set("out of memory");
        return NULL;
    }
    p->w = width;
    p->h = height;
    return p;
}

void pp_destroy(pp_plot *p) {
    if (!p) return;
    for (int i = 0; i < p->ns; i++) {
        free((double *)p->s[i].x);
        free((double *)p->s[i].y);
    }
    free(p);
}

void pp_title(pp_plot *p, const char *s) { snprintf(p->title, sizeof p->title, "%s", s ? s : ""); }
void pp_xlabel(pp_plot *p, const char *s) { snprintf(p->xl, sizeof p->xl, "%s", s ? s : ""); }
void pp_ylabel(pp_plot *p, const char *s) { snprintf(p->yl, sizeof p->yl, "%s", s ? s : ""); }
void pp_xlog(pp_plot *p, int on) { p->xlog = on != 0; }

int pp_add(pp_plot *p, const char *label, const double *x, const double *y, int n, uint32_t rgb, int style) {
    if (!p || n < 0 || (n && (!x || !y))) return hnd_error_set("plot: bad series");
    if (p->ns >= PP_MAX_SERIES) return hnd_error_set("plot: at most %d series", PP_MAX_SERIES);
    double *xs = malloc(sizeof(double) * (size_t)(n + 1)), *ys = malloc(sizeof(double) * (size_t)(n + 1));
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return hnd_error_set("out of memory");
    }
    memcpy(xs, x, sizeof(double) * (size_t)n);
    memcpy(ys, y, sizeof(double) * (size_t)n);
    snprintf(p->labels[p->ns], sizeof p->labels[p->ns], "%s", label ? label : "");
    p->s[p->ns] = (ch_series){p->labels[p->ns], xs, ys, n, rgb, style ? style : PP_LINE | PP_POINTS, CH_CIRCLE, 2};
    p->ns++;
    return 0;
}

int pp_hline(pp_plot *p, const char *label, double y, uint32_t rgb) {
    if (p->nh >= PP_MAX_HLINES) return hnd_error_set("plot: at most %d reference lines", PP_MAX_HLINES);
    snprintf(p->hline_labels[p->nh], sizeof p->hline_labels[p->nh], "%s", label ? label : "");
    p->hl[p->nh] = (ch_hline){y, p->hline_labels[p->nh], rgb};
    p->nh++;
    return 0;
}

int pp_annotate(pp_plot *p, double x, double y, const char *text, uint32_t rgb) {
    if (p->nn >= PP_MAX_NOTES) return hnd_error_set("plot: too many notes");
    snprintf(p->note_text[p->nn], sizeof p->note_text[p->nn], "%s", text ? text : "");
    p->notes[p->nn] = (ch_note){x, y, p->note_text[p->nn], rgb};
    p->nn++;
    return 0;
}

int pp_write_as(pp_plot *p, const char *path, pf_format f) {
    if (!p || !path) return hnd_error_set("plot: NULL argument");
    char file[4096];
    if (pf_path(file, sizeof file, path, f) != 0) return -1;
    ch_chart c = {
        .title = p->title, .xlabel = p->xl, .ylabel = p->yl,
        .xkind = p->xlog ? PA_LOG : PA_LINEAR, .ykind = PA_LINEAR,
        .series = p->s, .n_series = p->ns, .hlines = p->hl, .n_hlines = p->nh, .notes = p->notes,
        .n_notes = p->nn, .width = p->w, .height = p->h,
    };
    return ch_write(&c, file, f);
}

int pp_write(pp_plot *p, const char *path) { return pp_write_as(p, path, pf_from_path(path, PF_PNG)); }
