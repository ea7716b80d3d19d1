/* manifest.c: see manifest.h. */
#include "manifest.h"

#include <math.h>
#include <stddef.h>
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
#include "file_check.h"
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

/* ---- the detector's settings, both ways (one table: writer and reader
 * cannot disagree) ---- */

typedef enum { F_INT, F_DBL } field_kind;
typedef struct {
    const char *key;
    field_kind kind;
    size_t off;
} field;

#define FI(k, m) {k, F_INT, offsetof(rcnn_config, m)}
#define FD(k, m) {k, F_DBL, offsetof(rcnn_config, m)}
static const field k_fields[] = {
    FI("backbone.depth", backbone.depth),
    FI("backbone.frozen_bn", backbone.frozen_bn),
    FD("backbone.bn_eps", backbone.bn_eps),
    FI("backbone.fpn_out_channels", backbone.fpn_out_channels),
    FD("transform.min_size", transform.min_size),
    FD("transform.max_size", transform.max_size),
    FI("transform.size_divisible", transform.size_divisible),
    FI("rpn.pre_nms_top_n_test", rpn.pre_nms_top_n_test),
    FI("rpn.post_nms_top_n_test", rpn.post_nms_top_n_test),
    FD("rpn.nms_thresh", rpn.nms_thresh),
    FD("rpn.score_thresh", rpn.score_thresh),
    FD("rpn.min_size", rpn.min_size),
    FI("box.num_classes", box.num_classes),
    FI("box.roi_output_size", box.roi_output_size),
    FI("box.sampling_ratio", box.sampling_ratio),
    FI("box.canonical_scale", box.canonical_scale),
    FI("box.canonical_level", box.canonical_level),
    FI("box.representation_size", box.representation_size),
    FD("box.score_thresh", box.score_thresh),
    FD("box.nms_thresh", box.nms_thresh),
    FI("box.detections_per_img", box.detections_per_img),
    FD("box.bbox_reg_weights.0", box.bbox_reg_weights[0]),
    FD("box.bbox_reg_weights.1", box.bbox_reg_weights[1]),
    FD("box.bbox_reg_weights.2", box.bbox_reg_weights[2]),
    FD("box.bbox_reg_weights.3", box.bbox_reg_weights[3]),
    FI("mask.enabled", mask.enabled),
    FI("mask.roi_output_size", mask.roi_output_size),
    FI("mask.sampling_ratio", mask.sampling_ratio),
    FI("mask.num_convs", mask.num_convs),
    FI("mask.conv_channels", mask.conv_channels),
    FI("mask.dilation", mask.dilation),
    FD("mask.mask_thresh", mask.mask_thresh),
};
#define N_FIELDS (sizeof k_fields / sizeof k_fields[0])

static cJSON *detector_json(const rcnn_config *rc) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "arch", rc->arch);
    for (size_t i = 0; i < N_FIELDS; i++) {
        const char *p = (const char *)rc + k_fields[i].off;
        cJSON_AddNumberToObject(d, k_fields[i].key, k_fields[i].kind == F_INT ? *(const int *)p : *(const double *)p);
    }
    cJSON_AddItemToObject(d, "anchors.sizes", cJSON_CreateDoubleArray(rc->anchors.sizes, rc->anchors.num_levels));
    cJSON_AddItemToObject(d, "anchors.aspect_ratios",
                          cJSON_CreateDoubleArray(rc->anchors.aspect_ratios, rc->anchors.num_ratios));
    return d;
}

static int read_doubles(const char *file, const cJSON *d, const char *key, double *out, int max, int *n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, key);
    int k = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (k < 1 || k > max) return hnd_error_set("%s: detector.%s: an array of 1..%d numbers expected", file, key, max);
    for (int i = 0; i < k; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
            return hnd_error_set("%s: detector.%s[%d]: a positive number expected", file, key, i);
        out[i] = v->valuedouble;
    }
    *n = k;
    return 0;
}

/* The detector from its JSON: the architecture's defaults, then every key. */
static int detector_read(const char *file, const cJSON *d, rcnn_config *rc) {
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(d, "arch");
    if (!cJSON_IsString(arch)) return hnd_error_set("%s: detector.arch: a string expected", file);
    if (rcnn_config_default(rc, arch->valuestring) != 0) return hnd_error_prefix("%s: detector.arch", file);
    for (size_t i = 0; i < N_FIELDS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, k_fields[i].key);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
            (k_fields[i].kind == F_INT && (v->valuedouble != floor(v->valuedouble) || v->valuedouble > 1e9)))
            return hnd_error_set("%s: detector.%s: a non-negative %s expected", file, k_fields[i].key,
                                 k_fields[i].kind == F_INT ? "integer" : "number");
        char *p = (char *)rc + k_fields[i].off;
        if (k_fields[i].kind == F_INT) *(int *)p = (int)v->valuedouble;
        else *(double *)p = v->valuedouble;
    }
    if (read_doubles(file, d, "anchors.sizes", rc->anchors.sizes, RCNN_MAX_LEVELS, &rc->anchors.num_levels) != 0 ||
        read_doubles(file, d, "anchors.aspect_ratios", rc->anchors.aspect_ratios, RCNN_MAX_RATIOS,
                     &rc->anchors.num_ratios) != 0)
        return -1;
    if (rc->box.num_classes < 2) return hnd_error_set("%s: detector.box.num_classes must be >= 2", file);
    return 0;
}

int mf_write(const char *dir, const hg_head *h, const rcnn_config *rc, mf_file *files, int n_files,
             const char *source_name) {
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
    cJSON_AddItemToObject(root, "detector", detector_json(rc));
    cJSON_AddItemToObject(root, "input", input_rule(h));
    cJSON_AddItemToObject(root, "bottleneck", bottleneck(h));
    cJSON *w = cJSON_AddObjectToObject(root, "wire_format");
    cJSON_AddNumberToObject(w, "version", MF_WIRE_VERSION);
    int r = add_files(root, dir, files, n_files);
    char *text = r == 0 ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (r != 0) return -1;
    if (!text) return hnd_error_set("manifest: out of memory");
    char p[4096];
    r = path_join(p, sizeof p, dir, "manifest.json") == 0 ? af_write_text(p, text) : -1;
    free(text);
    return r;
}

/* ---- reading ---- */

#define MF_MAX_BYTES (1u << 20)

static const cJSON *object(const char *file, const cJSON *root, const char *key) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsObject(o)) hnd_error_set("%s: '%s': an object expected", file, key);
    return cJSON_IsObject(o) ? o : NULL;
}

static int int_in(const char *file, const cJSON *o, const char *key, int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return hnd_error_set("%s: '%s': an integer in %d..%d expected", file, key, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

static int read_files(const char *file, const cJSON *root, mf_info *out) {
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(root, "files");
    int n = cJSON_IsArray(fs) ? cJSON_GetArraySize(fs) : -1;
    if (n < 1 || n > MF_MAX_FILES) return hnd_error_set("%s: 'files': an array of 1..%d entries expected", file, MF_MAX_FILES);
    for (int i = 0; i < n; i++) {
        const cJSON *f = cJSON_GetArrayItem(fs, i);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name"), *role = cJSON_GetObjectItemCaseSensitive(f, "role");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(f, "sha256"), *bytes = cJSON_GetObjectItemCaseSensitive(f, "bytes");
        mf_file *e = &out->files[i];
        if (!cJSON_IsString(name) || !cJSON_IsString(role) || !cJSON_IsString(sha) || !cJSON_IsNumber(bytes) ||
            strlen(name->valuestring) >= sizeof e->name || strlen(role->valuestring) >= sizeof e->role ||
            strlen(sha->valuestring) != 64 || strstr(name->valuestring, "..") || name->valuestring[0] == '/')
            return hnd_error_set("%s: files[%d]: name, role, sha256 (64 hex digits) and bytes expected", file, i);
        snprintf(e->name, sizeof e->name, "%s", name->valuestring);
        snprintf(e->role, sizeof e->role, "%s", role->valuestring);
        snprintf(e->sha256, sizeof e->sha256, "%s", sha->valuestring);
        e->bytes = (int64_t)bytes->valuedouble;
    }
    out->n_files = n;
    return 0;
}

int mf_read(const char *dir, mf_info *out) {
    memset(out, 0, sizeof *out);
    char path[4096];
    if (path_join(path, sizeof path, dir, "manifest.json") != 0) return -1;
    /* a manifest is a few kB: 1 MiB is a generous cap, and the buffer is the
     * file's own size */
    struct stat st;
    if (fchk_regular(path, MF_MAX_BYTES) != 0 || sha256_file(path, out->digest) != 0) return -1;
    if (stat(path, &st) != 0) return hnd_error_set("%s: cannot stat", path);
    FILE *f = fopen(path, "rb");
    if (!f) return hnd_error_set("%s: cannot open", path);
    size_t size = (size_t)st.st_size;
    char *text = malloc(size + 1);
    size_t n = text ? fread(text, 1, size, f) : 0;
    fclose(f);
    if (!text) return hnd_error_set("out of memory");
    text[n] = 0;
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    if (!root) return hnd_error_set("%s: not valid JSON", path);
    snprintf(out->dir, sizeof out->dir, "%s", dir);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    int version = 0, rc = -1;
    const cJSON *det, *bn, *model;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, MF_FORMAT) != 0)
        hnd_error_set("%s: not an hnd export manifest ('format' is not \"%s\")", path, MF_FORMAT);
    else if (int_in(path, root, "version", 1, 1000, &version) != 0) {
    } else if (version != MF_VERSION)
        hnd_error_set("%s: manifest version %d; this hnd reads version %d", path, version, MF_VERSION);
    else if ((det = object(path, root, "detector")) && (bn = object(path, root, "bottleneck")) &&
             (model = object(path, root, "model")) && detector_read(path, det, &out->rc) == 0 &&
             int_in(path, bn, "channels", 1, 4096, &out->channels) == 0 &&
             int_in(path, bn, "bits", 8, 32, &out->bits) == 0 && read_files(path, root, out) == 0) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(model, "bottleneck_kind");
        out->kind = cJSON_IsString(kind) ? stu_kind_parse(kind->valuestring) : -1;
        if (out->bits != 8 && out->bits != 16 && out->bits != 32)
            hnd_error_set("%s: bottleneck.bits: 8, 16 or 32 expected", path);
        else if (out->kind < 0)
            hnd_error_set("%s: model.bottleneck_kind: Bottleneck4LargeResNet or Bottleneck4SmallResNet expected", path);
        else
            rc = 0;
    }
    cJSON_Delete(root);
    return rc;
}

int mf_file_path(const mf_info *m, const char *role, char *path, size_t n) {
    for (int i = 0; i < m->n_files; i++) {
        if (strcmp(m->files[i].role, role) != 0) continue;
        char hex[65];
        if (path_join(path, n, m->dir, m->files[i].name) != 0 || sha256_file(path, hex) != 0) return -1;
        if (strcmp(hex, m->files[i].sha256) != 0)
            return hnd_error_set("%s: SHA-256 %.16s... differs from the manifest's %.16s...: the file changed after "
                                 "the export", path, hex, m->files[i].sha256);
        return 0;
    }
    return hnd_error_set("%s/manifest.json: no file with role '%s' in this bundle", m->dir, role);
}
