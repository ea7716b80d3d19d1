/* coco_eval.c: per-image matching, accumulation and the summary of
 * pycocotools' COCOeval, reproduced operation for operation where the
 * floating-point result depends on it (IoU formulas, thresholds as numpy's
 * linspace gives them, precision/recall divisions, numpy's pairwise sum in
 * the final means), and restructured everywhere else for speed:
 *
 *   - ground truth and results are sorted once by (category, image, ...),
 *     so each (image, category) pair is a pair of contiguous ranges;
 *   - IoUs of one pair are computed once and reused for the 4 area ranges;
 *   - per detection and area range, the 10 thresholds' "matched" and
 *     "ignored" flags are two 16-bit masks;
 *   - accumulation sorts each category's detections by score once (stable,
 *     as numpy's mergesort) and derives maxDets 1/10/100 by their rank in
 *     their image, skipping ignored detections (which change neither the
 *     precision envelope nor the recall lookup).
 * Categories are independent and are spread over threads. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coco_eval_int.h"
#include "atomic_file.h"
#include "hnd_error.h"
#include "mono_clock.h"
#include "mask_rle.h"

/* Bit-exact agreement with pycocotools: no fused multiply-add contraction
 * of the rasteriser's and the IoUs' arithmetic, whatever -march says. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

enum { T = 10, R = 101, A = 4, M = 3 }; /* A, M: the most area ranges / maxDets of any type */

/* np.linspace(.5, 0.95, 10) exactly (the 8th and 9th differ from .5+.05*i) */
static const double k_iou_thr[T] = {0x1.0000000000000p-1, 0x1.199999999999ap-1, 0x1.3333333333333p-1,
                                    0x1.4cccccccccccdp-1, 0x1.6666666666666p-1, 0x1.8000000000000p-1,
                                    0x1.999999999999ap-1, 0x1.b333333333333p-1, 0x1.cccccccccccccp-1,
                                    0x1.e666666666666p-1};
static const double k_eps = 2.220446049250313e-16; /* np.spacing(1) */

/* Params: areaRng and maxDets of setDetParams / setKpParams (1e5 ** 2 is
 * 1e10 exactly). The last maxDets also caps each image's detections. */
typedef struct {
    int na, nm;
    double area[A][2];
    int maxdet[M];
} params;
static const params k_det = {4, 3, {{0, 1e10}, {0, 1024}, {1024, 9216}, {9216, 1e10}}, {1, 10, 100}};
static const params k_kp = {3, 1, {{0, 1e10}, {1024, 9216}, {9216, 1e10}}, {20}};

static const params *params_of(ce_iou_type t) { return t == CE_KEYPOINTS ? &k_kp : &k_det; }

const char *ce_iou_name(ce_iou_type t) { return t == CE_SEGM ? "segm" : t == CE_KEYPOINTS ? "keypoints" : "bbox"; }

int ce_iou_parse(const char *s) {
    if (s && strcmp(s, "bbox") == 0) return CE_BBOX;
    if (s && strcmp(s, "segm") == 0) return CE_SEGM;
    if (s && strcmp(s, "keypoints") == 0) return CE_KEYPOINTS;
    return -1;
}

int ce_num_stats(ce_iou_type t) { return t == CE_KEYPOINTS ? 10 : 12; }

/* ---- scratch of one worker -------------------------------------------- */

typedef struct {
    double *iou;
    size_t iou_cap;
    uint32_t *dcnt; /* decoded detection RLEs of one image (segm) */
    size_t dcnt_cap;
    int *order;
    uint8_t *gtig, *gtm;
    size_t g_cap;
    uint16_t *tpb, *igb; /* [A][n of the category] each, one allocation */
    size_t b_cap;
    uint32_t *list;
    size_t list_cap;
    double *rc, *pr;
    size_t p_cap;
} work;

static void work_free(work *w) {
    free(w->iou);
    free(w->dcnt);
    free(w->order);
    free(w->gtig);
    free(w->gtm);
    free(w->tpb); /* igb points into it */
    free(w->list);
    free(w->rc); /* pr points into it */
}

static int reserve(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

static int work_gt(work *w, size_t g) {
    if (g <= w->g_cap) return 0;
    size_t n = w->g_cap ? w->g_cap : 16;
    while (n < g) n *= 2;
    int *order = realloc(w->order, n * sizeof *order);
    if (order) w->order = order;
    uint8_t *gtig = realloc(w->gtig, n);
    if (gtig) w->gtig = gtig;
    uint8_t *gtm = realloc(w->gtm, n * T);
    if (gtm) w->gtm = gtm;
    if (!order || !gtig || !gtm) return -1;
    w->g_cap = n;
    return 0;
}

/* ---- one (image, category) pair ---------------------------------------- */

static double pairwise_sum(const double *a, size_t n);

/* computeOks for one detection d (3K numbers) and one annotation g with
 * its box and area; vars[k] = (2 sigma_k)^2. */
static double oks(const double *d, const double *g, int K, const double *vars, const double bb[4], double area) {
    double e[COCO_OKS_MAXK];
    int k1 = 0, n = 0;
    for (int k = 0; k < K; k++) k1 += g[3 * k + 2] > 0;
    /* the ignore bounds: the box doubled in each direction */
    double x0 = bb[0] - bb[2], x1 = bb[0] + bb[2] * 2, y0 = bb[1] - bb[3], y1 = bb[1] + bb[3] * 2;
    for (int k = 0; k < K; k++) {
        double xd = d[3 * k], yd = d[3 * k + 1], dx, dy;
        if (k1 > 0) {
            if (!(g[3 * k + 2] > 0)) continue; /* e = e[vg > 0] */
            dx = xd - g[3 * k];
            dy = yd - g[3 * k + 1];
        } else {
            dx = fmax(0., x0 - xd) + fmax(0., xd - x1);
            dy = fmax(0., y0 - yd) + fmax(0., yd - y1);
        }
        e[n++] = exp(-((dx * dx + dy * dy) / vars[k] / (area + k_eps) / 2));
    }
    return pairwise_sum(e, (size_t)n) / n;
}

/* IoUs of the first D detections [ds, ds+D) against the G annotations
 * [gs, gs+G), row-major (detection, annotation), as maskUtils.iou. */
static int pair_ious(const ce_gt *gt, const ce_dt *dt, size_t gs, size_t G, size_t ds, size_t D, work *w) {
    if (reserve((void **)&w->iou, &w->iou_cap, D * G, sizeof *w->iou) < 0) return -1;
    const ce_gt_ann *ga = gt->ann + gs;
    const ce_dt_rec *da = dt->rec + ds;
    if (dt->type == CE_KEYPOINTS) {
        int32_t cat = ga[0].cat, K = gt->cat_k[cat];
        double vars[COCO_OKS_MAXK];
        for (int k = 0; k < K; k++) vars[k] = (gt->cat_sig[cat][k] * 2) * (gt->cat_sig[cat][k] * 2);
        for (size_t g = 0; g < G; g++)
            for (size_t d = 0; d < D; d++)
                w->iou[d * G + g] = oks(dt->kpool + da[d].koff, gt->kps + ga[g].kp_off, K, vars, ga[g].bbox, ga[g].area);
        return 0;
    }
    if (dt->type == CE_BBOX) {
        for (size_t d = 0; d < D; d++)
            for (size_t g = 0; g < G; g++) w->iou[d * G + g] = rle_bbox_iou(da[d].bbox, ga[g].bbox, (int)ga[g].crowd);
        return 0;
    }
    /* segm, pycocotools' rleIou: the boxes of both RLEs first (0 when they
     * do not overlap), the runs after; a detection's string is decoded only
     * when its box meets one of the objects' */
    size_t total = 0;
    for (size_t d = 0; d < D; d++) total += da[d].slen;
    if (reserve((void **)&w->dcnt, &w->dcnt_cap, total + 1, sizeof *w->dcnt) < 0) return -1;
    size_t off = 0;
    for (size_t d = 0; d < D; d++) {
        const uint32_t *dc = NULL;
        size_t dm = 0;
        for (size_t g = 0; g < G; g++) {
            int crowd = (int)ga[g].crowd;
            double o = rle_bbox_iou(da[d].bbox, ga[g].rbb, crowd);
            if (o > 0) {
                if (!dc) {
                    if (rle_decode_string(ce_dt_str(dt, &da[d]), da[d].slen, w->dcnt + off, w->dcnt_cap - off,
                                          &dm) < 0)
                        return -1; /* checked at load: cannot happen */
                    dc = w->dcnt + off;
                    off += dm;
                }
                o = rle_iou_counts(dc, dm, gt->pool + ga[g].off, ga[g].m, crowd);
            }
            w->iou[d * G + g] = o;
        }
    }
    return 0;
}

/* evaluateImg for the 4 area ranges: per detection, bit t of tpb / igb
 * says matched (to an annotation with a nonzero id) / ignored at threshold
 * t. pos is the detections' offset in the category's arrays. */
static void pair_match(const ce_gt *gt, const ce_dt *dt, size_t gs, size_t G, size_t ds, size_t D, size_t pos,
                       size_t ncat_dt, work *w, size_t npig[A]) {
    const ce_gt_ann *ga = gt->ann + gs;
    const ce_dt_rec *da = dt->rec + ds;
    const params *P = params_of(dt->type);
    int kp = dt->type == CE_KEYPOINTS;
    for (int a = 0; a < P->na; a++) {
        double lo = P->area[a][0], hi = P->area[a][1];
        size_t nk = 0;
        for (size_t g = 0; g < G; g++) {
            /* _prepare: ignore = iscrowd (or num_keypoints == 0 for keypoints) */
            w->gtig[g] = ga[g].crowd || (kp && ga[g].kp_zero) || ga[g].area < lo || ga[g].area > hi;
            if (!w->gtig[g]) w->order[nk++] = (int)g;
        }
        npig[a] += nk;
        for (size_t g = 0, j = nk; g < G; g++)
            if (w->gtig[g]) w->order[j++] = (int)g;
        memset(w->gtm, 0, (size_t)T * G);
        uint16_t *tpb = w->tpb + (size_t)a * ncat_dt + pos, *igb = w->igb + (size_t)a * ncat_dt + pos;
        for (size_t d = 0; d < D; d++) tpb[d] = igb[d] = 0;
        if (G && D) {
            for (int t = 0; t < T; t++) {
                uint8_t *gtm = w->gtm + (size_t)t * G;
                double thr = fmin(k_iou_thr[t], 1 - 1e-10);
                for (size_t d = 0; d < D; d++) {
                    const double *iou = w->iou + d * G;
                    double best = thr;
                    int m = -1;
                    for (size_t j = 0; j < G; j++) {
                        int g = w->order[j];
                        if (gtm[g] && !ga[g].crowd) continue;
                        if (m > -1 && !w->gtig[m] && w->gtig[g]) break;
                        if (iou[g] < best) continue;
                        best = iou[g];
                        m = g;
                    }
                    if (m == -1) continue;
                    gtm[m] = 1;
                    if (ga[m].id != 0) tpb[d] |= (uint16_t)(1u << t);
                    if (w->gtig[m]) igb[d] |= (uint16_t)(1u << t);
                }
            }
        }
        /* unmatched detections outside the area range are ignored */
        for (size_t d = 0; d < D; d++)
            if (da[d].area < lo || da[d].area > hi) igb[d] |= (uint16_t)(~tpb[d] & ((1u << T) - 1));
    }
}

/* ---- accumulation ------------------------------------------------------- */

typedef struct {
    const ce_gt *gt;
    const ce_dt *dt;
    double *precision; /* [T][R][K][A][M] as numpy's C order */
    double *recall;    /* [T][K][A][M] */
    atomic_int next;
    atomic_int failed;
} job;

static int cmp_score(const void *a, const void *b, void *ctx) {
    const ce_dt_rec *rec = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    double sx = rec[x].score, sy = rec[y].score;
    if (sx != sy) return sx > sy ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int eval_category(job *J, int k, work *w) {
    const ce_gt *gt = J->gt;
    const ce_dt *dt = J->dt;
    const int K = gt->ncat;
    const params *P = params_of(dt->type);
    const int NA = P->na, NM = P->nm;
    const uint32_t MAXDET = (uint32_t)P->maxdet[NM - 1];
    size_t g0 = gt->cat_start[k], g1 = gt->cat_start[k + 1];
    size_t d0 = dt->cat_start[k], d1 = dt->cat_start[k + 1];
    size_t nd = d1 - d0, npig[A] = {0, 0, 0, 0};
    if (g1 == g0 && d1 == d0) return 0;
    if (reserve((void **)&w->tpb, &w->b_cap, 2 * (size_t)A * nd + 1, sizeof *w->tpb) < 0) return -1;
    w->igb = w->tpb + (size_t)A * nd;
    /* walk the images of this category in ascending order */
    size_t gi = g0, di = d0;
    while (gi < g1 || di < d1) {
        int32_t img = gi < g1 ? gt->ann[gi].img : INT32_MAX;
        if (di < d1 && dt->rec[di].img < img) img = dt->rec[di].img;
        size_t ge = gi, de = di;
        while (ge < g1 && gt->ann[ge].img == img) ge++;
        while (de < d1 && dt->rec[de].img == img) de++;
        size_t G = ge - gi, D = de - di < MAXDET ? de - di : MAXDET;
        if (work_gt(w, G + 1) < 0) return -1;
        if (G && D && pair_ious(gt, dt, gi, G, di, D, w) < 0) return -1;
        pair_match(gt, dt, gi, G, di, D, di - d0, nd, w, npig);
        gi = ge;
        di = de;
    }
    /* detections within the first 100 of their image, by score (stable) */
    if (reserve((void **)&w->list, &w->list_cap, nd + 1, sizeof *w->list) < 0) return -1;
    size_t nl = 0;
    for (size_t p = 0; p < nd; p++)
        if (dt->rec[d0 + p].rank < MAXDET) w->list[nl++] = (uint32_t)p;
    qsort_r(w->list, nl, sizeof *w->list, cmp_score, (void *)(dt->rec + d0));
    /* per list position: rank and flags, contiguous for the passes below */
    if (reserve((void **)&w->rc, &w->p_cap, 4 * (nl + 1), sizeof *w->rc) < 0) return -1;
    w->pr = w->rc + nl + 1;
    uint16_t *stp = (uint16_t *)(w->pr + nl + 1), *sig = stp + nl + 1;
    uint8_t *srank = (uint8_t *)(sig + nl + 1);
    for (size_t i = 0; i < nl; i++) srank[i] = (uint8_t)dt->rec[d0 + w->list[i]].rank;
    for (int a = 0; a < NA; a++) {
        if (npig[a] == 0) continue; /* precision and recall stay -1 */
        const uint16_t *tpb = w->tpb + (size_t)a * nd, *igb = w->igb + (size_t)a * nd;
        for (size_t i = 0; i < nl; i++) {
            stp[i] = tpb[w->list[i]];
            sig[i] = igb[w->list[i]];
        }
        double np = (double)npig[a];
        for (int m = 0; m < NM; m++) {
            uint8_t maxdet = (uint8_t)P->maxdet[m];
            for (int t = 0; t < T; t++) {
                uint16_t bit = (uint16_t)(1u << t);
                double tp = 0, fp = 0;
                size_t n = 0;
                for (size_t i = 0; i < nl; i++) {
                    if (srank[i] >= maxdet || (sig[i] & bit)) continue;
                    if (stp[i] & bit)
                        tp += 1;
                    else
                        fp += 1;
                    w->rc[n] = tp / np;
                    w->pr[n] = tp / (fp + tp + k_eps);
                    n++;
                }
                J->recall[((size_t)(t * K + k) * NA + a) * NM + m] = n ? w->rc[n - 1] : 0;
                for (size_t i = n; i-- > 1;)
                    if (w->pr[i] > w->pr[i - 1]) w->pr[i - 1] = w->pr[i];
                size_t i = 0;
                for (int r = 0; r < R; r++) {
                    double thr = r * 0.01; /* np.linspace(0, 1, 101) exactly */
                    while (i < n && w->rc[i] < thr) i++;
                    J->precision[(((size_t)(t * R + r) * K + k) * NA + a) * NM + m] = i < n ? w->pr[i] : 0;
                }
            }
        }
    }
    return 0;
}

static void *worker(void *arg) {
    job *J = arg;
    work w;
    memset(&w, 0, sizeof w);
    for (;;) {
        int k = atomic_fetch_add(&J->next, 1);
        if (k >= J->gt->ncat || atomic_load(&J->failed)) break;
        if (eval_category(J, k, &w) < 0) {
            atomic_store(&J->failed, 1);
            break;
        }
    }
    work_free(&w);
    return NULL;
}

/* numpy's pairwise summation (what np.mean uses for float64). */
static double pairwise_sum(const double *a, size_t n) {
    if (n < 8) {
        double s = 0.;
        for (size_t i = 0; i < n; i++) s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        size_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += a[i];
        return s;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* np.mean(s[s > -1]) or -1 when empty. numpy's reduction hands the inner
 * loop blocks of at most 8192 elements (its buffer size) and adds their
 * pairwise sums one after the other. */
static double mean_valid(double *buf, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] > -1) buf[k++] = buf[i];
    if (!k) return -1;
    double s = 0.0;
    for (size_t i = 0; i < k; i += 8192) s += pairwise_sum(buf + i, k - i < 8192 ? k - i : 8192);
    return s / (double)k;
}

/* _summarize(ap, iouThr, areaRng, maxDets); NA, NM: the dimensions. */
static double summarize(const double *precision, const double *recall, int K, int NA, int NM, int ap, int tsel, int a,
                        int m, double *buf) {
    size_t n = 0;
    int t0 = tsel < 0 ? 0 : tsel, t1 = tsel < 0 ? T : tsel + 1;
    for (int t = t0; t < t1; t++) {
        if (ap) {
            for (int r = 0; r < R; r++)
                for (int k = 0; k < K; k++) buf[n++] = precision[(((size_t)(t * R + r) * K + k) * NA + a) * NM + m];
        } else {
            for (int k = 0; k < K; k++) buf[n++] = recall[((size_t)(t * K + k) * NA + a) * NM + m];
        }
    }
    return mean_valid(buf, n);
}

static int num_threads(int ncat) {
    const char *e = getenv("HND_EVAL_THREADS");
    long n = e && *e ? strtol(e, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    if (n > ncat) n = ncat;
    return n < 1 ? 1 : (int)n;
}

void ce_result_clear(ce_result *r) {
    if (!r) return;
    if (r->per_category)
        for (int k = 0; k < r->num_categories; k++) free((char *)r->per_category[k].name);
    free(r->per_category);
    memset(r, 0, sizeof *r);
}

int ce_eval(const ce_gt *gt, const ce_dt *dt, ce_result *out) {
    memset(out, 0, sizeof *out);
    if (dt->gt != gt) return hnd_error_set("results were prepared for another ground truth");
    double t0 = mono_now_s();
    const int K = gt->ncat;
    const params *P = params_of(dt->type);
    const int NA = P->na, NM = P->nm;
    out->iou_type = dt->type;
    out->num_images = (size_t)gt->nimg;
    out->num_gt = gt->nann;
    out->num_dt = dt->n;
    out->num_dropped = dt->dropped;
    out->num_categories = K;
    out->per_category = calloc((size_t)K + 1, sizeof *out->per_category);
    size_t np = (size_t)T * R * K * NA * NM, nr = (size_t)T * K * NA * NM;
    double *precision = malloc((np + 1) * sizeof *precision), *recall = malloc((nr + 1) * sizeof *recall);
    double *buf = malloc((np + 1) * sizeof *buf);
    if (!out->per_category || !precision || !recall || !buf) {
        free(precision);
        free(recall);
        free(buf);
        ce_result_clear(out);
        return hnd_error_set("out of memory");
    }
    for (size_t i = 0; i < np; i++) precision[i] = -1;
    for (size_t i = 0; i < nr; i++) recall[i] = -1;
    int rc = 0;
    if (!dt->empty && K > 0) {
        job J = {.gt = gt, .dt = dt, .precision = precision, .recall = recall};
        atomic_init(&J.next, 0);
        atomic_init(&J.failed, 0);
        int nt = num_threads(K);
        pthread_t th[64];
        int started = 0;
        for (int i = 1; i < nt; i++) {
            if (pthread_create(&th[started], NULL, worker, &J) != 0) break;
            started++;
        }
        worker(&J);
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        if (atomic_load(&J.failed)) rc = hnd_error_set("out of memory during evaluation");
    }
    if (rc == 0) {
        static const struct {
            int ap, t, a, m;
        } S[12] = {{1, -1, 0, 2}, {1, 0, 0, 2}, {1, 5, 0, 2}, {1, -1, 1, 2}, {1, -1, 2, 2}, {1, -1, 3, 2},
                   {0, -1, 0, 0}, {0, -1, 0, 1}, {0, -1, 0, 2}, {0, -1, 1, 2}, {0, -1, 2, 2}, {0, -1, 3, 2}},
          /* _summarizeKps: maxDets 20, areas all / medium / large */
          SK[10] = {{1, -1, 0, 0}, {1, 0, 0, 0}, {1, 5, 0, 0}, {1, -1, 1, 0}, {1, -1, 2, 0},
                    {0, -1, 0, 0}, {0, 0, 0, 0}, {0, 5, 0, 0}, {0, -1, 1, 0}, {0, -1, 2, 0}};
        if (dt->type == CE_KEYPOINTS)
            for (int i = 0; i < 10; i++)
                out->stats[i] = summarize(precision, recall, K, NA, NM, SK[i].ap, SK[i].t, SK[i].a, SK[i].m, buf);
        else
            for (int i = 0; i < 12; i++)
                out->stats[i] = summarize(precision, recall, K, NA, NM, S[i].ap, S[i].t, S[i].a, S[i].m, buf);
        for (int k = 0; k < K; k++) {
            ce_category_ap *c = &out->per_category[k];
            c->id = gt->cat_id[k];
            c->name = strdup(gt->cat_name[k] ? gt->cat_name[k] : "");
            if (!c->name) rc = hnd_error_set("out of memory");
            for (int v = 0; v < 3; v++) {
                int t0v = v == 0 ? 0 : v == 1 ? 0 : 5, t1v = v == 0 ? T : t0v + 1;
                size_t n = 0;
                for (int t = t0v; t < t1v; t++)
                    for (int r = 0; r < R; r++)
                        buf[n++] = precision[(((size_t)(t * R + r) * K + k) * NA + 0) * NM + (NM - 1)];
                double x = mean_valid(buf, n);
                if (v == 0) c->ap = x;
                else if (v == 1) c->ap50 = x;
                else c->ap75 = x;
            }
        }
    }
    free(precision);
    free(recall);
    free(buf);
    if (rc < 0) {
        ce_result_clear(out);
        return -1;
    }
    out->seconds_eval = mono_now_s() - t0;
    return 0;
}

int ce_evaluate(const char *gt_path, const char *dt_path, ce_iou_type t, const ce_options *opts, ce_result *out) {
    ce_gt *gt = ce_gt_load(gt_path, t == CE_SEGM);
    if (!gt) return -1;
    ce_dt *dt = ce_dt_load(gt, dt_path, t, opts);
    if (!dt) {
        ce_gt_destroy(gt);
        return -1;
    }
    int rc = ce_eval(gt, dt, out);
    ce_dt_destroy(dt);
    ce_gt_destroy(gt);
    return rc;
}

/* ---- output ------------------------------------------------------------- */

void ce_print_summary(FILE *f, const double s[12]) {
    static const struct {
        int ap;
        const char *iou, *area;
        int maxdet;
    } L[12] = {{1, "0.50:0.95", "all", 100}, {1, "0.50", "all", 100},    {1, "0.75", "all", 100},
               {1, "0.50:0.95", "small", 100}, {1, "0.50:0.95", "medium", 100}, {1, "0.50:0.95", "large", 100},
               {0, "0.50:0.95", "all", 1},     {0, "0.50:0.95", "all", 10},     {0, "0.50:0.95", "all", 100},
               {0, "0.50:0.95", "small", 100}, {0, "0.50:0.95", "medium", 100}, {0, "0.50:0.95", "large", 100}};
    for (int i = 0; i < 12; i++)
        fprintf(f, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                L[i].ap ? "Average Precision" : "Average Recall", L[i].ap ? "(AP)" : "(AR)", L[i].iou, L[i].area,
                L[i].maxdet, s[i]);
}

void ce_print_summary_type(FILE *f, ce_iou_type t, const double *s) {
    if (t != CE_KEYPOINTS) {
        ce_print_summary(f, s);
        return;
    }
    static const struct {
        int ap;
        const char *iou, *area;
    } L[10] = {{1, "0.50:0.95", "all"}, {1, "0.50", "all"}, {1, "0.75", "all"}, {1, "0.50:0.95", "medium"},
               {1, "0.50:0.95", "large"}, {0, "0.50:0.95", "all"}, {0, "0.50", "all"}, {0, "0.75", "all"},
               {0, "0.50:0.95", "medium"}, {0, "0.50:0.95", "large"}};
    for (int i = 0; i < 10; i++)
        fprintf(f, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                L[i].ap ? "Average Precision" : "Average Recall", L[i].ap ? "(AP)" : "(AR)", L[i].iou, L[i].area, 20,
                s[i]);
}

void ce_print_per_category(FILE *f, const ce_result *r) {
    fprintf(f, "%8s  %-24s %7s %7s %7s\n", "category", "name", "AP", "AP50", "AP75");
    for (int k = 0; k < r->num_categories; k++) {
        const ce_category_ap *c = &r->per_category[k];
        fprintf(f, "%8lld  %-24s %7.3f %7.3f %7.3f\n", (long long)c->id, c->name ? c->name : "", c->ap, c->ap50,
                c->ap75);
    }
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double x) {
    if (x == -1)
        fputs("-1", f);
    else
        fprintf(f, "%.17g", x);
}

int ce_write_json(const char *path, const ce_result *r, int per_category) {
    af_file a;
    FILE *f = af_open(&a, path);
    if (!f) return -1;
    const char *name = ce_iou_name(r->iou_type);
    fprintf(f, "{\"%s\": [", name);
    for (int i = 0; i < ce_num_stats(r->iou_type); i++) {
        if (i) fputs(", ", f);
        json_num(f, r->stats[i]);
    }
    fputs("]", f);
    if (per_category) {
        fprintf(f, ",\n \"%s_per_category\": [", name);
        for (int k = 0; k < r->num_categories; k++) {
            const ce_category_ap *c = &r->per_category[k];
            fprintf(f, "%s\n  {\"id\": %lld, \"name\": ", k ? "," : "", (long long)c->id);
            json_str(f, c->name ? c->name : "");
            fputs(", \"AP\": ", f);
            json_num(f, c->ap);
            fputs(", \"AP50\": ", f);
            json_num(f, c->ap50);
            fputs(", \"AP75\": ", f);
            json_num(f, c->ap75);
            fputs("}", f);
        }
        fputs("]", f);
    }
    fputs("}\n", f);
    return af_commit(&a, 0);
}
