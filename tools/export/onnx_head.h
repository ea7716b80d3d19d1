/* onnx_head.h: a head (head_graph.h) as an ONNX model, written with
 * protobuf-c from onnx.proto (Debian's libonnx-dev). Prefix oxh_.
 *
 * Graph (opset 13, IR version 7): input "image" float32 [1,3,height,width]
 * (height and width symbolic: the transformed image of head_graph.h), the
 * head's convolutions (BN folded), ReLUs and max-pool, then the quantizer
 * of h->bits computed in-graph exactly as bottleneck_quant.h:
 *   8:  outputs "z" uint8 [1,C,h,w], "scale" float32 [], "zero_point" uint8 []
 *   16: output "z" float16 [1,C,h,w]
 *   32: output "z" float32 [1,C,h,w]
 * Batch 1: the quantizer is per image. The quantizer uses only ops that
 * OpenCV 4.6's DNN importer takes with symbolic height/width (onnx_head.c
 * lists each exact rewrite). The model's doc_string and metadata_props
 * (mean, std, min_size, max_size, size_divisible, bits, C, arch,
 * num_classes, mask) state the input rule. */
#ifndef HND_ONNX_HEAD_H
#define HND_ONNX_HEAD_H

#include "head_graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes path (atomically: a temp file renamed, removed on failure).
 * 0 / -1 + hnd_error() naming path; -1 too when hnd was built without
 * protobuf-c or onnx.proto. */
int oxh_write(const hg_head *h, const char *path);

#ifdef __cplusplus
}
#endif
#endif
