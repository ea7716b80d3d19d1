/* ts_head.h: a head (head_graph.h) as a TorchScript module, compiled by
 * libtorch's own script compiler (ct_script_save) from source generated
 * here: no Python. Prefix tsh_.
 *
 * forward(self, image: Tensor) with image float32 [1,3,H,W] (the
 * transformed image of head_graph.h) returns, by h->bits:
 *   8:  Tuple[Tensor, Tensor, Tensor]: z uint8 [1,C,h,w], scale float32 [],
 *       zero_point uint8 [] (bottleneck_quant.h's formulas)
 *   16: z float16 [1,C,h,w];  32: z float32 [1,C,h,w].
 * Loadable by torch.jit.load (PyTorch) and torch::jit::load (libtorch). */
#ifndef HND_TS_HEAD_H
#define HND_TS_HEAD_H

#include "head_graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes path (atomically). 0 / -1 + hnd_error(). */
int tsh_write(const hg_head *h, const char *path);

#ifdef __cplusplus
}
#endif
#endif
