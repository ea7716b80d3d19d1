/* plot_png.h: small line/scatter plots written as PNG with libpng, for
 * hnd sweep's curve.png and the analysis figures. Torch-free, prefix pp_.
 * Axes with "nice" ticks (linear or log10 x), tick labels, a title, axis
 * labels and a legend, drawn with a built-in 5x7 bitmap font (ASCII; letters
 * are drawn as capitals). */
#ifndef HND_PLOT_PNG_H
#define HND_PLOT_PNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pp_plot pp_plot;

enum { PP_LINE = 1, PP_POINTS = 2, PP_DASHED = 4 };

pp_plot *pp_new(int width, int height);
void pp_free(pp_plot *p);
void pp_title(pp_plot *p, const char *s);
void pp_xlabel(pp_plot *p, const char *s);
void pp_ylabel(pp_plot *p, const char *s);
void pp_xlog(pp_plot *p, int on);   /* log10 x axis (positive x only) */
/* Fixed ranges (default: from the data, with a margin). */
void pp_xrange(pp_plot *p, double lo, double hi);
void pp_yrange(pp_plot *p, double lo, double hi);
/* A series (copied); rgb 0xRRGGBB; style PP_LINE | PP_POINTS [| PP_DASHED].
 * 0 / -1 (hnd_error). */
int pp_add(pp_plot *p, const char *label, const double *x, const double *y, int n, uint32_t rgb, int style);
/* A text label at data coordinates (e.g. "C=3" next to a point). */
int pp_annotate(pp_plot *p, double x, double y, const char *text, uint32_t rgb);
/* Renders and writes the PNG (temporary file renamed into place). 0 / -1. */
int pp_write(pp_plot *p, const char *path);

/* Text width in pixels of s at scale 1 (6 px per character). */
int pp_text_width(const char *s);

#ifdef __cplusplus
}
#endif
#endif
