/* dist_dp.c: see dist_dp.h. */
#include "dist_dp.h"

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

int dp_sync_grads(ct_tensor *const *params, int n, int average, double *loss) {
    if (!g_dist) return 0;
    const ct_dist_op op = average ? CT_DIST_AVG : CT_DIST_SUM;
    int missing = 0;
    for (int k = 0; k < n; k++) missing |= ct_has_grad(params[k]) != 1;
    if (missing) {
        /* a parameter the graph did not reach: ct_dist gives it a zero .grad
         * so that every rank reduces the same list; the loss separately */
        if (ct_dist_allreduce_grads(g_dist, params, n, op, 0) != 0) return fail("gradient all-reduce");
        if (loss && dp_sum(loss, 1) != 0) return -1;
        if (loss && average) *loss /= dp_world();
        return 0;
    }
    /* the gradients and the loss in one bucketed all-reduce */
    ct_tensor **ts = calloc((size_t)n + 1, sizeof *ts);
    if (!ts) return hnd_error_set("out of memory");
    int rc = -1;
    int64_t one = 1;
    double lv = loss ? *loss : 0;
    for (int k = 0; k < n; k++)
        if (!(ts[k] = ct_grad(params[k]))) goto done;
    if (!(ts[n] = ct_from_buffer(&lv, CT_F64, 1, &one))) goto done;
    if (ct_dist_allreduce(g_dist, ts, n + 1, op, 0) != 0) goto done;
    if (loss && ct_item_f64(ts[n], loss) != 0) goto done;
    rc = 0;
done:
    if (rc) fail("gradient all-reduce");
    for (int j = 0; j <= n; j++) ct_destroy(ts[j]);
    free(ts);
    return rc;
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
