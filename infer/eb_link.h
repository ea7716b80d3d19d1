/* eb_link.h: the learned entropy bottleneck on the link — its integer CDF
 * tables (infer/eb_codec.h) made from a student's density
 * (models/entropy_bottleneck.h), and the real bytes of a bottleneck coded
 * with them. Prefix ebl_. */
#ifndef HND_EB_LINK_H
#define HND_EB_LINK_H

#include <stdint.h>

#include "ctorch.h"
#include "eb_codec.h"
#include "entropy_bottleneck.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest table per channel: a density wider than this many integers is
 * refused (a student whose quantiles have not converged). */
#define EBL_MAX_LENGTH 4096

/* CompressAI's update(): the pmf of every channel around its median, then
 * 16-bit tables. 0 / -1 + hnd_error(). */
int ebl_tables(const ebm_model *eb, ebc_tables *out);

/* Codes each image of z [n,C,h,w] (float32, rounded values y^ = round(y -
 * m) + m as sr_head sends them, any device) with t, decodes the stream
 * again and checks it gives the same symbols; *bytes_sum += the streams'
 * sizes. 0 / -1 + hnd_error(). */
int ebl_measure(const ebc_tables *t, const ct_tensor *z, double *bytes_sum);

/* The same with tables made from eb first (one call per batch). */
int ebl_add_bytes(const ebm_model *eb, const ct_tensor *z, double *bytes_sum);

#ifdef __cplusplus
}
#endif
#endif
