/* plot_png.h: an x-y plot built up call by call (series, reference lines,
 * notes) and written as PNG, SVG or PDF, for hnd sweep's curve (mAP vs
 * bottleneck size). Drawn by plot_chart.h (cairo, a real font, fitted
 * ranges, linear or log10 x axis, legend). Torch-free, prefix pp_. The name
 * is historical: the figure was PNG only. */
#ifndef HND_PLOT_PNG_H
#define HND_PLOT_PNG_H

#include <stdint.h>

#include "plot_format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pp_plot pp_plot;

enum { PP_LINE = 1, PP_POINTS = 2, PP_DASHED = 4 };   /* = CH_LINE, CH_POINTS, CH_DASHED */

/* width x height in pixels (PNG) or points (SVG/PDF), 200x150 .. 8000x8000.
 * NULL + hnd_error(). */
pp_plot *pp_new(int width, int height);
void pp_destroy(pp_plot *p);
void pp_title(pp_plot *p, const char *s);
void pp_xlabel(pp_plot *p, const char *s);
void pp_ylabel(pp_plot *p, const char *s);
void pp_xlog(pp_plot *p, int on);   /* log10 x axis (positive x only) */
/* A series (copied); rgb 0xRRGGBB; style PP_LINE | PP_POINTS [| PP_DASHED];
 * label "" keeps it out of the legend. 0 / -1 (hnd_error). */
int pp_add(pp_plot *p, const char *label, const double *x, const double *y, int n, uint32_t rgb, int style);
/* A dashed horizontal line across the plot at y (a reference level such as
 * the teacher's mAP), in the legend under label. 0 / -1. */
int pp_hline(pp_plot *p, const char *label, double y, uint32_t rgb);
/* A text label at data coordinates (e.g. "C=3" next to a point). */
int pp_annotate(pp_plot *p, double x, double y, const char *text, uint32_t rgb);
/* Renders and writes the figure in format f to path with its extension
 * replaced by the format's (pf_path: "d/curve.png" + PF_PDF writes
 * "d/curve.pdf"), atomically. 0 / -1 + hnd_error(). */
int pp_write_as(pp_plot *p, const char *path, pf_format f);
/* pp_write_as with the format path's extension names (PNG if none). */
int pp_write(pp_plot *p, const char *path);

#ifdef __cplusplus
}
#endif
#endif
