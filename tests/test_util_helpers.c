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
#include "sha256.h"
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

/* FIPS 180-4's published examples (NIST CSRC "SHA256.pdf" and the
 * one-million-'a' vector), fed in uneven pieces so block boundaries fall
 * mid-update. */
static void sha_of(const char *msg, size_t n, size_t piece, char hex[65]) {
    sha256_ctx c;
    uint8_t dg[32];
    sha256_init(&c);
    for (size_t i = 0; i < n; i += piece) sha256_update(&c, msg + i, n - i < piece ? n - i : piece);
    sha256_final(&c, dg);
    sha256_hex(dg, hex);
}

static void test_sha256(void **state) {
    (void)state;
    char hex[65];
    sha_of("", 0, 1, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_of("abc", 3, 2, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";   /* 56 bytes: a second padding block */
    for (size_t piece = 1; piece <= 64; piece += 7) {
        sha_of(two, strlen(two), piece, hex);
        assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    sha_of(a, 1000000, 4093, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* sha256_file reads the same bytes */
    FILE *f = fopen("sha256_a.bin", "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(a, 1, 1000000, f), 1000000);
    assert_int_equal(fclose(f), 0);
    char fhex[65];
    assert_int_equal(sha256_file("sha256_a.bin", fhex), 0);
    assert_string_equal(fhex, hex);
    remove("sha256_a.bin");
    assert_int_equal(sha256_file("no/such/file.bin", fhex), -1);
    assert_non_null(strstr(hnd_error(), "no/such/file.bin"));
    free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdirs),
        cmocka_unit_test(test_join_base),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_splitmix),
        cmocka_unit_test(test_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
