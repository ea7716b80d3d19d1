/* analysis_plot.h: minimal line charts as PNG (libpng) for hnd analyze and
 * hnd bench-latency: categorical or numeric x axis, linear or log10 y
 * (and x) axis, several series with a legend, an optional horizontal
 * reference line. A 5x7 bitmap font (upper case, digits, a few symbols;
 * lower case is drawn as upper case). Torch-free, prefix ap_. */
#ifndef HND_ANALYSIS_PLOT_H
#define HND_ANALYSIS_PLOT_H

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

/* Writes the chart to path atomically (path.tmp, then rename). 0 / -1 +
 * hnd_error(). */
int ap_line_chart(const char *path, const ap_chart *c, const ap_series *s, int ns);

#ifdef __cplusplus
}
#endif
#endif
