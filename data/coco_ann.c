/* coco_ann.c: streaming loader of COCO instances files (see coco_ann.h):
 * the top level, images and categories, the id index and masks. The
 * annotations are read by coco_ann_read.c; the JSON scanning is
 * json_scan.c's. */
#define _GNU_SOURCE
#include "coco_ann.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco_ann_int.h"
#include "hnd_error.h"
#include "progress.h"

/* ---------------------------------------------------------------- growth */

int coco_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c += c / 2 + 16;
    void *q = realloc(*p, c * elem);
    if (!q) return hnd_error_set("out of memory (%zu bytes)", c * elem);
    *p = q;
    *cap = c;
    return 0;
}

/* ---------------------------------------------------------------- id index */

typedef struct {
    int64_t *keys;
    int32_t *vals; /* -1 = empty */
    size_t mask;
} id_index;

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static id_index *idx_new(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 1) cap *= 2;
    id_index *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->keys = malloc(cap * sizeof *ix->keys);
    ix->vals = malloc(cap * sizeof *ix->vals);
    if (!ix->keys || !ix->vals) {
        free(ix->keys);
        free(ix->vals);
        free(ix);
        return NULL;
    }
    memset(ix->vals, 0xff, cap * sizeof *ix->vals);
    ix->mask = cap - 1;
    return ix;
}

static void idx_free(id_index *ix) {
    if (!ix) return;
    free(ix->keys);
    free(ix->vals);
    free(ix);
}

/* Insert; returns the existing value if the key is already there, else -1. */
static int32_t idx_put(id_index *ix, int64_t key, int32_t val) {
    size_t h = mix64((uint64_t)key) & ix->mask;
    while (ix->vals[h] >= 0) {
        if (ix->keys[h] == key) return ix->vals[h];
        h = (h + 1) & ix->mask;
    }
    ix->keys[h] = key;
    ix->vals[h] = val;
    return -1;
}

static int32_t idx_get(const id_index *ix, int64_t key) {
    if (!ix) return -1;
    size_t h = mix64((uint64_t)key) & ix->mask;
    while (ix->vals[h] >= 0) {
        if (ix->keys[h] == key) return ix->vals[h];
        h = (h + 1) & ix->mask;
    }
    return -1;
}

/* ---------------------------------------------------------------- pool */

int coco_pool_add(coco_loader *L, const char *s, size_t n, uint32_t *off) {
    coco_dataset *ds = L->ds;
    if (ds->strings_len + n + 1 > UINT32_MAX) return hnd_error_set("string pool larger than 4 GiB");
    if (coco_grow((void **)&ds->strings, &L->cap_strings, ds->strings_len + n + 1, 1) < 0) return -1;
    memcpy(ds->strings + ds->strings_len, s, n);
    ds->strings[ds->strings_len + n] = '\0';
    *off = (uint32_t)ds->strings_len;
    ds->strings_len += n + 1;
    return 0;
}

int coco_pool_add_json(coco_loader *L, const char *s, size_t n, int esc, uint32_t *off, uint32_t *len) {
    coco_dataset *ds = L->ds;
    if (!esc) {
        *len = (uint32_t)n;
        return coco_pool_add(L, s, n, off);
    }
    /* decoded in place: the UTF-8 of an escaped string is never longer */
    if (ds->strings_len + n + 1 > UINT32_MAX) return hnd_error_set("string pool larger than 4 GiB");
    if (coco_grow((void **)&ds->strings, &L->cap_strings, ds->strings_len + n + 1, 1) < 0) return -1;
    size_t k = js_unescape(s, n, ds->strings + ds->strings_len);
    ds->strings[ds->strings_len + k] = '\0';
    *off = (uint32_t)ds->strings_len;
    *len = (uint32_t)k;
    ds->strings_len += k + 1;
    return 0;
}

/* ---------------------------------------------------------------- images, categories
 * A few hundred thousand small objects at most: each is parsed by cJSON on
 * its own (a tree of one element, freed at once). */

#define PATH_FMT "%s: %s[%lld]"
#define PATH_ARGS(L, arr, i) (L)->doc.name, (arr), (long long)(i)

/* An integral field; absent: an error if required, else dflt. */
static int get_int(const coco_loader *L, const cJSON *o, const char *arr, int64_t i, const char *key, int required,
                   int64_t dflt, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (!required) {
            *out = dflt;
            return 0;
        }
        return hnd_error_set(PATH_FMT ".%s: missing", PATH_ARGS(L, arr, i), key);
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return hnd_error_set(PATH_FMT ".%s: expected an integer", PATH_ARGS(L, arr, i), key);
    *out = (int64_t)d;
    return 0;
}

/* A string field into the pool; absent: an error if required, else "". */
static int get_str(coco_loader *L, const cJSON *o, const char *arr, int64_t i, const char *key, int required,
                   uint32_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required) return hnd_error_set(PATH_FMT ".%s: missing", PATH_ARGS(L, arr, i), key);
        return coco_pool_add(L, "", 0, out);
    }
    if (!cJSON_IsString(v)) return hnd_error_set(PATH_FMT ".%s: expected a string", PATH_ARGS(L, arr, i), key);
    return coco_pool_add(L, v->valuestring, strlen(v->valuestring), out);
}

static int on_image(coco_loader *L, const cJSON *o, int64_t i) {
    coco_dataset *ds = L->ds;
    if (!cJSON_IsObject(o)) return hnd_error_set(PATH_FMT ": expected an object", PATH_ARGS(L, "images", i));
    if (ds->n_images >= INT32_MAX) return hnd_error_set("%s: too many images", L->doc.name);
    if (coco_grow((void **)&ds->images, &L->cap_images, (size_t)ds->n_images + 1, sizeof *ds->images) < 0) return -1;
    coco_image *im = &ds->images[ds->n_images];
    int64_t w, h;
    int need = !L->for_eval; /* evaluation needs no file name and, for boxes, no size */
    if (get_int(L, o, "images", i, "id", 1, 0, &im->id) < 0 || get_int(L, o, "images", i, "width", need, -1, &w) < 0 ||
        get_int(L, o, "images", i, "height", need, -1, &h) < 0 ||
        get_str(L, o, "images", i, "file_name", need, &im->file_name) < 0)
        return -1;
    if (w < -1 || h < -1 || (need && (w < 0 || h < 0)) || w > INT32_MAX || h > INT32_MAX)
        return hnd_error_set(PATH_FMT ": bad size %lldx%lld", PATH_ARGS(L, "images", i), (long long)w,
                             (long long)h);
    im->width = (int32_t)w;
    im->height = (int32_t)h;
    ds->n_images++;
    return 0;
}

/* A keypoint category's "keypoints" (names), "skeleton" (pairs of 1-based
 * keypoint numbers) and "sigmas" (one positive number per keypoint). */
static int category_keypoints(coco_loader *L, const cJSON *o, coco_category *c, int64_t i) {
    coco_dataset *ds = L->ds;
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "keypoints");
    const cJSON *skel = cJSON_GetObjectItemCaseSensitive(o, "skeleton");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(o, "sigmas");
    c->kp_off = (uint32_t)ds->n_kp_names;
    c->skel_off = (uint32_t)ds->n_skeleton;
    if (names) {
        if (!cJSON_IsArray(names))
            return hnd_error_set(PATH_FMT ".keypoints: expected a list of names", PATH_ARGS(L, "categories", i));
        int n = cJSON_GetArraySize(names);
        if (coco_grow((void **)&ds->kp_names, &L->cap_kp_names, ds->n_kp_names + (size_t)n + 1,
                      sizeof *ds->kp_names) < 0 ||
            coco_grow((void **)&ds->kp_sigmas, &L->cap_kp_sigmas, ds->n_kp_names + (size_t)n + 1,
                      sizeof *ds->kp_sigmas) < 0)
            return -1;
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, names) {
            if (!cJSON_IsString(e))
                return hnd_error_set(PATH_FMT ".keypoints[%d]: expected a string", PATH_ARGS(L, "categories", i), k);
            if (coco_pool_add(L, e->valuestring, strlen(e->valuestring), &ds->kp_names[ds->n_kp_names + k]) < 0)
                return -1;
            ds->kp_sigmas[ds->n_kp_names + k] = 0;
            k++;
        }
        if (n > COCO_MAX_KP)
            return hnd_error_set(PATH_FMT ".keypoints: %d names, at most %d", PATH_ARGS(L, "categories", i), n,
                                 COCO_MAX_KP);
        c->n_kp = n;
    }
    if (sig && !cJSON_IsNull(sig)) {
        if (!cJSON_IsArray(sig) || cJSON_GetArraySize(sig) != c->n_kp)
            return hnd_error_set(PATH_FMT ".sigmas: expected %d numbers (one per keypoint name)",
                                 PATH_ARGS(L, "categories", i), c->n_kp);
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, sig) {
            if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || !isfinite(e->valuedouble))
                return hnd_error_set(PATH_FMT ".sigmas[%d]: expected a positive number",
                                     PATH_ARGS(L, "categories", i), k);
            ds->kp_sigmas[ds->n_kp_names + k++] = e->valuedouble;
        }
        c->has_sigmas = c->n_kp > 0;
    }
    ds->n_kp_names += (size_t)c->n_kp;
    if (skel && !cJSON_IsNull(skel)) {
        if (!cJSON_IsArray(skel))
            return hnd_error_set(PATH_FMT ".skeleton: expected a list of pairs", PATH_ARGS(L, "categories", i));
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, skel) {
            const cJSON *a = cJSON_GetArrayItem(e, 0), *b = cJSON_GetArrayItem(e, 1);
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
                a->valuedouble != floor(a->valuedouble) || b->valuedouble != floor(b->valuedouble) ||
                a->valuedouble < 1 || b->valuedouble < 1 || a->valuedouble > c->n_kp || b->valuedouble > c->n_kp)
                return hnd_error_set(PATH_FMT ".skeleton[%d]: expected two keypoint numbers in 1..%d",
                                     PATH_ARGS(L, "categories", i), k, c->n_kp);
            if (coco_grow((void **)&ds->skeleton, &L->cap_skeleton, 2 * (ds->n_skeleton + 1), sizeof *ds->skeleton) <
                0)
                return -1;
            ds->skeleton[2 * ds->n_skeleton] = (int32_t)a->valuedouble;
            ds->skeleton[2 * ds->n_skeleton + 1] = (int32_t)b->valuedouble;
            ds->n_skeleton++;
            k++;
        }
        c->n_skel = k;
    }
    return 0;
}

static int on_category(coco_loader *L, const cJSON *o, int64_t i) {
    coco_dataset *ds = L->ds;
    if (!cJSON_IsObject(o)) return hnd_error_set(PATH_FMT ": expected an object", PATH_ARGS(L, "categories", i));
    if (ds->n_cats >= INT32_MAX - 1) return hnd_error_set("%s: too many categories", L->doc.name);
    if (coco_grow((void **)&ds->cats, &L->cap_cats, (size_t)ds->n_cats + 1, sizeof *ds->cats) < 0) return -1;
    coco_category *c = &ds->cats[ds->n_cats];
    if (get_int(L, o, "categories", i, "id", 1, 0, &c->id) < 0 ||
        get_str(L, o, "categories", i, "name", !L->for_eval, &c->name) < 0 ||
        get_str(L, o, "categories", i, "supercategory", 0, &c->supercategory) < 0)
        return -1;
    c->n_kp = c->n_skel = c->has_sigmas = 0;
    if (category_keypoints(L, o, c, i) < 0) return -1;
    ds->n_cats++;
    return 0;
}

/* ---------------------------------------------------------------- top level */

enum { K_IMAGES, K_ANNS, K_CATS, K_OTHER };

/* Element i of images or categories, text [s, e). */
static int parse_element(coco_loader *L, const char *s, const char *e, int kind, int64_t i, const char *key) {
    const char *perr = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(s, (size_t)(e - s), &perr, 0);
    if (!o)
        return js_doc_error(&L->doc, perr && perr >= s && perr <= e ? perr : s, "%s[%lld]: invalid JSON", key,
                            (long long)i);
    int rc = kind == K_IMAGES ? on_image(L, o, i) : on_category(L, o, i);
    cJSON_Delete(o);
    return rc;
}

/* The array of one of the three keys, d->p at it. */
static int parse_array(coco_loader *L, int kind, const char *key) {
    js_arr a;
    const char *s, *e;
    int m;
    if (js_arr_begin(&a, &L->doc, key) < 0) return -1;
    while ((m = js_arr_next(&a, &s, &e)) == 1) {
        int64_t i = a.index;
        if ((kind == K_ANNS ? coco_read_annotation(L, s, e, i) : parse_element(L, s, e, kind, i, key)) < 0) return -1;
        if ((i & 1023) == 0) prg_update(L->bar, (uint64_t)(e - L->doc.buf));
    }
    return m;
}

/* Any other key ("info", "licenses", ...): validated, dropped. */
static int skip_other(coco_loader *L, const char *key) {
    const char *s, *e;
    if (js_value(&L->doc, key, &s, &e) < 0) return -1;
    js_reader r;
    js_reader_init(&r, s, e);
    if (js_skip(&r) == 0) {
        js_ws(&r);
        if (r.p == r.end) return 0;
        js_fail(&r);
    }
    return js_doc_error(&L->doc, r.err_at, "%s: invalid JSON", key);
}

static int parse_top(coco_loader *L, int *seen) {
    js_top t;
    const char *k;
    size_t kl;
    int m;
    if (js_top_begin(&t, &L->doc) < 0) return -1;
    while ((m = js_top_next(&t, &k, &kl)) == 1) {
        int kind = K_OTHER;
        if (JS_KEY_IS(k, kl, "images")) kind = K_IMAGES;
        else if (JS_KEY_IS(k, kl, "annotations")) kind = K_ANNS;
        else if (JS_KEY_IS(k, kl, "categories")) kind = K_CATS;
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(kl < 60 ? kl : 60), k);
        if (kind == K_OTHER) {
            if (skip_other(L, key) < 0) return -1;
            continue;
        }
        if (seen[kind]) return js_doc_error(&L->doc, k, "duplicate key \"%s\"", key);
        seen[kind] = 1;
        if (parse_array(L, kind, key) < 0) return -1;
    }
    return m;
}

/* The id -> index tables of images and categories (duplicates are errors). */
static int index_ids(coco_loader *L) {
    coco_dataset *ds = L->ds;
    id_index *ii = idx_new((size_t)ds->n_images), *ci = idx_new((size_t)ds->n_cats);
    ds->img_index = ii;
    ds->cat_index = ci;
    if (!ii || !ci) return hnd_error_set("out of memory");
    for (int64_t i = 0; i < ds->n_images; i++) {
        int32_t prev = idx_put(ii, ds->images[i].id, (int32_t)i);
        if (prev >= 0)
            return hnd_error_set("%s: images[%lld].id: duplicate id %lld (also images[%d])", L->doc.name, (long long)i,
                                 (long long)ds->images[i].id, prev);
    }
    for (int32_t i = 0; i < ds->n_cats; i++) {
        int32_t prev = idx_put(ci, ds->cats[i].id, i);
        if (prev >= 0)
            return hnd_error_set("%s: categories[%d].id: duplicate id %lld (also categories[%d])", L->doc.name, i,
                                 (long long)ds->cats[i].id, prev);
    }
    return 0;
}

/* Each annotation's image and category index; duplicate annotation ids
 * and unknown references are errors. Counts annotations per image into
 * img_ann_start[image + 1]. */
static int resolve_refs(coco_loader *L, id_index *ai) {
    coco_dataset *ds = L->ds;
    for (int64_t i = 0; i < ds->n_anns; i++) {
        coco_ann *a = &ds->anns[i];
        int32_t prev = idx_put(ai, a->id, (int32_t)i);
        if (prev >= 0)
            return hnd_error_set("%s: annotations[%lld].id: duplicate id %lld (also annotations[%d])", L->doc.name,
                                 (long long)i, (long long)a->id, prev);
        a->image = idx_get(ds->img_index, a->image_id);
        if (a->image < 0)
            return hnd_error_set("%s: annotations[%lld].image_id: unknown image %lld", L->doc.name, (long long)i,
                                 (long long)a->image_id);
        a->category = idx_get(ds->cat_index, a->category_id);
        if (a->category < 0)
            return hnd_error_set("%s: annotations[%lld].category_id: unknown category %lld", L->doc.name, (long long)i,
                                 (long long)a->category_id);
        int32_t nk = ds->cats[a->category].n_kp;
        if (a->kp_n && nk && a->kp_n != 3 * (uint32_t)nk)
            return hnd_error_set("%s: annotations[%lld].keypoints: %u numbers but category %lld has %d keypoints",
                                 L->doc.name, (long long)i, a->kp_n, (long long)a->category_id, (int)nk);
        ds->img_ann_start[a->image + 1]++;
        if (a->kp_n && !ds->ann_kp_k) ds->ann_kp_k = (int32_t)(a->kp_n / 3);
    }
    return 0;
}

/* Index ids, resolve references, group annotations by image. */
static int finish(coco_loader *L) {
    coco_dataset *ds = L->ds;
    if (index_ids(L) < 0) return -1;
    ds->img_ann_start = calloc((size_t)ds->n_images + 1, sizeof *ds->img_ann_start);
    ds->img_anns = malloc(((size_t)ds->n_anns + 1) * sizeof *ds->img_anns);
    id_index *ai = idx_new((size_t)ds->n_anns);
    if (!ds->img_ann_start || !ds->img_anns || !ai) {
        idx_free(ai);
        return hnd_error_set("out of memory");
    }
    int rc = resolve_refs(L, ai);
    idx_free(ai);
    if (rc < 0) return -1;
    for (int64_t i = 0; i < ds->n_images; i++) ds->img_ann_start[i + 1] += ds->img_ann_start[i];
    int64_t *fill = malloc(((size_t)ds->n_images + 1) * sizeof *fill);
    if (!fill) return hnd_error_set("out of memory");
    memcpy(fill, ds->img_ann_start, ((size_t)ds->n_images + 1) * sizeof *fill);
    for (int64_t i = 0; i < ds->n_anns; i++) ds->img_anns[fill[ds->anns[i].image]++] = (int32_t)i;
    free(fill);
    return 0;
}

coco_dataset *coco_load_mem(const char *name, const char *buf, size_t len, const coco_load_opts *opts) {
    coco_loader L;
    memset(&L, 0, sizeof L);
    js_doc_init(&L.doc, name, buf, len);
    L.for_eval = opts && opts->for_eval;
    L.ds = calloc(1, sizeof *L.ds);
    if (!L.ds || !(L.ds->path = strdup(name))) {
        free(L.ds);
        hnd_error_set("out of memory");
        return NULL;
    }
    uint32_t dummy;
    if (coco_pool_add(&L, "", 0, &dummy) < 0) { /* offset 0 = "" */
        coco_destroy(L.ds);
        return NULL;
    }
    if (opts && opts->progress) {
        const char *b = strrchr(name, '/');
        char label[96];
        snprintf(label, sizeof label, "loading %.80s", b ? b + 1 : name);
        L.bar = prg_begin(label, len, "B", 1);
    }
    int seen[3] = {0, 0, 0};
    int rc = parse_top(&L, seen);
    if (rc == 0 && !seen[K_IMAGES]) rc = hnd_error_set("%s: no \"images\" array", name);
    if (rc == 0) rc = finish(&L);
    L.ds->has_anns = seen[K_ANNS];
    L.ds->has_cats = seen[K_CATS];
    prg_update(L.bar, len);
    prg_end(L.bar);
    if (rc < 0) {
        coco_destroy(L.ds);
        return NULL;
    }
    return L.ds;
}

coco_dataset *coco_load(const char *path, const coco_load_opts *opts) {
    js_file f;
    if (js_file_open(&f, path) < 0) return NULL;
    coco_dataset *ds = NULL;
    if (f.len == 0)
        hnd_error_set("%s: empty file", path);
    else
        ds = coco_load_mem(path, f.buf, f.len, opts);
    js_file_close(&f);
    return ds;
}

void coco_destroy(coco_dataset *ds) {
    if (!ds) return;
    free(ds->path);
    free(ds->images);
    free(ds->cats);
    free(ds->anns);
    free(ds->img_ann_start);
    free(ds->img_anns);
    free(ds->coords);
    free(ds->poly_off);
    free(ds->poly_len);
    free(ds->counts);
    free(ds->kps);
    free(ds->kp_names);
    free(ds->kp_sigmas);
    free(ds->skeleton);
    free(ds->strings);
    idx_free(ds->img_index);
    idx_free(ds->cat_index);
    free(ds);
}

int64_t coco_image_index(const coco_dataset *ds, int64_t image_id) { return idx_get(ds->img_index, image_id); }

int32_t coco_cat_index(const coco_dataset *ds, int64_t cat_id) { return idx_get(ds->cat_index, cat_id); }

/* ---------------------------------------------------------------- keypoints */

/* The mirror of a keypoint name: "left" <-> "right" where it is a word of
 * the name ('_', '-', ' ' or the ends around it), else the name itself. */
static void mirror_name(const char *s, char *out, size_t cap) {
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i <= n && o + 1 < cap;) {
        int start = i == 0 || s[i - 1] == '_' || s[i - 1] == '-' || s[i - 1] == ' ';
        const char *w = NULL, *m = NULL;
        if (start && !strncmp(s + i, "left", 4)) w = "left", m = "right";
        else if (start && !strncmp(s + i, "right", 5)) w = "right", m = "left";
        size_t wl = w ? strlen(w) : 0;
        char end = w ? s[i + wl] : 0;
        if (w && (end == 0 || end == '_' || end == '-' || end == ' ')) {
            for (const char *q = m; *q && o + 1 < cap; q++) out[o++] = *q;
            i += wl;
        } else {
            if (i < n) out[o++] = s[i];
            i++;
        }
    }
    out[o] = '\0';
}

int coco_kp_flip_map(const coco_dataset *ds, const coco_category *c, int32_t *flip) {
    for (int32_t k = 0; k < c->n_kp; k++) {
        const char *nk = coco_str(ds, ds->kp_names[c->kp_off + k]);
        char mir[256];
        mirror_name(nk, mir, sizeof mir);
        int found = -1;
        for (int32_t j = 0; j < c->n_kp; j++) {
            if (strcmp(coco_str(ds, ds->kp_names[c->kp_off + j]), mir) != 0) continue;
            if (found >= 0)
                return hnd_error_set("%s: category %lld: keypoint name \"%s\" appears twice", ds->path,
                                     (long long)c->id, mir);
            found = j;
        }
        if (found < 0)
            return hnd_error_set("%s: category %lld: keypoint \"%s\" has no mirror \"%s\" for the horizontal flip",
                                 ds->path, (long long)c->id, nk, mir);
        flip[k] = found;
    }
    return 0;
}

int coco_kp_layout(const coco_dataset *ds, int *K, int32_t *flip) {
    *K = 0;
    int32_t first = -1;
    int32_t *map = NULL, *map2 = NULL;
    int rc = 0;
    for (int32_t c = 0; c < ds->n_cats && rc == 0; c++) {
        const coco_category *cc = &ds->cats[c];
        if (cc->n_kp == 0) continue;
        if (first < 0) {
            first = c;
            *K = cc->n_kp;
            map = malloc((size_t)cc->n_kp * sizeof *map);
            map2 = malloc((size_t)cc->n_kp * sizeof *map2);
            if (!map || !map2) rc = hnd_error_set("out of memory");
            else rc = coco_kp_flip_map(ds, cc, map);
            continue;
        }
        if (cc->n_kp != *K) {
            rc = hnd_error_set("%s: categories %lld and %lld have %d and %d keypoints: one keypoint layout per dataset",
                               ds->path, (long long)ds->cats[first].id, (long long)cc->id, *K, (int)cc->n_kp);
            break;
        }
        rc = coco_kp_flip_map(ds, cc, map2);
        if (rc == 0 && memcmp(map, map2, (size_t)*K * sizeof *map) != 0)
            rc = hnd_error_set("%s: categories %lld and %lld flip their keypoints differently", ds->path,
                               (long long)ds->cats[first].id, (long long)cc->id);
    }
    if (rc == 0 && first < 0) {
        /* keypoints without names: K from the annotations, no swaps */
        *K = ds->ann_kp_k;
        if (*K > COCO_MAX_KP) {
            rc = hnd_error_set("%s: annotations with %d keypoints, at most %d", ds->path, *K, COCO_MAX_KP);
        } else if (*K) {
            map = malloc((size_t)*K * sizeof *map);
            if (!map) rc = hnd_error_set("out of memory");
            else
                for (int k = 0; k < *K; k++) map[k] = k;
        }
    }
    if (rc == 0 && flip && *K) memcpy(flip, map, (size_t)*K * sizeof *map);
    free(map);
    free(map2);
    if (rc < 0) *K = 0;
    return rc;
}

/* ---------------------------------------------------------------- masks */

int coco_ann_rle(const coco_dataset *ds, const coco_ann *a, rle_t *out) {
    rle_init(out);
    const coco_image *im = &ds->images[a->image];
    uint32_t h = (uint32_t)im->height, w = (uint32_t)im->width;
    long long ai = (long long)(a - ds->anns);
    if (im->height < 0 || im->width < 0) /* loaded for_eval without a size */
        return hnd_error_set("%s: annotations[%lld]: image %lld has no width and height", ds->path, ai,
                             (long long)im->id);
    if (a->seg_kind == COCO_SEG_POLY) {
        uint32_t n0;
        if (a->seg_n == 0) {
            uint32_t z = h * w;
            return rle_from_counts(out, h, w, &z, 1);
        }
        coco_ann_polygon(ds, a, 0, &n0);
        int as_box = n0 == 4;
        rle_t *parts = calloc(a->seg_n, sizeof *parts);
        if (!parts) return hnd_error_set("out of memory");
        int rc = 0;
        for (uint32_t k = 0; k < a->seg_n && rc == 0; k++) {
            uint32_t n;
            const double *xy = coco_ann_polygon(ds, a, k, &n);
            if (as_box) {
                if (n < 4) {
                    rc = hnd_error_set("segmentation[%u]: a box needs 4 numbers", k);
                    break;
                }
                rc = rle_from_bbox(&parts[k], xy, h, w);
            } else {
                rc = rle_from_poly(&parts[k], xy, n / 2, h, w);
            }
        }
        if (rc == 0) rc = rle_merge(parts, a->seg_n, 0, out);
        for (uint32_t k = 0; k < a->seg_n; k++) rle_clear(&parts[k]);
        free(parts);
        if (rc < 0) return hnd_error_prefix("%s: annotations[%lld]", ds->path, ai);
        return 0;
    }
    if (a->seg_kind == COCO_SEG_RLE || a->seg_kind == COCO_SEG_RLE_STR) {
        if (a->seg_h != h || a->seg_w != w)
            return hnd_error_set("%s: annotations[%lld].segmentation.size: [%u, %u] but image %lld is %ux%u (h x w)",
                                 ds->path, ai, a->seg_h, a->seg_w, (long long)im->id, h, w);
        int rc = a->seg_kind == COCO_SEG_RLE ? rle_from_counts(out, h, w, ds->counts + a->seg_off, a->seg_n)
                                             : rle_from_string(out, ds->strings + a->seg_off, a->seg_n, h, w);
        if (rc == 0) rc = rle_check(out);
        if (rc < 0) return hnd_error_prefix("%s: annotations[%lld].segmentation", ds->path, ai);
        return 0;
    }
    uint32_t z = h * w;
    return rle_from_counts(out, h, w, &z, 1);
}
