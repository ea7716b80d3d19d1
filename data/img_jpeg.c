/* img_jpeg.c: see img_jpeg.h. */
#include "img_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "hnd_error.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} ij_err;

static void ij_error_exit(j_common_ptr c) {
    ij_err *e = (ij_err *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}

static void ij_quiet(j_common_ptr c) { (void)c; }   /* warnings: not printed */

int img_encode_jpeg_mem(const char *name, const uint8_t *rgb, int width, int height, int quality, uint8_t **buf,
                        size_t *len) {
    *buf = NULL;
    *len = 0;
    if (width < 1 || height < 1 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION)
        return hnd_error_set("%s: cannot JPEG-encode a %dx%d image", name, width, height);
    if (quality < 1 || quality > 100) return hnd_error_set("%s: JPEG quality %d: must be in 1..100", name, quality);
    struct jpeg_compress_struct c;
    ij_err err;
    memset(&err, 0, sizeof err);
    c.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = ij_error_exit;
    err.pub.output_message = ij_quiet;
    /* jpeg_mem_dest's buffer pointer and size live in memory that a longjmp
     * leaves alone (locals changed after setjmp would be indeterminate) */
    struct {
        unsigned char *p;
        unsigned long n;
    } *dst = calloc(1, sizeof *dst);
    if (!dst) return hnd_error_set("%s: out of memory", name);
    if (setjmp(err.jb)) {
        jpeg_destroy_compress(&c);
        free(dst->p);
        free(dst);
        return hnd_error_set("%s: JPEG encoding at quality %d failed: %s", name, quality, err.msg);
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &dst->p, &dst->n);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    /* Pillow's order: defaults (YCbCr 4:2:0, islow, JFIF 1:1), then its
     * quality with force_baseline TRUE (tables clamped to 255 below Q 25) */
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    c.optimize_coding = FALSE;
    c.smoothing_factor = 0;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(rgb + (size_t)c.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    /* jpeg_mem_dest allocates with malloc: the caller frees it with free() */
    *buf = dst->p;
    *len = (size_t)dst->n;
    free(dst);
    return 0;
}

int img_recode_jpeg(const char *name, img_u8 *im, int quality, size_t *bytes) {
    uint8_t *buf;
    size_t len;
    if (img_encode_jpeg_mem(name, im->rgb, im->width, im->height, quality, &buf, &len) != 0) return -1;
    img_u8 d;
    int rc = img_decode_mem(name, buf, len, &d);
    free(buf);
    if (rc != 0) return -1;
    img_clear(im);
    *im = d;
    if (bytes) *bytes = len;
    return 0;
}
