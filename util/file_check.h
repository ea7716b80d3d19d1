/* file_check.h: an input named on the command line must be a regular file
 * of sane size before anyone reads it: /dev/zero or a FIFO would be read
 * forever, a directory gives a confusing parse error. Prefix fchk_. */
#ifndef HND_FILE_CHECK_H
#define HND_FILE_CHECK_H

#include <stdint.h>

/* the default limit for JSON inputs (COCO train2017 annotations: 448 MB) */
#define FCHK_JSON_MAX ((uint64_t)16 << 30)

/* 0 when path is a regular file of at most max_bytes; -1 with hnd_error()
 * set: "x.json: no such file", "x: is a directory", "/dev/zero: not a
 * regular file", "x.json: 20.0 GiB, more than the 16.0 GiB accepted". */
int fchk_regular(const char *path, uint64_t max_bytes);

#endif
