/* heads_test_util.h: helpers of the detection-head tests (test_detection_ops.c,
 * test_rcnn.c): reference tensors from HDF5 files written by h5py, and
 * comparisons. */
#ifndef HND_HEADS_TEST_UTIL_H
#define HND_HEADS_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch.h"
#include "hnd_error.h"
#include "wstore.h"

/* cmocka 1.1 has no assert_double_equal. */
#define assert_near(a, b, tol) ht_assert_near_((a), (b), (tol), __FILE__, __LINE__)
static inline void ht_assert_near_(double a, double b, double tol, const char *file, int line) {
    if (!(fabs(a - b) <= tol)) {
        print_error("%s:%d: %.9g != %.9g (tol %g)\n", file, line, a, b, tol);
        fail();
    }
}

/* Dataset /group/name of an open file as a CPU tensor (NULL if absent). */
static inline ct_tensor *ht_load(ws_reader *r, const char *group, const char *name) {
    ws_tensor w;
    memset(&w, 0, sizeof w);
    if (ws_reader_get(r, group, name, &w) != 0) return NULL;
    ct_tensor *t = ct_from_buffer(w.data, w.dtype, w.ndim, w.shape);
    ws_tensor_clear(&w);
    return t;
}

static inline ct_tensor *ht_must(ws_reader *r, const char *group, const char *name) {
    ct_tensor *t = ht_load(r, group, name);
    if (!t) {
        print_error("reference %s/%s: %s\n", group, name, hnd_error());
        fail();
    }
    return t;
}

/* Values as doubles (malloc'ed; numel in *n). */
static inline double *ht_values(const ct_tensor *t, int64_t *n) {
    ct_tensor *t64 = ct_to_dtype(t, CT_F64);
    ct_tensor *d = ct_contiguous(t64);
    ct_destroy(t64);
    assert_non_null(d);
    int64_t k = ct_numel(d);
    double *v = malloc(sizeof(double) * (size_t)(k ? k : 1));
    assert_int_equal(ct_to_buffer(d, v, sizeof(double) * (size_t)k), 0);
    ct_destroy(d);
    if (n) *n = k;
    return v;
}

static inline double ht_scalar(ws_reader *r, const char *group, const char *name) {
    ct_tensor *t = ht_must(r, group, name);
    double v;
    assert_int_equal(ct_item_f64(t, &v), 0);
    ct_destroy(t);
    return v;
}

/* max |a-b| over same-shaped tensors; fails on a shape mismatch. */
static inline double ht_max_diff(const ct_tensor *a, const ct_tensor *b, const char *what) {
    int64_t sa[CT_MAX_DIMS], sb[CT_MAX_DIMS];
    int na = ct_shape(a, sa, CT_MAX_DIMS), nb = ct_shape(b, sb, CT_MAX_DIMS);
    char da[128], db[128];
    ct_tensor_describe(a, da, sizeof da);
    ct_tensor_describe(b, db, sizeof db);
    if (na != nb || memcmp(sa, sb, sizeof(int64_t) * (size_t)(na > 0 ? na : 0)) != 0) {
        print_error("%s: shape %s vs %s\n", what, da, db);
        fail();
    }
    int64_t n;
    double *va = ht_values(a, &n), *vb = ht_values(b, NULL), m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(va[i] - vb[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    free(va);
    free(vb);
    return m;
}

/* max |x| */
static inline double ht_max_abs(const ct_tensor *a) {
    int64_t n;
    double *v = ht_values(a, &n), m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(v[i]) > m) m = fabs(v[i]);
    free(v);
    return m;
}

#endif
