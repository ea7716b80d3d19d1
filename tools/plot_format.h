/* plot_format.h: the file formats hnd's figures are written in (png, svg,
 * pdf) and the path that goes with each. Torch-free, prefix pf_.
 *
 * A command takes `--format png|svg|pdf`, parses it with pf_parse and hands
 * the pf_format to the plotting call (pp_write_as, ap_line_chart_as); those
 * replace the path's extension with the format's, so callers may keep
 * building "DIR/curve.png" and print pf_path(...) for the file written. The
 * calls without _as (pp_write, ap_line_chart) take the format from the
 * path's extension instead (PNG when it names none). */
#ifndef HND_PLOT_FORMAT_H
#define HND_PLOT_FORMAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* PF_PNG is 0 so that a zeroed options struct means PNG, the default. */
typedef enum { PF_PNG = 0, PF_SVG = 1, PF_PDF = 2 } pf_format;

/* "png", "svg" or "pdf" (any case) into *out. 0, or -1 + hnd_error()
 * naming the accepted values. */
int pf_parse(const char *name, pf_format *out);
/* "png" | "svg" | "pdf", also the file extension. */
const char *pf_name(pf_format f);
/* The format the extension of path names ("x.svg": PF_SVG, any case), or
 * def when it names none. */
pf_format pf_from_path(const char *path, pf_format def);
/* path with its extension (after the last '.' of the last component)
 * replaced by the format's, or the extension appended when it has none:
 * ("out/curve.png", PF_SVG) -> "out/curve.svg". 0, -1 + hnd_error() when
 * out (n bytes) is too small. */
int pf_path(char *out, size_t n, const char *path, pf_format f);

#ifdef __cplusplus
}
#endif
#endif
