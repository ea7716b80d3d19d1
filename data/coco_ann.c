/* coco_ann.c: streaming loader of COCO instances files (see coco_ann.h). */
#define _GNU_SOURCE
#include "coco_ann.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hnd_error.h"
#include "progress.h"

/* ---------------------------------------------------------------- growth */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
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

/* ---------------------------------------------------------------- builder */

typedef struct {
    const char *name; /* file name for messages */
    const char *buf;
    size_t len;
    coco_dataset *ds;
    size_t cap_images, cap_cats, cap_anns, cap_coords, cap_polys, cap_polys2, cap_counts, cap_strings;
    prg_bar *bar;
} loader;

static int pool_add(loader *L, const char *s, size_t n, uint32_t *off) {
    coco_dataset *ds = L->ds;
    if (ds->strings_len + n + 1 > UINT32_MAX) return hnd_error_set("string pool larger than 4 GiB");
    if (grow((void **)&ds->strings, &L->cap_strings, ds->strings_len + n + 1, 1) < 0) return -1;
    memcpy(ds->strings + ds->strings_len, s, n);
    ds->strings[ds->strings_len + n] = '\0';
    *off = (uint32_t)ds->strings_len;
    ds->strings_len += n + 1;
    return 0;
}

/* Line and column of byte offset off, for syntax errors. */
static void line_col(const loader *L, size_t off, size_t *line, size_t *col) {
    size_t ln = 1, last = 0;
    if (off > L->len) off = L->len;
    for (size_t i = 0; i < off; i++)
        if (L->buf[i] == '\n') {
            ln++;
            last = i + 1;
        }
    *line = ln;
    *col = off - last + 1;
}

static int syntax_error(const loader *L, const char *at, const char *what) {
    size_t off = (size_t)(at - L->buf), line, col;
    line_col(L, off, &line, &col);
    if (off >= L->len) return hnd_error_set("%s: %s (file truncated at byte %zu?)", L->name, what, L->len);
    return hnd_error_set("%s: %s at line %zu, column %zu (byte %zu)", L->name, what, line, col, off);
}

/* ---------------------------------------------------------------- scanner */

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* End of the string starting at p (which is '"'): one past the closing quote. */
static const char *string_end(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"') return p + 1;
    }
    return NULL;
}

/* One past the end of the JSON value starting at p, judged by structure only
 * (brackets and strings); cJSON validates the content. NULL if unterminated
 * or unbalanced. */
static const char *value_end(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return string_end(p, end);
    if (*p == '{' || *p == '[') {
        char stack[256];
        int depth = 0;
        for (; p < end; p++) {
            char c = *p;
            if (c == '"') {
                p = string_end(p, end);
                if (!p) return NULL;
                p--;
            } else if (c == '{' || c == '[') {
                if (depth == (int)sizeof stack) return NULL;
                stack[depth++] = c == '{' ? '}' : ']';
            } else if (c == '}' || c == ']') {
                if (depth == 0 || stack[depth - 1] != c) return NULL;
                if (--depth == 0) return p + 1;
            }
        }
        return NULL;
    }
    const char *q = p;
    while (q < end && *q != ',' && *q != ']' && *q != '}' && *q != ' ' && *q != '\n' && *q != '\r' &&
           *q != '\t')
        q++;
    return q > p ? q : NULL;
}

/* ---------------------------------------------------------------- fields */

#define PATH_FMT "%s: %s[%lld]"
#define PATH_ARGS(L, arr, i) (L)->name, (arr), (long long)(i)

static int get_int(const loader *L, const cJSON *o, const char *arr, int64_t i, const char *key, int required,
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

static int get_str(loader *L, const cJSON *o, const char *arr, int64_t i, const char *key, int required,
                   uint32_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required) return hnd_error_set(PATH_FMT ".%s: missing", PATH_ARGS(L, arr, i), key);
        return pool_add(L, "", 0, out);
    }
    if (!cJSON_IsString(v)) return hnd_error_set(PATH_FMT ".%s: expected a string", PATH_ARGS(L, arr, i), key);
    return pool_add(L, v->valuestring, strlen(v->valuestring), out);
}

static int on_image(loader *L, const cJSON *o, int64_t i) {
    coco_dataset *ds = L->ds;
    if (!cJSON_IsObject(o)) return hnd_error_set(PATH_FMT ": expected an object", PATH_ARGS(L, "images", i));
    if (grow((void **)&ds->images, &L->cap_images, (size_t)ds->n_images + 1, sizeof *ds->images) < 0) return -1;
    coco_image *im = &ds->images[ds->n_images];
    int64_t w, h;
    if (get_int(L, o, "images", i, "id", 1, 0, &im->id) < 0 || get_int(L, o, "images", i, "width", 1, 0, &w) < 0 ||
        get_int(L, o, "images", i, "height", 1, 0, &h) < 0 ||
        get_str(L, o, "images", i, "file_name", 1, &im->file_name) < 0)
        return -1;
    if (w < 0 || h < 0 || w > INT32_MAX || h > INT32_MAX)
        return hnd_error_set(PATH_FMT ": bad size %lldx%lld", PATH_ARGS(L, "images", i), (long long)w,
                             (long long)h);
    im->width = (int32_t)w;
    im->height = (int32_t)h;
    if (ds->n_images >= INT32_MAX) return hnd_error_set("%s: too many images", L->name);
    ds->n_images++;
    return 0;
}

static int on_category(loader *L, const cJSON *o, int64_t i) {
    coco_dataset *ds = L->ds;
    if (!cJSON_IsObject(o)) return hnd_error_set(PATH_FMT ": expected an object", PATH_ARGS(L, "categories", i));
    if (grow((void **)&ds->cats, &L->cap_cats, (size_t)ds->n_cats + 1, sizeof *ds->cats) < 0) return -1;
    coco_category *c = &ds->cats[ds->n_cats];
    if (get_int(L, o, "categories", i, "id", 1, 0, &c->id) < 0 ||
        get_str(L, o, "categories", i, "name", 1, &c->name) < 0 ||
        get_str(L, o, "categories", i, "supercategory", 0, &c->supercategory) < 0)
        return -1;
    if (ds->n_cats >= INT32_MAX - 1) return hnd_error_set("%s: too many categories", L->name);
    ds->n_cats++;
    return 0;
}

/* ---------------------------------------------------------------- fast path
 * Annotations are most of a COCO file (and most of its numbers are polygon
 * coordinates): they are read by this small strict JSON reader instead of
 * cJSON, without a node per number. Numbers are correctly rounded (as
 * Python's float()): Clinger's fast path (up to 15 significant digits and a
 * power of ten up to 22, one exact division or product), strtod otherwise. */

typedef struct {
    const char *p, *end, *err_at;
} jr;

static void jr_ws(jr *r) { r->p = skip_ws(r->p, r->end); }

static int jr_fail(jr *r) {
    if (!r->err_at) r->err_at = r->p;
    return -1;
}

static const double k_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int jr_number(jr *r, double *out) {
    const char *p = r->p, *end = r->end, *s = p;
    int neg = 0;
    if (p < end && *p == '-') neg = 1, p++;
    if (p >= end || *p < '0' || *p > '9') return jr_fail(r);
    uint64_t mant = 0;
    int digits = 0, exp10 = 0;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            if (digits < 19) mant = mant * 10 + (uint64_t)(*p - '0'), digits += mant != 0;
            else exp10++;
            p++;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return jr_fail(r);
        while (p < end && *p >= '0' && *p <= '9') {
            if (digits < 19) mant = mant * 10 + (uint64_t)(*p - '0'), digits += mant != 0, exp10--;
            p++;
        }
    }
    int has_exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        has_exp = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return jr_fail(r);
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    r->p = p;
    if (!has_exp && digits <= 15 && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / k_pow10[-exp10] : v * k_pow10[exp10];
        *out = neg ? -v : v;
        return 0;
    }
    char buf[512];
    size_t n = (size_t)(p - s);
    if (n >= sizeof buf) return jr_fail(r);
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

/* A string: r->p at '"'. Raw bytes in [*s, *s + *n) (escapes not decoded);
 * *esc = 1 if it has escapes. Control characters are refused, as JSON does. */
static int jr_string_raw(jr *r, const char **s, size_t *n, int *esc) {
    const char *p = r->p, *end = r->end;
    if (p >= end || *p != '"') return jr_fail(r);
    p++;
    *s = p;
    *esc = 0;
    while (p < end && *p != '"') {
        if ((unsigned char)*p < 0x20) {
            r->p = p;
            return jr_fail(r);
        }
        if (*p == '\\') {
            *esc = 1;
            p++;
            if (p >= end) break;
            if (*p == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (p + k >= end || !((p[k] >= '0' && p[k] <= '9') || (p[k] >= 'a' && p[k] <= 'f') ||
                                          (p[k] >= 'A' && p[k] <= 'F'))) {
                        r->p = p;
                        return jr_fail(r);
                    }
            } else if (!strchr("\"\\/bfnrt", *p) || !*p) {
                r->p = p;
                return jr_fail(r);
            }
        }
        p++;
    }
    if (p >= end) {
        r->p = p;
        return jr_fail(r);
    }
    *n = (size_t)(p - *s);
    r->p = p + 1;
    return 0;
}

static unsigned hex4(const char *h) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = h[k];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Decode a validated raw string into the pool (UTF-8). */
static int pool_add_json(loader *L, const char *s, size_t n, int esc, uint32_t *off, uint32_t *len) {
    if (!esc) {
        *len = (uint32_t)n;
        return pool_add(L, s, n, off);
    }
    char *tmp = malloc(n + 1), *o = tmp;
    if (!tmp) return hnd_error_set("out of memory");
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            *o++ = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned u = hex4(s + i + 1);
            i += 4;
            if (u >= 0xD800 && u < 0xDC00 && i + 6 < n && s[i + 1] == '\\' && s[i + 2] == 'u') {
                unsigned lo = hex4(s + i + 3);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            if (u < 0x80) *o++ = (char)u;
            else if (u < 0x800) *o++ = (char)(0xC0 | (u >> 6)), *o++ = (char)(0x80 | (u & 63));
            else if (u < 0x10000)
                *o++ = (char)(0xE0 | (u >> 12)), *o++ = (char)(0x80 | ((u >> 6) & 63)), *o++ = (char)(0x80 | (u & 63));
            else
                *o++ = (char)(0xF0 | (u >> 18)), *o++ = (char)(0x80 | ((u >> 12) & 63)),
                *o++ = (char)(0x80 | ((u >> 6) & 63)), *o++ = (char)(0x80 | (u & 63));
            break;
        }
        default: *o++ = c; break;
        }
    }
    *len = (uint32_t)(o - tmp);
    int rc = pool_add(L, tmp, (size_t)(o - tmp), off);
    free(tmp);
    return rc;
}

/* Validate and skip any value. */
static int jr_skip(jr *r, int depth) {
    jr_ws(r);
    if (r->p >= r->end || depth > 512) return jr_fail(r);
    char c = *r->p;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        r->p++;
        jr_ws(r);
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                const char *s;
                size_t n;
                int esc;
                jr_ws(r);
                if (jr_string_raw(r, &s, &n, &esc) < 0) return -1;
                jr_ws(r);
                if (r->p >= r->end || *r->p != ':') return jr_fail(r);
                r->p++;
            }
            if (jr_skip(r, depth + 1) < 0) return -1;
            jr_ws(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }
            if (r->p < r->end && *r->p == close) {
                r->p++;
                return 0;
            }
            return jr_fail(r);
        }
    }
    if (c == '"') {
        const char *s;
        size_t n;
        int esc;
        return jr_string_raw(r, &s, &n, &esc);
    }
    if (c == 't' || c == 'f' || c == 'n') {
        const char *w = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t n = strlen(w);
        if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0) return jr_fail(r);
        r->p += n;
        return 0;
    }
    double d;
    return jr_number(r, &d);
}

/* Value kinds for the annotation reader */
enum { JV_NUM, JV_OTHER };

/* Read a number if the value is one (*kind = JV_NUM), else skip it. */
static int jr_num_or_skip(jr *r, double *v, int *kind) {
    jr_ws(r);
    if (r->p < r->end && (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))) {
        *kind = JV_NUM;
        return jr_number(r, v);
    }
    *kind = JV_OTHER;
    return jr_skip(r, 0);
}

/* Iterate an array: call at '['; *first set by caller to 1. Returns 1 when an
 * element follows (r->p at it), 0 at the end (after ']'), -1 on error. */
static int jr_array_next(jr *r, int *first) {
    jr_ws(r);
    if (*first) {
        if (r->p >= r->end || *r->p != '[') return jr_fail(r);
        r->p++;
        jr_ws(r);
        *first = 0;
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return 0;
        }
        return 1;
    }
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        jr_ws(r);
        return 1;
    }
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return 0;
    }
    return jr_fail(r);
}

#define KEYIS(s, n, lit) ((n) == sizeof(lit) - 1 && memcmp((s), (lit), (n)) == 0)

static int ann_int(loader *L, int64_t i, const char *key, int have, double d, int64_t *out) {
    if (have != 1 || d != floor(d) || fabs(d) > 9007199254740992.0)
        return hnd_error_set(PATH_FMT ".%s: expected an integer", PATH_ARGS(L, "annotations", i), key);
    *out = (int64_t)d;
    return 0;
}

/* The segmentation value: r->p at it. Syntax errors return -2 (the caller
 * reports the position), content errors -1 with the message set. */
static int fast_segmentation(loader *L, jr *r, coco_ann *a, int64_t i) {
    coco_dataset *ds = L->ds;
    jr_ws(r);
    if (r->p < r->end && *r->p == 'n') {
        if (jr_skip(r, 0) < 0) return -2;
        a->seg_kind = COCO_SEG_NONE;
        return 0;
    }
    if (r->p < r->end && *r->p == '[') {
        a->seg_kind = COCO_SEG_POLY;
        a->seg_off = ds->n_polys;
        a->seg_n = 0;
        int first = 1, k = 0, more;
        while ((more = jr_array_next(r, &first)) == 1) {
            if (*r->p != '[') {
                if (jr_skip(r, 0) < 0) return -2;
                return hnd_error_set(PATH_FMT ".segmentation[%d]: expected a list of numbers",
                                     PATH_ARGS(L, "annotations", i), k);
            }
            if (grow((void **)&ds->poly_off, &L->cap_polys, ds->n_polys + 1, sizeof *ds->poly_off) < 0 ||
                grow((void **)&ds->poly_len, &L->cap_polys2, ds->n_polys + 1, sizeof *ds->poly_len) < 0)
                return -1;
            size_t n0 = ds->n_coords;
            int f2 = 1, j = 0, m;
            while ((m = jr_array_next(r, &f2)) == 1) {
                double v;
                int kind;
                if (jr_num_or_skip(r, &v, &kind) < 0) return -2;
                if (kind != JV_NUM)
                    return hnd_error_set(PATH_FMT ".segmentation[%d][%d]: expected a number",
                                         PATH_ARGS(L, "annotations", i), k, j);
                if (grow((void **)&ds->coords, &L->cap_coords, ds->n_coords + 1, sizeof *ds->coords) < 0) return -1;
                ds->coords[ds->n_coords++] = v;
                j++;
            }
            if (m < 0) return -2;
            ds->poly_off[ds->n_polys] = n0;
            ds->poly_len[ds->n_polys] = (uint32_t)(ds->n_coords - n0);
            ds->n_polys++;
            a->seg_n++;
            k++;
        }
        return more < 0 ? -2 : 0;
    }
    if (r->p >= r->end || *r->p != '{') {
        if (jr_skip(r, 0) < 0) return -2;
        return hnd_error_set(PATH_FMT ".segmentation: expected a list of polygons or an RLE object",
                             PATH_ARGS(L, "annotations", i));
    }
    /* RLE object */
    r->p++;
    int have_size = 0, counts_kind = 0; /* 1 list, 2 string */
    double size[2] = {0, 0};
    size_t c0 = ds->n_counts;
    uint64_t total = 0;
    uint32_t soff = 0, slen = 0;
    int bad_size = 0, bad_count = -1, bad_counts = 0;
    jr_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
    } else {
        for (;;) {
            const char *ks;
            size_t kn;
            int esc;
            jr_ws(r);
            if (jr_string_raw(r, &ks, &kn, &esc) < 0) return -2;
            jr_ws(r);
            if (r->p >= r->end || *r->p != ':') return jr_fail(r), -2;
            r->p++;
            jr_ws(r);
            if (KEYIS(ks, kn, "size")) {
                have_size = 1;
                if (*r->p != '[') {
                    bad_size = 1;
                    if (jr_skip(r, 0) < 0) return -2;
                } else {
                    int f = 1, m, j = 0;
                    while ((m = jr_array_next(r, &f)) == 1) {
                        double v;
                        int kind;
                        if (jr_num_or_skip(r, &v, &kind) < 0) return -2;
                        if (kind != JV_NUM || j >= 2 || v < 0 || v > INT32_MAX || v != floor(v)) bad_size = 1;
                        else size[j] = v;
                        j++;
                    }
                    if (m < 0) return -2;
                    if (j != 2) bad_size = 1;
                }
            } else if (KEYIS(ks, kn, "counts")) {
                if (*r->p == '"') {
                    const char *cs;
                    size_t cn;
                    int cesc;
                    if (jr_string_raw(r, &cs, &cn, &cesc) < 0) return -2;
                    if (pool_add_json(L, cs, cn, cesc, &soff, &slen) < 0) return -1;
                    counts_kind = 2;
                } else if (*r->p == '[') {
                    counts_kind = 1;
                    ds->n_counts = c0;
                    total = 0;
                    int f = 1, m, j = 0;
                    while ((m = jr_array_next(r, &f)) == 1) {
                        double v;
                        int kind;
                        if (jr_num_or_skip(r, &v, &kind) < 0) return -2;
                        if (kind != JV_NUM || v < 0 || v != floor(v) || v > UINT32_MAX) {
                            if (bad_count < 0) bad_count = j;
                        } else {
                            if (grow((void **)&ds->counts, &L->cap_counts, ds->n_counts + 1, sizeof *ds->counts) < 0)
                                return -1;
                            ds->counts[ds->n_counts++] = (uint32_t)v;
                            total += (uint64_t)v;
                        }
                        j++;
                    }
                    if (m < 0) return -2;
                } else {
                    bad_counts = 1;
                    if (jr_skip(r, 0) < 0) return -2;
                }
            } else if (jr_skip(r, 0) < 0) {
                return -2;
            }
            jr_ws(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }
            if (r->p < r->end && *r->p == '}') {
                r->p++;
                break;
            }
            return jr_fail(r), -2;
        }
    }
    if (!have_size || bad_size)
        return hnd_error_set(PATH_FMT ".segmentation.size: expected [height, width]", PATH_ARGS(L, "annotations", i));
    a->seg_h = (uint32_t)size[0];
    a->seg_w = (uint32_t)size[1];
    if (counts_kind == 0 || bad_counts)
        return hnd_error_set(PATH_FMT ".segmentation.counts: expected a list of integers or a string",
                             PATH_ARGS(L, "annotations", i));
    if (bad_count >= 0)
        return hnd_error_set(PATH_FMT ".segmentation.counts[%d]: expected a non-negative integer",
                             PATH_ARGS(L, "annotations", i), bad_count);
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
        return hnd_error_set(PATH_FMT ".segmentation.counts: sum %llu != height*width %llu",
                             PATH_ARGS(L, "annotations", i), (unsigned long long)total,
                             (unsigned long long)a->seg_h * a->seg_w);
    return 0;
}

/* One element of "annotations", text [p, e). */
static int fast_annotation(loader *L, const char *p, const char *e, int64_t i) {
    coco_dataset *ds = L->ds;
    jr r = {p, e, NULL};
    if (grow((void **)&ds->anns, &L->cap_anns, (size_t)ds->n_anns + 1, sizeof *ds->anns) < 0) return -1;
    coco_ann *a = &ds->anns[ds->n_anns];
    memset(a, 0, sizeof *a);
    /* the last occurrence of a key wins, as in Python's json */
    double v_id = 0, v_img = 0, v_cat = 0, v_crowd = 0, v_area = 0;
    int h_id = 0, h_img = 0, h_cat = 0, h_crowd = 0, h_area = 0, h_bbox = 0, nb = 0;
    size_t polys0 = ds->n_polys, coords0 = ds->n_coords, counts0 = ds->n_counts;
    jr_ws(&r);
    if (r.p >= r.end || *r.p != '{') {
        if (jr_skip(&r, 0) < 0) goto syntax;
        return hnd_error_set(PATH_FMT ": expected an object", PATH_ARGS(L, "annotations", i));
    }
    r.p++;
    jr_ws(&r);
    if (r.p < r.end && *r.p == '}') {
        r.p++;
    } else {
        for (;;) {
            const char *ks;
            size_t kn;
            int esc;
            jr_ws(&r);
            if (jr_string_raw(&r, &ks, &kn, &esc) < 0) goto syntax;
            jr_ws(&r);
            if (r.p >= r.end || *r.p != ':') {
                jr_fail(&r);
                goto syntax;
            }
            r.p++;
            double v;
            int kind;
            if (KEYIS(ks, kn, "segmentation")) {
                /* a repeated key: keep only the last value */
                ds->n_polys = polys0, ds->n_coords = coords0, ds->n_counts = counts0;
                int s = fast_segmentation(L, &r, a, i);
                if (s == -2) goto syntax;
                if (s < 0) return -1;
            } else if (KEYIS(ks, kn, "bbox")) {
                h_bbox = 1;
                nb = 0;
                jr_ws(&r);
                if (r.p < r.end && *r.p == '[') {
                    int f = 1, m;
                    while ((m = jr_array_next(&r, &f)) == 1) {
                        if (jr_num_or_skip(&r, &v, &kind) < 0) goto syntax;
                        if (kind != JV_NUM || nb >= 4) nb = -1000;
                        else a->bbox[nb] = v;
                        nb++;
                    }
                    if (m < 0) goto syntax;
                } else {
                    if (jr_skip(&r, 0) < 0) goto syntax;
                    nb = -1;
                }
            } else {
                int *h = NULL;
                double *dst = NULL;
                if (KEYIS(ks, kn, "id")) h = &h_id, dst = &v_id;
                else if (KEYIS(ks, kn, "image_id")) h = &h_img, dst = &v_img;
                else if (KEYIS(ks, kn, "category_id")) h = &h_cat, dst = &v_cat;
                else if (KEYIS(ks, kn, "iscrowd")) h = &h_crowd, dst = &v_crowd;
                else if (KEYIS(ks, kn, "area")) h = &h_area, dst = &v_area;
                if (jr_num_or_skip(&r, &v, &kind) < 0) goto syntax;
                if (h) {
                    *h = kind == JV_NUM ? 1 : 2; /* 2: present but not a number */
                    *dst = v;
                }
            }
            jr_ws(&r);
            if (r.p < r.end && *r.p == ',') {
                r.p++;
                continue;
            }
            if (r.p < r.end && *r.p == '}') {
                r.p++;
                break;
            }
            jr_fail(&r);
            goto syntax;
        }
    }
    jr_ws(&r);
    if (r.p != r.end) {
        jr_fail(&r);
        goto syntax;
    }
    if (!h_id) return hnd_error_set(PATH_FMT ".id: missing", PATH_ARGS(L, "annotations", i));
    if (ann_int(L, i, "id", h_id, v_id, &a->id) < 0) return -1;
    if (!h_img) return hnd_error_set(PATH_FMT ".image_id: missing", PATH_ARGS(L, "annotations", i));
    if (ann_int(L, i, "image_id", h_img, v_img, &a->image_id) < 0) return -1;
    if (!h_cat) return hnd_error_set(PATH_FMT ".category_id: missing", PATH_ARGS(L, "annotations", i));
    if (ann_int(L, i, "category_id", h_cat, v_cat, &a->category_id) < 0) return -1;
    int64_t crowd = 0;
    if (h_crowd && ann_int(L, i, "iscrowd", h_crowd, v_crowd, &crowd) < 0) return -1;
    if (crowd != 0 && crowd != 1)
        return hnd_error_set(PATH_FMT ".iscrowd: expected 0 or 1", PATH_ARGS(L, "annotations", i));
    a->iscrowd = (int32_t)crowd;
    if (!h_bbox) return hnd_error_set(PATH_FMT ".bbox: missing", PATH_ARGS(L, "annotations", i));
    if (nb != 4) return hnd_error_set(PATH_FMT ".bbox: expected 4 numbers", PATH_ARGS(L, "annotations", i));
    if (!h_area) return hnd_error_set(PATH_FMT ".area: missing", PATH_ARGS(L, "annotations", i));
    if (h_area != 1) return hnd_error_set(PATH_FMT ".area: expected a number", PATH_ARGS(L, "annotations", i));
    a->area = v_area;
    if (ds->n_anns >= INT32_MAX - 1) return hnd_error_set("%s: too many annotations", L->name);
    ds->n_anns++;
    return 0;
syntax : {
    char what[96];
    snprintf(what, sizeof what, "annotations[%lld]: invalid JSON", (long long)i);
    return syntax_error(L, r.err_at ? r.err_at : r.p, what);
}
}

/* ---------------------------------------------------------------- top level */

enum { K_IMAGES, K_ANNS, K_CATS, K_OTHER };

static int parse_element(loader *L, const char *p, const char *e, int kind, int64_t i, const char *key) {
    const char *perr = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(p, (size_t)(e - p), &perr, 0);
    if (!o) {
        char what[160];
        if (kind == K_OTHER)
            snprintf(what, sizeof what, "%.60s: invalid JSON", key);
        else
            snprintf(what, sizeof what, "%s[%lld]: invalid JSON", key, (long long)i);
        return syntax_error(L, perr && perr >= p && perr <= e ? perr : p, what);
    }
    int rc = 0;
    if (kind == K_IMAGES)
        rc = on_image(L, o, i);
    else if (kind == K_CATS)
        rc = on_category(L, o, i);
    cJSON_Delete(o);
    return rc;
}

static int parse_top(loader *L, int *seen) {
    const char *p = L->buf, *end = L->buf + L->len;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') return syntax_error(L, p, "expected a JSON object");
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') return skip_ws(p + 1, end) == end ? 0 : syntax_error(L, p + 1, "trailing data");
    for (;;) {
        if (p >= end || *p != '"') return syntax_error(L, p, "expected a key");
        const char *ke = string_end(p, end);
        if (!ke) return syntax_error(L, end, "unterminated key");
        size_t kl = (size_t)(ke - p - 2);
        const char *k = p + 1;
        int kind = K_OTHER;
        if (kl == 6 && memcmp(k, "images", 6) == 0) kind = K_IMAGES;
        else if (kl == 11 && memcmp(k, "annotations", 11) == 0) kind = K_ANNS;
        else if (kl == 10 && memcmp(k, "categories", 10) == 0) kind = K_CATS;
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(kl < 60 ? kl : 60), k);
        p = skip_ws(ke, end);
        if (p >= end || *p != ':') return syntax_error(L, p, "expected ':'");
        p = skip_ws(p + 1, end);
        if (kind == K_OTHER) {
            const char *e = value_end(p, end);
            if (!e) return syntax_error(L, p, "malformed or unterminated value");
            if (parse_element(L, p, e, K_OTHER, 0, key) < 0) return -1;
            p = e;
        } else {
            if (seen[kind]) return syntax_error(L, k, "duplicate key");
            seen[kind] = 1;
            if (p >= end || *p != '[') return hnd_error_set("%s: %s: expected an array", L->name, key);
            p = skip_ws(p + 1, end);
            int64_t i = 0;
            if (p < end && *p == ']') {
                p++;
            } else {
                for (;; i++) {
                    const char *e = value_end(p, end);
                    if (!e) {
                        char what[192];
                        snprintf(what, sizeof what, "%s[%lld]: malformed or unterminated value", key, (long long)i);
                        return syntax_error(L, p, what);
                    }
                    if ((kind == K_ANNS ? fast_annotation(L, p, e, i) : parse_element(L, p, e, kind, i, key)) < 0)
                        return -1;
                    p = skip_ws(e, end);
                    if ((i & 1023) == 0) prg_update(L->bar, (uint64_t)(p - L->buf));
                    if (p < end && *p == ',') {
                        p = skip_ws(p + 1, end);
                        continue;
                    }
                    if (p < end && *p == ']') {
                        p++;
                        break;
                    }
                    char what[192];
                    snprintf(what, sizeof what, "%s: expected ',' or ']' after element %lld", key, (long long)i);
                    return syntax_error(L, p, what);
                }
            }
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') {
            p = skip_ws(p + 1, end);
            if (p != end) return syntax_error(L, p, "trailing data after the top-level object");
            return 0;
        }
        return syntax_error(L, p, "expected ',' or '}'");
    }
}

/* Index ids, resolve references, group annotations by image. */
static int finish(loader *L) {
    coco_dataset *ds = L->ds;
    id_index *ii = idx_new((size_t)ds->n_images), *ci = idx_new((size_t)ds->n_cats);
    ds->img_index = ii;
    ds->cat_index = ci;
    if (!ii || !ci) return hnd_error_set("out of memory");
    for (int64_t i = 0; i < ds->n_images; i++) {
        int32_t prev = idx_put(ii, ds->images[i].id, (int32_t)i);
        if (prev >= 0)
            return hnd_error_set("%s: images[%lld].id: duplicate id %lld (also images[%d])", L->name, (long long)i,
                                 (long long)ds->images[i].id, prev);
    }
    for (int32_t i = 0; i < ds->n_cats; i++) {
        int32_t prev = idx_put(ci, ds->cats[i].id, i);
        if (prev >= 0)
            return hnd_error_set("%s: categories[%d].id: duplicate id %lld (also categories[%d])", L->name, i,
                                 (long long)ds->cats[i].id, prev);
    }
    id_index *ai = idx_new((size_t)ds->n_anns);
    if (!ai) return hnd_error_set("out of memory");
    ds->img_ann_start = calloc((size_t)ds->n_images + 1, sizeof *ds->img_ann_start);
    ds->img_anns = malloc(((size_t)ds->n_anns + 1) * sizeof *ds->img_anns);
    if (!ds->img_ann_start || !ds->img_anns) {
        idx_free(ai);
        return hnd_error_set("out of memory");
    }
    for (int64_t i = 0; i < ds->n_anns; i++) {
        coco_ann *a = &ds->anns[i];
        int32_t prev = idx_put(ai, a->id, (int32_t)i);
        if (prev >= 0) {
            idx_free(ai);
            return hnd_error_set("%s: annotations[%lld].id: duplicate id %lld (also annotations[%d])", L->name,
                                 (long long)i, (long long)a->id, prev);
        }
        a->image = idx_get(ii, a->image_id);
        if (a->image < 0) {
            idx_free(ai);
            return hnd_error_set("%s: annotations[%lld].image_id: unknown image %lld", L->name, (long long)i,
                                 (long long)a->image_id);
        }
        a->category = idx_get(ci, a->category_id);
        if (a->category < 0) {
            idx_free(ai);
            return hnd_error_set("%s: annotations[%lld].category_id: unknown category %lld", L->name, (long long)i,
                                 (long long)a->category_id);
        }
        ds->img_ann_start[a->image + 1]++;
    }
    idx_free(ai);
    for (int64_t i = 0; i < ds->n_images; i++) ds->img_ann_start[i + 1] += ds->img_ann_start[i];
    int64_t *fill = malloc(((size_t)ds->n_images + 1) * sizeof *fill);
    if (!fill) return hnd_error_set("out of memory");
    memcpy(fill, ds->img_ann_start, ((size_t)ds->n_images + 1) * sizeof *fill);
    for (int64_t i = 0; i < ds->n_anns; i++) ds->img_anns[fill[ds->anns[i].image]++] = (int32_t)i;
    free(fill);
    return 0;
}

coco_dataset *coco_load_mem(const char *name, const char *buf, size_t len, const coco_load_opts *opts) {
    loader L;
    memset(&L, 0, sizeof L);
    L.name = name;
    L.buf = buf;
    L.len = len;
    L.ds = calloc(1, sizeof *L.ds);
    if (!L.ds) {
        hnd_error_set("out of memory");
        return NULL;
    }
    L.ds->path = strdup(name);
    uint32_t dummy;
    if (pool_add(&L, "", 0, &dummy) < 0) { /* offset 0 = "" */
        coco_free(L.ds);
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
    prg_update(L.bar, len);
    prg_end(L.bar);
    if (rc < 0) {
        coco_free(L.ds);
        return NULL;
    }
    return L.ds;
}

coco_dataset *coco_load(const char *path, const coco_load_opts *opts) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        hnd_error_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        hnd_error_set("%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    if (len == 0) {
        close(fd);
        hnd_error_set("%s: empty file", path);
        return NULL;
    }
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        hnd_error_set("%s: cannot map: %s", path, strerror(errno));
        return NULL;
    }
    madvise(m, len, MADV_SEQUENTIAL);
    coco_dataset *ds = coco_load_mem(path, m, len, opts);
    munmap(m, len);
    return ds;
}

void coco_free(coco_dataset *ds) {
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
    free(ds->strings);
    idx_free(ds->img_index);
    idx_free(ds->cat_index);
    free(ds);
}

int64_t coco_image_index(const coco_dataset *ds, int64_t image_id) { return idx_get(ds->img_index, image_id); }

int32_t coco_cat_index(const coco_dataset *ds, int64_t cat_id) { return idx_get(ds->cat_index, cat_id); }

/* ---------------------------------------------------------------- masks */

int coco_ann_rle(const coco_dataset *ds, const coco_ann *a, rle_t *out) {
    rle_init(out);
    const coco_image *im = &ds->images[a->image];
    uint32_t h = (uint32_t)im->height, w = (uint32_t)im->width;
    long long ai = (long long)(a - ds->anns);
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
        for (uint32_t k = 0; k < a->seg_n; k++) rle_free(&parts[k]);
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
