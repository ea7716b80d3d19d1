/* bd_rate.c: see bd_rate.h. */
#include "bd_rate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#define BD_MAXDEG 3
#define BD_MAXPTS 256

static int fail(char *err, int errlen, const char *fmt, ...) {
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, (size_t)errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A fitted curve: log(rate) = sum c[k] x^k with x = (q - mid) / half. */
typedef struct {
    int deg;
    double c[BD_MAXDEG + 1], mid, half, lo, hi;
} bd_fit;

/* Least squares through the normal equations in the scaled variable x in
 * [-1, 1] (well conditioned at degree 3), Gaussian elimination with partial
 * pivoting. */
static int fit(const double *rate, const double *q, int n, bd_fit *f, const char *name, char *err, int errlen) {
    if (n < 2 || n > BD_MAXPTS) return fail(err, errlen, "BD-rate: curve %s has %d points (2..%d)", name, n, BD_MAXPTS);
    f->lo = f->hi = q[0];
    for (int i = 0; i < n; i++) {
        if (!(rate[i] > 0) || !isfinite(rate[i]) || !isfinite(q[i]))
            return fail(err, errlen, "BD-rate: curve %s point %d: rate %g, quality %g", name, i, rate[i], q[i]);
        if (q[i] < f->lo) f->lo = q[i];
        if (q[i] > f->hi) f->hi = q[i];
    }
    if (!(f->hi > f->lo)) return fail(err, errlen, "BD-rate: curve %s: every point has quality %g", name, f->lo);
    f->deg = n - 1 < BD_MAXDEG ? n - 1 : BD_MAXDEG;
    f->mid = 0.5 * (f->lo + f->hi);
    f->half = 0.5 * (f->hi - f->lo);
    const int m = f->deg + 1;
    double a[BD_MAXDEG + 1][BD_MAXDEG + 2] = {{0}};
    for (int i = 0; i < n; i++) {
        double x = (q[i] - f->mid) / f->half, y = log(rate[i]), p[2 * BD_MAXDEG + 1];
        p[0] = 1;
        for (int k = 1; k <= 2 * f->deg; k++) p[k] = p[k - 1] * x;
        for (int r = 0; r < m; r++) {
            for (int c = 0; c < m; c++) a[r][c] += p[r + c];
            a[r][m] += p[r] * y;
        }
    }
    for (int col = 0; col < m; col++) {
        int piv = col;
        for (int r = col + 1; r < m; r++)
            if (fabs(a[r][col]) > fabs(a[piv][col])) piv = r;
        if (!(fabs(a[piv][col]) > 1e-12))
            return fail(err, errlen, "BD-rate: curve %s: too few distinct qualities for degree %d", name, f->deg);
        for (int c = 0; c <= m; c++) {
            double t = a[col][c];
            a[col][c] = a[piv][c];
            a[piv][c] = t;
        }
        for (int r = 0; r < m; r++) {
            if (r == col) continue;
            double k = a[r][col] / a[col][col];
            for (int c = col; c <= m; c++) a[r][c] -= k * a[col][c];
        }
    }
    for (int k = 0; k < m; k++) f->c[k] = a[k][m] / a[k][k];
    return 0;
}

/* integral of the fitted log(rate) over quality [lo, hi] */
static double integral(const bd_fit *f, double lo, double hi) {
    double xl = (lo - f->mid) / f->half, xh = (hi - f->mid) / f->half, s = 0;
    for (int k = 0; k <= f->deg; k++) s += f->c[k] * (pow(xh, k + 1) - pow(xl, k + 1)) / (k + 1);
    return s * f->half;
}

int bd_rate(const double *rate_a, const double *q_a, int na, const double *rate_b, const double *q_b, int nb,
            double *pct, char *err, int errlen) {
    if (!rate_a || !q_a || !rate_b || !q_b || !pct) return fail(err, errlen, "BD-rate: NULL argument");
    bd_fit fa, fb;
    if (fit(rate_a, q_a, na, &fa, "A", err, errlen) != 0 || fit(rate_b, q_b, nb, &fb, "B", err, errlen) != 0)
        return -1;
    const double lo = fa.lo > fb.lo ? fa.lo : fb.lo, hi = fa.hi < fb.hi ? fa.hi : fb.hi;
    if (!(hi > lo))
        return fail(err, errlen, "BD-rate: quality ranges [%g, %g] and [%g, %g] do not overlap", fa.lo, fa.hi, fb.lo,
                    fb.hi);
    const double d = (integral(&fb, lo, hi) - integral(&fa, lo, hi)) / (hi - lo);
    *pct = (exp(d) - 1.0) * 100.0;
    return 0;
}
