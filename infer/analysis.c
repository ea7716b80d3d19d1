/* analysis.c: layer-wise tensor sizes and parameter counts (analysis.h). */
#include "analysis.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "str_util.h"

/* ------------------------------------------------------------ the model */

/* Convolutions/linears N(0, 1/fan_in); BN weight and running_var 1; biases
 * and running means 0. Deterministic given the seed. */
static int random_init(mp_params *p, uint64_t seed) {
    ct_manual_seed(seed);
    int rc = 0;
    ct_scope_begin();
    for (int i = 0; i < mp_params_count(p) && rc == 0; i++) {
        const char *name = mp_params_name(p, i);
        ct_tensor *t = mp_params_tensor(p, i);
        int nd = ct_ndim(t);
        if (su_ends_with(name, ".weight") && nd >= 2) {
            int64_t shape[CT_MAX_DIMS];
            ct_shape(t, shape, CT_MAX_DIMS);
            int64_t fan_in = ct_numel(t) / (shape[0] > 0 ? shape[0] : 1);
            ct_tensor *r = ct_randn(shape, nd, CT_F32, ct_cpu());
            ct_tensor *s = r ? ct_mul_scalar(r, 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1))) : NULL;
            if (!s || ct_copy_(t, s) != 0) rc = -1;
        } else if (su_ends_with(name, ".weight") || su_ends_with(name, "running_var")) {
            if (ct_fill_(t, 1.0) != 0) rc = -1;
        } else {
            if (ct_fill_(t, 0.0) != 0) rc = -1;
        }
        if (rc) hnd_error_set("analysis: initialising %s: %s", name, ct_last_error());
    }
    ct_scope_end();
    return rc;
}

void spa_model_clear(spa_model *m) {
    if (!m) return;
    sr_destroy(m->sr);
    memset(m, 0, sizeof *m);
}

static int load_file(spa_model *m, const char *path, const char *what) {
    int miss = 0, unexp = 0;
    int n = mp_params_load(sr_params(m->sr), path, 0, &miss, &unexp);
    if (n < 0) return hnd_error_prefix("%s %s", what, path);
    if (n == 0) return hnd_error_set("%s %s: no tensor of the model in the file", what, path);
    m->n_loaded += n;
    return 0;
}

/* The detector of a spec: its config (or the architecture's defaults)
 * with the explicit overrides. */
static int spec_config(const spa_model_spec *spec, rcnn_config *cfg) {
    if (spec->has_config) *cfg = spec->config;
    else if (!spec->arch[0]) return hnd_error_set("analysis: no architecture given");
    else if (rcnn_config_default(cfg, spec->arch) != 0) return -1;
    if (spec->num_classes > 0) cfg->box.num_classes = spec->num_classes;
    if (spec->min_size > 0) cfg->transform.min_size = spec->min_size;
    if (spec->max_size > 0) cfg->transform.max_size = spec->max_size;
    return 0;
}

int spa_model_open(const spa_model_spec *spec, spa_model *out) {
    memset(out, 0, sizeof *out);
    if (!spec) return hnd_error_set("analysis: no model given");
    out->spec = *spec;
    rcnn_config cfg;
    if (spec_config(spec, &cfg) != 0) return -1;
    snprintf(out->spec.arch, sizeof out->spec.arch, "%s", cfg.arch);
    sr_bottleneck_spec bn = {spec->student_channels, spec->student_kind, 0, 0};
    if (!(out->sr = sr_new(&cfg, &bn))) return hnd_error_prefix("analysis");
    if (random_init(sr_params(out->sr), spec->seed) != 0) goto fail;
    if (spec->weights[0] && load_file(out, spec->weights, "weights") != 0) goto fail;
    if (spec->student_weights[0] && load_file(out, spec->student_weights, "student weights") != 0)
        goto fail;
    int total = mp_params_count(sr_params(out->sr));
    out->n_missing = (spec->weights[0] || spec->student_weights[0]) ? total - out->n_loaded : total;
    if (out->n_missing < 0) out->n_missing = 0;
    if (sr_to_device(out->sr, spec->device) != 0) goto fail;
    rcnn_set_training(sr_rcnn(out->sr), 0);
    sr_set_training(out->sr, 0);
    return 0;
fail:
    spa_model_clear(out);
    return -1;
}

int spa_spec_from_weights(const char *path, spa_model_spec *spec) {
    sr_probe p;
    if (sr_probe_file(path, &p) != 0) return -1;
    if (!p.arch[0])
        return hnd_error_set("%s: cannot tell the architecture (no backbone.body.layer3 keys): pass --arch", path);
    /* the widths of a shrunk model (FPN, heads) come from the shapes */
    if (sr_probe_config(&p, &spec->config) != 0) return hnd_error_prefix("%s", path);
    spec->has_config = 1;
    snprintf(spec->arch, sizeof spec->arch, "%s", p.arch);
    spec->num_classes = p.num_classes;
    spec->student_channels = p.channels;
    spec->student_kind = p.channels > 0 ? p.kind : -1;
    snprintf(spec->weights, sizeof spec->weights, "%s", path);
    return 0;
}

/* ------------------------------------------------------------ the pass */

typedef struct {
    const char *name;
    const char *prefix;       /* parameter key prefix, NULL for none */
} point_def;

static void shape_str(const ct_tensor *t, char *buf, size_t n, int drop_batch) {
    int64_t s[CT_MAX_DIMS];
    int nd = ct_shape(t, s, CT_MAX_DIMS);
    size_t len = strlen(buf);
    if (len && len + 1 < n) buf[len++] = '+', buf[len] = 0;
    for (int i = drop_batch ? 1 : 0; i < nd && len + 1 < n; i++) {
        int w = snprintf(buf + len, n - len, i > (drop_batch ? 1 : 0) ? "x%" PRId64 : "%" PRId64, s[i]);
        if (w < 0) break;
        len += (size_t)w;
        if (len >= n) {
            buf[n - 1] = 0;
            break;
        }
    }
}

static spa_point *add_point(spa_result *r, const char *name) {
    spa_point *p = &r->pts[r->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    return p;
}

/* Adds the batch-1 tensors ts[0..k-1] to point p. */
static void send(spa_point *p, const ct_tensor *const *ts, int k, int drop_batch) {
    for (int i = 0; i < k; i++) {
        p->elements += ct_numel(ts[i]);
        shape_str(ts[i], p->shapes, sizeof p->shapes, drop_batch);
    }
    p->elements_actual = p->elements;
}

/* Parameter counts per point from the key prefixes; every tensor must fall
 * in exactly one point. */
static int count_params(mp_params *mp, spa_result *r, const char *const *prefixes) {
    for (int i = 0; i < mp_params_count(mp); i++) {
        const char *name = mp_params_name(mp, i);
        int best = -1;
        size_t best_len = 0;
        for (int k = 0; k < r->n; k++) {
            const char *pre = prefixes[k];
            if (pre && su_starts_with(name, pre) && strlen(pre) > best_len) {
                best = k;
                best_len = strlen(pre);
            }
        }
        if (best < 0) return hnd_error_set("analysis: tensor %s belongs to no module", name);
        int64_t n = ct_numel(mp_params_tensor(mp, i));
        if (mp_params_kind(mp, i) == MP_PARAM) r->pts[best].params += n;
        else r->pts[best].buffers += n;
    }
    int64_t cp = 0, cb = 0;
    for (int k = 0; k < r->n; k++) {
        cp += r->pts[k].params;
        cb += r->pts[k].buffers;
        r->pts[k].cum_params = cp;
        r->pts[k].cum_buffers = cb;
    }
    return 0;
}

static int stem_parts(spa_model *m, const ct_tensor *x, spa_result *r, ct_tensor **stem_out) {
    mp_params *mp = rcnn_params(sr_rcnn(m->sr));
    const rcnn_config *cfg = rcnn_get_config(sr_rcnn(m->sr));
    ct_tensor *w = mp_params_get(mp, "backbone.body.conv1.weight");
    ct_tensor *bw = mp_params_get(mp, "backbone.body.bn1.weight");
    ct_tensor *bb = mp_params_get(mp, "backbone.body.bn1.bias");
    ct_tensor *rm = mp_params_get(mp, "backbone.body.bn1.running_mean");
    ct_tensor *rv = mp_params_get(mp, "backbone.body.bn1.running_var");
    if (!w || !bw || !bb || !rm || !rv) return hnd_error_set("analysis: the stem's tensors are not registered");
    const int64_t s2[2] = {2, 2}, p3[2] = {3, 3}, d1[2] = {1, 1}, k3[2] = {3, 3}, p1[2] = {1, 1};
    ct_tensor *c1 = ct_conv2d(x, w, NULL, s2, p3, d1, 1);
    ct_tensor *b1 = !c1 ? NULL
                    : cfg->backbone.frozen_bn ? ct_frozen_batch_norm(c1, bw, bb, rm, rv, cfg->backbone.bn_eps)
                                              : ct_batch_norm(c1, bw, bb, rm, rv, 0, 0.1, cfg->backbone.bn_eps);
    ct_tensor *re = b1 ? ct_relu(b1) : NULL;
    ct_tensor *mx = re ? ct_max_pool2d(re, k3, s2, p1, d1, 0) : NULL;
    if (!mx) return hnd_error_set("analysis: stem: %s", ct_last_error());
    send(add_point(r, "conv1"), (const ct_tensor *[]){c1}, 1, 1);
    send(add_point(r, "bn1"), (const ct_tensor *[]){b1}, 1, 1);
    send(add_point(r, "relu"), (const ct_tensor *[]){re}, 1, 1);
    send(add_point(r, "maxpool"), (const ct_tensor *[]){mx}, 1, 1);
    /* The model's own stem must agree with the parts. */
    ct_tensor *st = bb_stem(rcnn_backbone(sr_rcnn(m->sr)), x);
    if (!st) return -1;
    if (ct_numel(st) != ct_numel(mx)) return hnd_error_set("analysis: stem output differs from conv1..maxpool");
    *stem_out = st;
    return 0;
}

static int run_pass(spa_model *m, const ct_tensor *image, spa_result *r) {
    const rcnn_config *cfg = rcnn_get_config(sr_rcnn(m->sr));
    bb_backbone *bb = rcnn_backbone(sr_rcnn(m->sr));
    const char *prefixes[AN_MAX_POINTS] = {0};
    rt_image_list l;
    memset(&l, 0, sizeof l);
    rpn_output props;
    memset(&props, 0, sizeof props);
    rh_detections dets;
    memset(&dets, 0, sizeof dets);
    rcnn_detections fin;
    memset(&fin, 0, sizeof fin);
    int rc = -1;

    send(add_point(r, "input"), (const ct_tensor *[]){image}, 1, 0);
    if (rcnn_transform_images(sr_rcnn(m->sr), &image, 1, &l) != 0) goto out;
    ct_tensor *stem = NULL;
    if (stem_parts(m, l.tensors, r, &stem) != 0) goto out;
    prefixes[1] = "backbone.body.conv1.";
    prefixes[2] = "backbone.body.bn1.";
    ct_tensor *c[4] = {0};
    if (sr_bottleneck(m->sr)) {
        ct_tensor *z = stu_encode(sr_bottleneck(m->sr), stem);
        if (!z) goto out;
        prefixes[r->n] = SR_ENCODER_PREFIX;
        send(add_point(r, "bottleneck"), (const ct_tensor *[]){z}, 1, 1);
        if (!(c[0] = stu_decode(sr_bottleneck(m->sr), z))) goto out;
        prefixes[r->n] = SR_DECODER_PREFIX;
    } else {
        if (!(c[0] = bb_layer(bb, 1, stem))) goto out;
        prefixes[r->n] = SR_LAYER1_PREFIX;
    }
    send(add_point(r, "layer1"), (const ct_tensor *const *)c, 1, 1);
    static const char *const kLayerPre[] = {NULL, NULL, "backbone.body.layer2.", "backbone.body.layer3.",
                                            "backbone.body.layer4."};
    static const char *const kLayerName[] = {NULL, NULL, "layer2", "layer3", "layer4"};
    for (int i = 2; i <= 4; i++) {
        if (!(c[i - 1] = bb_layer(bb, i, c[i - 2]))) goto out;
        prefixes[r->n] = kLayerPre[i];
        send(add_point(r, kLayerName[i]), (const ct_tensor *const *)c, i, 1);
    }
    ct_tensor *feats[BB_NUM_FEATURES] = {0};
    if (bb_fpn(bb, (const ct_tensor *const *)c, feats) != 0) goto out;
    prefixes[r->n] = "backbone.fpn.";
    send(add_point(r, "fpn"), (const ct_tensor *const *)feats, BB_NUM_FEATURES, 1);

    if (rcnn_rpn_forward(sr_rcnn(m->sr), &l, feats, &props) != 0) goto out;
    r->proposals = ct_size(props.boxes[0], 0);
    prefixes[r->n] = "rpn.";
    spa_point *pr = add_point(r, "rpn");
    send(pr, (const ct_tensor *[]){props.boxes[0]}, 1, 0);
    send(pr, (const ct_tensor *const *)feats, BB_NUM_FEATURES - 1, 1);
    pr->elements_actual = pr->elements;

    if (rcnn_roi_heads_forward(sr_rcnn(m->sr), &l, feats, &props, &dets) != 0) goto out;
    if (rcnn_postprocess(sr_rcnn(m->sr), &l, &dets, &fin) != 0) goto out;
    prefixes[r->n] = "roi_heads.";
    spa_point *ro = add_point(r, "roi_heads");
    int64_t k = ct_size(fin.boxes, 0);
    r->detections = k;
    int64_t per = 4 + 1 + 1;
    char what[64];
    if (fin.masks) {
        per += r->input[1] * r->input[2];
        snprintf(what, sizeof what, "%dx(4+1+1+%" PRId64 "x%" PRId64 ")", cfg->box.detections_per_img,
                 r->input[1], r->input[2]);
    } else if (fin.keypoints) {   /* Keypoint R-CNN: (x, y, v) and a score per keypoint */
        per += 4 * (int64_t)cfg->keypoint.num_keypoints;
        snprintf(what, sizeof what, "%dx(4+1+1+%dx(3+1))", cfg->box.detections_per_img,
                 cfg->keypoint.num_keypoints);
    } else {
        snprintf(what, sizeof what, "%dx(4+1+1)", cfg->box.detections_per_img);
    }
    snprintf(ro->shapes, sizeof ro->shapes, "%s", what);
    ro->elements = per * cfg->box.detections_per_img;
    ro->elements_actual = ct_numel(fin.boxes) + ct_numel(fin.scores) + ct_numel(fin.labels) +
                          (fin.masks ? ct_numel(fin.masks) : 0) +
                          (fin.keypoints ? ct_numel(fin.keypoints) + ct_numel(fin.keypoint_scores) : 0);
    if (count_params(rcnn_params(sr_rcnn(m->sr)), r, prefixes) != 0) goto out;
    rc = 0;
out:
    rcnn_detections_clear(&fin);
    rh_detections_clear(&dets);
    rpn_output_clear(&props);
    rt_image_list_clear(&l);
    return rc;
}

int spa_run_model(spa_model *m, const int64_t input[3], const ct_tensor *image, spa_result *out) {
    memset(out, 0, sizeof *out);
    if (!m || !m->sr) return hnd_error_set("analysis: no model");
    const rcnn_config *cfg = rcnn_get_config(sr_rcnn(m->sr));
    snprintf(out->arch, sizeof out->arch, "%s", cfg->arch);
    if (sr_bottleneck(m->sr)) {
        out->is_student = 1;
        out->channels = stu_channels(sr_bottleneck(m->sr));
        snprintf(out->student_kind, sizeof out->student_kind, "%s",
                 stu_kind_name(stu_get_kind(sr_bottleneck(m->sr))));
    }
    int64_t in[3] = {3, 800, 800};
    if (image) {
        int64_t s[CT_MAX_DIMS];
        if (ct_shape(image, s, CT_MAX_DIMS) != 3) return hnd_error_set("analysis: the image must be [C,H,W]");
        memcpy(in, s, sizeof in);
    } else if (input && input[0] > 0) {
        memcpy(in, input, sizeof in);
    }
    if (in[0] != 3 || in[1] < 32 || in[2] < 32 || in[1] > 8192 || in[2] > 8192)
        return hnd_error_set("analysis: input %" PRId64 "x%" PRId64 "x%" PRId64
                             ": need 3 channels and 32..8192 pixels a side",
                             in[0], in[1], in[2]);
    memcpy(out->input, in, sizeof in);
    out->input_elements = in[0] * in[1] * in[2];
    int prev = ct_grad_set_enabled(0);
    ct_scope_begin();
    int rc = 0;
    if (!image) {
        ct_manual_seed(m->spec.seed + 1);
        ct_tensor *noise = ct_rand(in, 3, CT_F32, ct_cpu());
        image = noise ? ct_to_device(noise, m->spec.device) : NULL;
        if (!image) rc = hnd_error_set("analysis: input image: %s", ct_last_error());
    }
    if (rc == 0) rc = run_pass(m, image, out);
    ct_scope_end();
    ct_grad_set_enabled(prev);
    if (rc != 0) return hnd_error_prefix("analysis of %s", out->arch);
    for (int i = 0; i < out->n; i++) out->pts[i].ratio = (double)out->pts[i].elements / (double)out->input_elements;
    return 0;
}

int spa_run(const spa_options *o, spa_result *out) {
    spa_model m;
    if (spa_model_open(&o->model, &m) != 0) return -1;
    int rc = spa_run_model(&m, o->input, o->image, out);
    spa_model_clear(&m);
    return rc;
}

int spa_find(const spa_result *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->pts[i].name, name) == 0) return i;
    return -1;
}

const char *spa_label(const spa_result *r, char *buf, size_t n) {
    if (r->is_student) snprintf(buf, n, "%s+bottleneck(C=%" PRId64 ")", r->arch, r->channels);
    else snprintf(buf, n, "%s", r->arch);
    return buf;
}

int spa_write_csv(FILE *f, const spa_result *const *rs, int n) {
    fprintf(f, "model,point,index,shapes,elements,elements_actual,ratio,params,buffers,cum_params,"
               "cum_buffers\n");
    for (int k = 0; k < n; k++) {
        char label[128];
        spa_label(rs[k], label, sizeof label);
        for (int i = 0; i < rs[k]->n; i++) {
            const spa_point *p = &rs[k]->pts[i];
            fprintf(f, "%s,%s,%d,%s,%" PRId64 ",%" PRId64 ",%.6f,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "\n",
                    label, p->name, i, p->shapes, p->elements, p->elements_actual, p->ratio, p->params,
                    p->buffers, p->cum_params, p->cum_buffers);
        }
    }
    return ferror(f) ? hnd_error_set("writing CSV failed") : 0;
}

void spa_print(FILE *f, const spa_result *r) {
    char label[128];
    fprintf(f, "%s  (input %" PRId64 "x%" PRId64 "x%" PRId64 " = %" PRId64 " elements; %" PRId64
               " proposals, %" PRId64 " detections in this pass)\n",
            spa_label(r, label, sizeof label), r->input[0], r->input[1], r->input[2], r->input_elements,
            r->proposals, r->detections);
    fprintf(f, "  %-11s %12s %8s %12s %12s  %s\n", "point", "elements", "ratio", "params", "cum_params",
            "tensors sent");
    for (int i = 0; i < r->n; i++) {
        const spa_point *p = &r->pts[i];
        fprintf(f, "  %-11s %12" PRId64 " %8.4f %12" PRId64 " %12" PRId64 "  %s%s\n", p->name, p->elements,
                p->ratio, p->params, p->cum_params, p->shapes, p->ratio < 1.0 && i > 0 ? "   < input" : "");
    }
}
