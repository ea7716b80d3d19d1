/* test_data_tensors.c: a loader sample as ctorch tensors (shapes, dtypes,
 * values copied exactly). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_tensors.h"
#include "hnd_error.h"
#include "syn.h"
#include "test_util.h"

static void test_sample_tensors(void **state) {
    char dir[1024], json[1100], imgs[1100];
    tu_tmp(dir, sizeof dir, "data_tensors_syn");
    syn_opts o;
    syn_opts_default(&o);
    o.out_dir = dir;
    o.n_train = 6;
    o.width = 48;
    o.height = 40;
    o.seed = 3;
    assert_int_equal(syn_generate(&o, NULL), 0);
    snprintf(json, sizeof json, "%s/annotations/instances_train.json", dir);
    snprintf(imgs, sizeof imgs, "%s/train", dir);
    coco_dataset *ds = coco_load(json, NULL);
    assert_non_null(ds);
    int64_t img = -1;
    for (int64_t i = 0; i < ds->n_images && img < 0; i++) {
        int64_t n;
        coco_image_anns(ds, i, &n);
        if (n) img = i;
    }
    assert_true(img >= 0);
    tf_target_opts to = {1, 0};
    ld_sample s;
    assert_int_equal(ld_load_sample(ds, imgs, img, 1, &to, &s), 0);
    ct_tensor *im;
    dt_target t;
    if (dt_sample_tensors(&s, &im, &t) < 0) fail_msg("%s", hnd_error());
    int n = s.target.n;
    assert_true(n > 0);
    size_t npx = (size_t)3 * 40 * 48;
    float *buf = malloc(npx * sizeof *buf);
    assert_int_equal(ct_to_buffer(im, buf, npx * sizeof *buf), 0);
    assert_memory_equal(buf, s.chw, npx * sizeof *buf);
    float bx[4 * 8];
    assert_int_equal(ct_to_buffer(t.boxes, bx, (size_t)n * 4 * sizeof(float)), 0);
    assert_memory_equal(bx, s.target.boxes, (size_t)n * 4 * sizeof(float));
    int64_t lab[8], iid;
    assert_int_equal(ct_to_buffer(t.labels, lab, (size_t)n * sizeof(int64_t)), 0);
    assert_memory_equal(lab, s.target.labels, (size_t)n * sizeof(int64_t));
    assert_int_equal(ct_to_buffer(t.image_id, &iid, sizeof iid), 0);
    assert_int_equal(iid, ds->images[img].id);
    uint8_t *m = malloc((size_t)n * 40 * 48);
    assert_int_equal(ct_to_buffer(t.masks, m, (size_t)n * 40 * 48), 0);
    assert_memory_equal(m, s.target.masks, (size_t)n * 40 * 48);
    /* wrong size is refused (dtype/shape as documented) */
    assert_int_equal(ct_to_buffer(t.area, bx, (size_t)(n + 1) * sizeof(float)), -1);
    free(m);
    free(buf);
    ct_destroy(im);
    dt_target_clear(&t);
    ld_sample_clear(&s);
    coco_destroy(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sample_tensors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
