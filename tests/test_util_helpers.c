/* test_util_helpers.c: the small shared helpers of util/ (path.h,
 * str_util.h, mono_clock.h, splitmix.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <time.h>

#include "hnd_error.h"
#include "mono_clock.h"
#include "path.h"
#include "splitmix.h"
#include "str_util.h"
#include "test_util.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_mkdirs(void **state) {
    (void)state;
    char root[512], deep[600], odd[700];
    tu_tmp(root, sizeof root, "util_mkdirs");
    tu_cleanup(root); /* a leftover of an earlier run */
    snprintf(deep, sizeof deep, "%s/a/b/c", root);
    assert_int_equal(path_mkdirs(deep), 0);
    assert_true(is_dir(deep));
    assert_int_equal(path_mkdirs(deep), 0); /* already there: fine */
    /* doubled and trailing slashes */
    snprintf(odd, sizeof odd, "%s//x///y/", root);
    assert_int_equal(path_mkdirs(odd), 0);
    snprintf(odd, sizeof odd, "%s/x/y", root);
    assert_true(is_dir(odd));

    /* a file in the way is named in the error */
    char file[600], below[700];
    snprintf(file, sizeof file, "%s/file", root);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(path_mkdirs(file), -1);
    assert_non_null(strstr(hnd_error(), "not a directory"));
    snprintf(below, sizeof below, "%s/sub", file);
    assert_int_equal(path_mkdirs(below), -1);
    assert_non_null(strstr(hnd_error(), file));

    assert_int_equal(path_mkdirs(""), -1);
    assert_int_equal(path_mkdirs(NULL), -1);
    char longp[5000];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(path_mkdirs(longp), -1);
    assert_non_null(strstr(hnd_error(), "too long"));
    tu_cleanup(root);
}

static void test_join_base(void **state) {
    (void)state;
    char out[16];
    assert_int_equal(path_join(out, sizeof out, "dir", "f.jpg"), 0);
    assert_string_equal(out, "dir/f.jpg");
    assert_int_equal(path_join(out, sizeof out, "dir/", "f.jpg"), 0);
    assert_string_equal(out, "dir/f.jpg");
    assert_int_equal(path_join(out, sizeof out, "", "f.jpg"), 0);
    assert_string_equal(out, "f.jpg");
    assert_int_equal(path_join(out, sizeof out, NULL, "f.jpg"), 0);
    assert_string_equal(out, "f.jpg");
    assert_int_equal(path_join(out, sizeof out, "/", "f"), 0);
    assert_string_equal(out, "/f");
    /* exactly full (15 characters + NUL) fits, one more does not */
    assert_int_equal(path_join(out, sizeof out, "0123456789", "abcd"), 0);
    assert_string_equal(out, "0123456789/abcd");
    assert_int_equal(path_join(out, sizeof out, "0123456789", "abcde"), -1);
    assert_string_equal(out, "");
    assert_non_null(strstr(hnd_error(), "too long"));

    assert_string_equal(path_base("a/b/c.png"), "c.png");
    assert_string_equal(path_base("c.png"), "c.png");
    assert_string_equal(path_base("dir/"), "");
}

static void test_strings(void **state) {
    (void)state;
    assert_true(su_ends_with("layer1.0.conv1.weight", ".weight"));
    assert_false(su_ends_with("weight", ".weight"));      /* shorter than the suffix */
    assert_false(su_ends_with("bn.running_var", "running_mean"));
    assert_true(su_ends_with("x", ""));
    assert_true(su_ends_with("", ""));
    assert_true(su_starts_with("backbone.body.layer1", "backbone.body."));
    assert_false(su_starts_with("backbone", "backbone.body."));
    assert_true(su_starts_with("x", ""));
}

static void test_clock(void **state) {
    (void)state;
    double t0 = mono_now_s();
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
    double t1 = mono_now_s();
    assert_true(t1 - t0 >= 0.019);
    assert_true(t1 - t0 < 5.0);
    assert_true(mono_now_s() >= t1); /* never goes back */
}

/* The first outputs from state 0 are the published ones of Vigna's
 * splitmix64.c; the seed-1234567 one was computed with Python integers. */
static void test_splitmix(void **state) {
    (void)state;
    uint64_t s = 0;
    assert_true(sm64_next(&s) == 0xe220a8397b1dcdafULL);
    assert_true(sm64_next(&s) == 0x6e789e6aa1b965f4ULL);
    assert_true(sm64_next(&s) == 0x06c45d188009454fULL);
    assert_true(s == 3 * 0x9e3779b97f4a7c15ULL);
    uint64_t s1 = 1234567;
    assert_true(sm64_next(&s1) == 0x599ed017fb08fc85ULL);
    /* mix is the first output from a state, the state left alone */
    assert_true(sm64_mix(0) == 0xe220a8397b1dcdafULL);
    assert_true(sm64_mix(1234567) == 0x599ed017fb08fc85ULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdirs),
        cmocka_unit_test(test_join_base),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_splitmix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
