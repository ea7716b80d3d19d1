/* test_json_scan.c: data/json_scan, the COCO readers' JSON scanner.
 *
 *  - numbers: the same double as glibc's strtod (correctly rounded) for
 *    hand-picked hard cases (halfway points, subnormals, the edges of the
 *    fast path, overflow) and for 300k random decimal strings of every
 *    shape; malformed numbers refused;
 *  - strings: escapes validated and decoded to UTF-8, control characters
 *    refused;
 *  - the document scanner: top-level object and arrays, errors naming the
 *    file, the JSON path, and line/column/byte, truncation said as such;
 *  - files: mapped regular files, read character devices, missing files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "json_scan.h"
#include "test_util.h"

/* js_number on the whole of s; fails the test unless it reads all of it
 * and gives strtod's double, bit for bit. */
static void expect_number(const char *s) {
    js_reader r;
    js_reader_init(&r, s, s + strlen(s));
    double got, want = strtod(s, NULL);
    if (js_number(&r, &got) != 0) fail_msg("'%s' refused", s);
    if (r.p != s + strlen(s)) fail_msg("'%s': stopped after %d characters", s, (int)(r.p - s));
    if (memcmp(&got, &want, sizeof got) != 0) fail_msg("'%s': %.17g, strtod %.17g", s, got, want);
}

static void test_numbers_hard(void **st) {
    (void)st;
    static const char *const cases[] = {
        "0", "-0", "0.0", "-0.0", "0e0", "0E-5", "-0e999", "1", "-1", "0.1", "0.2", "0.3", "1.5", "123.456",
        "1e23",                          /* just past the fast path's power of ten */
        "1e22", "9e22", "1e-22", "123456789012345e-22", /* its edges */
        "1234567890123456", "12345678901234567", "123456789012345678901234567890",
        "9007199254740993",              /* 2^53 + 1: halfway, ties to even */
        "9007199254740995",              /* 2^53 + 3: halfway, rounds up */
        "1.00000000000000011102230246251565404236316680908203125", /* exactly halfway between 1 and its successor */
        "1.00000000000000011102230246251565404236316680908203126", /* just above: rounds up */
        "2.2250738585072011e-308",       /* the largest subnormal, a famous hard case */
        "2.2250738585072012e-308", "4.9406564584124654e-324", "2.4703282292062327e-324", /* half the smallest subnormal */
        "2.4703282292062328e-324", "1e-400", "-1e-400", "1.7976931348623157e308", "1.7976931348623158e308",
        "1.7976931348623159e308", "1e309", "-1e400", "1e99999999999", "1e-99999999999",
        "0.000000000000000000000000000000000000000000001", "100000000000000000000000000000000e-32",
        "3.14159265358979323846264338327950288", "640.5", "427.25", "9.999999999999999e-1",
        "0.30000000000000004", "123.45600000000000000000000000001", "5e-324", "1E+2", "1e-0", "1.0e+0",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_number(cases[i]);
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_rng >> 33) % n;
}

/* A random JSON number: sign, 1..25 significant digits with the point
 * anywhere (or none), leading zeros after the point, an exponent or not. */
static void random_number(char *b) {
    char *o = b;
    if (rnd(2)) *o++ = '-';
    int nd = 1 + (int)rnd(rnd(4) ? 17 : 25), point = (int)rnd((uint32_t)nd + 1);
    if (point == 0) {
        *o++ = '0';
        *o++ = '.';
        for (int z = (int)rnd(8); z > 0; z--) *o++ = '0';
    }
    for (int k = 0; k < nd; k++) {
        *o++ = (char)('0' + (k == 0 && point != 0 ? 1 + rnd(9) : rnd(10)));
        if (k + 1 == point && k + 1 < nd) *o++ = '.';
    }
    if (rnd(2)) {
        *o++ = rnd(2) ? 'e' : 'E';
        if (rnd(2)) *o++ = rnd(2) ? '-' : '+';
        o += sprintf(o, "%u", rnd(4) ? rnd(30) : rnd(340));
    }
    *o = '\0';
}

static void test_numbers_random(void **st) {
    (void)st;
    char b[128];
    for (int i = 0; i < 300000; i++) {
        random_number(b);
        expect_number(b);
    }
    /* doubles printed with 17 digits and shortest-ish forms round-trip */
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = ((uint64_t)rnd(1u << 31) << 33) ^ ((uint64_t)rnd(1u << 31) << 2) ^ rnd(4);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d)) continue;
        snprintf(b, sizeof b, i % 2 ? "%.17g" : "%.15g", d);
        expect_number(b);
    }
}

/* Malformed numbers (each as the only element of an array, so a reader that
 * stops early is caught by the array's syntax) are refused, and the error
 * position is inside the number. */
static void test_numbers_malformed(void **st) {
    (void)st;
    static const char *const bad[] = {"01", "-01", "1.", "-", "+1", ".5", "1e", "1e+", "1E-", "NaN", "-NaN",
                                      "Infinity", "-Infinity", "0x10", "--1", "1.e5", "1..2", "1e5.5", "1-2", "\"1\"x",
                                      "tru", "nul", "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char b[64];
        snprintf(b, sizeof b, "[%s]", bad[i]);
        js_reader r;
        js_reader_init(&r, b, b + strlen(b));
        if (js_skip(&r) == 0 && (js_ws(&r), r.p == r.end)) fail_msg("'%s' accepted", bad[i]);
        assert_non_null(r.err_at);
        assert_true(r.err_at >= b + 1 && r.err_at <= b + strlen(b));
    }
    /* more than 500 characters: refused rather than cut */
    char big[700];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    js_reader r;
    js_reader_init(&r, big, big + strlen(big));
    double d;
    assert_int_equal(js_number(&r, &d), -1);
}

static void test_strings(void **st) {
    (void)st;
    const char *s = "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\\u0041\"";
    js_reader r;
    js_reader_init(&r, s, s + strlen(s));
    const char *raw;
    size_t n;
    int esc;
    assert_int_equal(js_string(&r, &raw, &n, &esc), 0);
    assert_int_equal(esc, 1);
    assert_ptr_equal(r.p, s + strlen(s));
    char out[128];
    size_t k = js_unescape(raw, n, out);
    const char want[] = "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "A";
    assert_int_equal(k, sizeof want - 1);
    assert_memory_equal(out, want, k);
    assert_true(k <= n); /* decoding never grows a string */
    /* a plain string: no escapes */
    const char *p = "\"plain\"";
    js_reader_init(&r, p, p + strlen(p));
    assert_int_equal(js_string(&r, &raw, &n, &esc), 0);
    assert_int_equal(esc, 0);
    assert_int_equal(n, 5);
    static const char *const bad[] = {"\"a\nb\"", "\"\\x\"", "\"\\u12g4\"", "\"\\u12\"", "\"abc", "\"\\", "\"\t\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        js_reader_init(&r, bad[i], bad[i] + strlen(bad[i]));
        if (js_string(&r, &raw, &n, &esc) == 0) fail_msg("string %zu accepted", i);
        assert_non_null(r.err_at);
    }
}

/* js_skip validates nesting, literals, objects. */
static void test_skip(void **st) {
    (void)st;
    static const char *const good[] = {"{}", "[]", "{\"a\": [1, {\"b\": null}], \"c\": true, \"d\": false}",
                                       " [ 1 , -2.5e3 , \"x\" , [ ] , { } ] "};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        js_reader r;
        js_reader_init(&r, good[i], good[i] + strlen(good[i]));
        assert_int_equal(js_skip(&r), 0);
        js_ws(&r);
        assert_ptr_equal(r.p, r.end);
    }
    static const char *const bad[] = {"{", "[1,]", "{\"a\" 1}", "{\"a\": 1,}", "{1: 2}", "[1 2]", "]", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        js_reader r;
        js_reader_init(&r, bad[i], bad[i] + strlen(bad[i]));
        if (js_skip(&r) == 0 && (js_ws(&r), r.p == r.end)) fail_msg("'%s' accepted", bad[i]);
    }
    /* deeper than 512: refused, no stack overflow */
    char deep[2100];
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    deep[2000] = '\0';
    js_reader r;
    js_reader_init(&r, deep, deep + 2000);
    assert_int_equal(js_skip(&r), -1);
}

/* Scan "{"KEY": [elements...]}" and return the result of walking it:
 * 0 if every element was handed out and the document closed, -1 with
 * hnd_error() set otherwise. */
static int scan_doc(const char *text, int *n_elems) {
    js_doc d;
    js_doc_init(&d, "t.json", text, strlen(text));
    js_top t;
    const char *k, *s, *e;
    size_t kl;
    int m;
    *n_elems = 0;
    if (js_top_begin(&t, &d) < 0) return -1;
    while ((m = js_top_next(&t, &k, &kl)) == 1) {
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)kl, k);
        if (!JS_KEY_IS(k, kl, "anns")) {
            if (js_value(&d, key, &s, &e) < 0) return -1;
            continue;
        }
        js_arr a;
        if (js_arr_begin(&a, &d, key) < 0) return -1;
        while ((m = js_arr_next(&a, &s, &e)) == 1) {
            assert_int_equal(a.index, *n_elems);
            (*n_elems)++;
        }
        if (m < 0) return -1;
    }
    return m;
}

static void expect_doc_error(const char *text, const char *msg) {
    int n;
    if (scan_doc(text, &n) == 0) fail_msg("accepted: %s", text);
    if (strcmp(hnd_error(), msg) != 0) fail_msg("message\n  '%s'\nwanted\n  '%s'", hnd_error(), msg);
}

static void test_doc(void **st) {
    (void)st;
    int n;
    assert_int_equal(scan_doc(" {\"info\": {\"a\": [1, \"]\"]}, \"anns\": [{\"x\": \"}\"}, [1, [2]], 3, \"s\"]} \n", &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(scan_doc("{\"anns\": []}", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(scan_doc("{}", &n), 0);
    expect_doc_error("[1]", "t.json: expected a JSON object at line 1, column 1 (byte 0)");
    expect_doc_error("", "t.json: expected a JSON object (the file ends at byte 0)");
    expect_doc_error("{\"anns\": 5}", "t.json: anns: expected an array");
    expect_doc_error("{\"anns\": [1,\n 2\n 3]}",
                     "t.json: anns[1]: expected ',' or ']' after the element at line 3, column 2 (byte 17)");
    expect_doc_error("{\"anns\": [1, {\"a\": [2}]}", "t.json: anns[1]: malformed JSON at line 1, column 22 (byte 21)");
    expect_doc_error("{\"anns\": [1, {\"a\": [2", "t.json: anns[1]: truncated JSON (the file ends at byte 21)");
    expect_doc_error("{\"anns\": [1, 2",
                     "t.json: anns[1]: truncated JSON: the array is not closed (the file ends at byte 14)");
    expect_doc_error("{\"anns\": [1]} x", "t.json: trailing data after the top-level object at line 1, column 15 (byte 14)");
    expect_doc_error("{\"anns\": [1] \"b\": 2}",
                     "t.json: expected ',' or '}' in the top-level object at line 1, column 14 (byte 13)");
    expect_doc_error("{\"anns\" [1]}", "t.json: expected ':' after the key at line 1, column 9 (byte 8)");
    expect_doc_error("{5: 1}", "t.json: expected a key at line 1, column 2 (byte 1)");
    expect_doc_error("{\"info\": {\"a\": 1]}", "t.json: info: malformed JSON at line 1, column 17 (byte 16)");
    expect_doc_error("{\"anns", "t.json: truncated JSON: unterminated key (the file ends at byte 6)");
    expect_doc_error("{\"anns\": [1]",
                     "t.json: truncated JSON: the top-level object is not closed (the file ends at byte 12)");
    expect_doc_error("{\"info\": 1, ",
                     "t.json: truncated JSON: the top-level object is not closed (the file ends at byte 12)");
    expect_doc_error("{\"info\": ", "t.json: info: truncated JSON (the file ends at byte 9)");
    /* every prefix of a valid document is refused with a message */
    const char *full = "{\"info\": {\"v\": \"1\"}, \"anns\": [{\"id\": 1, \"p\": [1.5, 2]}, {\"id\": 2}]}";
    for (size_t k = 0; k < strlen(full); k++) {
        char *cut = malloc(k + 1);
        memcpy(cut, full, k);
        cut[k] = '\0';
        js_doc d;
        js_doc_init(&d, "cut.json", cut, k);
        js_top t;
        const char *key, *s, *e;
        size_t kl;
        int m = js_top_begin(&t, &d);
        while (m == 0 && (m = js_top_next(&t, &key, &kl)) == 1) {
            if (!JS_KEY_IS(key, kl, "anns")) {
                m = js_value(&d, "info", &s, &e);
                continue;
            }
            js_arr a;
            m = js_arr_begin(&a, &d, "anns");
            while (m == 0 && (m = js_arr_next(&a, &s, &e)) == 1) m = 0;
        }
        if (m == 0) fail_msg("prefix of %zu bytes accepted", k);
        assert_int_equal(strncmp(hnd_error(), "cut.json: ", 10), 0);
        free(cut);
    }
}

/* An element's syntax error, found by the strict reader, reported with the
 * document's position. */
static void test_element_error(void **st) {
    (void)st;
    const char *text = "{\"anns\": [\n  {\"id\": 1},\n  {\"id\": 1.}\n]}";
    js_doc d;
    js_doc_init(&d, "e.json", text, strlen(text));
    js_top t;
    js_arr a;
    const char *k, *s, *e;
    size_t kl;
    assert_int_equal(js_top_begin(&t, &d), 0);
    assert_int_equal(js_top_next(&t, &k, &kl), 1);
    assert_int_equal(js_arr_begin(&a, &d, "anns"), 0);
    int bad = 0;
    while (js_arr_next(&a, &s, &e) == 1) {
        js_reader r;
        js_reader_init(&r, s, e);
        if (js_skip(&r) < 0) {
            js_doc_error(&d, r.err_at, "anns[%lld]: invalid JSON", (long long)a.index);
            bad++;
        }
    }
    assert_int_equal(bad, 1);
    assert_string_equal(hnd_error(), "e.json: anns[1]: invalid JSON at line 3, column 12 (byte 35)");
}

static void test_files(void **st) {
    (void)st;
    char path[1024];
    tu_tmp(path, sizeof path, "json_scan_file.json");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("[1, 2]", f);
    fclose(f);
    js_file jf;
    assert_int_equal(js_file_open(&jf, path), 0);
    assert_int_equal(jf.len, 6);
    assert_memory_equal(jf.buf, "[1, 2]", 6);
    js_file_close(&jf);
    f = fopen(path, "wb"); /* empty */
    fclose(f);
    assert_int_equal(js_file_open(&jf, path), 0);
    assert_int_equal(jf.len, 0);
    js_file_close(&jf);
    remove(path);
    assert_int_equal(js_file_open(&jf, "/dev/null"), 0); /* not a regular file: read */
    assert_int_equal(jf.len, 0);
    js_file_close(&jf);
    assert_int_equal(js_file_open(&jf, "/nonexistent/x.json"), -1);
    assert_non_null(strstr(hnd_error(), "/nonexistent/x.json: cannot open"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_hard), cmocka_unit_test(test_numbers_random),
        cmocka_unit_test(test_numbers_malformed), cmocka_unit_test(test_strings),
        cmocka_unit_test(test_skip), cmocka_unit_test(test_doc),
        cmocka_unit_test(test_element_error), cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
