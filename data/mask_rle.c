/* mask_rle.c: COCO RLE masks with pycocotools' exact semantics.
 * Written from the description of the algorithms in pycocotools' maskApi
 * (rasterisation, codec, bbox and IoU rules); see mask_rle.h. */
#include "mask_rle.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

/* Bit-exact agreement with pycocotools: no fused multiply-add contraction
 * of the rasteriser's and the IoUs' arithmetic, whatever -march says. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

void rle_init(rle_t *r) {
    r->h = r->w = 0;
    r->m = 0;
    r->cnts = NULL;
}

void rle_clear(rle_t *r) {
    if (!r) return;
    free(r->cnts);
    rle_init(r);
}

/* Replace r with (h, w, m, cnts) taking ownership of cnts. */
static void rle_take(rle_t *r, uint32_t h, uint32_t w, uint32_t *cnts, size_t m) {
    r->h = h;
    r->w = w;
    r->m = m;
    r->cnts = cnts;
}

int rle_from_counts(rle_t *r, uint32_t h, uint32_t w, const uint32_t *cnts, size_t m) {
    uint32_t *c = malloc((m ? m : 1) * sizeof *c);
    if (!c) return hnd_error_set("out of memory (%zu counts)", m);
    if (m) memcpy(c, cnts, m * sizeof *c);
    rle_take(r, h, w, c, m);
    return 0;
}

int rle_check(const rle_t *r) {
    uint64_t s = 0;
    for (size_t i = 0; i < r->m; i++) s += r->cnts[i];
    uint64_t a = (uint64_t)r->h * r->w;
    if (s != a)
        return hnd_error_set("counts add up to %llu, but size %ux%u has %llu pixels", (unsigned long long)s, r->h,
                             r->w, (unsigned long long)a);
    return 0;
}

/* ---- bitmaps ---------------------------------------------------------- */

static int encode_strided(rle_t *r, const uint8_t *px, uint32_t h, uint32_t w, int rowmajor) {
    uint64_t a = (uint64_t)h * w;
    /* at most a+1 runs; grow geometrically instead of reserving a+1 */
    size_t cap = 64, m = 0;
    uint32_t *c = malloc(cap * sizeof *c);
    if (!c) return hnd_error_set("out of memory");
    int prev = 0;
    uint32_t run = 0;
    for (uint32_t x = 0; x < w; x++) {
        for (uint32_t y = 0; y < h; y++) {
            int v = rowmajor ? px[(size_t)y * w + x] != 0 : px[(size_t)x * h + y] != 0;
            if (v != prev) {
                if (m + 1 >= cap) {
                    uint32_t *n = realloc(c, 2 * cap * sizeof *c);
                    if (!n) {
                        free(c);
                        return hnd_error_set("out of memory");
                    }
                    c = n;
                    cap *= 2;
                }
                c[m++] = run;
                run = 0;
                prev = v;
            }
            run++;
        }
    }
    (void)a;
    c[m++] = run;
    rle_take(r, h, w, c, m);
    return 0;
}

int rle_encode(rle_t *r, const uint8_t *colmajor, uint32_t h, uint32_t w) {
    return encode_strided(r, colmajor, h, w, 0);
}

int rle_encode_rowmajor(rle_t *r, const uint8_t *rowmajor, uint32_t h, uint32_t w) {
    return encode_strided(r, rowmajor, h, w, 1);
}

void rle_decode(const rle_t *r, uint8_t *out) {
    uint64_t a = (uint64_t)r->h * r->w, p = 0;
    uint8_t v = 0;
    for (size_t j = 0; j < r->m && p < a; j++, v ^= 1) {
        uint64_t n = r->cnts[j];
        if (n > a - p) n = a - p;
        memset(out + p, v, n);
        p += n;
    }
    if (p < a) memset(out + p, 0, a - p);
}

void rle_decode_rowmajor(const rle_t *r, uint8_t *out) {
    uint64_t a = (uint64_t)r->h * r->w, p = 0;
    memset(out, 0, a);
    if (!r->h) return;
    for (size_t j = 0; j < r->m && p < a; j++) {
        uint64_t n = r->cnts[j];
        if (n > a - p) n = a - p;
        if (j & 1) {
            uint64_t e = p + n;
            uint32_t x = (uint32_t)(p / r->h), y = (uint32_t)(p % r->h);
            for (uint64_t q = p; q < e; q++) {
                out[(size_t)y * r->w + x] = 1;
                if (++y == r->h) {
                    y = 0;
                    x++;
                }
            }
        }
        p += n;
    }
}

/* ---- merge, area, bbox ------------------------------------------------ */

/* Pairwise union/intersection into out (capacity ma + mb + 1); returns the
 * number of counts. Runs of both inputs are walked together; a count is
 * emitted each time the combined value changes, and at the end. */
static size_t merge2(const uint32_t *a, size_t ma, const uint32_t *b, size_t mb, int intersect, uint32_t *out) {
    size_t ka = 1, kb = 1, m = 0;
    uint32_t ca = ma ? a[0] : 0, cb = mb ? b[0] : 0, acc = 0;
    int va = 0, vb = 0, v = 0;
    for (;;) {
        uint32_t c = ca < cb ? ca : cb;
        acc += c;
        ca -= c;
        cb -= c;
        if (!ca && ka < ma) {
            ca = a[ka++];
            va = !va;
        }
        if (!cb && kb < mb) {
            cb = b[kb++];
            vb = !vb;
        }
        int done = (ca == 0 && ka >= ma) || (cb == 0 && kb >= mb);
        int nv = intersect ? (va && vb) : (va || vb);
        if (done) {
            /* one side ran out early only for inputs of unequal sums:
             * the rest of the other side counts as it is */
            uint32_t rest = ca + cb;
            if (rest) {
                int rv = ca ? (intersect ? 0 : va) : (intersect ? 0 : vb);
                if (rv != v) {
                    out[m++] = acc;
                    acc = 0;
                    v = rv;
                }
                acc += rest;
            }
            out[m++] = acc;
            return m;
        }
        if (nv != v) {
            out[m++] = acc;
            acc = 0;
            v = nv;
        }
    }
}

int rle_merge(const rle_t *rs, size_t n, int intersect, rle_t *out) {
    if (n == 0) {
        rle_init(out);
        return 0;
    }
    uint32_t h = rs[0].h, w = rs[0].w;
    if (n == 1) return rle_from_counts(out, h, w, rs[0].cnts, rs[0].m);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (rs[i].h != h || rs[i].w != w)
            return hnd_error_set("merge: mask %zu is %ux%u, mask 0 is %ux%u", i, rs[i].h, rs[i].w, h, w);
        total += rs[i].m;
    }
    uint32_t *cur = malloc((total + 1) * sizeof *cur), *nxt = malloc((total + 1) * sizeof *nxt);
    if (!cur || !nxt) {
        free(cur);
        free(nxt);
        return hnd_error_set("out of memory");
    }
    size_t m = rs[0].m;
    if (m) memcpy(cur, rs[0].cnts, m * sizeof *cur);
    for (size_t i = 1; i < n; i++) {
        m = merge2(cur, m, rs[i].cnts, rs[i].m, intersect, nxt);
        uint32_t *t = cur;
        cur = nxt;
        nxt = t;
    }
    free(nxt);
    rle_take(out, h, w, cur, m);
    return 0;
}

uint64_t rle_area(const rle_t *r) {
    uint64_t a = 0;
    for (size_t j = 1; j < r->m; j += 2) a += r->cnts[j];
    return a;
}

/* pycocotools' toBbox: the first and last pixel of every 1-run give x and
 * y extremes; a run that starts in an earlier column than it ends covers
 * the whole height. Only an even number of counts is looked at. The column
 * and row of the running position are kept incrementally (no division per
 * run); for runs that end at position 0 (only in degenerate RLEs) the
 * original's unsigned wrap-around is reproduced. */
void rle_to_bbox(const rle_t *r, double bb[4]) {
    uint32_t h = r->h, w = r->w;
    size_t m = r->m & ~(size_t)1;
    if (m == 0 || h == 0) {
        bb[0] = bb[1] = bb[2] = bb[3] = 0;
        return;
    }
    uint32_t xs = w, ys = h, xe = 0, ye = 0, xstart = 0;
    uint64_t cc = 0;
    uint32_t cx = 0, cy = 0; /* column and row of position cc */
    for (size_t j = 0; j < m; j++) {
        uint32_t c = r->cnts[j];
        cc += c;
        uint64_t ny = (uint64_t)cy + c;
        if (ny < h) {
            cy = (uint32_t)ny;
        } else if (ny < 2 * (uint64_t)h) { /* the usual gap to the next column */
            cy = (uint32_t)(ny - h);
            cx++;
        } else {
            cx += (uint32_t)(ny / h);
            cy = (uint32_t)(ny % h);
        }
        uint32_t x, y;
        if ((j & 1) == 0) {
            x = cx;
            y = cy;
        } else if (cc > 0 && cc <= UINT32_MAX) { /* the last pixel of the run: cc - 1 */
            x = cy ? cx : cx - 1;
            y = cy ? cy - 1 : h - 1;
        } else {
            uint32_t t = (uint32_t)cc - 1u;
            y = t % h;
            x = (t - y) / h;
        }
        if ((j & 1) == 0)
            xstart = x;
        else if (xstart < x) {
            ys = 0;
            ye = h - 1;
        }
        if (x < xs) xs = x;
        if (x > xe) xe = x;
        if (y < ys) ys = y;
        if (y > ye) ye = y;
    }
    bb[0] = xs;
    bb[2] = (double)(uint32_t)(xe - xs + 1);
    bb[1] = ys;
    bb[3] = (double)(uint32_t)(ye - ys + 1);
}

/* ---- polygons --------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x > y ? 1 : x < y ? -1 : 0;
}

/* Step 2 for one edge: the points of (xs,ys)->(xe,ye) on the 5x grid, one
 * per step along the longer axis (walked from the lower end, stored in the
 * edge's direction). Returns the count written to u, v. */
static size_t walk_edge(int xs, int ys, int xe, int ye, int *u, int *v) {
    int dx = abs(xe - xs), dy = abs(ys - ye);
    int flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
        int t = xs;
        xs = xe;
        xe = t;
        t = ys;
        ys = ye;
        ye = t;
    }
    size_t n = 0;
    if (dx == 0 && dy == 0) {
        /* a repeated vertex: one point; its row is never used because
         * its column equals its neighbours' (0/0 in the original) */
        u[n] = xs;
        v[n] = ys;
        n++;
    } else if (dx >= dy) {
        double s = (double)(ye - ys) / dx;
        for (int d = 0; d <= dx; d++) {
            int t = flip ? dx - d : d;
            u[n] = t + xs;
            v[n] = (int)(ys + s * t + .5);
            n++;
        }
    } else {
        double s = (double)(xe - xs) / dy;
        for (int d = 0; d <= dy; d++) {
            int t = flip ? dy - d : d;
            v[n] = t + ys;
            u[n] = (int)(xs + s * t + .5);
            n++;
        }
    }
    return n;
}

/* Rasterisation of pycocotools' rleFrPoly:
 * 1. scale the vertices by 5 and round (truncating (int)(5v + 0.5));
 * 2. walk every edge densely on the 5x grid (one point per step along the
 *    longer axis, the other coordinate rounded the same way);
 * 3. keep the points where the x coordinate changes and that fall on a
 *    pixel centre column after scaling back; each gives the first row
 *    (ceil, clamped to [0, h]) at which the mask toggles in that column;
 * 4. sort those toggle positions (column-major index) and turn them into
 *    run lengths, cancelling repeated toggles. */
int rle_from_poly(rle_t *r, const double *xy, size_t k, uint32_t h, uint32_t w) {
    const double scale = 5;
    for (size_t j = 0; j < 2 * k; j++)
        if (!isfinite(xy[j]) || fabs(xy[j]) > 1e8)
            return hnd_error_set("polygon coordinate %zu is %g (must be finite, |v| <= 1e8)", j, xy[j]);
    if ((uint64_t)h * w > UINT32_MAX) return hnd_error_set("mask %ux%u too large", h, w);
    int *x = malloc((k + 1) * sizeof *x), *y = malloc((k + 1) * sizeof *y);
    if (!x || !y) goto oom0;
    for (size_t j = 0; j < k; j++) {
        x[j] = (int)(scale * xy[2 * j] + .5);
        y[j] = (int)(scale * xy[2 * j + 1] + .5);
    }
    if (k) {
        x[k] = x[0];
        y[k] = y[0];
    }
    size_t n = 0;
    for (size_t j = 0; j < k; j++) {
        unsigned dx = (unsigned)abs(x[j] - x[j + 1]), dy = (unsigned)abs(y[j] - y[j + 1]);
        n += (dx > dy ? dx : dy) + 1;
    }
    int *u = malloc((n ? n : 1) * sizeof *u), *v = malloc((n ? n : 1) * sizeof *v);
    if (!u || !v) {
        free(u);
        free(v);
        goto oom0;
    }
    n = 0;
    for (size_t j = 0; j < k; j++) n += walk_edge(x[j], y[j], x[j + 1], y[j + 1], u + n, v + n);
    free(x);
    free(y);
    /* toggle positions */
    uint32_t *a = malloc((n + 1) * sizeof *a);
    if (!a) {
        free(u);
        free(v);
        goto oom;
    }
    size_t na = 0;
    for (size_t j = 1; j < n; j++) {
        if (u[j] == u[j - 1]) continue;
        double xd = (double)(u[j] < u[j - 1] ? u[j] : u[j] - 1);
        xd = (xd + .5) / scale - .5;
        if (floor(xd) != xd || xd < 0 || xd > (double)w - 1) continue;
        double yd = (double)(v[j] < v[j - 1] ? v[j] : v[j - 1]);
        yd = (yd + .5) / scale - .5;
        if (yd < 0)
            yd = 0;
        else if (yd > h)
            yd = h;
        yd = ceil(yd);
        a[na++] = (uint32_t)(int)xd * h + (uint32_t)(int)yd;
    }
    free(u);
    free(v);
    a[na++] = h * w;
    qsort(a, na, sizeof *a, cmp_u32);
    uint32_t prev = 0;
    for (size_t j = 0; j < na; j++) {
        uint32_t t = a[j];
        a[j] -= prev;
        prev = t;
    }
    /* runs; a zero-length run merges its two neighbours */
    uint32_t *b = malloc(na * sizeof *b);
    if (!b) {
        free(a);
        goto oom;
    }
    size_t m = 0, j = 0;
    b[m++] = a[j++];
    while (j < na) {
        if (a[j] > 0) {
            b[m++] = a[j++];
        } else {
            j++;
            if (j < na) b[m - 1] += a[j++];
        }
    }
    free(a);
    rle_take(r, h, w, b, m);
    return 0;
oom0:
    free(x);
    free(y);
oom:
    return hnd_error_set("out of memory rasterising a polygon of %zu points", k);
}

int rle_from_bbox(rle_t *r, const double bb[4], uint32_t h, uint32_t w) {
    double xs = bb[0], xe = xs + bb[2], ys = bb[1], ye = ys + bb[3];
    double xy[8] = {xs, ys, xs, ye, xe, ye, xe, ys};
    return rle_from_poly(r, xy, 4, h, w);
}

/* ---- string codec ----------------------------------------------------- */

/* LEB128-like: 5 value bits per char plus a continuation bit (0x20), the
 * last char's 0x10 bit is the sign; chars offset by 48. Counts from the
 * fourth on are stored as the difference to the count two before. */
char *rle_to_string(const rle_t *r) {
    char *s = malloc(r->m * 7 + 1);
    if (!s) return NULL;
    size_t p = 0;
    for (size_t i = 0; i < r->m; i++) {
        int64_t x = (int64_t)r->cnts[i];
        if (i > 2) x -= (int64_t)r->cnts[i - 2];
        int more = 1;
        while (more) {
            int c = (int)(x & 0x1f);
            x >>= 5; /* arithmetic shift on every supported compiler */
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s[p++] = (char)(c + 48);
        }
    }
    s[p] = '\0';
    return s;
}

int rle_decode_string(const char *s, size_t len, uint32_t *cnts, size_t cap, size_t *mout) {
    size_t m = 0, p = 0;
    while (p < len) {
        int64_t x = 0;
        int k = 0, more = 1;
        int c0 = (unsigned char)s[p] - 48;
        if (c0 >= 0 && c0 < 32) { /* one character (the common case): 5 bits, bit 4 the sign */
            x = c0 & 0x10 ? c0 - 32 : c0;
            p++;
            more = 0;
        }
        while (more) {
            if (p >= len) return hnd_error_set("counts: string ends inside a number (char %zu)", p);
            int c = (unsigned char)s[p] - 48;
            if (c < 0 || c > 63) return hnd_error_set("counts: invalid character '%c' at %zu", s[p], p);
            if (k >= 12) return hnd_error_set("counts: number too long at char %zu", p);
            x |= (int64_t)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++;
            k++;
            if (!more && (c & 0x10)) x |= (int64_t)(~(uint64_t)0 << (5 * k));
        }
        if (m > 2) x += (int64_t)cnts[m - 2];
        if (x < 0 || x > (int64_t)UINT32_MAX)
            return hnd_error_set("counts: run %zu is %lld (must be in 0..2^32-1)", m, (long long)x);
        if (m >= cap) return hnd_error_set("counts: too many runs");
        cnts[m++] = (uint32_t)x;
    }
    *mout = m;
    return 0;
}

int rle_from_string(rle_t *r, const char *s, size_t len, uint32_t h, uint32_t w) {
    uint32_t *c = malloc((len ? len : 1) * sizeof *c);
    if (!c) return hnd_error_set("out of memory");
    size_t m;
    if (rle_decode_string(s, len, c, len, &m) < 0) {
        free(c);
        return -1;
    }
    rle_take(r, h, w, c, m);
    return 0;
}

/* ---- IoU -------------------------------------------------------------- */

double rle_bbox_iou(const double D[4], const double G[4], int crowd) {
    double ga = G[2] * G[3], da = D[2] * D[3];
    double w = fmin(D[2] + D[0], G[2] + G[0]) - fmax(D[0], G[0]);
    if (w <= 0) return 0;
    double h = fmin(D[3] + D[1], G[3] + G[1]) - fmax(D[1], G[1]);
    if (h <= 0) return 0;
    double i = w * h, u = crowd ? da : da + ga - i;
    return i / u;
}

double rle_iou_counts(const uint32_t *a, size_t ma, const uint32_t *b, size_t mb, int crowd) {
    size_t ka = 1, kb = 1;
    uint32_t ca = ma ? a[0] : 0, cb = mb ? b[0] : 0;
    int va = 0, vb = 0;
    uint64_t in = 0, un = 0;
    for (;;) {
        uint32_t c = ca < cb ? ca : cb;
        if (va || vb) {
            un += c;
            if (va && vb) in += c;
        }
        ca -= c;
        cb -= c;
        if (!ca && ka < ma) {
            ca = a[ka++];
            va = !va;
        }
        if (!cb && kb < mb) {
            cb = b[kb++];
            vb = !vb;
        }
        if ((ca == 0 && ka >= ma) || (cb == 0 && kb >= mb)) {
            /* the end (or, for unequal sums, one side's end: the rest of
             * the other side only adds to the union) */
            if (ca && va) un += ca;
            if (cb && vb) un += cb;
            break;
        }
    }
    if (in == 0) return 0;
    if (crowd) {
        un = 0;
        for (size_t j = 1; j < ma; j += 2) un += a[j];
    }
    return (double)in / (double)un;
}

double rle_iou(const rle_t *dt, const rle_t *gt, int crowd) {
    double db[4], gb[4];
    rle_to_bbox(dt, db);
    rle_to_bbox(gt, gb);
    if (!(rle_bbox_iou(db, gb, crowd) > 0)) return 0;
    if (dt->h != gt->h || dt->w != gt->w) return -1;
    return rle_iou_counts(dt->cnts, dt->m, gt->cnts, gt->m, crowd);
}

void rle_iou_matrix(const rle_t *dt, size_t ndt, const rle_t *gt, size_t ngt, const uint8_t *iscrowd,
                    double *out) {
    for (size_t d = 0; d < ndt; d++)
        for (size_t g = 0; g < ngt; g++) out[d * ngt + g] = rle_iou(&dt[d], &gt[g], iscrowd ? iscrowd[g] : 0);
}

void rle_bbox_iou_matrix(const double *dt, size_t ndt, const double *gt, size_t ngt, const uint8_t *iscrowd,
                         double *out) {
    for (size_t d = 0; d < ndt; d++)
        for (size_t g = 0; g < ngt; g++)
            out[d * ngt + g] = rle_bbox_iou(dt + 4 * d, gt + 4 * g, iscrowd ? iscrowd[g] : 0);
}

/* ---- JSON ------------------------------------------------------------- */

static int json_size(const cJSON *segm, uint32_t *h, uint32_t *w) {
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(segm, "size");
    if (!cJSON_IsArray(sz) || cJSON_GetArraySize(sz) != 2 || !cJSON_IsNumber(sz->child) ||
        !cJSON_IsNumber(sz->child->next))
        return hnd_error_set("size: expected [height, width]");
    double a = sz->child->valuedouble, b = sz->child->next->valuedouble;
    if (!(a >= 0 && a <= 1e6 && a == floor(a) && b >= 0 && b <= 1e6 && b == floor(b)))
        return hnd_error_set("size: [%g, %g] is not a pair of image dimensions", a, b);
    *h = (uint32_t)a;
    *w = (uint32_t)b;
    return 0;
}

static int json_polys(rle_t *r, const cJSON *segm, uint32_t h, uint32_t w) {
    int n = cJSON_GetArraySize(segm);
    if (n == 0) return hnd_error_set("empty polygon list");
    rle_t *parts = calloc((size_t)n, sizeof *parts);
    double *xy = NULL;
    size_t xycap = 0;
    int rc = -1, i = 0, boxes = -1;
    if (!parts) return hnd_error_set("out of memory");
    for (const cJSON *p = segm->child; p; p = p->next, i++) {
        if (!cJSON_IsArray(p)) {
            hnd_error_set("[%d]: expected a list of numbers", i);
            goto done;
        }
        size_t len = (size_t)cJSON_GetArraySize(p);
        if (boxes < 0) boxes = len == 4; /* pycocotools: a first part of 4 numbers means boxes */
        if (boxes ? len != 4 : (i == 0 && len < 6)) {
            hnd_error_set("[%d]: %s", i,
                          boxes ? "expected 4 numbers (the first part was a box)" : "a polygon needs 3 points");
            goto done;
        }
        if (len > xycap) {
            double *t = realloc(xy, len * sizeof *xy);
            if (!t) {
                hnd_error_set("out of memory");
                goto done;
            }
            xy = t;
            xycap = len;
        }
        size_t j = 0;
        for (const cJSON *q = p->child; q; q = q->next, j++) {
            if (!cJSON_IsNumber(q)) {
                hnd_error_set("[%d][%zu]: expected a number", i, j);
                goto done;
            }
            xy[j] = q->valuedouble;
        }
        if ((boxes ? rle_from_bbox(&parts[i], xy, h, w) : rle_from_poly(&parts[i], xy, len / 2, h, w)) < 0) {
            hnd_error_prefix("[%d]", i);
            goto done;
        }
    }
    rc = rle_merge(parts, (size_t)n, 0, r);
done:
    for (int k = 0; k < n; k++) rle_clear(&parts[k]);
    free(parts);
    free(xy);
    return rc;
}

int rle_from_json(rle_t *r, const cJSON *segm, uint32_t img_h, uint32_t img_w) {
    if (cJSON_IsArray(segm)) {
        if (json_polys(r, segm, img_h, img_w) < 0) return hnd_error_prefix("segmentation");
        return 0;
    }
    if (!cJSON_IsObject(segm)) return hnd_error_set("segmentation: expected polygons or an RLE object");
    uint32_t h = 0, w = 0;
    if (json_size(segm, &h, &w) < 0) return hnd_error_prefix("segmentation");
    if (h != img_h || w != img_w)
        return hnd_error_set("segmentation.size: [%u, %u] does not match the image (%u x %u)", h, w, img_h, img_w);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(segm, "counts");
    if (cJSON_IsString(c)) {
        if (rle_from_string(r, c->valuestring, strlen(c->valuestring), h, w) < 0)
            return hnd_error_prefix("segmentation");
    } else if (cJSON_IsArray(c)) {
        size_t n = (size_t)cJSON_GetArraySize(c), j = 0;
        uint32_t *cn = malloc((n ? n : 1) * sizeof *cn);
        if (!cn) return hnd_error_set("out of memory");
        for (const cJSON *q = c->child; q; q = q->next, j++) {
            double v = cJSON_IsNumber(q) ? q->valuedouble : -1;
            if (!(v >= 0 && v <= UINT32_MAX && v == floor(v))) {
                free(cn);
                return hnd_error_set("segmentation.counts[%zu]: expected a run length (integer >= 0)", j);
            }
            cn[j] = (uint32_t)v;
        }
        rle_take(r, h, w, cn, n);
    } else {
        return hnd_error_set("segmentation.counts: expected a string or a list of integers");
    }
    if (rle_check(r) < 0) {
        rle_clear(r);
        return hnd_error_prefix("segmentation");
    }
    return 0;
}
