/* plot_axis.c: see plot_axis.h. */
#include "plot_axis.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void pa_bounds_init(pa_bounds *b) {
    b->lo = INFINITY;
    b->hi = -INFINITY;
}

void pa_bounds_add(pa_bounds *b, pa_kind kind, double v) {
    if (!isfinite(v) || (kind == PA_LOG && v <= 0)) return;
    b->lo = fmin(b->lo, v);
    b->hi = fmax(b->hi, v);
}

double pa_nice_step(double span, int ticks) {
    if (!(span > 0) || ticks < 1) return 1;
    double raw = span / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

void pa_fit(pa_axis *a, const pa_bounds *b, int n_categories) {
    if (a->kind == PA_CATEGORY) {
        a->lo = -0.5;
        a->hi = (n_categories > 0 ? n_categories : 1) - 0.5;
        return;
    }
    int empty = !(b->lo <= b->hi);
    double lo = empty ? 1 : b->lo, hi = empty ? 10 : b->hi;
    if (a->kind == PA_LOG) {
        if (hi / lo < 1.5) lo /= 2, hi *= 2;   /* a single value: a span around it */
        /* the data's own span plus a little air (markers at the ends are not
         * cut by the frame); the ticks are found inside it. Rounding out to
         * whole decades could leave most of a decade empty on either side. */
        double air = pow(10, fmax(0.02, 0.04 * log10(hi / lo)));
        a->lo = lo / air;
        a->hi = hi * air;
        return;
    }
    if (empty) lo = 0, hi = 1;
    double span = hi - lo;
    /* one value (e.g. every mAP 0 after a short run): from 0 when it is not
     * negative (a negative mAP or size means nothing), else a span around it */
    if (span <= 1e-12 * fmax(1, fabs(hi))) {
        if (lo >= 0) lo = 0, hi = hi > 0 ? hi * 1.2 : 1;
        else span = fabs(hi) * 0.2, lo -= span / 2, hi += span / 2;
    }
    /* values all >= 0 and close to 0 read best against a 0 baseline */
    if (lo >= 0 && lo < 0.25 * (hi - lo)) lo = 0;
    /* 4% air at either end, so that markers and lines at the extremes stay
     * off the frame; the ticks fall inside (a zero baseline gets no
     * negative tick, pa_ticks starting at the first multiple of the step) */
    double pad = 0.04 * (hi - lo);
    a->lo = lo - pad;
    a->hi = hi + pad;
}

/* UTF-8 superscript digits and minus for powers of ten ("10⁻³"). */
static void superscript(char *out, size_t n, int k) {
    static const char *const dig[] = {"\u2070", "\u00b9", "\u00b2", "\u00b3", "\u2074",
                                      "\u2075", "\u2076", "\u2077", "\u2078", "\u2079"};
    char num[16];
    snprintf(num, sizeof num, "%d", k);
    out[0] = 0;
    for (const char *p = num; *p; p++) {
        const char *s = *p == '-' ? "\u207b" : dig[*p - '0'];
        if (strlen(out) + strlen(s) < n) strcat(out, s);
    }
}

static void log_label(char *out, size_t n, double v, int powers) {
    if (!powers) {
        snprintf(out, n, "%g", v);
        return;
    }
    int k = (int)floor(log10(v) + 1e-9);
    int m = (int)lround(v / pow(10, k));
    char sup[40];
    superscript(sup, sizeof sup, k);
    if (m == 1) snprintf(out, n, "10%s", sup);
    else snprintf(out, n, "%d\u00d710%s", m, sup);
}

static int log_ticks(const pa_axis *a, pa_tick *t, int max) {
    double decades = log10(a->hi / a->lo);
    /* plain numbers read best where they are short: 0.001 .. 10000 */
    int powers = a->lo < 1e-3 - 1e-15 || a->hi >= 1e5;
    int every = decades > 7 ? (int)ceil(decades / 7) : 1, n = 0;
    for (int k = (int)floor(log10(a->lo) - 1e-9); k <= (int)ceil(log10(a->hi) + 1e-9); k++)
        for (int m = 1; m <= 9; m++) {
            double v = m * pow(10, k);
            if (v < a->lo * (1 - 1e-9) || v > a->hi * (1 + 1e-9) || n >= max) continue;
            /* labels at each decade; within short spans at 2 and 5 too, and
             * at every digit when less than a decade is shown */
            int major = m == 1 ? k % every == 0 : decades < 1 ? 1 : decades < 3.2 && (m == 2 || m == 5);
            if (decades > 7 && m > 1) continue;
            t[n].v = v;
            t[n].major = major;
            t[n].label[0] = 0;
            if (major) log_label(t[n].label, sizeof t[n].label, v, powers);
            n++;
        }
    return n;
}

int pa_ticks(const pa_axis *a, pa_tick *t, int max) {
    int n = 0;
    if (a->kind == PA_LOG) return log_ticks(a, t, max);
    if (a->kind == PA_CATEGORY) {
        for (int i = (int)ceil(a->lo); i <= a->hi && n < max; i++, n++) t[n] = (pa_tick){i, 1, ""};
        return n;
    }
    double st = pa_nice_step(a->hi - a->lo, 6);
    int dec = st >= 1 ? 0 : (int)ceil(-log10(st) - 1e-9);
    for (double k = ceil(a->lo / st - 1e-9); k * st <= a->hi + st * 1e-9 && n < max; k++, n++) {
        double v = k * st;
        t[n].v = v;
        t[n].major = 1;
        snprintf(t[n].label, sizeof t[n].label, "%.*f", dec > 9 ? 9 : dec, fabs(v) < st * 1e-9 ? 0.0 : v);
    }
    return n;
}

double pa_frac(const pa_axis *a, double v) {
    if (!isfinite(v)) return NAN;
    if (a->kind == PA_LOG) return v > 0 ? log10(v / a->lo) / log10(a->hi / a->lo) : NAN;
    return (v - a->lo) / (a->hi - a->lo);
}
