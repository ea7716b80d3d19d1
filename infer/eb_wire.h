/* eb_wire.h: a learned entropy bottleneck on the split link — the tables
 * both ends code with (eb_codec.h) and their CRC-32, which a WF_EB_RANS
 * BOTTLENECK frame carries so that a server refuses a stream coded with
 * other tables, and the frame itself from the rounded float32 values a head
 * produces. Torch-free (hnd split-detect, hnd serve, the tests). Prefix ebw_.
 *
 * The CRC is wire.h's CRC-32 of the tables file (ebc_tables_write's bytes,
 * eb_tables.bin in an export bundle): tables built from a student and the
 * same tables read from its bundle have the same CRC. */
#ifndef HND_EB_WIRE_H
#define HND_EB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "eb_codec.h"
#include "wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The CRC-32 of t's tables file. 0 / -1 + err. */
int ebw_tables_crc(const ebc_tables *t, uint32_t *crc, char *err, size_t errlen);

/* Reads a tables file (strictly, ebc_tables_read) and its CRC-32.
 * 0 / -1 + err naming the file. */
int ebw_read_tables(const char *path, ebc_tables *out, uint32_t *crc, char *err, size_t errlen);

/* The WF_EB_RANS frame of f, a WF_F32 bottleneck [1,C,h,w] holding the
 * rounded values symbol + median (what an entropy-bottleneck head sends):
 * its symbols coded with t (C = t->channels), the CRC in the frame. NULL +
 * err (a value not of the form symbol + median is coded as its nearest
 * symbol; a non-finite one is an error). */
uint8_t *ebw_frame(const ebc_tables *t, uint32_t crc, const wf_bottleneck *f, uint64_t request_id, size_t *n,
                   char *err, size_t errlen);

/* The same from an already coded stream (an exported C head's own,
 * hnd_head_run's eb_stream): only the frame is built. */
uint8_t *ebw_frame_stream(uint32_t crc, const wf_bottleneck *f, const uint8_t *stream, size_t len, uint64_t request_id,
                          size_t *n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
