/* img.c: JPEG/PNG decoding equal to PIL's, and conversions (see img.h). */
#define _GNU_SOURCE
#include "img.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "hnd_error.h"
#include "path.h"

void img_clear(img_u8 *im) {
    if (!im) return;
    free(im->rgb);
    im->rgb = NULL;
    im->width = im->height = 0;
}

int img_read_file(const char *path, uint8_t **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return hnd_error_set("%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return hnd_error_set("%s: cannot seek", path);
    }
    long n = ftell(f);
    if (n < 0) {
        fclose(f);
        return hnd_error_set("%s: cannot tell size", path);
    }
    rewind(f);
    uint8_t *b = malloc((size_t)n + 1);
    if (!b) {
        fclose(f);
        return hnd_error_set("%s: out of memory (%ld bytes)", path, n);
    }
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        fclose(f);
        return hnd_error_set("%s: read error", path);
    }
    fclose(f);
    *buf = b;
    *len = (size_t)n;
    return 0;
}

/* ------------------------------------------------------------------ JPEG */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
} jerr_t;

static void j_error_exit(j_common_ptr c) {
    jerr_t *e = (jerr_t *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}

static void j_emit(j_common_ptr c, int level) {
    jerr_t *e = (jerr_t *)c->err;
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
}

static void j_output(j_common_ptr c) { (void)c; }

/* PIL's "CMYK;I" unpack (inversion) then cmyk2rgb. */
static inline uint8_t clip8(int v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; }
static inline int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static int decode_jpeg(const char *name, const uint8_t *buf, size_t len, img_u8 *out, int probe_only) {
    struct jpeg_decompress_struct cinfo;
    jerr_t jerr;
    memset(&jerr, 0, sizeof jerr);
    uint8_t *volatile pix = NULL;
    uint8_t *volatile row4 = NULL;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = j_error_exit;
    jerr.pub.emit_message = j_emit;
    jerr.pub.output_message = j_output;
    if (setjmp(jerr.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(pix);
        free(row4);
        return hnd_error_set("%s: corrupt JPEG: %s", name, jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (cinfo.num_components != 1 && cinfo.num_components != 3 && cinfo.num_components != 4) {
        jpeg_destroy_decompress(&cinfo);
        return hnd_error_set("%s: unsupported JPEG with %d components", name, cinfo.num_components);
    }
    if (probe_only) {
        out->width = (int)cinfo.image_width;
        out->height = (int)cinfo.image_height;
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    size_t w = cinfo.output_width, h = cinfo.output_height;
    if (w == 0 || h == 0 || w > 65535 || h > 65535) {
        jpeg_destroy_decompress(&cinfo);
        return hnd_error_set("%s: bad JPEG size %zux%zu", name, w, h);
    }
    pix = malloc(w * h * 3);
    if (cmyk) row4 = malloc(w * 4);
    if (!pix || (cmyk && !row4)) {
        jpeg_destroy_decompress(&cinfo);
        free(pix);
        free(row4);
        return hnd_error_set("%s: out of memory", name);
    }
    while (cinfo.output_scanline < h) {
        size_t y = cinfo.output_scanline;
        if (!cmyk) {
            JSAMPROW r = pix + y * w * 3;
            jpeg_read_scanlines(&cinfo, &r, 1);
        } else {
            JSAMPROW r = row4;
            jpeg_read_scanlines(&cinfo, &r, 1);
            uint8_t *o = pix + y * w * 3;
            for (size_t x = 0; x < w; x++) {
                int c = 255 - row4[4 * x], m = 255 - row4[4 * x + 1], yy = 255 - row4[4 * x + 2];
                int nk = 255 - (255 - row4[4 * x + 3]);
                o[3 * x] = clip8(nk - muldiv255(c, nk));
                o[3 * x + 1] = clip8(nk - muldiv255(m, nk));
                o[3 * x + 2] = clip8(nk - muldiv255(yy, nk));
            }
        }
        if (jerr.truncated) break;
    }
    if (jerr.truncated) {
        jpeg_destroy_decompress(&cinfo);
        free(pix);
        free(row4);
        return hnd_error_set("%s: image file is truncated (premature end of JPEG data)", name);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row4);
    if (jerr.truncated) {
        free(pix);
        return hnd_error_set("%s: image file is truncated (premature end of JPEG data)", name);
    }
    out->width = (int)w;
    out->height = (int)h;
    out->rgb = pix;
    return 0;
}

/* ------------------------------------------------------------------ PNG */

typedef struct {
    const uint8_t *buf;
    size_t len, pos;
} png_src;

typedef struct {
    jmp_buf jb;
    char msg[256];
} png_err;

static void p_read(png_structp p, png_bytep dst, png_size_t n) {
    png_src *s = png_get_io_ptr(p);
    if (s->len - s->pos < n) png_error(p, "image file is truncated");
    memcpy(dst, s->buf + s->pos, n);
    s->pos += n;
}

static void p_error(png_structp p, png_const_charp msg) {
    png_err *e = png_get_error_ptr(p);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}

static void p_warn(png_structp p, png_const_charp msg) { (void)p, (void)msg; }

static int decode_png(const char *name, const uint8_t *buf, size_t len, img_u8 *out, int probe_only) {
    png_err perr;
    memset(&perr, 0, sizeof perr);
    png_src src = {buf, len, 0};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &perr, p_error, p_warn);
    if (!p) return hnd_error_set("%s: out of memory", name);
    png_infop info = png_create_info_struct(p);
    if (!info) {
        png_destroy_read_struct(&p, NULL, NULL);
        return hnd_error_set("%s: out of memory", name);
    }
    uint8_t *volatile raw = NULL;
    uint8_t *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(perr.jb)) {
        png_destroy_read_struct(&p, &info, NULL);
        free(raw);
        free(pix);
        free(rows);
        return hnd_error_set("%s: corrupt PNG: %s", name, perr.msg);
    }
    png_set_read_fn(p, &src, p_read);
    /* PIL checks CRCs of critical chunks but not of ancillary ones */
    png_set_crc_action(p, PNG_CRC_DEFAULT, PNG_CRC_QUIET_USE);
    png_set_option(p, PNG_MAXIMUM_INFLATE_WINDOW, PNG_OPTION_ON);
    png_read_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    int depth = png_get_bit_depth(p, info), ct = png_get_color_type(p, info);
    if (w == 0 || h == 0 || w > 65535 || h > 65535) {
        png_destroy_read_struct(&p, &info, NULL);
        return hnd_error_set("%s: bad PNG size %ux%u", name, (unsigned)w, (unsigned)h);
    }
    if (probe_only) {
        out->width = (int)w;
        out->height = (int)h;
        png_destroy_read_struct(&p, &info, NULL);
        return 0;
    }
    int gray16 = (ct == PNG_COLOR_TYPE_GRAY && depth == 16);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(p);
    if (depth == 16 && !gray16) png_set_strip_16(p);
    if (gray16) png_set_swap(p); /* native (little-endian) 16-bit values */
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    size_t rb = png_get_rowbytes(p, info);
    int ch = png_get_channels(p, info);
    raw = malloc(rb * h);
    rows = malloc(h * sizeof(png_bytep));
    pix = malloc((size_t)w * h * 3);
    if (!raw || !rows || !pix) png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + y * rb;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *r = raw + y * rb;
        uint8_t *o = pix + (size_t)y * w * 3;
        if (gray16) {
            const uint16_t *r16 = (const uint16_t *)r;
            for (png_uint_32 x = 0; x < w; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = r16[x] > 255 ? 255 : (uint8_t)r16[x];
        } else if (ch == 1 || ch == 2) {
            for (png_uint_32 x = 0; x < w; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = r[x * ch];
        } else if (ch == 3) {
            memcpy(o, r, (size_t)w * 3);
        } else {
            for (png_uint_32 x = 0; x < w; x++) {
                o[3 * x] = r[4 * x];
                o[3 * x + 1] = r[4 * x + 1];
                o[3 * x + 2] = r[4 * x + 2];
            }
        }
    }
    png_destroy_read_struct(&p, &info, NULL);
    free(raw);
    free(rows);
    out->width = (int)w;
    out->height = (int)h;
    out->rgb = pix;
    return 0;
}

/* ------------------------------------------------------------------ dispatch */

static int decode_any(const char *name, const uint8_t *buf, size_t len, img_u8 *out, int probe) {
    memset(out, 0, sizeof *out);
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return decode_jpeg(name, buf, len, out, probe);
    if (len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0) return decode_png(name, buf, len, out, probe);
    if (len == 0) return hnd_error_set("%s: empty file", name);
    return hnd_error_set("%s: not a JPEG or PNG file", name);
}

int img_decode_mem(const char *name, const uint8_t *buf, size_t len, img_u8 *out) {
    return decode_any(name, buf, len, out, 0);
}

int img_probe_mem(const char *name, const uint8_t *buf, size_t len, int *width, int *height) {
    img_u8 im;
    if (decode_any(name, buf, len, &im, 1) < 0) return -1;
    *width = im.width;
    *height = im.height;
    return 0;
}

int img_decode_file(const char *path, img_u8 *out) {
    uint8_t *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    if (img_read_file(path, &buf, &len) < 0) return -1;
    int rc = img_decode_mem(path, buf, len, out);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ float */

void img_to_chw_f32(const img_u8 *im, float *dst) {
    float lut[256];
    for (int i = 0; i < 256; i++) lut[i] = (float)i / 255.0f;
    size_t n = (size_t)im->width * im->height;
    const uint8_t *s = im->rgb;
    float *r = dst, *g = dst + n, *b = dst + 2 * n;
    for (size_t i = 0; i < n; i++) {
        r[i] = lut[s[3 * i]];
        g[i] = lut[s[3 * i + 1]];
        b[i] = lut[s[3 * i + 2]];
    }
}

void img_to_chw_f32_norm(const img_u8 *im, const float mean[3], const float std[3], float *dst) {
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) {
            volatile float v = (float)i / 255.0f; /* keep float32 rounding at each step */
            volatile float d = v - mean[c];
            lut[c][i] = d / std[c];
        }
    size_t n = (size_t)im->width * im->height;
    const uint8_t *s = im->rgb;
    float *r = dst, *g = dst + n, *b = dst + 2 * n;
    for (size_t i = 0; i < n; i++) {
        r[i] = lut[0][s[3 * i]];
        g[i] = lut[1][s[3 * i + 1]];
        b[i] = lut[2][s[3 * i + 2]];
    }
}

/* ------------------------------------------------------------------ JPEG out */

int img_write_jpeg(const char *path, const uint8_t *rgb, int width, int height, int quality) {
    FILE *volatile f = fopen(path, "wb");
    if (!f) return hnd_error_set("%s: cannot create: %s", path, strerror(errno));
    struct jpeg_compress_struct c;
    jerr_t jerr;
    memset(&jerr, 0, sizeof jerr);
    c.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = j_error_exit;
    jerr.pub.output_message = j_output;
    if (setjmp(jerr.jb)) {
        jpeg_destroy_compress(&c);
        fclose(f);
        return hnd_error_set("%s: JPEG encoding failed: %s", path, jerr.msg);
    }
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(rgb + (size_t)c.next_scanline * width * 3);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (fclose(f) != 0) return hnd_error_set("%s: write error: %s", path, strerror(errno));
    return 0;
}

/* ---- listing image files ---- */

static int img_has_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static int img_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void img_list_destroy(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int img_list_files(const char *path, char ***names_out, int *n_out) {
    *names_out = NULL;
    *n_out = 0;
    struct stat st;
    if (stat(path, &st) != 0) return hnd_error_set("%s: %s", path, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, rc = 0;
    if (!S_ISDIR(st.st_mode)) {
        names = malloc(sizeof *names);
        if (!names || !(names[0] = strdup(path))) {
            free(names);
            return hnd_error_set("out of memory");
        }
        *names_out = names;
        *n_out = 1;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) return hnd_error_set("%s: %s", path, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !img_has_ext(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, sizeof *nn * (size_t)cap);
            if (!nn) {
                rc = hnd_error_set("out of memory");
                break;
            }
            names = nn;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len))) {
            rc = hnd_error_set("out of memory");
            break;
        }
        path_join(names[n++], len, path, e->d_name); /* len always fits */
    }
    closedir(d);
    if (rc == 0 && n == 0) rc = hnd_error_set("%s: no .jpg/.jpeg/.png files", path);
    if (rc != 0) {
        img_list_destroy(names, n);
        return -1;
    }
    qsort(names, (size_t)n, sizeof *names, img_cmp_str);
    *names_out = names;
    *n_out = n;
    return 0;
}
