/* test_data_smp.c: samplers with hand-derived numbers (torchvision's
 * GroupedBatchSampler and create_aspect_ratio_groups traced by hand). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco_ann.h"
#include "hnd_error.h"
#include "smp.h"

static void check_batches(const smp_batches *b, const int64_t *want, int nb, int bs) {
    assert_int_equal(b->n_batches, nb);
    for (int i = 0; i < nb; i++) {
        assert_int_equal(b->start[i + 1] - b->start[i], bs);
        for (int j = 0; j < bs; j++) assert_int_equal(b->items[b->start[i] + j], want[i * bs + j]);
    }
}

static void test_grouped(void **state) {
    smp_batches b;
    /* groups 0,1,0,1,1,0,2,2,0,1, batch 3: [1,3,4] and [0,2,5] fill up; at
     * the end g1=[9], g0=[8], g2=[6,7]; 10//3 = 3 batches: the longest (g2)
     * completed with its first sample: [6,7,6] */
    int64_t order[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int32_t g[10] = {0, 1, 0, 1, 1, 0, 2, 2, 0, 1};
    assert_int_equal(smp_grouped_batches(order, 10, g, 3, &b), 0);
    const int64_t w1[9] = {1, 3, 4, 0, 2, 5, 6, 7, 6};
    check_batches(&b, w1, 3, 3);
    smp_batches_clear(&b);
    /* ties follow Python's dict order, where a group whose batch was just
     * yielded moves to the end: groups 0,1,1,0,1,0, batch 2: [1,2] (g1
     * re-inserted), [0,3] (g0 re-inserted after g1); leftovers g1=[4],
     * g0=[5], one more batch: g1 comes first -> [4, 1] */
    int32_t g2[6] = {0, 1, 1, 0, 1, 0};
    assert_int_equal(smp_grouped_batches(order, 6, g2, 2, &b), 0);
    const int64_t w2[6] = {1, 2, 0, 3, 4, 1};
    check_batches(&b, w2, 3, 2);
    smp_batches_clear(&b);
    /* a shuffled order: samples are dataset positions, groups indexed by them */
    int64_t o3[5] = {4, 2, 0, 3, 1};
    int32_t g3[5] = {0, 0, 1, 1, 0}; /* 4->g0, 2->g1, 0->g0, 3->g1, 1->g0 */
    assert_int_equal(smp_grouped_batches(o3, 5, g3, 2, &b), 0);
    const int64_t w3[4] = {4, 0, 2, 3};
    check_batches(&b, w3, 2, 2);
    smp_batches_clear(&b);
    /* repeats wrap around a group smaller than the gap: g0=[0] only, batch 4,
     * 4 samples -> 1 batch from g1 = [1,2,3] + first of g1 */
    int32_t g4[4] = {0, 1, 1, 1};
    assert_int_equal(smp_grouped_batches(order, 4, g4, 4, &b), 0);
    const int64_t w4[4] = {1, 2, 3, 1};
    check_batches(&b, w4, 1, 4);
    smp_batches_clear(&b);
    assert_int_equal(smp_grouped_batches(order, 4, g4, 0, &b), -1);
}

static void test_sequential(void **state) {
    int64_t order[5] = {9, 8, 7, 6, 5};
    smp_batches b;
    assert_int_equal(smp_sequential_batches(order, 5, 2, 0, &b), 0);
    assert_int_equal(b.n_batches, 3);
    assert_int_equal(b.start[3] - b.start[2], 1);
    assert_int_equal(b.items[4], 5);
    smp_batches_clear(&b);
    assert_int_equal(smp_sequential_batches(order, 5, 2, 1, &b), 0);
    assert_int_equal(b.n_batches, 2);
    smp_batches_clear(&b);
}

static void test_aspect(void **state) {
    double bins[16];
    int nb;
    smp_aspect_bins(3, bins, &nb);
    assert_int_equal(nb, 7);
    /* 2 ** linspace(-1, 1, 7) */
    const double want[7] = {0.5, 0.6299605249474366, 0.7937005259840998, 1.0, 1.2599210498948732,
                            1.5874010519681994, 2.0};
    for (int i = 0; i < 7; i++) assert_true(fabs(bins[i] - want[i]) < 1e-15);
    assert_true(bins[3] == 1.0 && bins[0] == 0.5 && bins[6] == 2.0);
    /* bisect_right: a ratio equal to a bin goes after it */
    const double r[9] = {0.4, 0.5, 0.7, 0.75, 1.0, 640.0 / 480, 1.5, 2.0, 3.0};
    const int32_t wg[9] = {0, 1, 2, 2, 4, 5, 5, 7, 7};
    int32_t g[9];
    smp_aspect_groups(r, 9, 3, g);
    for (int i = 0; i < 9; i++) assert_int_equal(g[i], wg[i]);
    smp_aspect_groups(r, 9, 0, g); /* k = 0: bins [1.0] */
    assert_int_equal(g[3], 0);
    assert_int_equal(g[4], 1);
}

static void test_shuffle_rng(void **state) {
    int64_t a[100], b[100], c[100];
    for (int i = 0; i < 100; i++) a[i] = b[i] = c[i] = i;
    smp_shuffle(a, 100, 7);
    smp_shuffle(b, 100, 7);
    smp_shuffle(c, 100, 8);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) seen[a[i]]++;
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    /* the generator: uniform in [0,1), means near 1/2 */
    smp_rng r;
    smp_rng_seed(&r, 1);
    double s = 0;
    for (int i = 0; i < 100000; i++) {
        double u = smp_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        s += u;
    }
    assert_true(fabs(s / 100000 - 0.5) < 0.01);
    assert_true(smp_mix_seed(1, 2, 3, 4) != smp_mix_seed(1, 2, 4, 3));
}

static void test_filter_and_order(void **state) {
    /* ids unsorted in the file; image 30 has only a 1-pixel-wide box
     * (dropped), 10 has none (dropped), 20 a crowd box (kept, as torchvision
     * counts crowd annotations), 5 a normal box */
    const char *js =
        "{\"images\": [{\"id\": 30, \"file_name\": \"a\", \"width\": 9, \"height\": 9},"
        " {\"id\": 10, \"file_name\": \"b\", \"width\": 9, \"height\": 9},"
        " {\"id\": 20, \"file_name\": \"c\", \"width\": 9, \"height\": 9},"
        " {\"id\": 5, \"file_name\": \"d\", \"width\": 9, \"height\": 9}],"
        " \"categories\": [{\"id\": 1, \"name\": \"x\"}],"
        " \"annotations\": ["
        "  {\"id\": 1, \"image_id\": 30, \"category_id\": 1, \"bbox\": [0, 0, 1, 5], \"area\": 5},"
        "  {\"id\": 2, \"image_id\": 20, \"category_id\": 1, \"bbox\": [0, 0, 2, 2], \"area\": 4, \"iscrowd\": 1},"
        "  {\"id\": 3, \"image_id\": 5, \"category_id\": 1, \"bbox\": [0, 0, 1.5, 1.5], \"area\": 2}]}";
    coco_dataset *ds = coco_load_mem("f.json", js, strlen(js), NULL);
    if (!ds) fail_msg("%s", hnd_error());
    int64_t *o = smp_dataset_order(ds);
    const int64_t wo[4] = {3, 1, 2, 0}; /* ids 5, 10, 20, 30 */
    assert_memory_equal(o, wo, sizeof wo);
    int64_t keep[4];
    assert_int_equal(smp_filter_with_annotations(ds, o, 4, keep), 2);
    assert_int_equal(keep[0], 0); /* id 5 */
    assert_int_equal(keep[1], 2); /* id 20 */
    free(o);
    coco_destroy(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouped),   cmocka_unit_test(test_sequential),
        cmocka_unit_test(test_aspect),    cmocka_unit_test(test_shuffle_rng),
        cmocka_unit_test(test_filter_and_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
