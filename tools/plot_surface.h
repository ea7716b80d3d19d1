/* plot_surface.h: a cairo drawing surface that ends up as a PNG, SVG or PDF
 * file, written atomically (util/atomic_file.h), plus the text helpers the
 * figures share (a real font through fontconfig, measured and anchored
 * text). Torch-free, prefix ps_.
 *
 * One unit is one pixel in a PNG and one point in SVG/PDF, so a chart laid
 * out for 960 x 600 looks the same in the three formats. */
#ifndef HND_PLOT_SURFACE_H
#define HND_PLOT_SURFACE_H

#include <cairo.h>
#include <stdint.h>
#include <stdio.h>

#include "atomic_file.h"
#include "plot_format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    cairo_surface_t *surface;
    cairo_t *cr;          /* draw with it between ps_open and ps_close */
    pf_format format;
    af_file file;         /* the temporary file the bytes stream into */
    FILE *f;
    int write_failed;
} ps_surface;

/* A white w x h surface writing to path (written as given: pf_path is the
 * caller's business). 0, -1 + hnd_error(). */
int ps_open(ps_surface *s, const char *path, pf_format f, int w, int h);
/* Finishes the file and renames it into place (failed != 0: drops it).
 * Frees everything either way. 0, -1 + hnd_error(). */
int ps_close(ps_surface *s, int failed);

/* For drawing with cairo outside a ps_surface (det_visualize.h): hold
 * cairo's and fontconfig's caches while drawing, release them after (the
 * last release frees them, as ps_close does). */
void ps_caches_hold(void);
void ps_caches_release(void);

/* Colour 0xRRGGBB (alpha 0..1). */
void ps_rgb(cairo_t *cr, uint32_t rgb, double alpha);
/* DejaVu Sans (fontconfig picks a fallback if it is missing), size in units. */
void ps_font(cairo_t *cr, double size, int bold);
/* Advance width of s in the current font. */
double ps_text_width(cairo_t *cr, const char *s);
/* Draws s so that the point (ax, ay) of its box lands on (x, y): ax 0 left,
 * 0.5 centre, 1 right; ay 0 top, 0.5 middle, 1 bottom. The box is turned by
 * angle_deg (counter-clockwise, e.g. 90 for a y axis label) about (x, y). */
void ps_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay, double angle_deg);

#ifdef __cplusplus
}
#endif
#endif
