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
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    if (dt->file_keep) {
        js_file_close(dt->file_keep);
        free(dt->file_keep);
    }
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

/* The builder of one contiguous range of results: its own records and
 * pools, merged in file order after the ranges are parsed (in parallel). */
typedef struct {
    const ce_gt *gt;
    ce_iou_type type;
    const char *file; /* the mapped results file whose strings stay in place, or NULL */
    ce_dt_rec *rec; /* in file order */
    size_t n, rcap;
    char *spool;    /* compressed RLE strings of these records */
    size_t spool_n, scap;
    double *kpool;  /* their keypoints */
    size_t kpool_n, kpcap;
    size_t dropped;
    uint32_t *cnts; /* scratch for decoding */
    size_t ccap;
    double *kps;    /* scratch: one result's keypoints */
    size_t kcap, kn;
} dt_build;

static void build_free(dt_build *b) {
    free(b->rec);
    free(b->spool);
    free(b->kpool);
    free(b->cnts);
    free(b->kps);
}

static int spool_add(dt_build *b, const char *s, size_t n, ce_dt_rec *rec) {
    if (n > UINT32_MAX) return hnd_error_set("RLE string too long");
    if (grow((void **)&b->spool, &b->scap, b->spool_n + n + 1, 1) < 0) return -1;
    memcpy(b->spool + b->spool_n, s, n);
    rec->soff = b->spool_n;
    rec->slen = (uint32_t)n;
    b->spool_n += n;
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
    int cs_in_text;     /* cs lies in the parsed text (the fast reader's) */
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
        if (b->file && f->cs_in_text) { /* used in place: no copy */
            if (f->cl > UINT32_MAX) return hnd_error_set("RLE string too long");
            rec->soff = CE_SOFF_FILE | (uint64_t)(f->cs - b->file);
            rec->slen = (uint32_t)f->cl;
            return 0;
        }
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
            f->cs_in_text = 1;
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
    const ce_gt *gt = b->gt;
    ce_iou_type type = b->type;
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
        b->dropped++;
        if (!(rec.soff & CE_SOFF_FILE)) b->spool_n -= rec.slen; /* its string was the last added */
        return 0;
    }
    if (type == CE_KEYPOINTS) {
        size_t K = (size_t)gt->cat_k[rec.cat];
        if (b->kn != 3 * K)
            return hnd_error_set("%s: %s[%zu].keypoints: %zu numbers but category %lld has %zu keypoints in the "
                                 "ground truth",
                                 name, W, i, b->kn, (long long)f->cat, K);
        if (grow((void **)&b->kpool, &b->kpcap, b->kpool_n + b->kn, sizeof *b->kpool) < 0) return -1;
        memcpy(b->kpool + b->kpool_n, b->kps, b->kn * sizeof *b->kps);
        rec.koff = b->kpool_n;
        b->kpool_n += b->kn;
    }
    if (i > UINT32_MAX) return hnd_error_set("%s: too many results", name);
    rec.rank = (uint32_t)i;
    if (grow((void **)&b->rec, &b->rcap, b->n + 1, sizeof *b->rec) < 0) return -1;
    b->rec[b->n++] = rec;
    return 0;
}

/* ---- the results array, parsed in ranges on threads --------------------
 * The array is split into its elements' extents first (a structural scan),
 * then contiguous ranges of elements are parsed in parallel, each into its
 * own builder, and merged in file order: the records, pools and the first
 * error in file order are exactly those of a sequential parse. */

typedef struct {
    const char *s;
    size_t len;
} elem_ext;

typedef struct {
    dt_build b;
    const elem_ext *ext;
    size_t lo, hi;          /* results [lo, hi) */
    int index;              /* of the range */
    int box_mode;           /* decided by results[0] before the ranges start */
    const ce_options *opts;
    const char *name;
    atomic_int *first_bad;  /* lowest index of a failed range (ranges after it stop) */
    int rc;
    char err[2048];
} dt_range;

/* One result: the fast reader, else cJSON (with its messages). */
static int parse_one(dt_build *b, const elem_ext *x, size_t i, int *box_mode, const ce_options *opts,
                     const char *name) {
    res_fields f;
    if (fast_result(x->s, x->len, &f)) return add_result(b, &f, box_mode, opts, name, i);
    cJSON *o = parse_elem(x->s, x->len, name, "results", i);
    if (!o) return -1;
    int rc = slow_result(o, &f, name, "results", i);
    if (rc == 0) rc = add_result(b, &f, box_mode, opts, name, i);
    cJSON_Delete(o);
    return rc;
}

static void range_fail(dt_range *R) {
    snprintf(R->err, sizeof R->err, "%s", hnd_error());
    R->rc = -1;
    int cur = atomic_load(R->first_bad);
    while (R->index < cur && !atomic_compare_exchange_weak(R->first_bad, &cur, R->index)) {
    }
}

static void *range_run(void *arg) {
    dt_range *R = arg;
    if (grow((void **)&R->b.rec, &R->b.rcap, R->hi - R->lo + 1, sizeof *R->b.rec) < 0) {
        range_fail(R);
        return NULL;
    }
    for (size_t i = R->lo; i < R->hi; i++) {
        /* an earlier range failed: its error is the one reported */
        if ((i & 255) == 0 && atomic_load(R->first_bad) < R->index) return NULL;
        if (parse_one(&R->b, &R->ext[i], i, &R->box_mode, R->opts, R->name) < 0) {
            range_fail(R);
            return NULL;
        }
    }
    return NULL;
}

int ce_range_threads(size_t n, long min_range) {
    const char *e = getenv("HND_EVAL_THREADS"), *mr = getenv("HND_EVAL_RANGE");
    long t = e && *e ? strtol(e, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    long min = mr && *mr ? strtol(mr, NULL, 10) : min_range;
    if (min < 1) min = 1;
    if (t > 64) t = 64;
    if ((size_t)t > n / (size_t)min) t = (long)(n / (size_t)min);
    return t < 1 ? 1 : (int)t;
}

/* Run of one (cat, img) by score descending, file order on ties. */
static void sort_run(ce_dt_rec *r, size_t m) {
    if (m > 32) {
        qsort(r, m, sizeof *r, cmp_dt);
        return;
    }
    for (size_t i = 1; i < m; i++) {
        ce_dt_rec x = r[i];
        size_t j = i;
        while (j > 0 && cmp_dt(&r[j - 1], &x) > 0) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
    }
}

/* Sort by cmp_dt's total order (cat, img, score descending, file order):
 * two stable counting passes over indices (image, then category), one
 * gather of the records, then each (cat, img) run by score. rec holds the
 * records in file order. */
static int sort_records(ce_dt *dt, int nimg, int ncat) {
    size_t n = dt->n, nb = (size_t)(nimg > ncat ? nimg : ncat) + 1;
    uint32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    size_t *cnt = malloc(nb * sizeof *cnt);
    ce_dt_rec *out = malloc(n * sizeof *out);
    if (!a || !b || !cnt || !out) {
        free(a);
        free(b);
        free(cnt);
        free(out);
        return hnd_error_set("out of memory (sorting %zu results)", n);
    }
    const ce_dt_rec *rec = dt->rec;
    memset(cnt, 0, nb * sizeof *cnt);
    for (size_t i = 0; i < n; i++) cnt[rec[i].img + 1]++;
    for (size_t k = 1; k < nb; k++) cnt[k] += cnt[k - 1];
    for (size_t i = 0; i < n; i++) a[cnt[rec[i].img]++] = (uint32_t)i;
    memset(cnt, 0, nb * sizeof *cnt);
    for (size_t i = 0; i < n; i++) cnt[rec[i].cat + 1]++;
    for (size_t k = 1; k < nb; k++) cnt[k] += cnt[k - 1];
    for (size_t j = 0; j < n; j++) b[cnt[rec[a[j]].cat]++] = a[j];
    for (size_t j = 0; j < n; j++) out[j] = rec[b[j]];
    for (size_t j = 0, e; j < n; j = e) {
        for (e = j + 1; e < n && out[e].cat == out[j].cat && out[e].img == out[j].img; e++) {
        }
        if (e - j > 1) sort_run(out + j, e - j);
    }
    free(a);
    free(b);
    free(cnt);
    free(dt->rec);
    dt->rec = out;
    return 0;
}

/* The ranges' records and pools, in file order, into dt. */
static int merge_ranges(ce_dt *dt, dt_range *R, int nr) {
    size_t n = 0, sn = 0, kn = 0;
    for (int r = 0; r < nr; r++) {
        n += R[r].b.n;
        sn += R[r].b.spool_n;
        kn += R[r].b.kpool_n;
        dt->dropped += R[r].b.dropped;
    }
    if (nr == 1) { /* take the buffers as they are */
        dt->rec = R[0].b.rec;
        dt->spool = R[0].b.spool;
        dt->kpool = R[0].b.kpool;
        R[0].b.rec = NULL;
        R[0].b.spool = NULL;
        R[0].b.kpool = NULL;
    } else {
        dt->rec = malloc((n + 1) * sizeof *dt->rec);
        dt->spool = malloc(sn + 1);
        dt->kpool = malloc((kn + 1) * sizeof *dt->kpool);
        if (!dt->rec || !dt->spool || !dt->kpool) return hnd_error_set("out of memory (%zu results)", n);
        size_t at = 0, so = 0, ko = 0;
        for (int r = 0; r < nr; r++) {
            const dt_build *b = &R[r].b;
            for (size_t j = 0; j < b->n; j++) {
                dt->rec[at + j] = b->rec[j];
                if (!(dt->rec[at + j].soff & CE_SOFF_FILE)) dt->rec[at + j].soff += so;
                dt->rec[at + j].koff += ko;
            }
            if (b->spool_n) memcpy(dt->spool + so, b->spool, b->spool_n);
            if (b->kpool_n) memcpy(dt->kpool + ko, b->kpool, b->kpool_n * sizeof *b->kpool);
            at += b->n;
            so += b->spool_n;
            ko += b->kpool_n;
        }
    }
    dt->n = n;
    dt->spool_n = sn;
    dt->kpool_n = kn;
    return 0;
}

/* in_place: json stays valid as long as the result (ce_dt_load keeps the
 * file mapped), so RLE strings are used where they lie. */
static ce_dt *parse_results(const ce_gt *gt, const char *json, size_t len, const char *name, ce_iou_type type,
                            const ce_options *opts, int in_place) {
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
    ce_dt *dt = calloc(1, sizeof *dt);
    elem_ext *ext = NULL;
    dt_range *R = NULL;
    int nr = 0;
    size_t n = 0, cap = 0;
    if (!dt) {
        hnd_error_set("out of memory");
        return NULL;
    }
    dt->gt = gt;
    dt->type = type;
    /* 1. the elements' extents (structure only) */
    js_doc doc;
    js_arr it;
    const char *s, *e;
    int r;
    js_doc_init(&doc, name, json, len);
    if (js_arr_begin(&it, &doc, W) < 0) goto fail;
    while ((r = js_arr_next(&it, &s, &e)) == 1) {
        if (grow((void **)&ext, &cap, n + 1, sizeof *ext) < 0) goto fail;
        ext[n].s = s;
        ext[n].len = (size_t)(e - s);
        n++;
    }
    if (r < 0) goto fail;
    if (!js_doc_at_end(&doc)) {
        hnd_error_set("%s: unexpected data after the results array", name);
        goto fail;
    }
    dt->empty = n == 0;
    /* 2. the ranges, split by bytes; results[0] first (it decides loadRes's mode) */
    int want = ce_range_threads(n, 4096); /* results: ranges of >= 4096 */
    R = calloc((size_t)want, sizeof *R);
    if (!R) {
        hnd_error_set("out of memory");
        goto fail;
    }
    atomic_int first_bad;
    atomic_init(&first_bad, INT32_MAX);
    size_t total = n ? (size_t)(ext[n - 1].s + ext[n - 1].len - ext[0].s) : 0, lo = 0;
    for (nr = 0; nr < want; nr++) {
        dt_range *x = &R[nr];
        x->b.gt = gt;
        x->b.type = type;
        x->b.file = in_place ? json : NULL;
        x->ext = ext;
        x->index = nr;
        x->box_mode = -1;
        x->opts = opts;
        x->name = name;
        x->first_bad = &first_bad;
        x->lo = lo;
        size_t hi = lo;
        if (nr == want - 1) {
            hi = n;
        } else {
            const char *cut = ext[0].s + total / (size_t)want * (size_t)(nr + 1);
            while (hi < n && ext[hi].s < cut) hi++;
        }
        x->hi = lo = hi;
    }
    if (n > 0) {
        if (parse_one(&R[0].b, &ext[0], 0, &R[0].box_mode, opts, name) < 0) goto fail;
        R[0].lo = 1;
        for (int k = 1; k < nr; k++) R[k].box_mode = R[0].box_mode;
    }
    pthread_t th[64];
    int started = 0;
    for (int k = 1; k < nr; k++) {
        if (pthread_create(&th[k], NULL, range_run, &R[k]) != 0) break;
        started = k;
    }
    range_run(&R[0]);
    for (int k = 1; k <= started; k++) pthread_join(th[k], NULL);
    for (int k = started + 1; k < nr; k++) range_run(&R[k]); /* threads refused: here */
    for (int k = 0; k < nr; k++)
        if (R[k].rc < 0) {
            hnd_error_set("%s", R[k].err);
            goto fail;
        }
    /* 3. merged in file order, sorted */
    if (merge_ranges(dt, R, nr) < 0) goto fail;
    for (int k = 0; k < nr; k++) build_free(&R[k].b);
    free(R);
    R = NULL;
    free(ext);
    ext = NULL;
    if (dt->n > 1 && sort_records(dt, gt->nimg, gt->ncat) < 0) goto fail;
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
    if (R)
        for (int k = 0; k < nr; k++) build_free(&R[k].b);
    free(R);
    free(ext);
    ce_dt_destroy(dt);
    return NULL;
}

ce_dt *ce_dt_parse(const ce_gt *gt, const char *json, size_t len, const char *name, ce_iou_type type,
                   const ce_options *opts) {
    return parse_results(gt, json, len, name, type, opts, 0);
}

ce_dt *ce_dt_load(const ce_gt *gt, const char *path, ce_iou_type type, const ce_options *opts) {
    js_file *f = malloc(sizeof *f);
    if (!f) {
        hnd_error_set("out of memory");
        return NULL;
    }
    if (js_file_open(f, path) < 0) {
        free(f);
        return NULL;
    }
    ce_dt *dt = parse_results(gt, f->buf, f->len, path, type, opts, type == CE_SEGM);
    if (dt && type == CE_SEGM) { /* its strings point into the file */
        dt->file = f->buf;
        dt->file_keep = f;
    } else {
        js_file_close(f);
        free(f);
    }
    return dt;
}
