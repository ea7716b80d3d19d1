/* box_coder.h: torchvision's BoxCoder (detection/_utils.py): box deltas
 * (dx, dy, dw, dh) relative to reference boxes, with per-coordinate weights,
 * (1,1,1,1) for the RPN and (10,10,5,5) for the box head, and dw/dh clamped
 * to log(1000/16) before exp when decoding. Same float32 operation order
 * as torchvision, so results agree bit for bit on the same device. */
#ifndef BOX_CODER_H
#define BOX_CODER_H

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double weights[4];   /* wx, wy, ww, wh */
    double clip;         /* log(1000/16) */
} bc_coder;

void bc_init(bc_coder *c, double wx, double wy, double ww, double wh);

/* decode_single: rel_codes [N, 4k] (k boxes per reference, e.g. one per
 * class), boxes [N,4] -> [N, k, 4] (x1, y1, x2, y2). NULL + hnd_error(). */
ct_tensor *bc_decode(const bc_coder *c, const ct_tensor *rel_codes, const ct_tensor *boxes);

/* encode_single: regression targets [N,4] of reference_boxes (matched
 * ground truth) with respect to proposals [N,4] (both x1, y1, x2, y2). */
ct_tensor *bc_encode(const bc_coder *c, const ct_tensor *reference_boxes, const ct_tensor *proposals);

#ifdef __cplusplus
}
#endif
#endif
