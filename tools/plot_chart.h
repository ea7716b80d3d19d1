/* plot_chart.h: an x-y chart (lines, markers, dashed horizontal reference
 * lines, text notes, a legend) drawn with cairo (plot_surface.h) and
 * written as PNG, SVG or PDF. The engine under plot_png.h (the sweep's
 * curve) and analysis_plot.h (analyze, bench-latency). Torch-free, prefix
 * ch_. Everything a chart points to is borrowed for the ch_write call. */
#ifndef HND_PLOT_CHART_H
#define HND_PLOT_CHART_H

#include <stdint.h>

#include "plot_axis.h"
#include "plot_format.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { CH_LINE = 1, CH_POINTS = 2, CH_DASHED = 4 };
enum { CH_CIRCLE = 0, CH_SQUARE, CH_TRIANGLE, CH_DIAMOND };

typedef struct {
    const char *label;    /* legend entry; NULL or "": none */
    const double *x;      /* NULL: x = 0..n-1 (a categorical axis) */
    const double *y;      /* NaN (or <= 0 on a log axis): no point there */
    int n;
    uint32_t rgb;         /* 0xRRGGBB */
    int style;            /* CH_LINE | CH_POINTS [| CH_DASHED]; 0: line and points */
    int marker;           /* CH_CIRCLE .. CH_DIAMOND */
    double width;         /* line width; 0: 2 */
} ch_series;

/* A dashed line across the whole plot at y (a level to compare with, e.g.
 * the teacher's mAP); its label goes into the legend. */
typedef struct {
    double y;
    const char *label;
    uint32_t rgb;
} ch_hline;

/* Text placed just above and right of the data point (x, y). */
typedef struct {
    double x, y;
    const char *text;
    uint32_t rgb;
} ch_note;

typedef struct {
    const char *title, *xlabel, *ylabel;
    pa_kind xkind, ykind;                /* ykind: PA_LINEAR or PA_LOG */
    const char *const *categories;       /* xkind PA_CATEGORY: the tick names */
    int n_categories;
    int fixed_x, fixed_y;                /* else fitted to the data (pa_fit) */
    double x0, x1, y0, y1;
    const ch_series *series;
    int n_series;
    const ch_hline *hlines;
    int n_hlines;
    const ch_note *notes;
    int n_notes;
    int width, height;                   /* 0: 960 x 600 */
} ch_chart;

/* Draws the chart into path (written as given; pf_path gives the name
 * that matches the format). 0, -1 + hnd_error(). */
int ch_write(const ch_chart *c, const char *path, pf_format f);

#ifdef __cplusplus
}
#endif
#endif
