/* config.c: see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "device_spec.h"
#include "file_check.h"
#include "hnd_error.h"
#include "thread_cap.h"

/* ---- schema ---- */

enum {
    S_OBJ = 1, S_STR, S_INT, S_NUM, S_BOOL, S_STRLIST, S_INTLIST, S_NUMLIST,
    S_MAP,          /* an object with free keys, each value an object of kids */
    S_TYPE = 0xff,
    S_NULLABLE = 0x100,
};

typedef struct sk {
    const char *key;
    int type;
    const struct sk *kids;
} sk;

#define END {NULL, 0, NULL}

static const sk k_split[] = {{"images", S_STR, NULL},
                             {"annotations", S_STR, NULL},
                             {"remove_non_annotated_imgs", S_BOOL, NULL},
                             {"jpeg_quality", S_INT | S_NULLABLE, NULL},
                             END};
static const sk k_splits[] = {{"train", S_OBJ, k_split}, {"val", S_OBJ, k_split}, {"test", S_OBJ, k_split}, END};
static const sk k_dataset[] = {{"name", S_STR, NULL},
                               {"root", S_STR, NULL},
                               {"num_workers", S_INT, NULL},
                               {"aspect_ratio_group_factor", S_INT, NULL},
                               {"hflip_prob", S_NUM, NULL},
                               {"splits", S_OBJ, k_splits},
                               END};
static const sk k_layer1[] = {{"name", S_STR, NULL}, {"bottleneck_channel", S_INT, NULL}, END};
static const sk k_bb_params[] = {{"pretrained", S_BOOL, NULL},
                                 {"freeze_layers", S_BOOL, NULL},
                                 {"layer1", S_OBJ, k_layer1},
                                 END};
static const sk k_backbone[] = {{"name", S_STR, NULL}, {"params", S_OBJ, k_bb_params}, END};
static const sk k_model_params[] = {{"num_classes", S_INT, NULL},
                                    {"pretrained", S_BOOL, NULL},
                                    {"min_size", S_NUM, NULL},
                                    {"max_size", S_NUM, NULL},
                                    {"fpn_out_channels", S_INT, NULL},
                                    {"representation_size", S_INT, NULL},
                                    {"mask_head_channels", S_INT, NULL},
                                    {"num_keypoints", S_INT, NULL},
                                    {"keypoint_head_channels", S_INT, NULL},
                                    {"anchor_sizes", S_NUMLIST, NULL},
                                    {"rpn_pre_nms_top_n_train", S_INT, NULL},
                                    {"rpn_post_nms_top_n_train", S_INT, NULL},
                                    {"rpn_pre_nms_top_n_test", S_INT, NULL},
                                    {"rpn_post_nms_top_n_test", S_INT, NULL},
                                    {"rpn_batch_size_per_image", S_INT, NULL},
                                    {"box_batch_size_per_image", S_INT, NULL},
                                    {"box_detections_per_img", S_INT, NULL},
                                    {"trainable_backbone_layers", S_INT, NULL},
                                    {"frozen_bn", S_BOOL, NULL},
                                    END};
static const sk k_numbits[] = {{"num_bits", S_INT, NULL}, END};
static const sk k_comp[] = {{"params", S_OBJ, k_numbits}, END};
static const sk k_components[] = {{"quantizer", S_OBJ, k_comp}, {"dequantizer", S_OBJ, k_comp}, END};
static const sk k_bt[] = {{"order", S_STRLIST, NULL}, {"components", S_OBJ, k_components}, END};
static const sk k_eb[] = {{"beta", S_NUM, NULL}, {"aux_lr", S_NUM, NULL}, {"density_lr", S_NUM | S_NULLABLE, NULL}, END};
static const sk k_model[] = {{"name", S_STR, NULL},
                             {"backbone", S_OBJ, k_backbone},
                             {"params", S_OBJ, k_model_params},
                             {"bottleneck_transformer", S_OBJ | S_NULLABLE, k_bt},
                             {"entropy_bottleneck", S_OBJ, k_eb},
                             {"distill_backbone_only", S_BOOL, NULL},
                             {"frozen_modules", S_STRLIST, NULL},
                             {"experiment", S_STR, NULL},
                             {"ckpt", S_STR, NULL},
                             END};
static const sk k_optparams[] = {{"lr", S_NUM, NULL},        {"momentum", S_NUM, NULL},
                                 {"dampening", S_NUM, NULL}, {"weight_decay", S_NUM, NULL},
                                 {"nesterov", S_BOOL, NULL}, {"betas", S_NUMLIST, NULL},
                                 {"eps", S_NUM, NULL},       {"amsgrad", S_BOOL, NULL},
                                 END};
static const sk k_opt[] = {{"type", S_STR, NULL}, {"params", S_OBJ, k_optparams}, END};
static const sk k_schparams[] = {{"milestones", S_INTLIST, NULL}, {"gamma", S_NUM, NULL}, END};
static const sk k_sched[] = {{"type", S_STR, NULL}, {"params", S_OBJ, k_schparams}, END};
static const sk k_subcrit_params[] = {{"reduction", S_STR, NULL}, END};
static const sk k_subcrit[] = {{"type", S_STR, NULL}, {"params", S_OBJ, k_subcrit_params}, END};
static const sk k_term[] = {{"ts_modules", S_STRLIST, NULL}, {"criterion", S_OBJ, k_subcrit}, {"factor", S_NUM, NULL}, END};
static const sk k_critparams[] = {{"org_loss_factor", S_NUM, NULL}, END};
static const sk k_crit[] = {{"type", S_STR, NULL}, {"params", S_OBJ, k_critparams}, {"terms", S_MAP, k_term}, END};
static const sk k_train[] = {{"num_epochs", S_INT, NULL},
                             {"batch_size", S_INT, NULL},
                             {"log_freq", S_INT, NULL},
                             {"optimizer", S_OBJ, k_opt},
                             {"scheduler", S_OBJ | S_NULLABLE, k_sched},
                             {"criterion", S_OBJ, k_crit},
                             {"warmup", S_BOOL, NULL},
                             {"transform_bottleneck", S_BOOL, NULL},
                             END};
static const sk k_test[] = {{"batch_size", S_INT, NULL}, END};
static const sk k_root[] = {{"description", S_STR, NULL},
                            {"dataset", S_OBJ, k_dataset},
                            {"teacher_model", S_OBJ, k_model},
                            {"student_model", S_OBJ, k_model},
                            {"model", S_OBJ, k_model},
                            {"train", S_OBJ, k_train},
                            {"test", S_OBJ, k_test},
                            {"device", S_STR, NULL},
                            {"seed", S_INT, NULL},
                            {"threads", S_INT, NULL},
                            {"output_dir", S_STR, NULL},
                            END};

static const char *type_name(int t) {
    switch (t & S_TYPE) {
    case S_OBJ: case S_MAP: return "an object";
    case S_STR: return "a string";
    case S_INT: return "an integer";
    case S_NUM: return "a number";
    case S_BOOL: return "true or false";
    case S_STRLIST: return "a list of strings";
    case S_INTLIST: return "a list of integers";
    case S_NUMLIST: return "a list of numbers";
    default: return "?";
    }
}

static void describe(const cJSON *v, char *buf, size_t n) {
    char *s = cJSON_PrintUnformatted(v);
    if (!s) {
        snprintf(buf, n, "?");
        return;
    }
    if (strlen(s) > 40) strcpy(s + 37, "...");
    snprintf(buf, n, "%s", s);
    free(s);
}

static int is_int(const cJSON *v) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble) &&
           fabs(v->valuedouble) < 9.007199254740992e15;
}

static int check_type(const cJSON *v, int type) {
    if ((type & S_NULLABLE) && cJSON_IsNull(v)) return 1;
    const cJSON *e;
    switch (type & S_TYPE) {
    case S_OBJ: case S_MAP: return cJSON_IsObject(v);
    case S_STR: return cJSON_IsString(v);
    case S_INT: return is_int(v);
    case S_NUM: return cJSON_IsNumber(v) && isfinite(v->valuedouble);
    case S_BOOL: return cJSON_IsBool(v);
    case S_STRLIST:
        if (!cJSON_IsArray(v)) return 0;
        cJSON_ArrayForEach(e, v) if (!cJSON_IsString(e)) return 0;
        return 1;
    case S_INTLIST:
        if (!cJSON_IsArray(v)) return 0;
        cJSON_ArrayForEach(e, v) if (!is_int(e)) return 0;
        return 1;
    case S_NUMLIST:
        if (!cJSON_IsArray(v)) return 0;
        cJSON_ArrayForEach(e, v) if (!cJSON_IsNumber(e)) return 0;
        return 1;
    }
    return 0;
}

static int validate(const cJSON *obj, const sk *schema, const char *path, const char *src) {
    const cJSON *c;
    cJSON_ArrayForEach(c, obj) {
        char p[512];
        snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", c->string ? c->string : "?");
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (d->string && c->string && strcmp(d->string, c->string) == 0)
                return hnd_error_set("%s: %s: duplicate key", src, p);
        const sk *s = schema;
        while (s->key && strcmp(s->key, c->string) != 0) s++;
        if (!s->key) {
            char known[512] = "";
            for (const sk *k = schema; k->key; k++) {
                if (*known) strncat(known, ", ", sizeof known - strlen(known) - 1);
                strncat(known, k->key, sizeof known - strlen(known) - 1);
            }
            return hnd_error_set("%s: %s: unknown key (known here: %s)", src, p, known);
        }
        if (!check_type(c, s->type)) {
            char got[64];
            describe(c, got, sizeof got);
            return hnd_error_set("%s: %s: expected %s, got %s", src, p, type_name(s->type), got);
        }
        if (cJSON_IsNull(c)) continue;
        if ((s->type & S_TYPE) == S_OBJ && s->kids) {
            if (validate(c, s->kids, p, src) != 0) return -1;
        } else if ((s->type & S_TYPE) == S_MAP) {
            const cJSON *m;
            cJSON_ArrayForEach(m, c) {
                char q[600];
                snprintf(q, sizeof q, "%s.%s", p, m->string);
                if (!cJSON_IsObject(m)) {
                    char got[64];
                    describe(m, got, sizeof got);
                    return hnd_error_set("%s: %s: expected an object, got %s", src, q, got);
                }
                if (validate(m, s->kids, q, src) != 0) return -1;
            }
        }
    }
    return 0;
}

/* ---- access ---- */

/* Item at a dotted path, NULL if absent (or null). */
static const cJSON *jp(const cJSON *root, const char *dotted) {
    const cJSON *cur = root;
    char seg[128];
    const char *s = dotted;
    while (cur && *s) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (n >= sizeof seg) return NULL;
        memcpy(seg, s, n);
        seg[n] = 0;
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, seg) : NULL;
        s = dot ? dot + 1 : s + n;
    }
    return cur && !cJSON_IsNull(cur) ? cur : NULL;
}

static double jnum(const cJSON *root, const char *path, double def) {
    const cJSON *v = jp(root, path);
    return v ? v->valuedouble : def;
}
static int jint(const cJSON *root, const char *path, int def) {
    const cJSON *v = jp(root, path);
    return v ? (int)v->valuedouble : def;
}
static int jbool(const cJSON *root, const char *path, int def) {
    const cJSON *v = jp(root, path);
    return v ? cJSON_IsTrue(v) : def;
}
static int jstr(const cJSON *root, const char *path, char *dst, size_t n, const char *def, const char *src) {
    const cJSON *v = jp(root, path);
    const char *s = v ? v->valuestring : def;
    if (!s) s = "";
    if (strlen(s) >= n) return hnd_error_set("%s: %s: too long (%zu characters, at most %zu)", src, path, strlen(s), n - 1);
    snprintf(dst, n, "%s", s);
    return 0;
}

/* ---- --set ---- */

static int apply_set(cJSON *root, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return hnd_error_set("--set '%s': expected KEY.PATH=VALUE", assignment);
    size_t klen = (size_t)(eq - assignment);
    char *key = malloc(klen + 1);
    if (!key) return hnd_error_set("out of memory");
    memcpy(key, assignment, klen);
    key[klen] = 0;
    const char *val = eq + 1;
    cJSON *v = cJSON_Parse(val);
    if (!v) v = cJSON_CreateString(val);
    cJSON *cur = root;
    char *s = key;
    int rc = 0;
    for (;;) {
        char *dot = strchr(s, '.');
        if (dot) *dot = 0;
        if (!*s) {
            rc = hnd_error_set("--set '%s': empty key segment", assignment);
            break;
        }
        if (!dot) {
            if (cJSON_GetObjectItemCaseSensitive(cur, s))
                cJSON_ReplaceItemInObjectCaseSensitive(cur, s, v);
            else
                cJSON_AddItemToObject(cur, s, v);
            v = NULL;
            break;
        }
        cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, s);
        if (!next || cJSON_IsNull(next)) {
            cJSON *o = cJSON_CreateObject();
            if (next) cJSON_ReplaceItemInObjectCaseSensitive(cur, s, o);
            else cJSON_AddItemToObject(cur, s, o);
            next = o;
        } else if (!cJSON_IsObject(next)) {
            rc = hnd_error_set("--set '%s': '%s' is not an object", assignment, s);
            break;
        }
        cur = next;
        s = dot + 1;
    }
    cJSON_Delete(v);
    free(key);
    return rc;
}

char *tc_json_set(const char *json, const char *assignment) {
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        hnd_error_set("config: not valid JSON");
        return NULL;
    }
    char *out = NULL;
    if (apply_set(root, assignment) == 0) out = cJSON_Print(root);
    cJSON_Delete(root);
    return out;
}

/* ---- filling ---- */

static int join_root(const char *root, const char *p, char *dst, size_t n, const char *src, const char *key) {
    int w;
    if (!*p) w = snprintf(dst, n, "%s", "");
    else if (*root && p[0] != '/')
        w = snprintf(dst, n, "%s%s%s", root, root[strlen(root) - 1] == '/' ? "" : "/", p);
    else
        w = snprintf(dst, n, "%s", p);
    if (w < 0 || (size_t)w >= n) return hnd_error_set("%s: %s: path too long", src, key);
    return 0;
}

static int fill_split(const cJSON *j, const char *name, tc_dataset *d, tc_split *s, const char *src) {
    char base[64], key[128], tmp[TC_PATH];
    snprintf(base, sizeof base, "dataset.splits.%s", name);
    const cJSON *o = jp(j, base);
    memset(s, 0, sizeof *s);
    if (!o) return 0;
    s->present = 1;
    snprintf(key, sizeof key, "%s.images", base);
    if (jstr(j, key, tmp, sizeof tmp, "", src) || join_root(d->root, tmp, s->images, sizeof s->images, src, key))
        return -1;
    snprintf(key, sizeof key, "%s.annotations", base);
    if (jstr(j, key, tmp, sizeof tmp, "", src) ||
        join_root(d->root, tmp, s->annotations, sizeof s->annotations, src, key))
        return -1;
    if (!*s->images || !*s->annotations)
        return hnd_error_set("%s: %s: needs both 'images' and 'annotations'", src, base);
    snprintf(key, sizeof key, "%s.remove_non_annotated_imgs", base);
    s->remove_non_annotated = jbool(j, key, strcmp(name, "train") == 0);
    /* the reference's ExtCocoDetection: PIL re-encodes each image at this
     * quality before the transform (it keeps 1..95; null: the file as is) */
    snprintf(key, sizeof key, "%s.jpeg_quality", base);
    const cJSON *q = jp(j, key);
    s->jpeg_quality = q && !cJSON_IsNull(q) ? jint(j, key, 0) : 0;
    if (q && !cJSON_IsNull(q) && (s->jpeg_quality < 1 || s->jpeg_quality > 95))
        return hnd_error_set("%s: %s: %d: must be in 1..95 (or null)", src, key, s->jpeg_quality);
    return 0;
}

/* resnet{18,34,50,101,152} or wide_resnet{50,101}_2 (torchvision's names),
 * with the reference's custom_ prefix or not. *wide: width_per_group 128. */
static int parse_depth(const char *backbone, int *depth, int *wide) {
    const char *b = backbone;
    if (strncmp(b, "custom_", 7) == 0) b += 7;
    *wide = strncmp(b, "wide_", 5) == 0;
    if (*wide) b += 5;
    if (strncmp(b, "resnet", 6) != 0) return -1;
    char *end;
    long d = strtol(b + 6, &end, 10);
    if (*wide ? strcmp(end, "_2") != 0 || (d != 50 && d != 101)
              : *end || (d != 18 && d != 34 && d != 50 && d != 101 && d != 152))
        return -1;
    *depth = (int)d;
    return 0;
}

static int fill_model(const cJSON *j, const char *which, tc_model *m, int student, const char *src) {
    char k[160];
    memset(m, 0, sizeof *m);
    const cJSON *o = jp(j, which);
    if (!o) return 0;
    m->present = 1;
#define K(s) (snprintf(k, sizeof k, "%s.%s", which, s), k)
    if (jstr(j, K("name"), m->name, sizeof m->name, "", src)) return -1;
    const int kp = strcmp(m->name, "keypoint_rcnn") == 0;
    if (strcmp(m->name, "faster_rcnn") != 0 && strcmp(m->name, "mask_rcnn") != 0 && !kp)
        return hnd_error_set("%s: %s: '%s' is not a supported model (faster_rcnn, mask_rcnn, keypoint_rcnn)", src,
                             K("name"), m->name);
    if (jstr(j, K("backbone.name"), m->backbone, sizeof m->backbone, "", src)) return -1;
    int wide;
    if (parse_depth(m->backbone, &m->depth, &wide) != 0)
        return hnd_error_set("%s: %s: '%s' is not a supported backbone (resnet18/34/50/101/152, "
                             "wide_resnet50_2/101_2, custom_ prefix allowed)",
                             src, K("backbone.name"), m->backbone);
    snprintf(m->arch, sizeof m->arch, "%s_%sresnet%d%s_fpn", m->name, wide ? "wide_" : "", m->depth, wide ? "_2" : "");
    m->num_classes = jint(j, K("params.num_classes"), kp ? 2 : 91);
    if (m->num_classes < 2) return hnd_error_set("%s: %s: must be >= 2", src, K("params.num_classes"));
    m->min_size = jnum(j, K("params.min_size"), 800);
    m->max_size = jnum(j, K("params.max_size"), 1333);
    if (m->min_size <= 0 || m->max_size < m->min_size)
        return hnd_error_set("%s: %s: min_size %g / max_size %g: need 0 < min_size <= max_size", src,
                             K("params"), m->min_size, m->max_size);
    {
        static const char *const ints[] = {"fpn_out_channels", "representation_size", "mask_head_channels",
                                           "num_keypoints", "keypoint_head_channels",
                                           "rpn_pre_nms_top_n_train", "rpn_post_nms_top_n_train",
                                           "rpn_pre_nms_top_n_test", "rpn_post_nms_top_n_test",
                                           "rpn_batch_size_per_image", "box_batch_size_per_image",
                                           "box_detections_per_img"};
        int *dst[] = {&m->fpn_out_channels, &m->representation_size, &m->mask_head_channels,
                      &m->num_keypoints, &m->keypoint_head_channels,
                      &m->rpn_pre_nms_top_n_train, &m->rpn_post_nms_top_n_train, &m->rpn_pre_nms_top_n_test,
                      &m->rpn_post_nms_top_n_test, &m->rpn_batch_size_per_image, &m->box_batch_size_per_image,
                      &m->box_detections_per_img};
        for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
            char pk[96];
            snprintf(pk, sizeof pk, "params.%s", ints[i]);
            *dst[i] = jint(j, K(pk), 0);
            if (*dst[i] < 0 || (*dst[i] == 0 && jp(j, k)))
                return hnd_error_set("%s: %s: must be a positive integer", src, k);
        }
        m->trainable_backbone_layers = jint(j, K("params.trainable_backbone_layers"), -1);
        if (jp(j, k) && (m->trainable_backbone_layers < 0 || m->trainable_backbone_layers > 5))
            return hnd_error_set("%s: %s: must be in 0..5", src, k);
        m->frozen_bn = jbool(j, K("params.frozen_bn"), 1);
        const cJSON *as = jp(j, K("params.anchor_sizes"));
        if (as) {
            int n = cJSON_GetArraySize(as);
            if (n != 5) return hnd_error_set("%s: %s: expected 5 sizes (one per FPN level)", src, k);
            for (int i = 0; i < n; i++) {
                m->anchor_sizes[i] = cJSON_GetArrayItem(as, i)->valuedouble;
                if (!(m->anchor_sizes[i] > 0)) return hnd_error_set("%s: %s: sizes must be > 0", src, k);
            }
            m->n_anchor_sizes = n;
        }
    }
    if (jstr(j, K("ckpt"), m->ckpt, sizeof m->ckpt, "", src)) return -1;
    if (jstr(j, K("experiment"), m->experiment, sizeof m->experiment, "", src)) return -1;
    m->distill_backbone_only = jbool(j, K("distill_backbone_only"), 1);
    const cJSON *l1 = jp(j, K("backbone.params.layer1"));
    const cJSON *bt = jp(j, K("bottleneck_transformer"));
    const cJSON *fr = jp(j, K("frozen_modules"));
    if (!student) {
        if (l1) return hnd_error_set("%s: %s: only a student has a custom layer1", src, K("backbone.params.layer1"));
        if (bt) return hnd_error_set("%s: %s: only a student has a bottleneck", src, K("bottleneck_transformer"));
        if (jp(j, K("entropy_bottleneck")))
            return hnd_error_set("%s: %s: only a student has a bottleneck", src, K("entropy_bottleneck"));
        if (fr) return hnd_error_set("%s: %s: the teacher is frozen entirely", src, K("frozen_modules"));
        return 0;
    }
    if (!l1) return hnd_error_set("%s: %s: a student needs its layer1 (name, bottleneck_channel)", src,
                                  K("backbone.params.layer1"));
    m->has_layer1 = 1;
    if (jstr(j, K("backbone.params.layer1.name"), m->layer1, sizeof m->layer1, "", src)) return -1;
    int small = strcmp(m->layer1, "Bottleneck4SmallResNet") == 0;
    int large = strcmp(m->layer1, "Bottleneck4LargeResNet") == 0;
    if (!small && !large)
        return hnd_error_set("%s: %s: '%s' (Bottleneck4LargeResNet or Bottleneck4SmallResNet)", src,
                             K("backbone.params.layer1.name"), m->layer1);
    if (large != (m->depth >= 50))
        return hnd_error_set("%s: %s: %s does not fit %s (Large: ResNet-50/101, Small: ResNet-18/34)", src,
                             K("backbone.params.layer1.name"), m->layer1, m->backbone);
    m->bottleneck_channel = jint(j, K("backbone.params.layer1.bottleneck_channel"), 0);
    if (m->bottleneck_channel < 1 || m->bottleneck_channel > 4096)
        return hnd_error_set("%s: %s: must be in 1..4096", src, K("backbone.params.layer1.bottleneck_channel"));
    if (bt) {
        const cJSON *order = cJSON_GetObjectItemCaseSensitive(bt, "order");
        int n = order ? cJSON_GetArraySize(order) : 0;
        if (n != 0) {
            if (n != 2 || strcmp(cJSON_GetArrayItem(order, 0)->valuestring, "quantizer") != 0 ||
                strcmp(cJSON_GetArrayItem(order, 1)->valuestring, "dequantizer") != 0)
                return hnd_error_set("%s: %s: expected [\"quantizer\", \"dequantizer\"] (or [])", src,
                                     K("bottleneck_transformer.order"));
            int qb = jint(j, K("bottleneck_transformer.components.quantizer.params.num_bits"), 8);
            int db = jint(j, K("bottleneck_transformer.components.dequantizer.params.num_bits"), qb);
            if (qb != db)
                return hnd_error_set("%s: %s: quantizer %d bits but dequantizer %d", src,
                                     K("bottleneck_transformer.components"), qb, db);
            if ((qb < 2 || qb > 8) && qb != 16)   /* 2..8: quantize_tensor's num_bits; 16: half */
                return hnd_error_set("%s: %s: num_bits must be 2..8 or 16, got %d", src,
                                     K("bottleneck_transformer.components.quantizer.params.num_bits"), qb);
            m->transform_bits = qb;
        }
    }
    if (jp(j, K("entropy_bottleneck"))) {
        m->entropy = 1;
        m->eb_beta = jnum(j, K("entropy_bottleneck.beta"), -1);
        m->eb_aux_lr = jnum(j, K("entropy_bottleneck.aux_lr"), 1e-3);
        if (!(m->eb_beta >= 0) || !isfinite(m->eb_beta))
            return hnd_error_set("%s: %s: needed, a number >= 0 (the weight of the rate in bits)", src,
                                 K("entropy_bottleneck.beta"));
        if (!(m->eb_aux_lr > 0) || !isfinite(m->eb_aux_lr))
            return hnd_error_set("%s: %s: must be > 0", src, K("entropy_bottleneck.aux_lr"));
        /* absent or null: 0, the density in the main optimizer */
        m->eb_density_lr = jnum(j, K("entropy_bottleneck.density_lr"), 0);
        if (jp(j, K("entropy_bottleneck.density_lr")) && (!(m->eb_density_lr > 0) || !isfinite(m->eb_density_lr)))
            return hnd_error_set("%s: %s: must be > 0 (or null: the density in the main optimizer)", src,
                                 K("entropy_bottleneck.density_lr"));
    }
    if (fr) {
        const cJSON *e;
        cJSON_ArrayForEach(e, fr) {
            if (m->n_frozen >= TC_MAX_FROZEN)
                return hnd_error_set("%s: %s: at most %d entries", src, K("frozen_modules"), TC_MAX_FROZEN);
            if (strlen(e->valuestring) >= sizeof m->frozen[0] || !*e->valuestring)
                return hnd_error_set("%s: %s: bad module path '%s'", src, K("frozen_modules"), e->valuestring);
            snprintf(m->frozen[m->n_frozen++], sizeof m->frozen[0], "%s", e->valuestring);
        }
    }
#undef K
    return 0;
}

static int module_stage(const char *m) {
    if (strncmp(m, "backbone.body.layer", 19) == 0 && m[19] >= '1' && m[19] <= '4' && m[20] == 0)
        return m[19] - '0';
    return -1;
}

static int fill_train(const cJSON *j, tc_train *t, const char *src) {
    memset(t, 0, sizeof *t);
    t->num_epochs = jint(j, "train.num_epochs", 20);
    t->batch_size = jint(j, "train.batch_size", 4);
    t->log_freq = jint(j, "train.log_freq", 1000);
    if (t->num_epochs < 1) return hnd_error_set("%s: train.num_epochs: must be >= 1", src);
    if (t->batch_size < 1) return hnd_error_set("%s: train.batch_size: must be >= 1", src);
    if (t->log_freq < 1) return hnd_error_set("%s: train.log_freq: must be >= 1", src);
    if (jstr(j, "train.optimizer.type", t->optimizer, sizeof t->optimizer, "Adam", src)) return -1;
    int adam = strcmp(t->optimizer, "Adam") == 0, sgd = strcmp(t->optimizer, "SGD") == 0;
    if (!adam && !sgd)
        return hnd_error_set("%s: train.optimizer.type: '%s' (Adam or SGD)", src, t->optimizer);
    t->lr = jnum(j, "train.optimizer.params.lr", adam ? 1e-3 : -1);
    if (!(t->lr > 0)) return hnd_error_set("%s: train.optimizer.params.lr: must be > 0", src);
    t->momentum = jnum(j, "train.optimizer.params.momentum", 0);
    t->dampening = jnum(j, "train.optimizer.params.dampening", 0);
    t->weight_decay = jnum(j, "train.optimizer.params.weight_decay", 0);
    t->nesterov = jbool(j, "train.optimizer.params.nesterov", 0);
    t->eps = jnum(j, "train.optimizer.params.eps", 1e-8);
    t->amsgrad = jbool(j, "train.optimizer.params.amsgrad", 0);
    t->beta1 = 0.9;
    t->beta2 = 0.999;
    const cJSON *betas = jp(j, "train.optimizer.params.betas");
    if (betas) {
        if (cJSON_GetArraySize(betas) != 2)
            return hnd_error_set("%s: train.optimizer.params.betas: expected 2 numbers", src);
        t->beta1 = cJSON_GetArrayItem(betas, 0)->valuedouble;
        t->beta2 = cJSON_GetArrayItem(betas, 1)->valuedouble;
    }
    const char *adam_only[] = {"betas", "eps", "amsgrad"}, *sgd_only[] = {"momentum", "dampening", "nesterov"};
    for (int i = 0; i < 3; i++) {
        char k[96];
        snprintf(k, sizeof k, "train.optimizer.params.%s", adam ? sgd_only[i] : adam_only[i]);
        if (jp(j, k)) return hnd_error_set("%s: %s: not a parameter of %s", src, k, t->optimizer);
    }
    if (jstr(j, "train.scheduler.type", t->scheduler, sizeof t->scheduler, "", src)) return -1;
    if (jp(j, "train.scheduler")) {
        if (strcmp(t->scheduler, "MultiStepLR") != 0)
            return hnd_error_set("%s: train.scheduler.type: '%s' (MultiStepLR, or no scheduler)", src, t->scheduler);
        const cJSON *ms = jp(j, "train.scheduler.params.milestones");
        const cJSON *e;
        int prev = -1;
        if (ms) cJSON_ArrayForEach(e, ms) {
            if (t->n_milestones >= TC_MAX_MILESTONES)
                return hnd_error_set("%s: train.scheduler.params.milestones: at most %d", src, TC_MAX_MILESTONES);
            int v = (int)e->valuedouble;
            if (v <= prev)
                return hnd_error_set("%s: train.scheduler.params.milestones: must be increasing and >= 0", src);
            t->milestones[t->n_milestones++] = prev = v;
        }
        t->gamma = jnum(j, "train.scheduler.params.gamma", 0.1);
    } else {
        t->gamma = 1;
    }
    t->warmup = jbool(j, "train.warmup", 1);
    char ctype[32];
    if (jstr(j, "train.criterion.type", ctype, sizeof ctype, "general", src)) return -1;
    if (strcmp(ctype, "general") != 0)
        return hnd_error_set("%s: train.criterion.type: '%s' (only 'general')", src, ctype);
    t->org_loss_factor = jnum(j, "train.criterion.params.org_loss_factor", 0);
    if (!(t->org_loss_factor >= 0))
        return hnd_error_set("%s: train.criterion.params.org_loss_factor: must be >= 0", src);
    t->transform_bottleneck = jbool(j, "train.transform_bottleneck", 0);
    const cJSON *terms = jp(j, "train.criterion.terms");
    const cJSON *m;
    if (terms) cJSON_ArrayForEach(m, terms) {
        if (t->n_terms >= TC_MAX_TERMS)
            return hnd_error_set("%s: train.criterion.terms: at most %d terms", src, TC_MAX_TERMS);
        tc_term *tt = &t->terms[t->n_terms++];
        char base[160], k[256];
        snprintf(base, sizeof base, "train.criterion.terms.%s", m->string);
        if (strlen(m->string) >= sizeof tt->name)
            return hnd_error_set("%s: %s: name too long", src, base);
        snprintf(tt->name, sizeof tt->name, "%s", m->string);
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(m, "ts_modules");
        if (!ts || cJSON_GetArraySize(ts) != 2)
            return hnd_error_set("%s: %s.ts_modules: expected [teacher module, student module]", src, base);
        const char *tm = cJSON_GetArrayItem(ts, 0)->valuestring, *sm = cJSON_GetArrayItem(ts, 1)->valuestring;
        tt->teacher_stage = module_stage(tm);
        tt->student_stage = module_stage(sm);
        if (tt->teacher_stage < 0 || tt->student_stage < 0)
            return hnd_error_set("%s: %s.ts_modules: supported modules are backbone.body.layer1..layer4, got "
                                 "[\"%s\", \"%s\"]", src, base, tm, sm);
        snprintf(tt->teacher_module, sizeof tt->teacher_module, "%s", tm);
        snprintf(tt->student_module, sizeof tt->student_module, "%s", sm);
        char ltype[32], red[16];
        snprintf(k, sizeof k, "%s.criterion.type", base);
        if (jstr(j, k, ltype, sizeof ltype, "MSELoss", src)) return -1;
        if (strcmp(ltype, "MSELoss") == 0) tt->loss = TC_LOSS_MSE;
        else if (strcmp(ltype, "L1Loss") == 0) tt->loss = TC_LOSS_L1;
        else return hnd_error_set("%s: %s: '%s' (MSELoss or L1Loss)", src, k, ltype);
        snprintf(k, sizeof k, "%s.criterion.params.reduction", base);
        if (jstr(j, k, red, sizeof red, "mean", src)) return -1;
        if (strcmp(red, "sum") == 0) tt->reduction = 2;
        else if (strcmp(red, "mean") == 0) tt->reduction = 1;
        else return hnd_error_set("%s: %s: '%s' (sum or mean)", src, k, red);
        snprintf(k, sizeof k, "%s.factor", base);
        tt->factor = jnum(j, k, 1.0);
    }
    return 0;
}

static void default_output_dir(const char *name, char *dst, size_t n) {
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", b);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    snprintf(dst, n, "runs/%s", *stem ? stem : "run");
}

static int fill(const cJSON *j, const char *src, tc_config *c) {
    snprintf(c->source, sizeof c->source, "%s", src);
    tc_dataset *d = &c->dataset;
    if (jstr(j, "dataset.name", d->name, sizeof d->name, "", src)) return -1;
    if (jstr(j, "dataset.root", d->root, sizeof d->root, "", src)) return -1;
    d->num_workers = jint(j, "dataset.num_workers", 4);
    if (d->num_workers < 1 || d->num_workers > 256)
        return hnd_error_set("%s: dataset.num_workers: must be in 1..256", src);
    d->aspect_ratio_group_factor = jint(j, "dataset.aspect_ratio_group_factor", 3);
    if (d->aspect_ratio_group_factor < -1 || d->aspect_ratio_group_factor > 64)
        return hnd_error_set("%s: dataset.aspect_ratio_group_factor: must be in -1..64", src);
    d->hflip_prob = jnum(j, "dataset.hflip_prob", 0.5);
    if (d->hflip_prob < 0 || d->hflip_prob > 1) return hnd_error_set("%s: dataset.hflip_prob: must be in [0, 1]", src);
    if (fill_split(j, "train", d, &d->train, src) || fill_split(j, "val", d, &d->val, src) ||
        fill_split(j, "test", d, &d->test, src))
        return -1;
    int has_model = jp(j, "model") != NULL, has_t = jp(j, "teacher_model") != NULL,
        has_s = jp(j, "student_model") != NULL;
    if (has_model && (has_t || has_s))
        return hnd_error_set("%s: 'model' (a teacher config) cannot be combined with teacher_model/student_model", src);
    if (!has_model && !(has_t && has_s))
        return hnd_error_set("%s: needs 'teacher_model' and 'student_model' (distillation) or 'model' (teacher)", src);
    c->is_org = has_model;
    if (has_model) {
        if (fill_model(j, "model", &c->teacher, 0, src)) return -1;
    } else {
        if (fill_model(j, "teacher_model", &c->teacher, 0, src) || fill_model(j, "student_model", &c->student, 1, src))
            return -1;
        if (strcmp(c->teacher.name, c->student.name) != 0 || c->teacher.num_classes != c->student.num_classes)
            return hnd_error_set("%s: student_model: must be the teacher's detector (%s, %d classes), got %s, %d", src,
                                 c->teacher.name, c->teacher.num_classes, c->student.name, c->student.num_classes);
        if (c->teacher.depth != c->student.depth ||
            !strstr(c->teacher.arch, "_wide_") != !strstr(c->student.arch, "_wide_"))
            return hnd_error_set("%s: student_model.backbone.name: %s, but the teacher is %s (HND keeps layer2..4)",
                                 src, c->student.backbone, c->teacher.backbone);
    }
    c->has_train = jp(j, "train") != NULL;
    if (fill_train(j, &c->train, src)) return -1;
    if (!c->is_org && c->train.n_terms == 0 && c->has_train)
        return hnd_error_set("%s: train.criterion.terms: a distillation needs at least one term", src);
    /* the reference adds the student's detection losses only when the whole
     * student runs (distill_backbone_only false); else its "losses" would be
     * the backbone's features */
    if (!c->is_org && c->train.org_loss_factor > 0 && c->student.distill_backbone_only)
        return hnd_error_set("%s: train.criterion.params.org_loss_factor > 0 needs "
                             "student_model.distill_backbone_only: false (the detection losses need the whole "
                             "student)", src);
    c->test_batch_size = jint(j, "test.batch_size", 1);
    if (c->test_batch_size < 1) return hnd_error_set("%s: test.batch_size: must be >= 1", src);
    if (jstr(j, "device", c->device, sizeof c->device, "cpu", src)) return -1;
    int cuda_index;
    if (dspec_parse(c->device, &cuda_index) != 0)
        return hnd_error_set("%s: device: '%s' (cpu, cuda or cuda:N)", src, c->device);
    const cJSON *seed = jp(j, "seed");
    if (seed && seed->valuedouble < 0) return hnd_error_set("%s: seed: must be >= 0", src);
    c->seed = seed ? (uint64_t)seed->valuedouble : 0;
    c->threads = jint(j, "threads", 0);
    if (tcap_check(c->threads, "threads") != 0) return hnd_error_prefix("%s", src);
    if (jp(j, "output_dir")) {
        if (jstr(j, "output_dir", c->output_dir, sizeof c->output_dir, "", src)) return -1;
    } else {
        default_output_dir(src, c->output_dir, sizeof c->output_dir);
    }
    if (c->student.present && !*c->student.ckpt) {
        int w = snprintf(c->student.ckpt, sizeof c->student.ckpt, "%s/best.h5", c->output_dir);
        if (w < 0 || (size_t)w >= sizeof c->student.ckpt) return hnd_error_set("%s: output_dir: too long", src);
    }
    return 0;
}

int tc_parse(const char *json, size_t len, const char *name, const char *const *sets, int n_sets, tc_config *out) {
    if (!out) return hnd_error_set("config: NULL output");
    memset(out, 0, sizeof *out);
    const char *src = name ? name : "config";
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t off = end && end >= json ? (size_t)(end - json) : 0;
        int line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += json[i] == '\n';
        return hnd_error_set("%s: not valid JSON (near line %d)", src, line);
    }
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        hnd_error_set("%s: the config must be a JSON object", src);
        goto done;
    }
    for (int i = 0; i < n_sets; i++)
        if (apply_set(root, sets[i]) != 0) {
            hnd_error_prefix("%s", src);
            goto done;
        }
    if (validate(root, k_root, "", src) != 0) goto done;
    if (fill(root, src, out) != 0) goto done;
    out->json = cJSON_Print(root);
    if (!out->json) {
        hnd_error_set("%s: out of memory", src);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc != 0) {
        free(out->json);
        out->json = NULL;
    }
    return rc;
}

int tc_load(const char *path, const char *const *sets, int n_sets, tc_config *out) {
    if (out) memset(out, 0, sizeof *out);
    /* a config is a few kB: anything over 16 MB is not one */
    if (fchk_regular(path, (uint64_t)16 << 20) != 0) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return hnd_error_set("%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return hnd_error_set("%s: out of memory", path);
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return hnd_error_set("%s: read error", path);
    }
    int rc = tc_parse(buf, n, path, sets, n_sets, out);
    free(buf);
    return rc;
}

void tc_clear(tc_config *c) {
    if (!c) return;
    free(c->json);
    c->json = NULL;
}

double tc_epoch_lr(const tc_train *t, int epoch) {
    double lr = t->lr;
    for (int i = 0; i < t->n_milestones; i++)
        if (t->milestones[i] <= epoch) lr *= t->gamma;
    return lr;
}

double tc_warmup_factor(int it, int64_t iters) {
    int64_t w = iters - 1 < 1000 ? iters - 1 : 1000;
    if (it >= w) return 1.0;
    double alpha = (double)it / (double)w;
    return 1.0 / 1000.0 * (1 - alpha) + alpha;
}
