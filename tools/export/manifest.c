/* manifest.c: see manifest.h. */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "bottleneck.h"
#include "hnd_error.h"
#include "hnd_version.h"
#include "path.h"
#include "sha256.h"

static cJSON *floats3(const float v[3]) {
    double d[3] = {v[0], v[1], v[2]};
    return cJSON_CreateDoubleArray(d, 3);
}

static cJSON *input_rule(const hg_head *h) {
    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "tensor", "float32 [1,3,H,W], RGB, channels first");
    cJSON *rs = cJSON_AddObjectToObject(in, "resize");
    cJSON_AddNumberToObject(rs, "min_size", h->min_size);
    cJSON_AddNumberToObject(rs, "max_size", h->max_size);
    cJSON_AddStringToObject(rs, "rule",
                            "s = min(min_size / min(h, w), max_size / max(h, w)); bilinear resize of the [0,1] image "
                            "by s (align_corners false; output size floor(h * s) x floor(w * s), as "
                            "torch.nn.functional.interpolate with scale_factor and recompute_scale_factor)");
    cJSON *nm = cJSON_AddObjectToObject(in, "normalize");
    cJSON_AddItemToObject(nm, "mean", floats3(h->mean));
    cJSON_AddItemToObject(nm, "std", floats3(h->std));
    cJSON_AddStringToObject(nm, "rule", "x = (pixel / 255 - mean[c]) / std[c], after the resize");
    cJSON *pd = cJSON_AddObjectToObject(in, "pad");
    cJSON_AddNumberToObject(pd, "size_divisible", h->size_divisible);
    cJSON_AddStringToObject(pd, "rule",
                            "zeros after normalisation at the bottom and right: H = ceil(h / d) * d, W = ceil(w / d) * d");
    cJSON_AddStringToObject(in, "note",
                            "the heads take the transformed image; the resize and padding stay outside the graph "
                            "(head_c's hnd_head_prepare does all three from 8-bit RGB)");
    return in;
}

static cJSON *bottleneck(const hg_head *h) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddNumberToObject(b, "channels", h->channels);
    cJSON_AddNumberToObject(b, "bits", h->bits);
    cJSON_AddStringToObject(b, "dtype", h->bits == 8 ? "uint8" : h->bits == 16 ? "float16" : "float32");
    cJSON_AddStringToObject(b, "shape", "[1, C, ceil(ceil(H / 2) / 2) + 4, ceil(ceil(W / 2) / 2) + 4]");
    if (h->bits == 8) {
        cJSON_AddStringToObject(b, "quantizer",
                                "per tensor, float32: scale = (max - min) / 255 (max == min: |max|, 1 when 0); "
                                "zero_point = trunc(clamp(-min / scale, 0, 255)); "
                                "q = round_half_even(clamp(zero_point + x / scale, 0, 255)); "
                                "dequantized x = scale * (q - zero_point)");
        cJSON_AddStringToObject(b, "sends", "q (uint8, C order), scale (float32), zero_point (uint8)");
    }
    return b;
}

static int add_files(cJSON *root, const char *dir, mf_file *files, int n) {
    cJSON *fs = cJSON_AddArrayToObject(root, "files");
    for (int i = 0; i < n; i++) {
        char p[4096];
        struct stat st;
        if (path_join(p, sizeof p, dir, files[i].name) != 0 || sha256_file(p, files[i].sha256) != 0) return -1;
        if (stat(p, &st) != 0) return hnd_error_set("%s: cannot stat", p);
        files[i].bytes = (int64_t)st.st_size;
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", files[i].name);
        cJSON_AddStringToObject(f, "role", files[i].role);
        cJSON_AddNumberToObject(f, "bytes", (double)files[i].bytes);
        cJSON_AddStringToObject(f, "sha256", files[i].sha256);
        cJSON_AddItemToArray(fs, f);
    }
    return 0;
}

int mf_write(const char *dir, const hg_head *h, mf_file *files, int n_files, const char *source_name) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return hnd_error_set("manifest: out of memory");
    cJSON_AddStringToObject(root, "format", MF_FORMAT);
    cJSON_AddNumberToObject(root, "version", MF_VERSION);
    cJSON_AddStringToObject(root, "hnd_version", HND_VERSION);
    cJSON_AddStringToObject(root, "source", source_name ? path_base(source_name) : "");
    cJSON *md = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(md, "arch", h->arch);
    cJSON_AddStringToObject(md, "kind", h->mask ? "mask_rcnn" : "faster_rcnn");
    cJSON_AddNumberToObject(md, "num_classes", h->num_classes);
    cJSON_AddStringToObject(md, "bottleneck_kind", stu_kind_name((stu_kind)h->kind));
    cJSON_AddNumberToObject(md, "head_params", (double)hg_num_params(h));
    cJSON_AddItemToObject(root, "input", input_rule(h));
    cJSON_AddItemToObject(root, "bottleneck", bottleneck(h));
    cJSON *w = cJSON_AddObjectToObject(root, "wire_format");
    cJSON_AddNumberToObject(w, "version", MF_WIRE_VERSION);
    int rc = add_files(root, dir, files, n_files);
    char *text = rc == 0 ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (rc != 0) return -1;
    if (!text) return hnd_error_set("manifest: out of memory");
    char p[4096];
    rc = path_join(p, sizeof p, dir, "manifest.json") == 0 ? af_write_text(p, text) : -1;
    free(text);
    return rc;
}
