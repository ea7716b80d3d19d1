/* plot_chart_int.h: what plot_chart.c and plot_legend.c share: the chart
 * being drawn, its fitted axes and plot area. Internal to the ch_ module. */
#ifndef HND_PLOT_CHART_INT_H
#define HND_PLOT_CHART_INT_H

#include <cairo.h>

#include "plot_chart.h"

typedef struct {
    const ch_chart *c;
    cairo_t *cr;
    int W, H;
    pa_axis ax, ay;
    double L, R, T, B;       /* the plot area, device units */
    int legend_above;        /* legend rows between title and plot (many entries) */
    double legend_h;         /* their height */
} ch_ctx;

/* Device coordinates of data values (NaN when not drawable). */
double ch_px(const ch_ctx *k, double x);
double ch_py(const ch_ctx *k, double y);
/* x of a series' i-th point (its index without an x array). */
double ch_sx(const ch_series *s, int i);

/* The legend's entries: labelled series and reference lines. */
int ch_legend_count(const ch_chart *c);
/* Height of the legend when it sits above the plot at this width. */
double ch_legend_above_height(ch_ctx *k, double width);
/* How much data the legend would hide in the best corner of the plot area
 * (0: none; it then goes there). */
int ch_legend_inside_covers(ch_ctx *k);
/* Draws the legend: above the plot (k->legend_above) or in the corner of
 * the plot area that hides the fewest data. */
void ch_legend_draw(ch_ctx *k);
/* Marker of a series at (x, y), also used for the legend sample. */
void ch_marker(cairo_t *cr, const ch_series *s, double x, double y);

#endif
