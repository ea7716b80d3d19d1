/* img.h: image files to RGB uint8, and RGB uint8 to float CHW. Torch-free,
 * prefix img_.
 *
 * Decoding gives exactly what PIL's Image.open(f).convert("RGB") gives (as
 * torchvision's COCO pipeline does), byte for byte:
 *  - JPEG through libjpeg-turbo with PIL's settings (islow DCT, fancy
 *    upsampling); grayscale replicated; CMYK/YCCK read as Adobe-inverted CMYK
 *    and converted with PIL's formula; truncated data is an error (PIL raises
 *    "image file is truncated").
 *  - PNG through libpng: palette looked up, 1/2/4-bit gray scaled to 8 bits,
 *    16-bit RGB(A)/gray+alpha reduced to the high byte, 16-bit gray clamped
 *    to 0..255 (PIL's "I" -> "RGB"), alpha and tRNS dropped, gamma ignored.
 * The EXIF orientation is not applied (PIL's open does not either). */
#ifndef HND_IMG_H
#define HND_IMG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int width, height;
    uint8_t *rgb; /* height*width*3, row-major HWC; malloc'd */
} img_u8;

/* Decode a JPEG or PNG file (format from its magic bytes). 0 / -1 with
 * hnd_error() naming the file. out->rgb is owned by the caller (img_clear). */
int img_decode_file(const char *path, img_u8 *out);
/* Same from memory; name is used in messages. */
int img_decode_mem(const char *name, const uint8_t *buf, size_t len, img_u8 *out);
/* Only the size (reads the headers). 0 / -1. */
int img_probe_mem(const char *name, const uint8_t *buf, size_t len, int *width, int *height);
void img_clear(img_u8 *im);

/* HWC uint8 -> CHW float32 with x/255 (torchvision's to_tensor, bit-exact).
 * dst holds 3*h*w floats. */
void img_to_chw_f32(const img_u8 *im, float *dst);
/* Same fused with normalisation ((x/255) - mean[c]) / std[c], computed in
 * float32 in torch's order (bit-exact with to_tensor + normalize). */
void img_to_chw_f32_norm(const img_u8 *im, const float mean[3], const float std[3], float *dst);

/* Write RGB uint8 as a baseline JPEG (4:2:0, islow), quality 1..100. 0 / -1. */
int img_write_jpeg(const char *path, const uint8_t *rgb, int width, int height, int quality);

/* Read a whole file into memory (malloc'd). 0 / -1 with hnd_error(). */
int img_read_file(const char *path, uint8_t **buf, size_t *len);

/* The images a command line names: a file -> itself; a directory -> its
 * .jpg/.jpeg/.png files (case-insensitive, hidden ones skipped) in name order,
 * an error when it has none. *names (malloc'd strings) is freed with
 * img_list_destroy. 0 / -1 with hnd_error(). */
int img_list_files(const char *path, char ***names, int *n);
void img_list_destroy(char **names, int n);

#endif
