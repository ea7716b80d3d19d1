/* coco_eval_load.c: a COCO results file (or text) into the prepared
 * detections of coco_eval_int.h, as pycocotools' loadRes reads it, checked
 * against the ground truth (coco_eval_gt.c makes that).
 *
 * The file is mapped and walked once by data/json_scan.h's scanner, and
 * every element of the results array is parsed on its own: the common
 * forms by a fast reader over json_scan's strict reader, anything else by
 * cJSON on that element (with the messages). No tree of the file is
 * built, so memory stays at the mapped file plus the compact arrays. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coco_eval_int.h"
#include "hnd_error.h"
#include "json_scan.h"
#include "mask_rle.h"

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return hnd_error_set("out of memory (%zu x %zu bytes)", n, elem);
    *p = q;
    *cap = n;
    return 0;
}

/* ---- the cJSON path's field readers ------------------------------------ */

/* Parse one element; on error a message with a few chars of context. */
static cJSON *parse_elem(const char *s, size_t len, const char *name, const char *what, size_t i) {
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (!o) {
        const char *at = end && end >= s && end <= s + len ? end : s;
        size_t off = (size_t)(at - s), n = len - off < 24 ? len - off : 24;
        char ctx[64];
        size_t k = 0;
        for (size_t j = 0; j < n; j++) ctx[k++] = (at[j] >= 32 && at[j] < 127) ? at[j] : '?';
        ctx[k] = '\0';
        hnd_error_set("%s: %s[%zu]: invalid JSON near '%s'", name, what, i, ctx);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        hnd_error_set("%s: %s[%zu]: expected an object", name, what, i);
        return NULL;
    }
    return o;
}

/* Integral number (ids): within +-2^53. */
static int get_id(const cJSON *o, const char *key, int64_t *v, int required, const char *name, const char *what,
                  size_t i) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!x) {
        if (!required) return 1;
        return hnd_error_set("%s: %s[%zu]: missing %s", name, what, i, key);
    }
    double d = x->valuedouble;
    if (!cJSON_IsNumber(x) || !(fabs(d) <= 9007199254740992.0) || d != floor(d))
        return hnd_error_set("%s: %s[%zu].%s: expected an integer", name, what, i, key);
    *v = (int64_t)d;
    return 0;
}

static int get_num(const cJSON *o, const char *key, double *v, const char *name, const char *what, size_t i) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!x) return hnd_error_set("%s: %s[%zu]: missing %s", name, what, i, key);
    if (!cJSON_IsNumber(x)) return hnd_error_set("%s: %s[%zu].%s: expected a number", name, what, i, key);
    if (!isfinite(x->valuedouble))
        return hnd_error_set("%s: %s[%zu].%s: not a finite number", name, what, i, key);
    *v = x->valuedouble;
    return 0;
}

/* [x, y, w, h]: 4 finite numbers, w and h >= 0. */
static int get_bbox(const cJSON *x, double bb[4], const char *name, const char *what, size_t i) {
    if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != 4)
        return hnd_error_set("%s: %s[%zu].bbox: expected 4 numbers", name, what, i);
    int j = 0;
    for (const cJSON *c = x->child; c; c = c->next, j++) {
        if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
            return hnd_error_set("%s: %s[%zu].bbox: expected 4 numbers", name, what, i);
        bb[j] = c->valuedouble;
    }
    if (bb[2] < 0 || bb[3] < 0)
        return hnd_error_set("%s: %s[%zu].bbox: negative width or height (%g x %g)", name, what, i, bb[2], bb[3]);
    return 0;
}

static int find_id(const int64_t *ids, int n, int64_t v) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (ids[mid] < v)
            lo = mid + 1;
        else if (ids[mid] > v)
            hi = mid - 1;
        else
            return mid;
    }
    return -1;
}

/* ---- results ----------------------------------------------------------- */

void ce_dt_destroy(ce_dt *dt) {
    if (!dt) return;
    free(dt->rec);
    free(dt->cat_start);
    free(dt->spool);
    free(dt->kpool);
    free(dt);
}

size_t ce_dt_num(const ce_dt *dt) { return dt->n; }
size_t ce_dt_dropped(const ce_dt *dt) { return dt->dropped; }

static int cmp_dt(const void *a, const void *b) {
    const ce_dt_rec *x = a, *y = b;
    if (x->cat != y->cat) return x->cat < y->cat ? -1 : 1;
    if (x->img != y->img) return x->img < y->img ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    /* before ranks are assigned, rank holds the index in the file */
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

typedef struct {
    ce_dt *dt;
    size_t rcap, scap;
    uint32_t *cnts; /* scratch for decoding */
    size_t ccap;
    double *kps;    /* scratch: one result's keypoints */
    size_t kcap, kn;
    size_t kpcap;   /* of dt->kpool */
} dt_build;

static int spool_add(dt_build *b, const char *s, size_t n, ce_dt_rec *rec) {
    if (n > UINT32_MAX) return hnd_error_set("RLE string too long");
    if (grow((void **)&b->dt->spool, &b->scap, b->dt->spool_n + n + 1, 1) < 0) return -1;
    memcpy(b->dt->spool + b->dt->spool_n, s, n);
    rec->soff = b->dt->spool_n;
    rec->slen = (uint32_t)n;
    b->dt->spool_n += n;
    return 0;
}

/* One result, its fields checked for type (by the fast scanner or from
 * cJSON with messages), before the checks against the ground truth. */
typedef struct {
    int64_t img, cat;
    double score;
    int has_bb;         /* a non-empty "bbox" (4 finite numbers, w, h >= 0) */
    double bb[4];
    const cJSON *bbj;   /* cJSON path: the bbox node, NULL if absent */
    int bb_present;     /* "bbox" present at all (maybe empty) */
    int has_sg;
    const char *cs;     /* compressed RLE: counts string and size */
    size_t cl;
    double sh, sw;
    const cJSON *sg;    /* any other segmentation form (cJSON path) */
    const cJSON *kpj;   /* "keypoints" (cJSON path), NULL if absent */
} res_fields;

/* The segmentation of one result: its RLE string goes to the pool; area
 * and bbox (toBbox) from the RLE when wanted. */
static int dt_segm(dt_build *b, const res_fields *f, uint32_t h, uint32_t w, ce_dt_rec *rec, double *area,
                   double *bb) {
    rle_t r;
    rle_init(&r);
    if (f->cs) {
        /* compressed RLE, the usual case: check it by decoding into scratch */
        if (f->sh != h || f->sw != w)
            return hnd_error_set("segmentation.size: [%g, %g] does not match the image (%u x %u)", f->sh, f->sw, h,
                                 w);
        size_t m;
        if (grow((void **)&b->cnts, &b->ccap, f->cl + 1, sizeof *b->cnts) < 0) return -1;
        if (rle_decode_string(f->cs, f->cl, b->cnts, b->ccap, &m) < 0) return hnd_error_prefix("segmentation");
        r.h = h;
        r.w = w;
        r.m = m;
        r.cnts = b->cnts;
        if (rle_check(&r) < 0) return hnd_error_prefix("segmentation");
        if (area) *area = (double)rle_area(&r);
        if (bb) rle_to_bbox(&r, bb);
        return spool_add(b, f->cs, f->cl, rec);
    }
    /* polygons or uncompressed RLE: rasterise, store compressed */
    if (rle_from_json(&r, f->sg, h, w) < 0) return -1;
    if (area) *area = (double)rle_area(&r);
    if (bb) rle_to_bbox(&r, bb);
    char *str = rle_to_string(&r);
    rle_clear(&r);
    if (!str) return hnd_error_set("out of memory");
    int rc = spool_add(b, str, strlen(str), rec);
    free(str);
    return rc;
}

/* ---- the fast reader for the common result forms ------------------------
 * {"image_id": N, "category_id": N, "score": X, "bbox": [4 numbers]} and/or
 * "segmentation": {"size": [h, w], "counts": "..."}, keys in any order,
 * no escapes, nothing else. Anything it does not take (other keys, other
 * forms, anything malformed or out of range) goes to the cJSON path, which
 * gives the messages: the two paths agree on every input the fast one takes
 * (both round numbers correctly). Returns 1 if it took the element. */

/* A finite number, short enough for cJSON's 63-character number buffer
 * (a longer one is the cJSON path's to judge). */
static int fs_number(js_reader *r, double *v) {
    const char *s = r->p;
    return js_number(r, v) == 0 && r->p - s < 64 && isfinite(*v);
}

static int fs_id(js_reader *r, int64_t *v) {
    double d;
    if (!fs_number(r, &d) || !(fabs(d) <= 9007199254740992.0) || d != floor(d)) return 0;
    *v = (int64_t)d;
    return 1;
}

/* Exactly n numbers in a list. */
static int fs_numbers(js_reader *r, double *v, int n) {
    int first = 1, k = 0, m;
    while ((m = js_array_next(r, &first)) == 1)
        if (k >= n || !fs_number(r, &v[k++])) return 0;
    return m == 0 && k == n;
}

static int fs_segm(js_reader *r, res_fields *f) {
    int first = 1, m, got_size = 0, esc;
    double sz[2];
    const char *k;
    size_t kn;
    while ((m = js_object_next(r, &first, &k, &kn)) == 1) {
        if (JS_KEY_IS(k, kn, "size") && !got_size) {
            if (!fs_numbers(r, sz, 2)) return 0;
            got_size = 1;
        } else if (JS_KEY_IS(k, kn, "counts") && !f->cs) {
            if (js_string(r, &f->cs, &f->cl, &esc) < 0 || esc) return 0;
        } else {
            return 0;
        }
    }
    if (m < 0 || !got_size || !f->cs ||
        !(sz[0] >= 0 && sz[0] <= 1e6 && sz[0] == floor(sz[0]) && sz[1] >= 0 && sz[1] <= 1e6 && sz[1] == floor(sz[1])))
        return 0;
    f->sh = sz[0];
    f->sw = sz[1];
    f->has_sg = 1;
    return 1;
}

static int fast_result(const char *s, size_t len, res_fields *f) {
    js_reader r;
    js_reader_init(&r, s, s + len);
    memset(f, 0, sizeof *f);
    unsigned seen = 0;
    int first = 1, m;
    const char *k;
    size_t kn;
    while ((m = js_object_next(&r, &first, &k, &kn)) == 1) {
        unsigned bit;
        int ok;
        if (JS_KEY_IS(k, kn, "image_id")) {
            bit = 1;
            ok = fs_id(&r, &f->img);
        } else if (JS_KEY_IS(k, kn, "category_id")) {
            bit = 2;
            ok = fs_id(&r, &f->cat);
        } else if (JS_KEY_IS(k, kn, "score")) {
            bit = 4;
            ok = fs_number(&r, &f->score);
        } else if (JS_KEY_IS(k, kn, "bbox")) {
            bit = 8;
            ok = fs_numbers(&r, f->bb, 4) && f->bb[2] >= 0 && f->bb[3] >= 0;
            f->has_bb = f->bb_present = 1;
        } else if (JS_KEY_IS(k, kn, "segmentation")) {
            bit = 16;
            ok = fs_segm(&r, f);
        } else {
            return 0;
        }
        if (!ok || (seen & bit)) return 0;
        seen |= bit;
    }
    js_ws(&r);
    return m == 0 && (seen & 7) == 7 && r.p == r.end;
}

/* The cJSON path: type checks with messages. */
static int slow_result(const cJSON *o, res_fields *f, const char *name, const char *W, size_t i) {
    memset(f, 0, sizeof *f);
    if (get_id(o, "image_id", &f->img, 1, name, W, i) < 0 || get_id(o, "category_id", &f->cat, 1, name, W, i) < 0 ||
        get_num(o, "score", &f->score, name, W, i) < 0)
        return -1;
    f->kpj = cJSON_GetObjectItemCaseSensitive(o, "keypoints");
    f->bbj = cJSON_GetObjectItemCaseSensitive(o, "bbox");
    f->bb_present = f->bbj != NULL;
    f->has_bb = cJSON_IsArray(f->bbj) && cJSON_GetArraySize(f->bbj) > 0;
    const cJSON *sg = cJSON_GetObjectItemCaseSensitive(o, "segmentation");
    if (sg) {
        f->has_sg = 1;
        const cJSON *c = cJSON_IsObject(sg) ? cJSON_GetObjectItemCaseSensitive(sg, "counts") : NULL;
        if (cJSON_IsString(c)) {
            const cJSON *sz = cJSON_GetObjectItemCaseSensitive(sg, "size");
            if (!cJSON_IsArray(sz) || cJSON_GetArraySize(sz) != 2 || !cJSON_IsNumber(sz->child) ||
                !cJSON_IsNumber(sz->child->next))
                return hnd_error_set("%s: %s[%zu]: segmentation.size: expected [height, width]", name, W, i);
            f->cs = c->valuestring;
            f->cl = strlen(c->valuestring);
            f->sh = sz->child->valuedouble;
            f->sw = sz->child->next->valuedouble;
        } else {
            f->sg = sg;
        }
    }
    return 0;
}

/* "keypoints": a list of 3*K finite numbers into b->kps (b->kn). */
static int get_kps(dt_build *b, const cJSON *x, const char *name, const char *what, size_t i) {
    if (!cJSON_IsArray(x)) return hnd_error_set("%s: %s[%zu].keypoints: expected a list of numbers", name, what, i);
    size_t n = (size_t)cJSON_GetArraySize(x), j = 0;
    if (n == 0 || n % 3)
        return hnd_error_set("%s: %s[%zu].keypoints: %zu numbers, expected x, y, v triples", name, what, i, n);
    if (grow((void **)&b->kps, &b->kcap, n, sizeof *b->kps) < 0) return -1;
    for (const cJSON *c = x->child; c; c = c->next, j++) {
        if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
            return hnd_error_set("%s: %s[%zu].keypoints[%zu]: expected a number", name, what, i, j);
        b->kps[j] = c->valuedouble;
    }
    b->kn = n;
    return 0;
}

/* loadRes's keypoint branch: bbox and area of the keypoints' extent. */
static void kp_extent(const double *kp, size_t n, double bb[4], double *area) {
    double x0 = kp[0], x1 = kp[0], y0 = kp[1], y1 = kp[1];
    for (size_t j = 3; j < n; j += 3) {
        x0 = fmin(x0, kp[j]);
        x1 = fmax(x1, kp[j]);
        y0 = fmin(y0, kp[j + 1]);
        y1 = fmax(y1, kp[j + 1]);
    }
    *area = (x1 - x0) * (y1 - y0);
    bb[0] = x0;
    bb[1] = y0;
    bb[2] = x1 - x0;
    bb[3] = y1 - y0;
}

/* loadRes for one result; *box_mode is decided by results[0]. */
static int add_result(dt_build *b, const res_fields *f, int *box_mode, const ce_options *opts, const char *name,
                      size_t i) {
    static const char *W = "results";
    ce_dt *dt = b->dt;
    const ce_gt *gt = dt->gt;
    ce_iou_type type = dt->type;
    ce_dt_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.score = f->score;
    rec.img = find_id(gt->img_id, gt->nimg, f->img);
    if (rec.img < 0)
        return hnd_error_set("%s: %s[%zu]: image_id %lld not in ground truth", name, W, i, (long long)f->img);
    rec.cat = find_id(gt->cat_id, gt->ncat, f->cat);
    if (rec.cat < 0 && opts && opts->strict_categories)
        return hnd_error_set("%s: %s[%zu]: category_id %lld not in ground truth categories", name, W, i,
                             (long long)f->cat);
    if (*box_mode < 0) {
        /* loadRes's order: a non-empty bbox, else segmentation, else keypoints */
        *box_mode = f->has_bb ? 1 : f->has_sg ? 0 : f->kpj ? 2 : -1;
        if (*box_mode < 0)
            return hnd_error_set("%s: %s[0]: neither bbox nor segmentation nor keypoints", name, W);
    }
    b->kn = 0;
    if ((type == CE_KEYPOINTS || *box_mode == 2) && !f->kpj)
        return hnd_error_set("%s: %s[%zu]: missing keypoints", name, W, i);
    if (f->kpj && get_kps(b, f->kpj, name, W, i) < 0) return -1;
    uint32_t h = gt->img_h[rec.img], w = gt->img_w[rec.img];
    if (*box_mode == 2) {
        kp_extent(b->kps, b->kn, rec.bbox, &rec.area);
    } else if (*box_mode) {
        if (!f->bb_present) return hnd_error_set("%s: %s[%zu]: missing bbox (results[0] has one)", name, W, i);
        if (f->bbj) {
            if (get_bbox(f->bbj, rec.bbox, name, W, i) < 0) return -1;
        } else {
            memcpy(rec.bbox, f->bb, sizeof rec.bbox);
        }
        rec.area = rec.bbox[2] * rec.bbox[3];
        if (type == CE_SEGM) {
            int rc;
            if (f->has_sg) {
                rc = dt_segm(b, f, h, w, &rec, NULL, rec.bbox); /* area stays w*h */
            } else {
                /* loadRes: the box's polygon x1,y1, x1,y2, x2,y2, x2,y1 */
                rle_t pr;
                rle_init(&pr);
                rc = rle_from_bbox(&pr, rec.bbox, h, w);
                if (rc == 0) rle_to_bbox(&pr, rec.bbox);
                char *str = rc < 0 ? NULL : rle_to_string(&pr);
                rle_clear(&pr);
                if (rc == 0 && !str) rc = hnd_error_set("out of memory");
                if (rc == 0) rc = spool_add(b, str, strlen(str), &rec);
                free(str);
            }
            if (rc < 0) return hnd_error_prefix("%s: %s[%zu]", name, W, i);
        }
    } else {
        if (!f->has_sg) return hnd_error_set("%s: %s[%zu]: missing segmentation", name, W, i);
        double rbb[4];
        if (dt_segm(b, f, h, w, &rec, &rec.area, rbb) < 0) return hnd_error_prefix("%s: %s[%zu]", name, W, i);
        if (f->bbj) {
            if (get_bbox(f->bbj, rec.bbox, name, W, i) < 0) return -1;
        } else if (f->has_bb) {
            memcpy(rec.bbox, f->bb, sizeof rec.bbox);
        }
        if (!f->bb_present || type == CE_SEGM) memcpy(rec.bbox, rbb, sizeof rbb);
    }
    if (rec.cat < 0) {
        dt->dropped++;
        dt->spool_n -= rec.slen; /* its string was the last added */
        return 0;
    }
    if (type == CE_KEYPOINTS) {
        size_t K = (size_t)gt->cat_k[rec.cat];
        if (b->kn != 3 * K)
            return hnd_error_set("%s: %s[%zu].keypoints: %zu numbers but category %lld has %zu keypoints in the "
                                 "ground truth",
                                 name, W, i, b->kn, (long long)f->cat, K);
        if (grow((void **)&dt->kpool, &b->kpcap, dt->kpool_n + b->kn, sizeof *dt->kpool) < 0) return -1;
        memcpy(dt->kpool + dt->kpool_n, b->kps, b->kn * sizeof *b->kps);
        rec.koff = dt->kpool_n;
        dt->kpool_n += b->kn;
    }
    if (i > UINT32_MAX) return hnd_error_set("%s: too many results", name);
    rec.rank = (uint32_t)i;
    if (grow((void **)&dt->rec, &b->rcap, dt->n + 1, sizeof *dt->rec) < 0) return -1;
    dt->rec[dt->n++] = rec;
    return 0;
}

ce_dt *ce_dt_parse(const ce_gt *gt, const char *json, size_t len, const char *name, ce_iou_type type,
                   const ce_options *opts) {
    static const char *W = "results";
    if (type == CE_SEGM && !gt->with_segm) {
        hnd_error_set("%s: segm evaluation needs the ground truth loaded with masks", name);
        return NULL;
    }
    if (type == CE_KEYPOINTS && gt->kp_bad >= 0) {
        for (size_t j = 0; j < gt->nann; j++) {
            const ce_gt_ann *g = &gt->ann[j];
            if (g->file_idx != (uint64_t)gt->kp_bad) continue;
            hnd_error_set("%s: annotations[%lld] (id %lld): keypoint evaluation needs 3 x %d keypoint numbers (those of "
                          "category %lld)",
                          gt->name, (long long)gt->kp_bad, (long long)g->id, (int)gt->cat_k[g->cat],
                          (long long)gt->cat_id[g->cat]);
        }
        return NULL;
    }
    dt_build b;
    memset(&b, 0, sizeof b);
    b.dt = calloc(1, sizeof *b.dt);
    if (!b.dt) {
        hnd_error_set("out of memory");
        return NULL;
    }
    ce_dt *dt = b.dt;
    dt->gt = gt;
    dt->type = type;
    js_doc doc;
    js_arr it;
    const char *s, *e;
    size_t i = 0;
    int r, box_mode = -1; /* loadRes: decided by results[0] */
    js_doc_init(&doc, name, json, len);
    if (js_arr_begin(&it, &doc, W) < 0) goto fail;
    while ((r = js_arr_next(&it, &s, &e)) == 1) {
        res_fields f;
        int rc;
        size_t slen = (size_t)(e - s);
        if (fast_result(s, slen, &f)) {
            rc = add_result(&b, &f, &box_mode, opts, name, i);
        } else {
            cJSON *o = parse_elem(s, slen, name, W, i);
            if (!o) goto fail;
            rc = slow_result(o, &f, name, W, i);
            if (rc == 0) rc = add_result(&b, &f, &box_mode, opts, name, i);
            cJSON_Delete(o);
        }
        if (rc < 0) goto fail;
        i++;
    }
    if (r < 0) goto fail;
    if (!js_doc_at_end(&doc)) {
        hnd_error_set("%s: unexpected data after the results array", name);
        goto fail;
    }
    dt->empty = i == 0;
    free(b.cnts);
    b.cnts = NULL;
    free(b.kps);
    b.kps = NULL;
    if (dt->n > 1) qsort(dt->rec, dt->n, sizeof *dt->rec, cmp_dt);
    dt->cat_start = calloc((size_t)gt->ncat + 1, sizeof *dt->cat_start);
    if (!dt->cat_start) {
        hnd_error_set("out of memory");
        goto fail;
    }
    for (size_t j = 0; j < dt->n; j++) {
        dt->cat_start[dt->rec[j].cat + 1]++;
        int same = j > 0 && dt->rec[j - 1].cat == dt->rec[j].cat && dt->rec[j - 1].img == dt->rec[j].img;
        dt->rec[j].rank = same ? dt->rec[j - 1].rank + 1 : 0;
    }
    for (int k = 0; k < gt->ncat; k++) dt->cat_start[k + 1] += dt->cat_start[k];
    return dt;
fail:
    free(b.cnts);
    free(b.kps);
    ce_dt_destroy(dt);
    return NULL;
}

ce_dt *ce_dt_load(const ce_gt *gt, const char *path, ce_iou_type type, const ce_options *opts) {
    js_file f;
    if (js_file_open(&f, path) < 0) return NULL;
    ce_dt *dt = ce_dt_parse(gt, f.buf, f.len, path, type, opts);
    js_file_close(&f);
    return dt;
}
