/* serve_tail_ref: the detections a bundle's tail gives for one 8-bit link,
 * in one process (no sockets, no wire format): the reference test_serve
 * compares hnd serve's DETECTIONS against.
 *
 * Usage: serve_tail_ref BUNDLE Z.u8 SCALE ZP PH PW RH RW OH OW [--threads N]
 *   Z.u8: C*h*w raw bytes (h, w from the padded size PH x PW); RH x RW the
 *   resized and OH x OW the original image size.
 * Prints one JSON object: k, height, width, boxes [k*4], scores, labels and
 * rle (COCO compressed strings; the manifest's mask threshold). Floats as
 * %.9g (float32 round-trips). Exit 0, or 1 with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch.h"
#include "det_results.h"
#include "hnd_error.h"
#include "manifest.h"
#include "mask_rle.h"
#include "split_rcnn.h"

static mf_info g_info;

static int fail(const char *what) {
    fprintf(stderr, "serve_tail_ref: %s: %s\n", what, hnd_error()[0] ? hnd_error() : ct_last_error());
    return 1;
}

static int64_t side(int64_t padded) { return ((padded + 1) / 2 + 1) / 2 + 4; }

static uint8_t *read_file(const char *path, size_t want) {
    FILE *f = fopen(path, "rb");
    uint8_t *b = malloc(want + 1);
    size_t got = f && b ? fread(b, 1, want + 1, f) : 0;
    if (f) fclose(f);
    if (got != want) {
        free(b);
        hnd_error_set("%s: expected %zu bytes", path, want);
        return NULL;
    }
    return b;
}

static void print_dets(const dr_host *h) {
    printf("{\"k\": %lld, \"height\": %lld, \"width\": %lld, \"boxes\": [", (long long)h->k, (long long)h->height,
           (long long)h->width);
    for (int64_t i = 0; i < 4 * h->k; i++) printf("%s%.9g", i ? ", " : "", h->boxes[i]);
    printf("], \"scores\": [");
    for (int64_t i = 0; i < h->k; i++) printf("%s%.9g", i ? ", " : "", h->scores[i]);
    printf("], \"labels\": [");
    for (int64_t i = 0; i < h->k; i++) printf("%s%lld", i ? ", " : "", (long long)h->labels[i]);
    printf("], \"rle\": [");
    for (int64_t i = 0; h->masks && i < h->k; i++) {
        rle_t r;
        rle_init(&r);
        char *s = rle_encode_rowmajor(&r, h->masks + (size_t)i * h->height * h->width, (uint32_t)h->height,
                                      (uint32_t)h->width) == 0
                      ? rle_to_string(&r)
                      : NULL;
        printf("%s\"%s\"", i ? ", " : "", s ? s : "");
        free(s);
        rle_clear(&r);
    }
    printf("]}\n");
}

int main(int argc, char **argv) {
    if (argc != 11 && argc != 13) {
        fprintf(stderr, "usage: serve_tail_ref BUNDLE Z.u8 SCALE ZP PH PW RH RW OH OW [--threads N]\n");
        return 2;
    }
    if (argc == 13) ct_set_num_threads(atoi(argv[12]));
    long v[8];
    for (int i = 0; i < 8; i++) v[i] = atol(argv[4 + i]);
    char tail[4200];
    if (mf_read(argv[1], &g_info) != 0 || mf_file_path(&g_info, "tail", tail, sizeof tail) != 0) return fail("bundle");
    sr_bottleneck_spec bn = {g_info.channels, g_info.kind, g_info.bits, 0};
    sr_model *m = sr_new(&g_info.rc, &bn);
    if (!m || sr_load_tail(m, tail) != 0) return fail("tail");
    const int64_t shape[4] = {1, g_info.channels, side(v[1]), side(v[2])};
    uint8_t *z = read_file(argv[2], (size_t)(shape[1] * shape[2] * shape[3]));
    float scale = strtof(argv[3], NULL);
    int zp = (int)v[0];
    int64_t sizes[1][2] = {{v[3], v[4]}}, orig[1][2] = {{v[5], v[6]}};
    sr_link l = {.bits = 8, .n = 1, .scale = &scale, .zero_point = &zp, .padded_hw = {v[1], v[2]},
                 .sizes = sizes, .orig_sizes = orig};
    l.z = z ? ct_from_buffer(z, CT_U8, 4, shape) : NULL;
    free(z);
    rcnn_detections d;
    dr_host h;
    if (!l.z || sr_tail(m, &l, &d, NULL) != 0) return fail("tail run");
    if (dr_to_host(&d, v[5], v[6], g_info.rc.mask.mask_thresh, &h) != 0) return fail("detections");
    print_dets(&h);
    dr_host_clear(&h);
    rcnn_detections_clear(&d);
    ct_destroy(l.z);
    sr_destroy(m);
    return 0;
}
