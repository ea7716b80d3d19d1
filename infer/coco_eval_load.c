/* coco_eval_load.c: COCO ground truth and results JSON into the arrays of
 * coco_eval_int.h.
 *
 * Files are scanned once for the extent of each array element and every
 * element is parsed on its own with cJSON, so memory stays at the size of
 * the file plus the compact arrays (a whole cJSON tree of a results file is
 * several times the file). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coco_eval_int.h"
#include "hnd_error.h"
#include "mask_rle.h"

/* ---- small helpers ------------------------------------------------------ */

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

static int ce_read_file(const char *path, char **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return hnd_error_set("%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz > 0) cap = (size_t)sz + 1;
        rewind(f);
    }
    b = malloc(cap);
    if (!b) {
        fclose(f);
        return hnd_error_set("%s: out of memory reading %zu bytes", path, cap);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *t = realloc(b, cap * 2);
            if (!t) {
                free(b);
                fclose(f);
                return hnd_error_set("%s: out of memory", path);
            }
            b = t;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return hnd_error_set("%s: read error", path);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

/* ---- a structural JSON scanner ------------------------------------------ */

static const char *skip_ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p at '"'; returns the char after the closing quote, NULL if unterminated. */
static const char *skip_string(const char *p, const char *e) {
    for (p++; p < e; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"') return p + 1;
    }
    return NULL;
}

/* The end of the value at p (no leading whitespace), NULL if it is cut
 * short. Only brackets and strings are looked at: cJSON checks the rest. */
static const char *skip_value(const char *p, const char *e) {
    if (p >= e) return NULL;
    if (*p == '"') return skip_string(p, e);
    if (*p == '{' || *p == '[') {
        long depth = 0;
        while (p < e) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, e);
                if (!p) return NULL;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    const char *s = p;
    while (p < e && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
        p++;
    return p > s ? p : NULL;
}

typedef struct {
    const char *p, *e, *start;
    size_t index;
    int done;
} js_iter;

/* p at the value of an array. */
static int js_iter_begin(js_iter *it, const char *p, const char *e, const char *name, const char *what) {
    it->start = p;
    it->p = skip_ws(p, e);
    it->e = e;
    it->index = 0;
    it->done = 0;
    if (it->p >= e || *it->p != '[') return hnd_error_set("%s: %s: expected an array", name, what);
    it->p = skip_ws(it->p + 1, e);
    if (it->p < e && *it->p == ']') {
        it->done = 1;
        it->p++;
    }
    return 0;
}

/* 1: an element in [*s, *s + *len); 0: the end; -1: malformed. */
static int js_iter_next(js_iter *it, const char **s, size_t *len, const char *name, const char *what) {
    if (it->done) return 0;
    const char *p = it->p;
    const char *q = skip_value(p, it->e);
    if (!q)
        return hnd_error_set("%s: %s[%zu]: truncated or malformed JSON (byte %zu)", name, what, it->index,
                             (size_t)(p - it->start));
    *s = p;
    *len = (size_t)(q - p);
    q = skip_ws(q, it->e);
    if (q < it->e && *q == ',') {
        it->p = skip_ws(q + 1, it->e);
    } else if (q < it->e && *q == ']') {
        it->done = 1;
        it->p = q + 1;
    } else if (q >= it->e) {
        return hnd_error_set("%s: %s[%zu]: truncated JSON (the array is not closed)", name, what, it->index);
    } else {
        return hnd_error_set("%s: %s[%zu]: expected ',' or ']' after the element (byte %zu)", name, what,
                             it->index, (size_t)(q - it->start));
    }
    it->index++;
    return 1;
}

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

/* ---- ground truth ---------------------------------------------------- */

void ce_gt_free(ce_gt *gt) {
    if (!gt) return;
    free(gt->name);
    free(gt->img_id);
    free(gt->img_h);
    free(gt->img_w);
    free(gt->cat_id);
    if (gt->cat_name)
        for (int k = 0; k < gt->ncat; k++) free(gt->cat_name[k]);
    free(gt->cat_name);
    free(gt->ann);
    free(gt->cat_start);
    free(gt->pool);
    free(gt);
}

int ce_gt_num_images(const ce_gt *gt) { return gt->nimg; }
int ce_gt_num_categories(const ce_gt *gt) { return gt->ncat; }
size_t ce_gt_num_annotations(const ce_gt *gt) { return gt->nann; }

typedef struct {
    int64_t id;
    uint32_t h, w;
    size_t idx;
} img_tmp;

static int cmp_img(const void *a, const void *b) {
    const img_tmp *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id ? 1 : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

typedef struct {
    int64_t id;
    char *name;
    size_t idx;
} cat_tmp;

static int cmp_cat(const void *a, const void *b) {
    const cat_tmp *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id ? 1 : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

static int cmp_gt_ann(const void *a, const void *b) {
    const ce_gt_ann *x = a, *y = b;
    if (x->cat != y->cat) return x->cat < y->cat ? -1 : 1;
    if (x->img != y->img) return x->img < y->img ? -1 : 1;
    return x->file_idx < y->file_idx ? -1 : x->file_idx > y->file_idx;
}

static int gt_images(ce_gt *gt, const char *p, const char *e, const char *name) {
    js_iter it;
    if (js_iter_begin(&it, p, e, name, "images") < 0) return -1;
    img_tmp *tmp = NULL;
    size_t cap = 0, n = 0;
    const char *s;
    size_t len;
    int r;
    while ((r = js_iter_next(&it, &s, &len, name, "images")) == 1) {
        cJSON *o = parse_elem(s, len, name, "images", n);
        if (!o) goto fail;
        int64_t id, h = 0, w = 0;
        int bad = get_id(o, "id", &id, 1, name, "images", n) < 0 ||
                  get_id(o, "height", &h, gt->with_segm, name, "images", n) < 0 ||
                  get_id(o, "width", &w, gt->with_segm, name, "images", n) < 0;
        cJSON_Delete(o);
        if (bad) goto fail;
        if (h < 0 || w < 0 || h > 1000000 || w > 1000000 || h * w > (int64_t)UINT32_MAX) {
            hnd_error_set("%s: images[%zu]: size %lld x %lld out of range", name, n, (long long)h, (long long)w);
            goto fail;
        }
        if (grow((void **)&tmp, &cap, n + 1, sizeof *tmp) < 0) goto fail;
        tmp[n] = (img_tmp){id, (uint32_t)h, (uint32_t)w, n};
        n++;
    }
    if (r < 0) goto fail;
    if (n > 1) qsort(tmp, n, sizeof *tmp, cmp_img);
    for (size_t i = 1; i < n; i++)
        if (tmp[i].id == tmp[i - 1].id) {
            hnd_error_set("%s: images[%zu]: duplicate id %lld", name, tmp[i].idx, (long long)tmp[i].id);
            goto fail;
        }
    if (n > INT32_MAX) {
        hnd_error_set("%s: too many images", name);
        goto fail;
    }
    gt->nimg = (int)n;
    gt->img_id = malloc((n + 1) * sizeof *gt->img_id);
    gt->img_h = malloc((n + 1) * sizeof *gt->img_h);
    gt->img_w = malloc((n + 1) * sizeof *gt->img_w);
    if (!gt->img_id || !gt->img_h || !gt->img_w) {
        hnd_error_set("out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        gt->img_id[i] = tmp[i].id;
        gt->img_h[i] = tmp[i].h;
        gt->img_w[i] = tmp[i].w;
    }
    free(tmp);
    return 0;
fail:
    free(tmp);
    return -1;
}

static int gt_categories(ce_gt *gt, const char *p, const char *e, const char *name) {
    js_iter it;
    if (js_iter_begin(&it, p, e, name, "categories") < 0) return -1;
    cat_tmp *tmp = NULL;
    size_t cap = 0, n = 0;
    const char *s;
    size_t len;
    int r;
    while ((r = js_iter_next(&it, &s, &len, name, "categories")) == 1) {
        cJSON *o = parse_elem(s, len, name, "categories", n);
        if (!o) goto fail;
        int64_t id;
        if (get_id(o, "id", &id, 1, name, "categories", n) < 0) {
            cJSON_Delete(o);
            goto fail;
        }
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
        char *str = strdup(cJSON_IsString(nm) ? nm->valuestring : "");
        cJSON_Delete(o);
        if (!str || grow((void **)&tmp, &cap, n + 1, sizeof *tmp) < 0) {
            free(str);
            hnd_error_set("out of memory");
            goto fail;
        }
        tmp[n] = (cat_tmp){id, str, n};
        n++;
    }
    if (r < 0) goto fail;
    if (n > 1) qsort(tmp, n, sizeof *tmp, cmp_cat);
    for (size_t i = 1; i < n; i++)
        if (tmp[i].id == tmp[i - 1].id) {
            hnd_error_set("%s: categories[%zu]: duplicate id %lld", name, tmp[i].idx, (long long)tmp[i].id);
            goto fail;
        }
    gt->cat_id = malloc((n + 1) * sizeof *gt->cat_id);
    gt->cat_name = calloc(n + 1, sizeof *gt->cat_name);
    if (!gt->cat_id || !gt->cat_name) {
        hnd_error_set("out of memory");
        goto fail;
    }
    gt->ncat = (int)n;
    for (size_t i = 0; i < n; i++) {
        gt->cat_id[i] = tmp[i].id;
        gt->cat_name[i] = tmp[i].name;
        tmp[i].name = NULL;
    }
    free(tmp);
    return 0;
fail:
    for (size_t i = 0; i < n; i++) free(tmp[i].name);
    free(tmp);
    return -1;
}

static int gt_annotations(ce_gt *gt, const char *p, const char *e, const char *name) {
    js_iter it;
    if (js_iter_begin(&it, p, e, name, "annotations") < 0) return -1;
    size_t cap = 0, n = 0, pcap = 0;
    const char *s;
    size_t len;
    int r;
    while ((r = js_iter_next(&it, &s, &len, name, "annotations")) == 1) {
        cJSON *o = parse_elem(s, len, name, "annotations", n);
        if (!o) return -1;
        ce_gt_ann a;
        memset(&a, 0, sizeof a);
        int64_t img, cat, crowd = 0;
        if (get_id(o, "id", &a.id, 1, name, "annotations", n) < 0 ||
            get_id(o, "image_id", &img, 1, name, "annotations", n) < 0 ||
            get_id(o, "category_id", &cat, 1, name, "annotations", n) < 0 ||
            get_num(o, "area", &a.area, name, "annotations", n) < 0 ||
            get_bbox(cJSON_GetObjectItemCaseSensitive(o, "bbox"), a.bbox, name, "annotations", n) < 0)
            goto fail;
        const cJSON *cr = cJSON_GetObjectItemCaseSensitive(o, "iscrowd");
        if (cJSON_IsBool(cr))
            crowd = cJSON_IsTrue(cr);
        else if (get_id(o, "iscrowd", &crowd, 0, name, "annotations", n) < 0)
            goto fail;
        a.crowd = crowd != 0;
        a.img = find_id(gt->img_id, gt->nimg, img);
        if (a.img < 0) {
            hnd_error_set("%s: annotations[%zu]: image_id %lld not in images", name, n, (long long)img);
            goto fail;
        }
        a.cat = find_id(gt->cat_id, gt->ncat, cat);
        if (a.cat < 0) {
            hnd_error_set("%s: annotations[%zu]: category_id %lld not in categories", name, n, (long long)cat);
            goto fail;
        }
        a.file_idx = n;
        if (gt->with_segm) {
            const cJSON *sg = cJSON_GetObjectItemCaseSensitive(o, "segmentation");
            if (!sg) {
                hnd_error_set("%s: annotations[%zu]: missing segmentation", name, n);
                goto fail;
            }
            rle_t rle;
            rle_init(&rle);
            if (rle_from_json(&rle, sg, gt->img_h[a.img], gt->img_w[a.img]) < 0) {
                hnd_error_prefix("%s: annotations[%zu]", name, n);
                goto fail;
            }
            if (grow((void **)&gt->pool, &pcap, gt->pool_n + rle.m, sizeof *gt->pool) < 0) {
                rle_free(&rle);
                goto fail;
            }
            if (rle.m) memcpy(gt->pool + gt->pool_n, rle.cnts, rle.m * sizeof *rle.cnts);
            a.off = gt->pool_n;
            a.m = (uint32_t)rle.m;
            rle_to_bbox(&rle, a.rbb);
            gt->pool_n += rle.m;
            rle_free(&rle);
        }
        cJSON_Delete(o);
        if (grow((void **)&gt->ann, &cap, n + 1, sizeof *gt->ann) < 0) return -1;
        gt->ann[n++] = a;
        continue;
    fail:
        cJSON_Delete(o);
        return -1;
    }
    if (r < 0) return -1;
    gt->nann = n;
    if (n > 1) qsort(gt->ann, n, sizeof *gt->ann, cmp_gt_ann);
    gt->cat_start = calloc((size_t)gt->ncat + 1, sizeof *gt->cat_start);
    if (!gt->cat_start) return hnd_error_set("out of memory");
    for (size_t i = 0; i < n; i++) gt->cat_start[gt->ann[i].cat + 1]++;
    for (int k = 0; k < gt->ncat; k++) gt->cat_start[k + 1] += gt->cat_start[k];
    return 0;
}

ce_gt *ce_gt_parse(const char *json, size_t len, const char *name, int with_segm) {
    ce_gt *gt = calloc(1, sizeof *gt);
    if (!gt || !(gt->name = strdup(name))) {
        free(gt);
        hnd_error_set("out of memory");
        return NULL;
    }
    gt->with_segm = with_segm;
    const char *p = json, *e = json + len, *sec[3] = {NULL, NULL, NULL};
    static const char *const keys[3] = {"images", "categories", "annotations"};
    p = skip_ws(p, e);
    if (p >= e || *p != '{') {
        hnd_error_set("%s: expected a JSON object (COCO annotations)", name);
        goto fail;
    }
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') p = e; /* empty object */
    while (p < e) {
        if (*p != '"') {
            hnd_error_set("%s: malformed JSON at byte %zu (expected a key)", name, (size_t)(p - json));
            goto fail;
        }
        const char *k0 = p + 1, *k1 = skip_string(p, e);
        if (!k1) {
            hnd_error_set("%s: truncated JSON (in a key at byte %zu)", name, (size_t)(p - json));
            goto fail;
        }
        size_t kl = (size_t)(k1 - 1 - k0);
        p = skip_ws(k1, e);
        if (p >= e || *p != ':') {
            hnd_error_set("%s: malformed JSON at byte %zu (expected ':')", name, (size_t)(p - json));
            goto fail;
        }
        p = skip_ws(p + 1, e);
        const char *v = p;
        p = skip_value(p, e);
        if (!p) {
            hnd_error_set("%s: truncated or malformed JSON (value of '%.*s')", name, (int)(kl < 40 ? kl : 40), k0);
            goto fail;
        }
        for (int i = 0; i < 3; i++)
            if (kl == strlen(keys[i]) && memcmp(k0, keys[i], kl) == 0) sec[i] = v;
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == '}') break;
        hnd_error_set("%s: malformed JSON at byte %zu (expected ',' or '}')", name, (size_t)(p - json));
        goto fail;
    }
    if (p >= e) {
        hnd_error_set("%s: truncated JSON (the top-level object is not closed)", name);
        goto fail;
    }
    for (int i = 0; i < 3; i++)
        if (!sec[i]) {
            hnd_error_set("%s: missing '%s'", name, keys[i]);
            goto fail;
        }
    if (gt_images(gt, sec[0], e, name) < 0 || gt_categories(gt, sec[1], e, name) < 0 ||
        gt_annotations(gt, sec[2], e, name) < 0)
        goto fail;
    return gt;
fail:
    ce_gt_free(gt);
    return NULL;
}

ce_gt *ce_gt_load(const char *path, int with_segm) {
    char *buf;
    size_t len;
    if (ce_read_file(path, &buf, &len) < 0) return NULL;
    ce_gt *gt = ce_gt_parse(buf, len, path, with_segm);
    free(buf);
    return gt;
}

/* ---- results ----------------------------------------------------------- */

void ce_dt_free(ce_dt *dt) {
    if (!dt) return;
    free(dt->rec);
    free(dt->cat_start);
    free(dt->spool);
    free(dt);
}

size_t ce_dt_num(const ce_dt *dt) { return dt->n; }
size_t ce_dt_dropped(const ce_dt *dt) { return dt->dropped; }
ce_iou_type ce_dt_iou_type(const ce_dt *dt) { return dt->type; }

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
    rle_free(&r);
    if (!str) return hnd_error_set("out of memory");
    int rc = spool_add(b, str, strlen(str), rec);
    free(str);
    return rc;
}

/* ---- the fast scanner for the common result forms -------------------------
 * {"image_id": N, "category_id": N, "score": X, "bbox": [4 numbers]} and/or
 * "segmentation": {"size": [h, w], "counts": "..."}, keys in any order,
 * no escapes, nothing else. Anything it does not take (other keys, other
 * forms, anything malformed or out of range) goes to the cJSON path, which
 * gives the messages: the two paths agree on every input the fast one takes. */

static int fs_number(const char **pp, const char *e, double *v) {
    const char *p = *pp, *s = p;
    if (p < e && *p == '-') p++;
    if (p >= e || *p < '0' || *p > '9') return 0;
    if (*p == '0')
        p++;
    else
        while (p < e && *p >= '0' && *p <= '9') p++;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9') return 0;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || *p < '0' || *p > '9') return 0;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    char buf[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *v = strtod(buf, NULL);
    if (!isfinite(*v)) return 0;
    *pp = p;
    return 1;
}

static int fs_id(const char **pp, const char *e, int64_t *v) {
    double d;
    if (!fs_number(pp, e, &d) || !(fabs(d) <= 9007199254740992.0) || d != floor(d)) return 0;
    *v = (int64_t)d;
    return 1;
}

/* "key" (no escapes): *k, *kl; p after the closing quote */
static int fs_key(const char **pp, const char *e, const char **k, size_t *kl) {
    const char *p = *pp;
    if (p >= e || *p != '"') return 0;
    const char *s = ++p;
    while (p < e && *p != '"') {
        if (*p == '\\' || (unsigned char)*p < 0x20) return 0;
        p++;
    }
    if (p >= e) return 0;
    *k = s;
    *kl = (size_t)(p - s);
    *pp = p + 1;
    return 1;
}

static int fs_numbers(const char **pp, const char *e, double *v, int n) {
    const char *p = skip_ws(*pp, e);
    if (p >= e || *p != '[') return 0;
    for (int i = 0; i < n; i++) {
        p = skip_ws(p + 1, e);
        if (!fs_number(&p, e, &v[i])) return 0;
        p = skip_ws(p, e);
        if (p >= e || *p != (i + 1 < n ? ',' : ']')) return 0;
    }
    *pp = p + 1;
    return 1;
}

#define FS_KEY(k, kl, lit) ((kl) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)

static int fs_segm(const char **pp, const char *e, res_fields *f) {
    const char *p = skip_ws(*pp, e), *k;
    size_t kl;
    int got_size = 0;
    double sz[2];
    if (p >= e || *p != '{') return 0;
    p = skip_ws(p + 1, e);
    for (;;) {
        if (!fs_key(&p, e, &k, &kl)) return 0;
        p = skip_ws(p, e);
        if (p >= e || *p != ':') return 0;
        p = skip_ws(p + 1, e);
        if (FS_KEY(k, kl, "size") && !got_size) {
            if (!fs_numbers(&p, e, sz, 2)) return 0;
            got_size = 1;
        } else if (FS_KEY(k, kl, "counts") && !f->cs) {
            const char *c;
            size_t cl;
            if (!fs_key(&p, e, &c, &cl)) return 0;
            f->cs = c;
            f->cl = cl;
        } else {
            return 0;
        }
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == '}') break;
        return 0;
    }
    if (!got_size || !f->cs || !(sz[0] >= 0 && sz[0] <= 1e6 && sz[0] == floor(sz[0]) && sz[1] >= 0 &&
                                 sz[1] <= 1e6 && sz[1] == floor(sz[1])))
        return 0;
    f->sh = sz[0];
    f->sw = sz[1];
    f->has_sg = 1;
    *pp = p + 1;
    return 1;
}

static int fast_result(const char *s, size_t len, res_fields *f) {
    const char *p = s, *e = s + len, *k;
    size_t kl;
    unsigned seen = 0;
    memset(f, 0, sizeof *f);
    if (p >= e || *p != '{') return 0;
    p = skip_ws(p + 1, e);
    for (;;) {
        if (!fs_key(&p, e, &k, &kl)) return 0;
        p = skip_ws(p, e);
        if (p >= e || *p != ':') return 0;
        p = skip_ws(p + 1, e);
        unsigned bit;
        int ok;
        if (FS_KEY(k, kl, "image_id")) {
            bit = 1;
            ok = fs_id(&p, e, &f->img);
        } else if (FS_KEY(k, kl, "category_id")) {
            bit = 2;
            ok = fs_id(&p, e, &f->cat);
        } else if (FS_KEY(k, kl, "score")) {
            bit = 4;
            ok = fs_number(&p, e, &f->score);
        } else if (FS_KEY(k, kl, "bbox")) {
            bit = 8;
            ok = fs_numbers(&p, e, f->bb, 4) && f->bb[2] >= 0 && f->bb[3] >= 0;
            f->has_bb = f->bb_present = 1;
        } else if (FS_KEY(k, kl, "segmentation")) {
            bit = 16;
            ok = fs_segm(&p, e, f);
        } else {
            return 0;
        }
        if (!ok || (seen & bit)) return 0;
        seen |= bit;
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == '}') break;
        return 0;
    }
    return (seen & 7) == 7 && skip_ws(p + 1, e) == e;
}

/* The cJSON path: type checks with messages. */
static int slow_result(const cJSON *o, res_fields *f, const char *name, const char *W, size_t i) {
    memset(f, 0, sizeof *f);
    if (get_id(o, "image_id", &f->img, 1, name, W, i) < 0 || get_id(o, "category_id", &f->cat, 1, name, W, i) < 0 ||
        get_num(o, "score", &f->score, name, W, i) < 0)
        return -1;
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
        *box_mode = f->has_bb;
        if (!*box_mode && !f->has_sg) return hnd_error_set("%s: %s[0]: neither bbox nor segmentation", name, W);
    }
    uint32_t h = gt->img_h[rec.img], w = gt->img_w[rec.img];
    if (*box_mode) {
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
                rle_free(&pr);
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
    js_iter it;
    const char *s;
    size_t slen, i = 0;
    int r, box_mode = -1; /* loadRes: decided by results[0] */
    if (js_iter_begin(&it, json, json + len, name, W) < 0) goto fail;
    while ((r = js_iter_next(&it, &s, &slen, name, W)) == 1) {
        res_fields f;
        int rc;
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
    if (skip_ws(it.p, json + len) != json + len) {
        hnd_error_set("%s: unexpected data after the results array", name);
        goto fail;
    }
    dt->empty = i == 0;
    free(b.cnts);
    b.cnts = NULL;
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
    ce_dt_free(dt);
    return NULL;
}

ce_dt *ce_dt_load(const ce_gt *gt, const char *path, ce_iou_type type, const ce_options *opts) {
    char *buf;
    size_t len;
    if (ce_read_file(path, &buf, &len) < 0) return NULL;
    ce_dt *dt = ce_dt_parse(gt, buf, len, path, type, opts);
    free(buf);
    return dt;
}
