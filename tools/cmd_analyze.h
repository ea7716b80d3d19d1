/* cmd_analyze.h: `hnd analyze` (layer-wise tensor sizes and cumulative
 * parameter counts, the paper's Figures 2-4) and small helpers shared with
 * `hnd bench-latency` (cmd_bench_latency.c), prefix acli_. Needs libtorch: hnd-torch. */
#ifndef HND_CMD_ANALYZE_H
#define HND_CMD_ANALYZE_H

#include <stdio.h>

#include "atomic_file.h"

#include "analysis.h"

int cmd_analyze(int argc, char **argv);

/* "3x800x800" or "800x800" (3 channels) -> chw, each 1..8192; -1 on a bad string. */
int acli_parse_size(const char *s, int64_t chw[3]);
/* "3,6,9" -> values (>= 1); returns the count or -1. */
int acli_parse_channels(const char *s, int64_t *v, int max);
/* Opens DIR/NAME atomically (util/atomic_file.h); acli_commit renames it
 * into place (or removes it when failed != 0). NULL / -1 + hnd_error(). */
FILE *acli_open(af_file *a, const char *dir, const char *name);
int acli_commit(af_file *a, int failed);
/* Reads a student/teacher config (train/config.h) into one or two model
 * specs: *n_specs = 1 (an org config: the teacher) or 2 (teacher, student).
 * -1 + hnd_error() when the build has no config support yet. */
int acli_specs_from_config(const char *path, spa_model_spec specs[2], int *n_specs);

#endif
