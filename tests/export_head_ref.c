/* export_head_ref: hnd's own head (sr_head, libtorch) on random images, as
 * .npy files the export parity tests compare the exported heads against.
 *
 * Usage: export_head_ref STUDENT.h5 OUTDIR SIZES [--seed S] [--min-size N --max-size N]
 *   SIZES: "HxW,HxW,..." raw image sizes (before the transform).
 * Writes, for image k:
 *   in_k.npy   float32 [1,3,H,W]  the transformed input (resized, normalised,
 *                                 padded): what an exported head takes
 *   f_k.npy    float32 [1,C,h,w]  sr_head at 32 bits
 *   h_k.npy    float16 [1,C,h,w]  sr_head at 16 bits
 *   q_k.npy    uint8   [1,C,h,w]  sr_head at 8 bits
 *   meta.json  {"images": [{"in": [H,W], "out": [C,h,w], "scale": s, "zero_point": z}, ...]}
 * The transform's min/max size default to the model's (800/1333); small
 * values keep tests fast (the head itself does not depend on them).
 * --repeat N (benchmarks): also times sr_head (8 bits, transform included)
 * N more times and adds "ms" (the median, milliseconds) to each image's
 * entry; --threads N sets libtorch's thread count (default: its own). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch.h"
#include "hnd_error.h"
#include "mono_clock.h"
#include "path.h"
#include "split_rcnn.h"

static int write_npy(const char *path, const char *descr, const ct_tensor *t, size_t elem) {
    int64_t shape[8];
    int nd = ct_shape(t, shape, 8);
    size_t n = (size_t)ct_numel(t) * elem;
    void *buf = malloc(n ? n : 1);
    if (!buf || ct_to_buffer(t, buf, n) != 0) {
        free(buf);
        return -1;
    }
    char hdr[256], dims[128] = "";
    for (int i = 0; i < nd; i++) {
        size_t l = strlen(dims);
        snprintf(dims + l, sizeof dims - l, "%lld,%s", (long long)shape[i], i + 1 < nd ? " " : "");
    }
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    int total = 10 + hl + 1;
    int padn = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return -1;
    }
    unsigned short hlen = (unsigned short)(hl + padn + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hlen & 0xff, f);
    fputc(hlen >> 8, f);
    fwrite(hdr, 1, (size_t)hl, f);
    for (int i = 0; i < padn; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(buf, 1, n, f);
    free(buf);
    return fclose(f) == 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int fail(const char *what) {
    fprintf(stderr, "export_head_ref: %s: %s\n", what, hnd_error()[0] ? hnd_error() : ct_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: export_head_ref STUDENT.h5 OUTDIR HxW[,HxW...] [--seed S] [--min-size N --max-size N]\n");
        return 2;
    }
    const char *student = argv[1], *outdir = argv[2];
    char sizes[512];
    snprintf(sizes, sizeof sizes, "%s", argv[3]);
    unsigned long long seed = 1;
    double min_size = 0, max_size = 0;
    int repeat = 0, threads = 0;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seed") == 0) seed = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--min-size") == 0) min_size = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--max-size") == 0) max_size = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0) repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
    }
    sr_probe p;
    rcnn_config rc;
    sr_bottleneck_spec bn;
    if (sr_probe_file(student, &p) != 0 || sr_probe_config(&p, &rc) != 0) return fail(student);
    sr_probe_bottleneck(&p, &bn);
    if (min_size > 0) rc.transform.min_size = min_size;
    if (max_size > 0) rc.transform.max_size = max_size;
    sr_model *m = sr_new(&rc, &bn);
    if (!m || sr_load(m, student) != 0) return fail(student);
    if (path_mkdirs(outdir) != 0) return fail(outdir);
    if (threads > 0) ct_set_num_threads(threads);
    if (repeat > 1000) repeat = 1000;
    ct_manual_seed(seed);
    char path[1024], meta[8192];
    int ml = snprintf(meta, sizeof meta, "{\"images\": [");
    int k = 0, rcode = 0;
    ct_grad_set_enabled(0);
    for (char *tok = strtok(sizes, ","); tok && rcode == 0; tok = strtok(NULL, ","), k++) {
        int64_t shape[3] = {3, 0, 0};
        if (sscanf(tok, "%lldx%lld", (long long *)&shape[1], (long long *)&shape[2]) != 2) {
            fprintf(stderr, "export_head_ref: bad size %s\n", tok);
            return 2;
        }
        ct_scope_begin();
        ct_tensor *img = ct_rand(shape, 3, CT_F32, ct_cpu());
        const ct_tensor *imgs[1] = {img};
        rt_image_list l;
        sr_link f32, f16, u8;
        if (!img || rcnn_transform_images(sr_rcnn(m), imgs, 1, &l) != 0) rcode = fail("transform");
        else if (sr_head(m, imgs, 1, 32, &f32, NULL) != 0 || sr_head(m, imgs, 1, 16, &f16, NULL) != 0 ||
                 sr_head(m, imgs, 1, 8, &u8, NULL) != 0)
            rcode = fail("head");
        double med = 0;
        if (rcode == 0 && repeat > 0) {
            double ms[1000];
            for (int r = 0; r < repeat && rcode == 0; r++) {
                sr_link t;
                ct_scope_begin();
                double t0 = mono_now_s();
                if (sr_head(m, imgs, 1, 8, &t, NULL) != 0) rcode = fail("head");
                else sr_link_clear(&t);
                ms[r] = (mono_now_s() - t0) * 1e3;
                ct_scope_end();
            }
            qsort(ms, (size_t)repeat, sizeof ms[0], cmp_double);
            med = repeat % 2 ? ms[repeat / 2] : 0.5 * (ms[repeat / 2 - 1] + ms[repeat / 2]);
            fprintf(stderr, "export_head_ref: image %d: sr_head 8 bits median %.2f ms over %d runs\n", k, med, repeat);
        }
        if (rcode == 0) {
            snprintf(path, sizeof path, "%s/in_%d.npy", outdir, k);
            if (write_npy(path, "<f4", l.tensors, 4) != 0) rcode = fail(path);
            snprintf(path, sizeof path, "%s/f_%d.npy", outdir, k);
            if (rcode == 0 && write_npy(path, "<f4", f32.z, 4) != 0) rcode = fail(path);
            snprintf(path, sizeof path, "%s/h_%d.npy", outdir, k);
            if (rcode == 0 && write_npy(path, "<f2", f16.z, 2) != 0) rcode = fail(path);
            snprintf(path, sizeof path, "%s/q_%d.npy", outdir, k);
            if (rcode == 0 && write_npy(path, "|u1", u8.z, 1) != 0) rcode = fail(path);
            ml += snprintf(meta + ml, sizeof meta - (size_t)ml,
                           "%s{\"in\": [%lld, %lld], \"out\": [%lld, %lld, %lld], \"scale\": %.9g, \"zero_point\": %d, "
                           "\"ms\": %.4f}",
                           k ? ", " : "", (long long)ct_size(l.tensors, 2), (long long)ct_size(l.tensors, 3),
                           (long long)ct_size(u8.z, 1), (long long)ct_size(u8.z, 2), (long long)ct_size(u8.z, 3),
                           (double)u8.scale[0], u8.zero_point[0], med);
            rt_image_list_clear(&l);
            sr_link_clear(&f32);
            sr_link_clear(&f16);
            sr_link_clear(&u8);
        }
        ct_scope_end();
    }
    snprintf(meta + ml, sizeof meta - (size_t)ml, "]}\n");
    snprintf(path, sizeof path, "%s/meta.json", outdir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(meta, f) < 0 || fclose(f) != 0) return fail(path);
    sr_destroy(m);
    return rcode;
}
