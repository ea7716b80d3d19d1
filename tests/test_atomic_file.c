/* test_atomic_file.c: atomic writes leave either the whole new file or
 * nothing (and never a temporary) behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "atomic_file.h"
#include "hnd_error.h"
#include "test_util.h"

static void read_all(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t k = fread(buf, 1, n - 1, f);
    buf[k] = '\0';
    fclose(f);
}

static void test_write_and_replace(void **state) {
    char path[512], buf[64];
    tu_tmp(path, sizeof path, "af_out.txt");
    remove(path);
    assert_int_equal(af_write_text(path, "first"), 0);
    read_all(path, buf, sizeof buf);
    assert_string_equal(buf, "first\n");   /* newline added */

    af_file a;
    FILE *f = af_open(&a, path);
    assert_non_null(f);
    fputs("second\n", f);
    /* until the commit, readers still see the old file */
    read_all(path, buf, sizeof buf);
    assert_string_equal(buf, "first\n");
    assert_int_equal(af_commit(&a, 0), 0);
    read_all(path, buf, sizeof buf);
    assert_string_equal(buf, "second\n");
    assert_false(tu_file_exists(a.tmp));
}

static void test_failure_keeps_old(void **state) {
    char path[512], buf[64];
    tu_tmp(path, sizeof path, "af_keep.txt");
    assert_int_equal(af_write_text(path, "old"), 0);
    af_file a;
    FILE *f = af_open(&a, path);
    assert_non_null(f);
    fputs("half", f);
    assert_int_equal(af_commit(&a, 1), -1);
    assert_non_null(strstr(hnd_error(), "af_keep.txt: cannot write"));
    read_all(path, buf, sizeof buf);
    assert_string_equal(buf, "old\n");
    assert_false(tu_file_exists(a.tmp));

    assert_int_equal(af_write_text("/nonexistent-dir/x.json", "x"), -1);
    assert_non_null(strstr(hnd_error(), "/nonexistent-dir/x.json"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_and_replace),
        cmocka_unit_test(test_failure_keeps_old),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
