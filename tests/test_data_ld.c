/* test_data_ld.c: the threaded loader on a synthetic set: same batches for
 * 1 and 4 threads, samples equal to a decode done here, flips applied to
 * image and target together, missing/corrupt images skipped or fatal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco_ann.h"
#include "hnd_error.h"
#include "img.h"
#include "ld.h"
#include "syn.h"
#include "test_util.h"

static char g_dir[1024], g_json[1100], g_imgs[1100];
static coco_dataset *g_ds;

static int setup(void **state) {
    tu_tmp(g_dir, sizeof g_dir, "data_ld_syn");
    syn_opts o;
    syn_opts_default(&o);
    o.out_dir = g_dir;
    o.n_train = 40;
    o.n_val = 0;
    o.width = 96;
    o.height = 64;
    o.seed = 11;
    if (syn_generate(&o, NULL) < 0) return -1;
    snprintf(g_json, sizeof g_json, "%s/annotations/instances_train.json", g_dir);
    snprintf(g_imgs, sizeof g_imgs, "%s/train", g_dir);
    g_ds = coco_load(g_json, NULL);
    return g_ds ? 0 : -1;
}

static int teardown(void **state) {
    coco_destroy(g_ds);
    return 0;
}

typedef struct {
    int64_t image[64];
    int flipped[64];
    double sum[64];
    float box0[64];
    int n;
} epoch_log;

static void run_epoch(int workers, int epoch, epoch_log *lg, int64_t *nb) {
    ld_opts o;
    ld_opts_default(&o);
    o.ds = g_ds;
    o.image_dir = g_imgs;
    o.workers = workers;
    o.queue = 3;
    o.batch_size = 4;
    o.train = 1;
    o.drop_empty = 1;
    o.seed = 5;
    o.with_masks = 1;
    ld_loader *l = ld_open(&o);
    assert_non_null(l);
    assert_int_equal(ld_epoch_begin(l, epoch), 0);
    ld_batch *b;
    int rc;
    memset(lg, 0, sizeof *lg);
    *nb = 0;
    while ((rc = ld_next(l, &b)) == 1) {
        assert_int_equal(b->number, *nb);
        assert_int_equal(b->n, 4); /* grouped batches are full */
        for (int i = 0; i < b->n; i++) {
            ld_sample *s = &b->samples[i];
            double sum = 0;
            for (size_t k = 0; k < (size_t)3 * s->width * s->height; k++) sum += s->chw[k] * (double)(k % 7 + 1);
            assert_true(lg->n < 64);
            lg->image[lg->n] = s->image;
            lg->flipped[lg->n] = s->flipped;
            lg->sum[lg->n] = sum;
            lg->box0[lg->n] = s->target.n ? s->target.boxes[0] : -1;
            lg->n++;
        }
        ld_batch_destroy(b);
        (*nb)++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(*nb, ld_num_batches(l));
    assert_int_equal(ld_skipped(l), 0);
    ld_destroy(l);
}

static void test_deterministic_any_threads(void **state) {
    epoch_log a, b, c;
    int64_t na, nb, nc;
    run_epoch(1, 0, &a, &na);
    run_epoch(4, 0, &b, &nb);
    assert_int_equal(na, nb);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.image, b.image, sizeof a.image);
    assert_memory_equal(a.flipped, b.flipped, sizeof a.flipped);
    assert_memory_equal(a.sum, b.sum, sizeof a.sum);
    assert_memory_equal(a.box0, b.box0, sizeof a.box0);
    /* another epoch: another order */
    run_epoch(3, 1, &c, &nc);
    assert_int_equal(nc, na);
    assert_memory_not_equal(a.image, c.image, sizeof a.image);
    /* some flipped, some not (40 draws of p=0.5) */
    int f = 0;
    for (int i = 0; i < a.n; i++) f += a.flipped[i];
    assert_true(f > 0 && f < a.n);
    /* number of samples: images with a valid annotation, counted here */
    int64_t valid = 0;
    for (int64_t i = 0; i < g_ds->n_images; i++) {
        int64_t n;
        const int32_t *ai = coco_image_anns(g_ds, i, &n);
        int ok = 0;
        for (int64_t k = 0; k < n; k++) ok |= g_ds->anns[ai[k]].bbox[2] > 1 && g_ds->anns[ai[k]].bbox[3] > 1;
        valid += ok;
    }
    assert_int_equal(na, valid / 4);
}

static void test_sample_matches_decode(void **state) {
    /* validation loader: dataset order, no flips, short last batch */
    ld_opts o;
    ld_opts_default(&o);
    o.ds = g_ds;
    o.image_dir = g_imgs;
    o.workers = 2;
    o.batch_size = 3;
    ld_loader *l = ld_open(&o);
    assert_int_equal(ld_num_batches(l), 14); /* ceil(40 / 3) */
    assert_int_equal(ld_epoch_begin(l, 0), 0);
    ld_batch *b;
    int64_t prev_id = -1, count = 0;
    while (ld_next(l, &b) == 1) {
        for (int i = 0; i < b->n; i++) {
            ld_sample *s = &b->samples[i];
            const coco_image *im = &g_ds->images[s->image];
            assert_true(im->id > prev_id);
            prev_id = im->id;
            assert_int_equal(s->flipped, 0);
            char path[2200];
            snprintf(path, sizeof path, "%s/%s", g_imgs, coco_str(g_ds, im->file_name));
            img_u8 u;
            assert_int_equal(img_decode_file(path, &u), 0);
            for (int y = 0; y < u.height; y++)
                for (int x = 0; x < u.width; x++)
                    for (int c = 0; c < 3; c++)
                        assert_true(s->chw[((size_t)c * u.height + y) * u.width + x] ==
                                    (float)u.rgb[((size_t)y * u.width + x) * 3 + c] / 255.0f);
            img_clear(&u);
            count++;
        }
        ld_batch_destroy(b);
    }
    assert_int_equal(count, 40);
    ld_destroy(l);
    /* a flipped sample: image mirrored, boxes x1' = W - x2 */
    tf_target_opts to = {0, 0};
    ld_sample s0, s1;
    int64_t img = -1;
    for (int64_t i = 0; i < g_ds->n_images && img < 0; i++) {
        int64_t n;
        coco_image_anns(g_ds, i, &n);
        if (n) img = i;
    }
    assert_int_equal(ld_load_sample(g_ds, g_imgs, img, 0, &to, &s0), 0);
    assert_int_equal(ld_load_sample(g_ds, g_imgs, img, 1, &to, &s1), 0);
    int W = s0.width, H = s0.height;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                assert_true(s1.chw[((size_t)c * H + y) * W + x] == s0.chw[((size_t)c * H + y) * W + W - 1 - x]);
    assert_int_equal(s0.target.n, s1.target.n);
    for (int k = 0; k < s0.target.n; k++) {
        assert_true(s1.target.boxes[4 * k] == (float)W - s0.target.boxes[4 * k + 2]);
        assert_true(s1.target.boxes[4 * k + 2] == (float)W - s0.target.boxes[4 * k]);
        assert_true(s1.target.boxes[4 * k + 1] == s0.target.boxes[4 * k + 1]);
    }
    ld_sample_clear(&s0);
    ld_sample_clear(&s1);
}

static void test_bad_images(void **state) {
    /* remove one image and truncate another */
    char p1[2300], p2[2300];
    snprintf(p1, sizeof p1, "%s/%s", g_imgs, coco_str(g_ds, g_ds->images[3].file_name));
    snprintf(p2, sizeof p2, "%s/%s", g_imgs, coco_str(g_ds, g_ds->images[7].file_name));
    assert_int_equal(unlink(p1), 0);
    FILE *f = fopen(p2, "r+b");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 300), 0);
    fclose(f);
    ld_opts o;
    ld_opts_default(&o);
    o.ds = g_ds;
    o.image_dir = g_imgs;
    o.workers = 3;
    o.batch_size = 4;
    ld_loader *l = ld_open(&o);
    assert_int_equal(ld_epoch_begin(l, 0), 0);
    ld_batch *b;
    int64_t count = 0;
    while (ld_next(l, &b) == 1) {
        count += b->n;
        ld_batch_destroy(b);
    }
    assert_int_equal(count, 38);
    assert_int_equal(ld_skipped(l), 2);
    const char *n0 = ld_skipped_name(l, 0), *n1 = ld_skipped_name(l, 1);
    assert_non_null(n0);
    assert_non_null(n1);
    assert_true((strstr(n0, p1) && strstr(n1, p2)) || (strstr(n0, p2) && strstr(n1, p1)));
    ld_destroy(l);
    /* fatal: the first bad image in batch order is reported */
    o.skip_bad = 0;
    l = ld_open(&o);
    assert_int_equal(ld_epoch_begin(l, 0), 0);
    int rc;
    while ((rc = ld_next(l, &b)) == 1) ld_batch_destroy(b);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(hnd_error(), p1));
    ld_destroy(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_any_threads),
        cmocka_unit_test(test_sample_matches_decode),
        cmocka_unit_test(test_bad_images),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
