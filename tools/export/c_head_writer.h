/* c_head_writer.h: the dependency-free C99 head runtime of a bundle — its
 * sources (tools/export/c_head/, embedded in hnd at build time) and the
 * weights file they read (format in c_head/hnd_head.h). Prefix chw_. */
#ifndef HND_C_HEAD_WRITER_H
#define HND_C_HEAD_WRITER_H

#include "head_graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The weights file (hnd_head.h's format) of h at path, atomically.
 * 0 / -1 + hnd_error(). */
int chw_write_weights(const hg_head *h, const char *path);
/* The runtime's sources (hnd_head.c, hnd_head.h, the example program and
 * its Makefile) into directory dir (which exists). 0 / -1 + hnd_error(). */
int chw_write_sources(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
