/* png_canvas.h: the raster under hnd's PNG figures (plot_png.h for the
 * sweep's curve.png, analysis_plot.h for hnd analyze / bench-latency): an RGB
 * canvas, pixels, boxes, thick and dashed lines, text in a built-in 5x7
 * bitmap font (ASCII; letters drawn as capitals; horizontal, or rotated to
 * read bottom to top), "nice" tick steps, and the atomic PNG writer (libpng).
 * Torch-free, prefix pc_. Colours are 0xRRGGBB. */
#ifndef HND_PNG_CANVAS_H
#define HND_PNG_CANVAS_H

#include <stdint.h>

typedef struct {
    int w, h;
    uint8_t *px;   /* RGB, row-major */
} pc_canvas;

/* A white w x h canvas (each 1..8000). 0 / -1 + hnd_error(). */
int pc_init(pc_canvas *c, int w, int h);
void pc_free(pc_canvas *c);
/* Clipped to the canvas. */
void pc_put(pc_canvas *c, int x, int y, uint32_t rgb);
void pc_rect(pc_canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb);   /* filled, inclusive */
/* A line of `thick` pixels (square pen); dash > 0: dash pixels on, dash off. */
void pc_line(pc_canvas *c, double x0, double y0, double x1, double y1, int thick, int dash, uint32_t rgb);
/* Text with its top-left corner at (x, y), glyphs scaled by `scale`;
 * vertical: rotated 90 degrees counter-clockwise, (x, y) its bottom-left. */
void pc_text(pc_canvas *c, int x, int y, const char *s, int scale, int vertical, uint32_t rgb);
int pc_text_width(const char *s, int scale);   /* 6 px per character at scale 1 */
/* A 1/2/5 x 10^k step giving about `ticks` ticks over span. */
double pc_nice_step(double span, int ticks);
/* Writes the canvas to path (a temporary file renamed into place). 0 / -1. */
int pc_write_png(const pc_canvas *c, const char *path);

#endif
