/* test_ct_alloc.c: the large-CPU-tensor cache (ctorch/ct_alloc.cpp).
 *
 * Hand-derived cases: which requests are served from parked blocks (the
 * same rounded size, or at most 1/8 larger), that tensors built on a reused
 * block hold what libtorch promises (zeros, a fill), that the bound evicts
 * the oldest blocks first (a child process run with HND_CPU_CACHE_MB=1),
 * that HND_CPU_CACHE_MB=0 turns the cache off, and, in the sanitizer
 * build, that reading a parked block through a stale pointer is reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctorch.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

static const char *g_self;

/* a float32 tensor of n elements (n * 4 bytes) */
static ct_tensor *floats(int64_t n) {
    ct_tensor *t = ct_empty(&n, 1, CT_F32, ct_cpu());
    assert_non_null(t);
    return t;
}

static ct_cpu_cache_stats stats(void) {
    ct_cpu_cache_stats s;
    assert_int_equal(ct_cpu_cache_get_stats(&s), 1);
    return s;
}

static void test_reuse(void **state) {
    (void)state;
    assert_int_equal(ct_cpu_cache_trim(), 1);
    ct_cpu_cache_stats s0 = stats();
    assert_int_equal(s0.cached_bytes, 0);
    const char *mb = getenv("HND_CPU_CACHE_MB");
    assert_int_equal(s0.limit_bytes, (size_t)(mb ? atoll(mb) : 2048) << 20); /* the default: 2048 */

    /* 1 MiB: a miss, parked at release, then a hit on the same block */
    ct_tensor *a = floats(262144);
    void *pa = ct_data_ptr(a);
    ct_destroy(a);
    ct_cpu_cache_stats s1 = stats();
    assert_int_equal(s1.misses, s0.misses + 1);
    assert_int_equal(s1.cached_bytes, 1 << 20);
    ct_tensor *b = floats(262144);
    assert_ptr_equal(ct_data_ptr(b), pa);
    ct_cpu_cache_stats s2 = stats();
    assert_int_equal(s2.hits, s1.hits + 1);
    assert_int_equal(s2.cached_bytes, 0);
    ct_destroy(b);

    /* a request a little smaller (rounded to the same 64 KiB multiple) and
     * one 1/16 smaller than the parked block reuse it; one 1/4 smaller not */
    ct_tensor *c = floats(262144 - 1000);
    assert_ptr_equal(ct_data_ptr(c), pa);
    ct_destroy(c);
    ct_tensor *d = floats(245760);   /* 960 KiB: 1 MiB <= 960 + 960/8 */
    assert_ptr_equal(ct_data_ptr(d), pa);
    ct_destroy(d);
    ct_cpu_cache_stats s3 = stats();
    ct_tensor *e = floats(262144 - 262144 / 4);   /* 768 KiB: 1 MiB > 768 + 96 */
    assert_true(ct_data_ptr(e) != pa);
    ct_cpu_cache_stats s4 = stats();
    assert_int_equal(s4.misses, s3.misses + 1);
    /* a larger request never takes a smaller block */
    ct_tensor *f = floats(262144 * 2);
    assert_true(ct_data_ptr(f) != pa);
    ct_destroy(e);
    ct_destroy(f);

    /* small tensors are not cached */
    ct_cpu_cache_stats s5 = stats();
    ct_tensor *g = floats(1000);
    ct_destroy(g);
    ct_cpu_cache_stats s6 = stats();
    assert_int_equal(s6.hits, s5.hits);
    assert_int_equal(s6.misses, s5.misses);
    assert_int_equal(s6.cached_bytes, s5.cached_bytes);
    assert_int_equal(ct_cpu_cache_trim(), 1);
    assert_int_equal(stats().cached_bytes, 0);
}

/* A reused block carries the last tensor's bytes; ct_zeros / ct_full must
 * still give what they promise. */
static void test_values_on_reused_blocks(void **state) {
    (void)state;
    int64_t n = 300000;
    ct_tensor *a = ct_full(&n, 1, 7.5, CT_F32, ct_cpu());
    assert_non_null(a);
    void *pa = ct_data_ptr(a);
    ct_destroy(a);
    ct_tensor *z = ct_zeros(&n, 1, CT_F32, ct_cpu());
    assert_ptr_equal(ct_data_ptr(z), pa);
    const float *v = ct_data_ptr(z);
    for (int64_t i = 0; i < n; ++i)
        if (v[i] != 0.0f) fail_msg("zeros[%lld] = %g on a reused block", (long long)i, v[i]);
    ct_destroy(z);
    ct_tensor *o = ct_full(&n, 1, -2.0, CT_F32, ct_cpu());
    v = ct_data_ptr(o);
    for (int64_t i = 0; i < n; ++i)
        if (v[i] != -2.0f) fail_msg("full[%lld] = %g", (long long)i, v[i]);
    ct_destroy(o);
}

/* Runs this program again as `SELF MODE` with HND_CPU_CACHE_MB=mb; returns
 * its wait status. */
static int run_child(const char *mode, const char *mb) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("HND_CPU_CACHE_MB", mb, 1);
        execl(g_self, g_self, mode, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void test_bound_and_off(void **state) {
    (void)state;
    int st = run_child("--child-bound", "1");
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    st = run_child("--child-off", "0");
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* HND_CPU_CACHE_MB=1: three 512 KiB blocks released in order a, b, c leave
 * b and c parked (1 MiB), a freed; a new request reuses b (the oldest left). */
static int child_bound(void) {
    int64_t n = 131072; /* 512 KiB */
    ct_tensor *a = floats(n), *b = floats(n), *c = floats(n);
    void *pb = ct_data_ptr(b), *pc = ct_data_ptr(c);
    ct_destroy(a);
    ct_destroy(b);
    ct_destroy(c);
    ct_cpu_cache_stats s;
    if (ct_cpu_cache_get_stats(&s) != 1 || s.limit_bytes != (1u << 20) || s.cached_bytes != (1u << 20))
        return 1;
    ct_tensor *x = floats(n), *y = floats(n), *z = floats(n);
    void *px = ct_data_ptr(x), *py = ct_data_ptr(y), *pz = ct_data_ptr(z);
    /* the multimap hands out equal sizes in insertion order: b, then c */
    int ok = px == pb && py == pc && pz != pb && pz != pc;
    ct_destroy(x);
    ct_destroy(y);
    ct_destroy(z);
    return ok ? 0 : 2;
}

static int child_off(void) {
    ct_cpu_cache_stats s;
    if (ct_cpu_cache_get_stats(&s) != 0 || s.limit_bytes != 0) return 1;
    ct_tensor *a = floats(262144);
    ct_destroy(a);
    return ct_cpu_cache_get_stats(&s) == 0 && s.cached_bytes == 0 && ct_cpu_cache_trim() == 0 ? 0 : 2;
}

#ifdef TEST_ASAN
/* The child reads a parked block through the freed tensor's pointer: the
 * sanitizer must stop it (exit status 1, its default for a report). */
static int child_stale_read(void) {
    ct_tensor *a = floats(262144);
    volatile float *p = ct_data_ptr(a);
    ct_destroy(a);
    float v = p[1000];
    printf("read %g through a stale pointer: not reported\n", v);
    return 0;
}

static void test_stale_read_reported(void **state) {
    (void)state;
    int st = run_child("--child-stale", "2048");
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 0);
}
#endif

int main(int argc, char **argv) {
    g_self = argv[0];
    if (argc > 1 && !strcmp(argv[1], "--child-bound")) return child_bound();
    if (argc > 1 && !strcmp(argv[1], "--child-off")) return child_off();
#ifdef TEST_ASAN
    if (argc > 1 && !strcmp(argv[1], "--child-stale")) return child_stale_read();
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_values_on_reused_blocks),
        cmocka_unit_test(test_bound_and_off),
#ifdef TEST_ASAN
        cmocka_unit_test(test_stale_read_reported),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
