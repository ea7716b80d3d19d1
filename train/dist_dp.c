/* dist_dp.c: see dist_dp.h. */
#include "dist_dp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

static ct_dist *g_dist;

static int fail(const char *what) { return hnd_error_set("%s: %s", what, ct_last_error()); }

int dp_init(void) {
    if (g_dist) return 0;
    const char *ws = getenv("WORLD_SIZE");
    if (!ws || !*ws || strcmp(ws, "1") == 0) return 0;
    double timeout = 300;
    const char *t = getenv("HND_DIST_TIMEOUT");
    if (t && *t) {
        char *end;
        timeout = strtod(t, &end);
        if (*end || !(timeout > 0)) return hnd_error_set("HND_DIST_TIMEOUT=%s: expected seconds > 0", t);
    }
    if (!(g_dist = ct_dist_init_env(timeout, getenv("HND_DIST_BACKEND"))))
        return hnd_error_set("distributed training: %s", ct_last_error());
    return 0;
}

ct_dist *dp_group(void) { return g_dist; }
int dp_world(void) { return g_dist ? ct_dist_world(g_dist) : 1; }
int dp_rank(void) { return g_dist ? ct_dist_rank(g_dist) : 0; }
int dp_is_main(void) { return dp_rank() == 0; }

int dp_sum(double *v, int n) {
    if (!g_dist || n <= 0) return 0;
    int64_t sz = n;
    ct_tensor *t = ct_from_buffer(v, CT_F64, 1, &sz);
    int rc = t && ct_dist_allreduce(g_dist, &t, 1, CT_DIST_SUM, 0) == 0 && ct_to_buffer(t, v, sizeof *v * (size_t)n) == 0
                 ? 0
                 : fail("all-reduce");
    ct_destroy(t);
    return rc;
}

int dp_max_int(int v) {
    if (!g_dist) return v;
    int64_t one = 1, x = v;
    ct_tensor *t = ct_from_buffer(&x, CT_I64, 1, &one);
    int rc = t && ct_dist_allreduce(g_dist, &t, 1, CT_DIST_MAX, 0) == 0 && ct_item_i64(t, &x) == 0 ? 0 : fail("all-reduce");
    ct_destroy(t);
    return rc ? -1 : (int)x;
}

int dp_all_ok(int ok) {
    if (!g_dist) return ok ? 1 : 0;
    int bad = dp_max_int(ok ? 0 : 1);
    if (bad < 0) return -1;
    if (bad && ok) hnd_error_set("another rank failed (see its message); rank %d stops too", dp_rank());
    return bad ? 0 : 1;
}

static struct {
    ct_dist_grad_sync *s;
    ct_tensor *const *params;
    int n, average;
} g_ov;

int dp_overlap_begin(ct_tensor *const *params, int n, int average) {
    dp_overlap_end();
    if (!g_dist || n <= 0) return 0;
    const char *e = getenv("HND_DIST_OVERLAP");
    if (e && strcmp(e, "0") == 0) return 0;
    if (!(g_ov.s = ct_dist_grad_sync_new(g_dist, params, n, average ? CT_DIST_AVG : CT_DIST_SUM, 0)))
        return fail("gradient all-reduce hooks");
    g_ov.params = params;
    g_ov.n = n;
    g_ov.average = average;
    return 0;
}

int dp_overlap_arm(void) { return g_ov.s && ct_dist_grad_sync_arm(g_ov.s) != 0 ? fail("gradient all-reduce hooks") : 0; }

void dp_overlap_end(void) {
    ct_dist_grad_sync_destroy(g_ov.s);
    memset(&g_ov, 0, sizeof g_ov);
}

int dp_sync_grads(ct_tensor *const *params, int n, int average, double *loss) {
    if (!g_dist) return 0;
    if (g_ov.s && g_ov.params == params && g_ov.n == n && g_ov.average == !!average) {
        if (ct_dist_grad_sync_finish(g_ov.s, NULL) != 0) return fail("gradient all-reduce");
    } else if (ct_dist_allreduce_grads(g_dist, params, n, average ? CT_DIST_AVG : CT_DIST_SUM, 0) != 0) {
        return fail("gradient all-reduce");
    }
    if (loss) {
        if (dp_sum(loss, 1) != 0) return -1;
        if (average) *loss /= dp_world();
    }
    return 0;
}

int dp_global_losses(ct_tensor **loss, const double *count, int n, double *value) {
    enum { MAXN = 16 };
    if (n < 0 || n > MAXN) return hnd_error_set("dp_global_losses: %d losses (at most %d)", n, MAXN);
    double v[MAXN], buf[2 * MAXN];
    for (int i = 0; i < n; i++) {
        v[i] = NAN;
        if (loss[i] && ct_item_f64(loss[i], &v[i]) != 0) return fail("loss value");
        buf[i] = loss[i] ? count[i] : 0;
        buf[n + i] = loss[i] ? v[i] * count[i] : 0;
    }
    if (!g_dist) {
        if (value) memcpy(value, v, sizeof *v * (size_t)n);
        return 0;
    }
    if (dp_sum(buf, 2 * n) != 0) return -1;
    for (int i = 0; i < n; i++) {
        const double total = buf[i];
        if (value) value[i] = total > 0 ? buf[n + i] / total : loss[i] ? 0 : NAN;
        if (!loss[i] || !(total > 0) || count[i] == total) continue;
        /* the local mean times count/total: this rank's sum over the global count */
        ct_tensor *s = ct_mul_scalar(loss[i], count[i] / total);
        if (!s) return fail("loss over the global batch");
        ct_destroy(loss[i]);
        loss[i] = s;
    }
    return 0;
}

int dp_broadcast_params(mp_params *p) {
    if (!g_dist) return 0;
    int n = mp_params_count(p);
    ct_tensor **ts = malloc(sizeof *ts * (size_t)(n ? n : 1));
    if (!ts) return hnd_error_set("out of memory");
    for (int i = 0; i < n; i++) ts[i] = mp_params_tensor(p, i);
    int rc = ct_dist_broadcast(g_dist, ts, n, 0) == 0 ? 0 : fail("parameter broadcast from rank 0");
    free(ts);
    return rc;
}

static uint64_t fnv(uint64_t h, const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

int dp_check_identical(ct_tensor *const *ts, int n, uint64_t *hash) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        ct_tensor *c = ct_contiguous(ts[i]);
        ct_tensor *cpu = c ? ct_to_device(c, ct_cpu()) : NULL;
        void *d = cpu ? ct_data_ptr(cpu) : NULL;
        size_t nb = cpu ? (size_t)ct_numel(cpu) * ct_dtype_size((ct_dtype)ct_dtype_of(cpu)) : 0;
        if (d) h = fnv(h, d, nb);
        ct_destroy(cpu);
        ct_destroy(c);
        if (!d && nb) return fail("parameter check");
    }
    if (hash) *hash = h;
    if (!g_dist) return 0;
    void *all = NULL;
    size_t lens[1024];
    if (dp_world() > 1024) return hnd_error_set("more than 1024 ranks");
    if (ct_dist_allgather_bytes(g_dist, &h, sizeof h, &all, lens) != 0) return fail("parameter check");
    const uint64_t *v = all;
    int bad = -1;
    for (int r = 1; r < dp_world() && bad < 0; r++)
        if (memcmp(&v[r], &v[0], sizeof h) != 0) bad = r;
    uint64_t h0 = v[0], hb = bad >= 0 ? v[bad] : 0;
    free(all);
    if (bad >= 0)
        return hnd_error_set("the ranks' parameters diverged: rank %d's differ from rank 0's (hash %016llx vs %016llx)",
                             bad, (unsigned long long)hb, (unsigned long long)h0);
    return 0;
}
