/* coco_ann_read.c: one element of a COCO file's "annotations" array into a
 * coco_ann (see coco_ann.h).
 *
 * Annotations are most of a COCO file, and most of their bytes are polygon
 * coordinates, so they are read with the strict reader of json_scan.h
 * straight into the dataset's arrays: no node per number, no allocation per
 * annotation. Functions here return -2 for a syntax error (the caller
 * reports where it is) and -1 for a content error (message set). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "coco_ann_int.h"
#include "hnd_error.h"

#define PATH_FMT "%s: annotations[%lld]"
#define PATH_ARGS(L, i) (L)->doc.name, (long long)(i)
#define SYN(x)                                                                                                        \
    do {                                                                                                              \
        if ((x) < 0) return -2;                                                                                       \
    } while (0)

/* The scalar fields as read. have: 0 absent, 1 a number, 2 another value.
 * The last occurrence of a key wins, as in Python's json. */
enum { F_ID, F_IMG, F_CAT, F_CROWD, F_AREA, F_NKP, F_N };
static const char *const k_names[F_N] = {"id", "image_id", "category_id", "iscrowd", "area", "num_keypoints"};

typedef struct {
    int have[F_N];
    double v[F_N];
    int have_bbox, nb; /* nb: numbers in "bbox", -1 if it held anything else */
} ann_fields;

/* "polygons": [[x0, y0, x1, y1, ...], ...], appended to the coordinates. */
static int read_polygons(coco_loader *L, js_reader *r, coco_ann *a, int64_t i) {
    coco_dataset *ds = L->ds;
    a->seg_kind = COCO_SEG_POLY;
    a->seg_off = ds->n_polys;
    a->seg_n = 0;
    int first = 1, more;
    while ((more = js_array_next(r, &first)) == 1) {
        int k = (int)a->seg_n;
        if (*r->p != '[') {
            SYN(js_skip(r));
            return hnd_error_set(PATH_FMT ".segmentation[%d]: expected a list of numbers", PATH_ARGS(L, i), k);
        }
        if (coco_grow((void **)&ds->poly_off, &L->cap_polys, ds->n_polys + 1, sizeof *ds->poly_off) < 0 ||
            coco_grow((void **)&ds->poly_len, &L->cap_polys2, ds->n_polys + 1, sizeof *ds->poly_len) < 0)
            return -1;
        size_t n0 = ds->n_coords;
        int f2 = 1, m, j = 0, num;
        double v;
        while ((m = js_array_next(r, &f2)) == 1) {
            SYN(js_num_or_skip(r, &v, &num));
            if (!num)
                return hnd_error_set(PATH_FMT ".segmentation[%d][%d]: expected a number", PATH_ARGS(L, i), k, j);
            if (coco_grow((void **)&ds->coords, &L->cap_coords, ds->n_coords + 1, sizeof *ds->coords) < 0) return -1;
            ds->coords[ds->n_coords++] = v;
            j++;
        }
        SYN(m);
        ds->poly_off[ds->n_polys] = n0;
        ds->poly_len[ds->n_polys] = (uint32_t)(ds->n_coords - n0);
        ds->n_polys++;
        a->seg_n++;
    }
    SYN(more);
    return 0;
}

/* An RLE's "size": [h, w] (*bad = 1 if it is anything else). */
static int read_rle_size(js_reader *r, double size[2], int *bad) {
    if (*r->p != '[') {
        *bad = 1;
        SYN(js_skip(r));
        return 0;
    }
    int f = 1, m, j = 0, num;
    double v;
    while ((m = js_array_next(r, &f)) == 1) {
        SYN(js_num_or_skip(r, &v, &num));
        if (!num || j >= 2 || v < 0 || v > INT32_MAX || v != floor(v)) *bad = 1;
        else size[j] = v;
        j++;
    }
    SYN(m);
    if (j != 2) *bad = 1;
    return 0;
}

/* An uncompressed RLE's "counts": [n0, n1, ...] into the counts array from
 * c0 on; *bad_at gets the index of the first one that is not a run length. */
static int read_rle_counts(coco_loader *L, js_reader *r, size_t c0, uint64_t *total, int *bad_at) {
    coco_dataset *ds = L->ds;
    ds->n_counts = c0;
    *total = 0;
    int f = 1, m, j = 0, num;
    double v;
    while ((m = js_array_next(r, &f)) == 1) {
        SYN(js_num_or_skip(r, &v, &num));
        if (!num || v < 0 || v != floor(v) || v > UINT32_MAX) {
            if (*bad_at < 0) *bad_at = j;
        } else {
            if (coco_grow((void **)&ds->counts, &L->cap_counts, ds->n_counts + 1, sizeof *ds->counts) < 0) return -1;
            ds->counts[ds->n_counts++] = (uint32_t)v;
            *total += (uint64_t)v;
        }
        j++;
    }
    SYN(m);
    return 0;
}

/* {"size": [h, w], "counts": [...] or "string"}, r->p at '{'. */
static int read_rle(coco_loader *L, js_reader *r, coco_ann *a, int64_t i) {
    coco_dataset *ds = L->ds;
    int have_size = 0, bad_size = 0, counts_kind = 0 /* 1 list, 2 string */, bad_counts = 0, bad_at = -1;
    double size[2] = {0, 0};
    size_t c0 = ds->n_counts;
    uint64_t total = 0;
    uint32_t soff = 0, slen = 0;
    int first = 1, m;
    const char *k;
    size_t kn;
    while ((m = js_object_next(r, &first, &k, &kn)) == 1) {
        int rc = 0;
        if (JS_KEY_IS(k, kn, "size")) {
            have_size = 1;
            rc = read_rle_size(r, size, &bad_size);
        } else if (JS_KEY_IS(k, kn, "counts") && *r->p == '"') {
            const char *cs;
            size_t cn;
            int esc;
            SYN(js_string(r, &cs, &cn, &esc));
            if (coco_pool_add_json(L, cs, cn, esc, &soff, &slen) < 0) return -1;
            counts_kind = 2;
        } else if (JS_KEY_IS(k, kn, "counts") && *r->p == '[') {
            counts_kind = 1;
            rc = read_rle_counts(L, r, c0, &total, &bad_at);
        } else {
            bad_counts |= JS_KEY_IS(k, kn, "counts");
            SYN(js_skip(r));
        }
        if (rc < 0) return rc;
    }
    SYN(m);
    if (!have_size || bad_size)
        return hnd_error_set(PATH_FMT ".segmentation.size: expected [height, width]", PATH_ARGS(L, i));
    a->seg_h = (uint32_t)size[0];
    a->seg_w = (uint32_t)size[1];
    if (counts_kind == 0 || bad_counts)
        return hnd_error_set(PATH_FMT ".segmentation.counts: expected a list of integers or a string", PATH_ARGS(L, i));
    if (bad_at >= 0)
        return hnd_error_set(PATH_FMT ".segmentation.counts[%d]: expected a non-negative integer", PATH_ARGS(L, i),
                             bad_at);
    if (counts_kind == 2) {
        ds->n_counts = c0;
        a->seg_kind = COCO_SEG_RLE_STR;
        a->seg_off = soff;
        a->seg_n = slen;
        return 0;
    }
    a->seg_kind = COCO_SEG_RLE;
    a->seg_off = c0;
    a->seg_n = (uint32_t)(ds->n_counts - c0);
    if (total != (uint64_t)a->seg_h * a->seg_w)
        return hnd_error_set(PATH_FMT ".segmentation.counts: sum %llu != height*width %llu", PATH_ARGS(L, i),
                             (unsigned long long)total, (unsigned long long)a->seg_h * a->seg_w);
    return 0;
}

/* The "segmentation" value, r->p at it: null (none), polygons or an RLE. */
static int read_segmentation(coco_loader *L, js_reader *r, coco_ann *a, int64_t i) {
    js_ws(r);
    if (r->p < r->end && *r->p == 'n') {
        SYN(js_skip(r));
        a->seg_kind = COCO_SEG_NONE;
        return 0;
    }
    if (r->p < r->end && *r->p == '[') return read_polygons(L, r, a, i);
    if (r->p < r->end && *r->p == '{') return read_rle(L, r, a, i);
    SYN(js_skip(r));
    return hnd_error_set(PATH_FMT ".segmentation: expected a list of polygons or an RLE object", PATH_ARGS(L, i));
}

/* "bbox": up to 4 numbers into a->bbox; f->nb counts them (-1: not a list
 * of numbers). */
static int read_bbox(js_reader *r, coco_ann *a, ann_fields *f) {
    f->have_bbox = 1;
    f->nb = 0;
    js_ws(r);
    if (r->p >= r->end || *r->p != '[') {
        f->nb = -1;
        SYN(js_skip(r));
        return 0;
    }
    int first = 1, m, num;
    double v;
    while ((m = js_array_next(r, &first)) == 1) {
        SYN(js_num_or_skip(r, &v, &num));
        if (!num) f->nb = -1;
        if (f->nb < 0) continue;
        if (f->nb < 4) a->bbox[f->nb] = v;
        f->nb++;
    }
    SYN(m);
    return 0;
}

/* "keypoints": [x1, y1, v1, ...] appended to ds->kps (a multiple of 3
 * numbers; an empty list is no keypoints). */
static int read_keypoints(coco_loader *L, js_reader *r, coco_ann *a, int64_t i) {
    coco_dataset *ds = L->ds;
    js_ws(r);
    if (r->p >= r->end || *r->p != '[') {
        SYN(js_skip(r));
        return hnd_error_set(PATH_FMT ".keypoints: expected a list of numbers", PATH_ARGS(L, i));
    }
    a->kp_off = ds->n_kps;
    int first = 1, m, num, j = 0;
    double v;
    while ((m = js_array_next(r, &first)) == 1) {
        SYN(js_num_or_skip(r, &v, &num));
        if (!num || !isfinite(v))
            return hnd_error_set(PATH_FMT ".keypoints[%d]: expected a number", PATH_ARGS(L, i), j);
        if (coco_grow((void **)&ds->kps, &L->cap_kps, ds->n_kps + 1, sizeof *ds->kps) < 0) return -1;
        ds->kps[ds->n_kps++] = v;
        j++;
    }
    SYN(m);
    if (j % 3 != 0)
        return hnd_error_set(PATH_FMT ".keypoints: %d numbers, expected x, y, v triples", PATH_ARGS(L, i), j);
    a->kp_n = (uint32_t)j;
    return 0;
}

/* Any other member: one of the scalar fields, or skipped. */
static int read_scalar(js_reader *r, ann_fields *f, const char *k, size_t kn) {
    int w = -1;
    if (JS_KEY_IS(k, kn, "id")) w = F_ID;
    else if (JS_KEY_IS(k, kn, "image_id")) w = F_IMG;
    else if (JS_KEY_IS(k, kn, "category_id")) w = F_CAT;
    else if (JS_KEY_IS(k, kn, "iscrowd")) w = F_CROWD;
    else if (JS_KEY_IS(k, kn, "area")) w = F_AREA;
    else if (JS_KEY_IS(k, kn, "num_keypoints")) w = F_NKP;
    js_ws(r);
    if (w == F_CROWD && r->p < r->end && (*r->p == 't' || *r->p == 'f')) {
        /* some converters write booleans; pycocotools takes them */
        f->have[w] = 1;
        f->v[w] = *r->p == 't';
        SYN(js_skip(r));
        return 0;
    }
    double v = 0;
    int num;
    SYN(js_num_or_skip(r, &v, &num));
    if (w >= 0) {
        f->have[w] = num ? 1 : 2;
        f->v[w] = v;
    }
    return 0;
}

/* The members of the annotation object. */
static int read_members(coco_loader *L, js_reader *r, coco_ann *a, ann_fields *f, int64_t i) {
    coco_dataset *ds = L->ds;
    size_t polys0 = ds->n_polys, coords0 = ds->n_coords, counts0 = ds->n_counts, kps0 = ds->n_kps;
    js_ws(r);
    if (r->p >= r->end || *r->p != '{') {
        SYN(js_skip(r));
        return hnd_error_set(PATH_FMT ": expected an object", PATH_ARGS(L, i));
    }
    int first = 1, m;
    const char *k;
    size_t kn;
    while ((m = js_object_next(r, &first, &k, &kn)) == 1) {
        int rc;
        if (JS_KEY_IS(k, kn, "segmentation")) {
            /* a repeated key: keep only the last value */
            ds->n_polys = polys0, ds->n_coords = coords0, ds->n_counts = counts0;
            rc = read_segmentation(L, r, a, i);
        } else if (JS_KEY_IS(k, kn, "bbox")) {
            rc = read_bbox(r, a, f);
        } else if (JS_KEY_IS(k, kn, "keypoints")) {
            ds->n_kps = kps0;
            rc = read_keypoints(L, r, a, i);
        } else {
            rc = read_scalar(r, f, k, kn);
        }
        if (rc < 0) return rc;
    }
    SYN(m);
    js_ws(r);
    if (r->p != r->end) return js_fail(r), -2;
    return 0;
}

/* An integral field within +-2^53 (ids are read as doubles, as JSON has
 * only one number type). */
static int get_int(coco_loader *L, int64_t i, const ann_fields *f, int w, int64_t *out) {
    double d = f->v[w];
    if (!f->have[w]) return hnd_error_set(PATH_FMT ".%s: missing", PATH_ARGS(L, i), k_names[w]);
    if (f->have[w] != 1 || d != floor(d) || fabs(d) > 9007199254740992.0)
        return hnd_error_set(PATH_FMT ".%s: expected an integer", PATH_ARGS(L, i), k_names[w]);
    *out = (int64_t)d;
    return 0;
}

/* Required fields present and of the right type. */
static int check_fields(coco_loader *L, coco_ann *a, ann_fields *f, int64_t i) {
    if (get_int(L, i, f, F_ID, &a->id) < 0 || get_int(L, i, f, F_IMG, &a->image_id) < 0 ||
        get_int(L, i, f, F_CAT, &a->category_id) < 0)
        return -1;
    int64_t crowd = 0;
    if (f->have[F_CROWD] && get_int(L, i, f, F_CROWD, &crowd) < 0) return -1;
    if (crowd != 0 && crowd != 1) return hnd_error_set(PATH_FMT ".iscrowd: expected 0 or 1", PATH_ARGS(L, i));
    a->iscrowd = (int32_t)crowd;
    if (!f->have_bbox) return hnd_error_set(PATH_FMT ".bbox: missing", PATH_ARGS(L, i));
    if (f->nb != 4) return hnd_error_set(PATH_FMT ".bbox: expected 4 numbers", PATH_ARGS(L, i));
    if (!f->have[F_AREA]) return hnd_error_set(PATH_FMT ".area: missing", PATH_ARGS(L, i));
    if (f->have[F_AREA] != 1) return hnd_error_set(PATH_FMT ".area: expected a number", PATH_ARGS(L, i));
    a->area = f->v[F_AREA];
    int64_t nkp = -1;
    if (f->have[F_NKP] && (get_int(L, i, f, F_NKP, &nkp) < 0 || nkp < 0 || nkp > INT32_MAX))
        return hnd_error_set(PATH_FMT ".num_keypoints: expected a non-negative integer", PATH_ARGS(L, i));
    a->num_keypoints = (int32_t)nkp;
    return 0;
}

int coco_read_annotation(coco_loader *L, const char *s, const char *e, int64_t i) {
    coco_dataset *ds = L->ds;
    if (ds->n_anns >= INT32_MAX - 1) return hnd_error_set("%s: too many annotations", L->doc.name);
    if (coco_grow((void **)&ds->anns, &L->cap_anns, (size_t)ds->n_anns + 1, sizeof *ds->anns) < 0) return -1;
    coco_ann *a = &ds->anns[ds->n_anns];
    memset(a, 0, sizeof *a);
    ann_fields f;
    memset(&f, 0, sizeof f);
    js_reader r;
    js_reader_init(&r, s, e);
    int rc = read_members(L, &r, a, &f, i);
    if (rc == -2) return js_doc_error(&L->doc, r.err_at ? r.err_at : r.p, "annotations[%lld]: invalid JSON", (long long)i);
    if (rc < 0 || check_fields(L, a, &f, i) < 0) return -1;
    ds->n_anns++;
    return 0;
}
