/* plot_axis.h: one chart axis: linear, log10 or categorical; its range
 * fitted to the data; its ticks and their labels. Pure arithmetic (no
 * drawing), torch-free, prefix pa_. */
#ifndef HND_PLOT_AXIS_H
#define HND_PLOT_AXIS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PA_LINEAR = 0, PA_LOG = 1, PA_CATEGORY = 2 } pa_kind;

typedef struct {
    pa_kind kind;
    double lo, hi;        /* the range shown, in data units (log: > 0) */
} pa_axis;

#define PA_MAX_TICKS 96

typedef struct {
    double v;             /* data units */
    int major;            /* majors carry a label and a grid line */
    char label[32];       /* "" for minor ticks */
} pa_tick;

/* Data bounds, fed value by value (NaN, and values <= 0 on a log axis,
 * skipped): start with pa_bounds_init. */
typedef struct {
    double lo, hi;
} pa_bounds;
void pa_bounds_init(pa_bounds *b);
void pa_bounds_add(pa_bounds *b, pa_kind kind, double v);

/* The range for data in b, widened by 4% of its span (in log10 on a log
 * axis) at either end; a linear axis starts at 0 when the data start at or
 * above 0 and come near it. Empty data: 0..1 (log: 1..10); a single value gets a span around
 * it. Categories: -0.5..n-0.5. */
void pa_fit(pa_axis *a, const pa_bounds *b, int n_categories);

/* Ticks within a's range, labels from pa_label. Returns the count (at most
 * max). Categorical axes: one major per category (label left empty: the
 * caller has the names). */
int pa_ticks(const pa_axis *a, pa_tick *t, int max);

/* Position of v along the axis, 0 at lo and 1 at hi (NaN when v cannot be
 * shown: not finite, or <= 0 on a log axis). */
double pa_frac(const pa_axis *a, double v);

/* A 1, 2 or 5 x 10^k step giving about `ticks` ticks over span. */
double pa_nice_step(double span, int ticks);

#ifdef __cplusplus
}
#endif
#endif
