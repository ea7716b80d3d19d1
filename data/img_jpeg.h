/* img_jpeg.h: in-memory JPEG encoding exactly as PIL's
 * Image.save(buf, "JPEG", quality=Q) on an RGB image (Pillow's JpegEncode.c
 * over the same libjpeg-turbo): jpeg_set_defaults, jpeg_set_quality(Q,
 * force_baseline TRUE), the library's default 4:2:0 subsampling, islow DCT,
 * no optimized Huffman tables, not progressive, the default JFIF header; the
 * same bytes, so the same decoded pixels. The reference's jpeg_quality
 * dataset option (ExtCocoDetection) re-encodes each image this way before
 * its transform. Torch-free, prefix img_ (the img module). */
#ifndef HND_IMG_JPEG_H
#define HND_IMG_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "img.h"

/* RGB uint8 (height*width*3) -> JPEG bytes (*buf malloc'd, *len). quality
 * 1..100. 0 / -1 + hnd_error() naming `name`. */
int img_encode_jpeg_mem(const char *name, const uint8_t *rgb, int width, int height, int quality, uint8_t **buf,
                        size_t *len);

/* im re-encoded at quality and decoded again (img_decode_mem: PIL's
 * decoder settings), in place; *bytes: the JPEG's size (may be NULL). 0 /
 * -1 (im unchanged). */
int img_recode_jpeg(const char *name, img_u8 *im, int quality, size_t *bytes);

#endif
