/* test_model_params.c: loading weights by torchvision key, strict checks
 * that name every offending key, and a save/load round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hnd_error.h"
#include "model_params.h"
#include "test_util.h"
#include "wstore.h"

static const float k_w[6] = {1, 2, 3, 4, 5, 6};

/* file: a.weight [2,3] f32, b.bias [4] f16 (1, -2, 0.5, 0), optional extras */
static void write_file(const char *path, int misshape, int extra) {
    ws_writer *w = ws_writer_open(path);
    assert_non_null(w);
    int64_t s23[2] = {2, 3};
    assert_int_equal(ws_writer_put(w, "weights", "a.weight", CT_F32, 2, s23, k_w), 0);
    uint16_t h[5] = {0x3C00, 0xC000, 0x3800, 0, 0};
    int64_t s4 = misshape ? 5 : 4;
    assert_int_equal(ws_writer_put(w, "weights", "b.bias", CT_F16, 1, &s4, h), 0);
    if (extra) {
        int64_t n = 3;
        assert_int_equal(ws_writer_put(w, "weights", "c.num_batches_tracked", CT_I64, 0, NULL, &n), 0);
    }
    assert_int_equal(ws_writer_commit(w), 0);
}

static mp_params *make_model(void) {
    mp_params *p = mp_params_new();
    int64_t s23[2] = {2, 3}, s4 = 4;
    assert_non_null(mp_params_add(p, "a.weight", MP_PARAM, s23, 2));
    assert_non_null(mp_params_add(p, "b.bias", MP_PARAM, &s4, 1));
    return p;
}

static void test_load_exact(void **state) {
    char path[512];
    tu_tmp(path, sizeof path, "mp_exact.h5");
    write_file(path, 0, 0);
    mp_params *p = make_model();
    assert_null(mp_params_add(p, "a.weight", MP_PARAM, NULL, 0));
    assert_non_null(strstr(hnd_error(), "'a.weight' registered twice"));
    assert_int_equal(mp_params_load(p, path, 1, NULL, NULL), 2);
    float a[6], b[4];
    assert_int_equal(ct_to_buffer(mp_params_get(p, "a.weight"), a, sizeof a), 0);
    assert_memory_equal(a, k_w, sizeof a);
    assert_int_equal(ct_to_buffer(mp_params_get(p, "b.bias"), b, sizeof b), 0);
    /* half values converted to float32 */
    assert_true(b[0] == 1.0f && b[1] == -2.0f && b[2] == 0.5f && b[3] == 0.0f);
    mp_params_destroy(p);
}

static void test_strict_names_keys(void **state) {
    char path[512];
    tu_tmp(path, sizeof path, "mp_bad.h5");
    write_file(path, 1, 1);
    mp_params *p = make_model();
    int64_t s1 = 1;
    assert_non_null(mp_params_add(p, "d.running_var", MP_BUFFER, &s1, 1));
    ct_fill_(mp_params_get(p, "a.weight"), 7.0);
    assert_int_equal(mp_params_load(p, path, 1, NULL, NULL), -1);
    const char *m = hnd_error();
    assert_non_null(strstr(m, "mp_bad.h5"));
    assert_non_null(strstr(m, "1 missing key(s): d.running_var"));
    assert_non_null(strstr(m, "1 unexpected key(s): c.num_batches_tracked"));
    assert_non_null(strstr(m, "b.bias (file [5], model [4])"));
    /* nothing changed by a failed load */
    float a[6];
    ct_to_buffer(mp_params_get(p, "a.weight"), a, sizeof a);
    assert_true(a[0] == 7.0f && a[5] == 7.0f);
    mp_params_destroy(p);

    /* non-strict: missing and unexpected are counted, matching keys load */
    tu_tmp(path, sizeof path, "mp_extra.h5");
    write_file(path, 0, 1);
    p = make_model();
    assert_non_null(mp_params_add(p, "d.running_var", MP_BUFFER, &s1, 1));
    int miss = -1, unexp = -1;
    assert_int_equal(mp_params_load(p, path, 0, &miss, &unexp), 2);
    assert_int_equal(miss, 1);
    assert_int_equal(unexp, 1);
    mp_params_destroy(p);
}

static void test_save_round_trip(void **state) {
    char path[512], path2[512];
    tu_tmp(path, sizeof path, "mp_rt_in.h5");
    tu_tmp(path2, sizeof path2, "mp_rt_out.h5");
    write_file(path, 0, 0);
    mp_params *p = make_model();
    assert_int_equal(mp_params_load(p, path, 1, NULL, NULL), 2);
    ws_writer *w = ws_writer_open(path2);
    assert_int_equal(mp_params_save(p, w), 0);
    assert_int_equal(ws_writer_commit(w), 0);
    ws_reader *r = ws_reader_open(path2);
    ws_tensor t;
    assert_int_equal(ws_reader_get(r, "weights", "a.weight", &t), 0);
    assert_int_equal(t.dtype, CT_F32);
    assert_memory_equal(t.data, k_w, sizeof k_w);
    ws_tensor_clear(&t);
    ws_reader_close(r);
    mp_params_destroy(p);
    assert_int_equal(ct_live_tensor_count(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_exact),
        cmocka_unit_test(test_strict_names_keys),
        cmocka_unit_test(test_save_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
