/* analysis_plot.h: line charts for hnd analyze (tensor size and cumulative
 * parameters per split point) and hnd bench-latency (time vs link rate):
 * categorical or numeric x axis, linear or log10 axes, several series with
 * a legend, an optional dashed reference line; PNG, SVG or PDF. Drawn by
 * plot_chart.h (cairo). Torch-free, prefix ap_. */
#ifndef HND_ANALYSIS_PLOT_H
#define HND_ANALYSIS_PLOT_H

#include "plot_format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *name;      /* legend entry */
    const double *x;       /* NULL with a categorical axis: x = 0..n-1 */
    const double *y;       /* NAN = gap */
    int n;
} ap_series;

typedef struct {
    const char *title, *xlabel, *ylabel;
    int log_x, log_y;                 /* log10 axes (values <= 0 skipped) */
    const char *const *categories;    /* categorical x axis labels, or NULL */
    int n_categories;
    int has_hline;                    /* dashed reference line at y = hline */
    double hline;
    const char *hline_label;
    int width, height;                /* 0: 960 x 600 */
} ap_chart;

/* Writes the chart in format f to path with its extension replaced by the
 * format's (pf_path), atomically. 0 / -1 + hnd_error(). */
int ap_line_chart_as(const char *path, const ap_chart *c, const ap_series *s, int ns, pf_format f);
/* ap_line_chart_as with the format path's extension names (PNG if none). */
int ap_line_chart(const char *path, const ap_chart *c, const ap_series *s, int ns);

#ifdef __cplusplus
}
#endif
#endif
