/* test_dist.c: ct_dist (c10d TCPStore + Gloo) with real processes on the
 * loopback. The parent picks a free port and re-executes itself as each
 * rank; every expected value is derived by hand from what each rank sends:
 *  - 3 ranks: bucketed all-reduce (sum, average, max; float, double, int64,
 *    a non-contiguous tensor, buckets of 8 bytes and of 25 MiB), gradient
 *    all-reduce (a parameter without a grad takes part as zeros), broadcast
 *    from rank 1, all-gather of byte buffers of 0, 3 and 6 bytes, barrier,
 *    the all-reduce autograd function (forward and backward), the gradient
 *    all-reduce overlapped with the backward (rank_overlap);
 *  - 2 ranks, rank 1 dies before the second collective: rank 0 fails within
 *    the timeout naming rank 1; rank 0 dies: rank 1 names rank 0 (the store's
 *    host);
 *  - rank 0 alone in a world of 2: the rendezvous times out, with the address
 *    in the message; missing/malformed torchrun variables are named. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ct_dist.h"
#include "ctorch.h"

static int g_rank = -1;

#define CHECK(cond, ...)                                                           \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "rank %d: %s:%d: ", g_rank, __FILE__, __LINE__);       \
            fprintf(stderr, __VA_ARGS__);                                          \
            fprintf(stderr, " [%s]\n", ct_last_error());                           \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &n) != 0) {
        perror("free port");
        exit(1);
    }
    close(s);
    return ntohs(a.sin_port);
}

static ct_tensor *vec_f32(const float *v, int64_t n) { return ct_from_buffer(v, CT_F32, 1, &n); }

static void expect_f32(const ct_tensor *t, const float *want, int n, const char *what) {
    float got[16];
    CHECK(ct_numel(t) == n, "%s: %lld elements", what, (long long)ct_numel(t));
    ct_tensor *c = ct_contiguous(t);
    CHECK(ct_to_buffer(c, got, sizeof(float) * (size_t)n) == 0, "%s: read", what);
    ct_destroy(c);
    for (int i = 0; i < n; i++) CHECK(fabsf(got[i] - want[i]) <= 1e-6f, "%s[%d] = %g, want %g", what, i, got[i], want[i]);
}

/* The overlapped gradient all-reduce (ct_dist_grad_sync), world 3.
 * Parameters E (unreached), A[3], B[40], C[7], D[16], element j of the k-th
 * = 0.01 (k+1) (j+1); rank r's loss = (r+1)^2 (|A|^2 + |B|^2 + |C|^2) +
 * |y|^2 with y = all-reduce-sum((r+1) D) through the autograd all-reduce
 * (a collective of the main group INSIDE the backward, as SyncBatchNorm's).
 * By hand: rank r's dA = 2 (r+1)^2 A, summed over the ranks 28 A (B, C
 * alike); y = 6 D, dy = 12 D, its backward all-reduce 36 D, dD = 36 (r+1) D,
 * summed 216 D; dE = 0. Buckets of 64 bytes in reverse order: [D] [C] [B]
 * [A E]: the first three start during the backward (E never becomes ready:
 * [A E] waits for finish). The gradients must equal, bit for bit, those of
 * ct_dist_allreduce_grads after a plain backward of the same loss on copies. */
static ct_tensor *ov_loss(ct_dist *d, ct_tensor *const *p, int r) {
    const double f = (double)((r + 1) * (r + 1));
    ct_tensor *a = ct_sum(ct_mul(p[1], p[1])), *b = ct_sum(ct_mul(p[2], p[2])), *c = ct_sum(ct_mul(p[3], p[3]));
    ct_tensor *y = ct_dist_allreduce_sum_autograd(d, ct_mul_scalar(p[4], (double)(r + 1)));
    CHECK(a && b && c && y, "overlap: loss terms");
    return ct_add(ct_mul_scalar(ct_add(ct_add(a, b), c), f), ct_sum(ct_mul(y, y)));
}

static void rank_overlap(ct_dist *d) {
    const int r = ct_dist_rank(d);
    enum { NP = 5 };
    const int64_t len[NP] = {4, 3, 40, 7, 16};
    const double factor[NP] = {0, 28, 28, 28, 216};
    ct_tensor *P[NP], *Q[NP];
    for (int k = 0; k < NP; k++) {
        float v[64];
        for (int j = 0; j < len[k]; j++) v[j] = 0.01f * (float)(k + 1) * (float)(j + 1);
        P[k] = vec_f32(v, len[k]);
        Q[k] = vec_f32(v, len[k]);
        CHECK(P[k] && Q[k] && ct_set_requires_grad(P[k], 1) == 0 && ct_set_requires_grad(Q[k], 1) == 0, "params");
    }
    float notleaf_v[1] = {1};
    ct_tensor *nl = vec_f32(notleaf_v, 1);
    ct_scope_begin();   /* the graphs' temporaries */
    CHECK(!ct_dist_grad_sync_new(d, &nl, 1, CT_DIST_SUM, 0) && strstr(ct_last_error(), "not a leaf that requires grad"),
          "a tensor without requires_grad accepted");
    ct_dist_grad_sync *s = ct_dist_grad_sync_new(d, P, NP, CT_DIST_SUM, 64);
    CHECK(s && ct_dist_grad_sync_buckets(s) == 4, "grad sync: %d buckets, want 4", ct_dist_grad_sync_buckets(s));
    /* a backward that is not armed launches nothing (the next finish would hang or mismatch otherwise) */
    ct_tensor *l0 = ov_loss(d, P, r);
    CHECK(l0 && ct_backward(l0) == 0, "unarmed backward");
    for (int k = 0; k < NP; k++) CHECK(ct_zero_grad(P[k], 1) == 0, "zero grad");
    int ov = -1;
    CHECK(ct_dist_grad_sync_arm(s) == 0, "arm");
    ct_tensor *l1 = ov_loss(d, P, r);
    CHECK(l1 && ct_backward(l1) == 0 && ct_dist_grad_sync_finish(s, &ov) == 0, "overlapped step");
    CHECK(ov == 3, "%d buckets started during the backward, want 3 ([D] [C] [B]; [A E] waits for E)", ov);
    ct_tensor *l2 = ov_loss(d, Q, r);
    CHECK(l2 && ct_backward(l2) == 0 && ct_dist_allreduce_grads(d, Q, NP, CT_DIST_SUM, 64) == 0, "post-backward step");
    for (int k = 0; k < NP; k++) {
        float g1[64], g2[64], v[64];
        ct_tensor *a = ct_grad(P[k]), *b = ct_grad(Q[k]);
        CHECK(a && b && ct_to_buffer(a, g1, sizeof(float) * (size_t)len[k]) == 0 &&
                  ct_to_buffer(b, g2, sizeof(float) * (size_t)len[k]) == 0 &&
                  ct_to_buffer(P[k], v, sizeof(float) * (size_t)len[k]) == 0,
              "grads %d", k);
        CHECK(memcmp(g1, g2, sizeof(float) * (size_t)len[k]) == 0, "parameter %d: overlapped != post-backward", k);
        for (int j = 0; j < len[k]; j++) {
            double want = factor[k] * v[j];
            CHECK(fabs(g1[j] - want) <= 1e-5 * fabs(want) + 1e-7, "parameter %d[%d]: grad %g, want %g", k, j, g1[j], want);
        }
    }
    /* finish without a backward (a rank with an empty share): the .grads as
     * they are, here every rank's reduced ones: 3 times them (CT_DIST_AVG
     * would keep them) */
    float before[16], after[16];
    CHECK(ct_to_buffer(ct_grad(P[4]), before, sizeof before) == 0, "grad D");
    CHECK(ct_dist_grad_sync_finish(s, &ov) == 0 && ov == 0, "finish without arm (%d overlapped)", ov);
    CHECK(ct_to_buffer(ct_grad(P[4]), after, sizeof after) == 0, "grad D");
    for (int j = 0; j < 16; j++) CHECK(fabsf(after[j] - 3 * before[j]) <= 1e-5f * fabsf(before[j]), "D[%d] %g vs 3 x %g", j, after[j], before[j]);
    ct_dist_grad_sync_destroy(s);
    ct_scope_end();
    ct_destroy(nl);
    for (int k = 0; k < NP; k++) {
        ct_destroy(P[k]);
        ct_destroy(Q[k]);
    }
}

/* World 3, every collective. */
static int rank_all(ct_dist *d) {
    const int r = ct_dist_rank(d), W = ct_dist_world(d);
    CHECK(W == 3, "world %d", W);
    CHECK(strcmp(ct_dist_backend(d), "gloo") == 0, "backend %s", ct_dist_backend(d));
    /* all-reduce: rank r sends a = (r+1)*[1,2,3], b = int64 [[10r,1],[2,3]],
     * c = double [r], e = a transposed 2x2 float [[r,2r],[3r,4r]]^T */
    for (int pass = 0; pass < 2; pass++) {
        int64_t cap = pass == 0 ? 8 : 0;   /* 8 bytes: about one tensor a bucket; 0: one bucket */
        float av[3] = {(float)(r + 1), 2.0f * (r + 1), 3.0f * (r + 1)};
        int64_t bv[4] = {10 * r, 1, 2, 3}, s22[2] = {2, 2};
        double cv[1] = {r};
        float ev[4] = {(float)r, 2.0f * r, 3.0f * r, 4.0f * r};
        ct_tensor *a = vec_f32(av, 3), *b = ct_from_buffer(bv, CT_I64, 2, s22);
        int64_t one = 1;
        ct_tensor *c = ct_from_buffer(cv, CT_F64, 1, &one);
        ct_tensor *e0 = ct_from_buffer(ev, CT_F32, 2, s22), *e = ct_transpose(e0, 0, 1);
        ct_tensor *ts[4] = {a, b, c, e};
        CHECK(ct_dist_allreduce(d, ts, 4, CT_DIST_SUM, cap) == 0, "all-reduce sum");
        float wa[3] = {6, 12, 18};   /* (1+2+3) * [1,2,3] */
        expect_f32(a, wa, 3, "sum a");
        int64_t gb[4];
        CHECK(ct_to_buffer(b, gb, sizeof gb) == 0, "read b");
        CHECK(gb[0] == 30 && gb[1] == 3 && gb[2] == 6 && gb[3] == 9, "sum b %lld %lld %lld %lld", (long long)gb[0],
              (long long)gb[1], (long long)gb[2], (long long)gb[3]);
        double gc;
        CHECK(ct_item_f64(c, &gc) == 0 && gc == 3.0, "sum c %g", gc);
        /* e is the transpose of [[0+1+2, 2*3],[3*3, 4*3]]: its storage e0
         * holds the sums in the original layout */
        float we0[4] = {3, 6, 9, 12};
        expect_f32(e0, we0, 4, "sum e (non-contiguous)");
        /* average of the sums: a -> 6/3 etc. */
        ct_tensor *avg[1] = {a};
        CHECK(ct_dist_allreduce(d, avg, 1, CT_DIST_AVG, cap) == 0, "all-reduce avg");
        expect_f32(a, wa, 3, "avg of equal values");
        ct_destroy(a);
        ct_destroy(b);
        ct_destroy(c);
        ct_destroy(e);
        ct_destroy(e0);
    }
    {
        float mv[2] = {(float)r, (float)(5 - r)};
        ct_tensor *m = vec_f32(mv, 2);
        CHECK(ct_dist_allreduce(d, &m, 1, CT_DIST_MAX, 0) == 0, "all-reduce max");
        float wm[2] = {2, 5};
        expect_f32(m, wm, 2, "max");
        float xv[2] = {(float)r, 1};
        ct_tensor *x = vec_f32(xv, 2);
        CHECK(ct_dist_allreduce(d, &x, 1, CT_DIST_AVG, 0) == 0, "all-reduce avg");
        float wx[2] = {1, 1};   /* (0+1+2)/3, 3/3 */
        expect_f32(x, wx, 2, "avg");
        ct_destroy(m);
        ct_destroy(x);
    }
    /* gradients: p has grad (r+1)*[1,1] (from loss sum((r+1)*p)), q none */
    {
        float pv[2] = {1, 2}, qv[1] = {7};
        ct_tensor *p = vec_f32(pv, 2), *q = vec_f32(qv, 1);
        ct_set_requires_grad(p, 1);
        ct_set_requires_grad(q, 1);
        ct_tensor *pm = ct_mul_scalar(p, (double)(r + 1)), *l = ct_sum(pm);
        CHECK(l && ct_backward(l) == 0, "backward");
        ct_tensor *ps[2] = {p, q};
        CHECK(ct_dist_allreduce_grads(d, ps, 2, CT_DIST_SUM, 0) == 0, "grad all-reduce");
        ct_tensor *gp = ct_grad(p), *gq = ct_grad(q);
        float wgp[2] = {6, 6}, wgq[1] = {0};
        CHECK(gp && gq, "grads present");
        expect_f32(gp, wgp, 2, "grad p");
        expect_f32(gq, wgq, 1, "grad q (none on every rank: zeros)");
        ct_destroy(gp);
        ct_destroy(gq);
        ct_destroy(l);
        ct_destroy(pm);
        ct_destroy(p);
        ct_destroy(q);
    }
    /* broadcast from rank 1: everyone ends with rank 1's 100 + [0..5] */
    {
        float bv[6];
        for (int i = 0; i < 6; i++) bv[i] = 100.0f * (float)r + (float)i;
        ct_tensor *b = vec_f32(bv, 6);
        float sv[1] = {(float)r};
        ct_tensor *s = vec_f32(sv, 1);
        ct_tensor *ts[2] = {b, s};
        CHECK(ct_dist_broadcast(d, ts, 2, 1) == 0, "broadcast");
        float wb[6] = {100, 101, 102, 103, 104, 105}, ws[1] = {1};
        expect_f32(b, wb, 6, "broadcast b");
        expect_f32(s, ws, 1, "broadcast s");
        CHECK(ct_dist_broadcast(d, ts, 2, 3) != 0 && strstr(ct_last_error(), "root 3"), "root 3 accepted");
        ct_destroy(b);
        ct_destroy(s);
    }
    /* all-gather: rank r sends 3r bytes 'a'+r: "" + "bbb" + "cccccc" */
    {
        char buf[8];
        memset(buf, 'a' + r, sizeof buf);
        void *out = NULL;
        size_t lens[3];
        CHECK(ct_dist_allgather_bytes(d, buf, (size_t)(3 * r), &out, lens) == 0, "all-gather");
        CHECK(lens[0] == 0 && lens[1] == 3 && lens[2] == 6, "lens %zu %zu %zu", lens[0], lens[1], lens[2]);
        CHECK(out && memcmp(out, "bbbcccccc", 9) == 0, "gathered '%.9s'", out ? (char *)out : "(null)");
        free(out);
    }
    CHECK(ct_dist_barrier(d) == 0, "barrier");
    /* autograd all-reduce: x = [r+1, 2] -> y = [6, 6]; loss = sum(y * [r+1, 1])
     * over ranks; dx on every rank = sum over ranks of [r+1, 1] = [6, 3] */
    {
        float xv[2] = {(float)(r + 1), 2}, wv[2] = {(float)(r + 1), 1};
        ct_tensor *x = vec_f32(xv, 2), *w = vec_f32(wv, 2);
        ct_set_requires_grad(x, 1);
        ct_tensor *y = ct_dist_allreduce_sum_autograd(d, x);
        CHECK(y != NULL, "autograd all-reduce");
        float wy[2] = {6, 6}, wg[2] = {6, 3};
        expect_f32(y, wy, 2, "autograd forward");
        ct_tensor *yw = ct_mul(y, w), *l = ct_sum(yw);
        CHECK(l && ct_backward(l) == 0, "autograd backward");
        ct_tensor *g = ct_grad(x);
        CHECK(g != NULL, "x.grad");
        expect_f32(g, wg, 2, "autograd backward grad");
        expect_f32(x, xv, 2, "x untouched");
        ct_destroy(g);
        ct_destroy(l);
        ct_destroy(yw);
        ct_destroy(y);
        ct_destroy(x);
        ct_destroy(w);
    }
    rank_overlap(d);
    CHECK(ct_dist_barrier(d) == 0, "final barrier");
    return 0;
}

/* World 2, `victim` dies (SIGKILL) after the first collective; the other
 * must fail its next one within the timeout, naming the victim. */
static int rank_die(ct_dist *d, int victim) {
    const int r = ct_dist_rank(d);
    float v[1] = {1};
    ct_tensor *t = vec_f32(v, 1);
    CHECK(ct_dist_allreduce(d, &t, 1, CT_DIST_SUM, 0) == 0, "first all-reduce");
    if (r == victim) raise(SIGKILL);
    double t0 = now_s();
    int rc = ct_dist_allreduce(d, &t, 1, CT_DIST_SUM, 0);
    double dt = now_s() - t0;
    CHECK(rc != 0, "all-reduce with a dead peer succeeded");
    char want[64];
    snprintf(want, sizeof want, victim == 0 ? "rank 0 (the rendezvous host) lost" : "rank %d of 2 lost", victim);
    CHECK(strstr(ct_last_error(), want) != NULL, "message lacks '%s'", want);
    CHECK(dt < 10.0, "took %.1f s (timeout 5 s)", dt);
    fprintf(stderr, "rank %d: as expected after %.2f s: %s\n", r, dt, ct_last_error());
    /* later calls fail at once */
    t0 = now_s();
    CHECK(ct_dist_barrier(d) != 0 && strstr(ct_last_error(), "failed earlier"), "barrier after failure");
    CHECK(now_s() - t0 < 1.0, "second failure not immediate");
    ct_destroy(t);
    return 0;
}

static int child(int argc, char **argv) {
    const char *mode = argv[2];
    g_rank = atoi(argv[3]);
    int world = atoi(argv[4]), port = atoi(argv[5]);
    double timeout = strcmp(mode, "alone") == 0 ? 1.0 : 5.0;
    (void)argc;
    double t0 = now_s();
    ct_dist *d = ct_dist_init("127.0.0.1", port, g_rank, world, timeout, "gloo");
    if (strcmp(mode, "alone") == 0) {
        char want[64];
        snprintf(want, sizeof want, "rendezvous at 127.0.0.1:%d as rank 0 of 2", port);
        CHECK(!d && strstr(ct_last_error(), want), "a world of 2 with one rank: %s", d ? "joined" : "wrong message");
        CHECK(now_s() - t0 < 8.0, "rendezvous timeout took %.1f s", now_s() - t0);
        return 0;
    }
    CHECK(d != NULL, "init");
    int rc = strcmp(mode, "all") == 0 ? rank_all(d) : rank_die(d, atoi(mode + 3));
    ct_dist_destroy(d);
    return rc;
}

/* Runs `world` ranks of mode; returns the number of ranks that failed
 * (a rank killed on purpose does not count). */
static int run_group(const char *self, const char *mode, int world, int ranks, int victim) {
    char port[16], ws[16];
    snprintf(port, sizeof port, "%d", free_port());
    snprintf(ws, sizeof ws, "%d", world);
    pid_t pids[8];
    for (int r = 0; r < ranks; r++) {
        char rs[16];
        snprintf(rs, sizeof rs, "%d", r);
        pids[r] = fork();
        if (pids[r] == 0) {
            execl(self, self, "--rank", mode, rs, ws, port, (char *)NULL);
            _exit(127);
        }
    }
    int bad = 0;
    for (int r = 0; r < ranks; r++) {
        int st = 0;
        waitpid(pids[r], &st, 0);
        int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        if (r == victim && killed) continue;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "%s: rank %d ended with status %d\n", mode, r, st);
            bad++;
        }
    }
    return bad;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "--rank") == 0) return child(argc, argv);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) return 1;
    self[n] = 0;
    /* the torchrun variables: missing and malformed ones are named */
    unsetenv("MASTER_ADDR");
    CHECK(!ct_dist_init_env(1, NULL) && strstr(ct_last_error(), "MASTER_ADDR is not set"), "no MASTER_ADDR");
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", "12x", 1);
    CHECK(!ct_dist_init_env(1, NULL) && strstr(ct_last_error(), "MASTER_PORT=12x"), "bad MASTER_PORT");
    setenv("MASTER_PORT", "29400", 1);
    setenv("WORLD_SIZE", "2", 1);
    setenv("RANK", "2", 1);
    CHECK(!ct_dist_init_env(1, NULL) && strstr(ct_last_error(), "RANK=2"), "RANK out of range");
    CHECK(!ct_dist_init("127.0.0.1", 29400, 0, 1, 1, "mpi") && strstr(ct_last_error(), "backend 'mpi'"), "mpi");
    int bad = 0;
    double t0 = now_s();
    bad += run_group(self, "all", 3, 3, -1);
    fprintf(stderr, "3 ranks, every collective: %.1f s\n", now_s() - t0);
    bad += run_group(self, "die1", 2, 2, 1);
    const char *scope = getenv("HND_TEST_SCOPE");
    if (!scope || strcmp(scope, "short") != 0) {   /* the sanitizer pass: the cases above suffice */
        bad += run_group(self, "die0", 2, 2, 0);
        bad += run_group(self, "alone", 2, 1, -1);
    }
    fprintf(stderr, "test_dist: %s (%.1f s)\n", bad ? "FAILED" : "ok", now_s() - t0);
    return bad ? 1 : 0;
}
