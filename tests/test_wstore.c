/* test_wstore.c: the HDF5 weight store against hand-made tensors and h5py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hnd_error.h"
#include "test_util.h"
#include "wstore.h"

/* Half-precision bit patterns of exactly representable values:
 * 1.0=0x3C00, -2.0=0xC000, 0.5=0x3800, 65504=0x7BFF (max half). */
static const uint16_t k_half[4] = {0x3C00, 0xC000, 0x3800, 0x7BFF};

static void write_all_dtypes(const char *path) {
    ws_writer *w = ws_writer_open(path);
    assert_non_null(w);
    float f32[6] = {1.5f, -2.25f, 3.0f, 1e-30f, -0.0f, 1e30f};
    int64_t s23[2] = {2, 3};
    assert_int_equal(ws_writer_put(w, "weights", "conv.weight", CT_F32, 2, s23, f32), 0);
    int64_t s4[1] = {4};
    assert_int_equal(ws_writer_put(w, "weights", "half.weight", CT_F16, 1, s4, k_half), 0);
    int64_t i64 = 1234567890123LL;
    assert_int_equal(ws_writer_put(w, "weights", "bn.num_batches_tracked", CT_I64, 0, NULL, &i64), 0);
    uint8_t u8[3] = {0, 128, 255};
    int64_t s3[1] = {3};
    assert_int_equal(ws_writer_put(w, "weights", "mask.u8", CT_U8, 1, s3, u8), 0);
    uint8_t b[3] = {1, 0, 1};
    assert_int_equal(ws_writer_put(w, "weights", "flag", CT_BOOL, 1, s3, b), 0);
    double f64[2] = {0.1, -1e300};
    int64_t s2[1] = {2};
    assert_int_equal(ws_writer_put(w, "train", "param.0.exp_avg", CT_F64, 1, s2, f64), 0);
    int64_t s0[2] = {0, 5};
    assert_int_equal(ws_writer_put(w, "weights", "empty", CT_F32, 2, s0, NULL), 0);
    assert_int_equal(ws_writer_set_attr(w, "config", "{\"train\": {\"lr\": 0.001}}"), 0);
    /* not there before commit: writes are atomic */
    assert_false(tu_file_exists(path));
    assert_int_equal(ws_writer_commit(w), 0);
    assert_true(tu_file_exists(path));
}

static void test_round_trip(void **state) {
    char path[512];
    tu_tmp(path, sizeof path, "wstore_rt.h5");
    remove(path);
    write_all_dtypes(path);

    ws_reader *r = ws_reader_open(path);
    assert_non_null(r);
    const char *const *names;
    int n;
    assert_int_equal(ws_reader_list(r, "weights", &names, &n), 0);
    assert_int_equal(n, 6);
    /* name order */
    assert_string_equal(names[0], "bn.num_batches_tracked");
    assert_string_equal(names[5], "mask.u8");

    ws_tensor t;
    assert_int_equal(ws_reader_get(r, "weights", "conv.weight", &t), 0);
    assert_int_equal(t.dtype, CT_F32);
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.shape[0], 2);
    assert_int_equal(t.shape[1], 3);
    assert_int_equal(t.nbytes, 24);
    assert_true(((float *)t.data)[1] == -2.25f);
    assert_true(((float *)t.data)[3] == 1e-30f);
    ws_tensor_clear(&t);

    assert_int_equal(ws_reader_get(r, "weights", "half.weight", &t), 0);
    assert_int_equal(t.dtype, CT_F16);
    assert_memory_equal(t.data, k_half, sizeof k_half);
    ws_tensor_clear(&t);

    assert_int_equal(ws_reader_get(r, "weights", "bn.num_batches_tracked", &t), 0);
    assert_int_equal(t.dtype, CT_I64);
    assert_int_equal(t.ndim, 0);
    assert_int_equal(*(int64_t *)t.data, 1234567890123LL);
    ws_tensor_clear(&t);

    assert_int_equal(ws_reader_get(r, "weights", "mask.u8", &t), 0);
    assert_int_equal(t.dtype, CT_U8);
    assert_int_equal(((uint8_t *)t.data)[2], 255);
    ws_tensor_clear(&t);

    assert_int_equal(ws_reader_get(r, "weights", "flag", &t), 0);
    assert_int_equal(t.dtype, CT_BOOL);
    assert_int_equal(((uint8_t *)t.data)[1], 0);
    assert_int_equal(((uint8_t *)t.data)[2], 1);
    ws_tensor_clear(&t);

    assert_int_equal(ws_reader_get(r, "train", "param.0.exp_avg", &t), 0);
    assert_int_equal(t.dtype, CT_F64);
    assert_true(((double *)t.data)[1] == -1e300);
    ws_tensor_clear(&t);

    assert_int_equal(ws_reader_info(r, "weights", "empty", &t), 0);
    assert_int_equal(t.shape[0], 0);
    assert_int_equal(t.shape[1], 5);
    assert_null(t.data);
    ws_tensor_clear(&t);

    char *cfg = ws_reader_attr(r, "config");
    assert_non_null(cfg);
    assert_string_equal(cfg, "{\"train\": {\"lr\": 0.001}}");
    free(cfg);
    assert_null(ws_reader_attr(r, "nope"));

    /* an absent group lists as empty */
    assert_int_equal(ws_reader_list(r, "other", &names, &n), 0);
    assert_int_equal(n, 0);
    ws_reader_close(r);
}

static void test_errors(void **state) {
    char path[512];
    tu_tmp(path, sizeof path, "wstore_err.h5");
    remove(path);
    ws_writer *w = ws_writer_open(path);
    assert_non_null(w);
    float x = 1;
    assert_int_equal(ws_writer_put(w, "weights", "a", CT_F32, 0, NULL, &x), 0);
    assert_int_equal(ws_writer_put(w, "weights", "a", CT_F32, 0, NULL, &x), -1);
    assert_non_null(strstr(hnd_error(), "duplicate tensor /weights/a"));
    assert_int_equal(ws_writer_put(w, "weights", "a/b", CT_F32, 0, NULL, &x), -1);
    assert_non_null(strstr(hnd_error(), "a/b"));
    /* abort leaves nothing behind, neither the file nor the temporary */
    ws_writer_abort(w);
    assert_false(tu_file_exists(path));
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_false(tu_file_exists(tmp));

    /* missing file, missing key, not HDF5 */
    assert_null(ws_reader_open(path));
    assert_non_null(strstr(hnd_error(), "wstore_err.h5"));
    write_all_dtypes(path);
    ws_reader *r = ws_reader_open(path);
    ws_tensor t;
    assert_int_equal(ws_reader_get(r, "weights", "backbone.body.conv1.weight", &t), -1);
    assert_non_null(strstr(hnd_error(), "/weights/backbone.body.conv1.weight"));
    assert_non_null(strstr(hnd_error(), "wstore_err.h5"));
    ws_reader_close(r);

    char bad[512];
    tu_tmp(bad, sizeof bad, "wstore_not_h5.h5");
    FILE *f = fopen(bad, "wb");
    fputs("this is not hdf5", f);
    fclose(f);
    assert_null(ws_reader_open(bad));
    assert_non_null(strstr(hnd_error(), "not an HDF5 file"));

    /* unwritable directory: open fails with the path in the message */
    assert_null(ws_writer_open("/nonexistent-dir/x.h5"));
    assert_non_null(strstr(hnd_error(), "/nonexistent-dir/x.h5"));
}

/* h5py reads what we write (dtypes, values, scalar, attribute) and we read
 * what h5py writes (its bool enum, float16, fixed-length strings). */
static void test_h5py_interop(void **state) {
    char ours[512], theirs[512], args[1200];
    tu_tmp(ours, sizeof ours, "wstore_ours.h5");
    tu_tmp(theirs, sizeof theirs, "wstore_h5py.h5");
    remove(ours);
    remove(theirs);
    write_all_dtypes(ours);
    snprintf(args, sizeof args, "check_wstore.py %s %s", ours, theirs);
    assert_int_equal(tu_python(args), 0);

    ws_reader *r = ws_reader_open(theirs);
    assert_non_null(r);
    ws_tensor t;
    assert_int_equal(ws_reader_get(r, "weights", "b", &t), 0);
    assert_int_equal(t.dtype, CT_BOOL);
    assert_int_equal(t.shape[0], 4);
    uint8_t eb[4] = {1, 0, 0, 1};
    assert_memory_equal(t.data, eb, 4);
    ws_tensor_clear(&t);
    assert_int_equal(ws_reader_get(r, "weights", "h", &t), 0);
    assert_int_equal(t.dtype, CT_F16);
    assert_memory_equal(t.data, k_half, sizeof k_half);
    ws_tensor_clear(&t);
    assert_int_equal(ws_reader_get(r, "weights", "i", &t), 0);
    assert_int_equal(t.dtype, CT_I64);
    assert_int_equal(t.ndim, 3);
    assert_int_equal(((int64_t *)t.data)[23], 23);
    ws_tensor_clear(&t);
    char *s = ws_reader_attr(r, "config");
    assert_non_null(s);
    assert_string_equal(s, "{\"a\": 1}");
    free(s);
    ws_reader_close(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_h5py_interop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
