/* test_rle.c: data/mask_rle against pycocotools' numbers.
 *
 * Expected values: the codec and bitmap cases are derived by hand in the
 * comments; the polygon rasterisations are what pycocotools 2.0
 * (cocodataset/cocoapi, common/maskApi.c, built from source) printed for
 * the same input (frPyObjects + merge, decoded counts, area, toBbox). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "mask_rle.h"

static void expect_counts(const rle_t *r, const uint32_t *want, size_t n) {
    if (r->m != n) fail_msg("got %zu counts, want %zu", r->m, n);
    for (size_t i = 0; i < n; i++)
        if (r->cnts[i] != want[i]) fail_msg("count %zu: got %u, want %u", i, r->cnts[i], want[i]);
}

/* 3 x 4 mask, row-major:
 *   0 1 1 0
 *   0 1 0 0
 *   1 1 0 0
 * column-major: 0 0 1 | 1 1 1 | 1 0 0 | 0 0 0 -> runs [2, 5, 5]; area 5;
 * bbox: columns 0..2, and the 1-run starting in column 0 ends in column 2,
 * so rows 0..2: [0, 0, 3, 3]. pycocotools: encode -> "255". */
static const uint8_t k_rowmajor[12] = {0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0};

static void test_bitmap_roundtrip(void **st) {
    (void)st;
    rle_t r;
    rle_init(&r);
    assert_int_equal(rle_encode_rowmajor(&r, k_rowmajor, 3, 4), 0);
    const uint32_t want[] = {2, 5, 5};
    expect_counts(&r, want, 3);
    assert_int_equal(rle_area(&r), 5);
    double bb[4];
    rle_to_bbox(&r, bb);
    assert_true(bb[0] == 0 && bb[1] == 0 && bb[2] == 3 && bb[3] == 3);
    char *s = rle_to_string(&r);
    assert_string_equal(s, "255");
    free(s);
    uint8_t back[12], col[12];
    rle_decode_rowmajor(&r, back);
    assert_memory_equal(back, k_rowmajor, 12);
    rle_decode(&r, col);
    const uint8_t want_col[12] = {0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    assert_memory_equal(col, want_col, 12);
    rle_t r2;
    rle_init(&r2);
    assert_int_equal(rle_encode(&r2, col, 3, 4), 0);
    expect_counts(&r2, want, 3);
    rle_clear(&r2);
    rle_clear(&r);
    /* an all-ones mask starts with a 0-long run of zeros */
    const uint8_t ones[6] = {1, 1, 1, 1, 1, 1};
    assert_int_equal(rle_encode(&r, ones, 2, 3), 0);
    const uint32_t want1[] = {0, 6};
    expect_counts(&r, want1, 2);
    rle_to_bbox(&r, bb);
    assert_true(bb[0] == 0 && bb[1] == 0 && bb[2] == 3 && bb[3] == 2);
    rle_clear(&r);
}

static void test_string_codec(void **st) {
    (void)st;
    /* hand-derived: counts < 16 are one char (48 + v); from the 4th count on
     * the difference to the count two before is stored; 100 = 4 + 3*32 ->
     * 'T' (4 | continuation 32, +48) then '3'; 1000 = 8 + 31*32 -> 'X',
     * then 31 has the sign bit 16 set so another char 'o' (63) and '0';
     * [5,10,5,3]: 3-10 = -7 -> 25 with the sign bit -> 'I'. All agree with
     * pycocotools' rleToString. */
    static const struct {
        uint32_t c[5];
        size_t n;
        const char *s;
    } cases[] = {
        {{3, 2, 4}, 3, "324"},
        {{0, 1, 2, 3}, 4, "0122"},
        {{5, 10, 5, 3}, 4, "5:5I"},
        {{100}, 1, "T3"},
        {{1000}, 1, "Xo0"},
        {{7, 123456, 99, 7, 123000}, 5, "7Pbh3S3W^WLePh3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rle_t r = {1, 0, cases[i].n, (uint32_t *)cases[i].c};
        char *s = rle_to_string(&r);
        assert_string_equal(s, cases[i].s);
        rle_t back;
        rle_init(&back);
        assert_int_equal(rle_from_string(&back, s, strlen(s), 1, 0), 0);
        expect_counts(&back, cases[i].c, cases[i].n);
        rle_clear(&back);
        free(s);
    }
    /* a detection string of the fixtures: decodes to 406*349 pixels and
     * re-encodes to itself */
    const char *fx = "P]R31c<3O1O0001NlbU1";
    rle_t r;
    rle_init(&r);
    assert_int_equal(rle_from_string(&r, fx, strlen(fx), 406, 349), 0);
    assert_int_equal(rle_check(&r), 0);
    char *s = rle_to_string(&r);
    assert_string_equal(s, fx);
    free(s);
    rle_clear(&r);
    /* garbage is an error, not a crash */
    assert_int_equal(rle_from_string(&r, "12 4", 4, 1, 10), -1);
    assert_non_null(strstr(hnd_error(), "invalid character"));
    assert_int_equal(rle_from_string(&r, "1T", 2, 1, 10), -1); /* ends inside a number */
    assert_int_equal(rle_from_string(&r, "5:5T", 4, 1, 10), -1); /* 4 - 10 + ... < 0 */
    assert_int_equal(rle_from_string(&r, "ooooooooooooooo", 15, 1, 10), -1);
}

/* pycocotools frPyObjects(poly, h, w) (+ merge): counts, area, toBbox */
static void check_poly(const double *const *parts, const size_t *lens, size_t np, uint32_t h, uint32_t w,
                       const uint32_t *want, size_t nwant, uint64_t area, const double bbw[4], const char *str) {
    rle_t *rs = calloc(np, sizeof *rs), out;
    for (size_t i = 0; i < np; i++) assert_int_equal(rle_from_poly(&rs[i], parts[i], lens[i] / 2, h, w), 0);
    assert_int_equal(rle_merge(rs, np, 0, &out), 0);
    expect_counts(&out, want, nwant);
    assert_int_equal(rle_area(&out), area);
    double bb[4];
    rle_to_bbox(&out, bb);
    for (int i = 0; i < 4; i++) assert_true(bb[i] == bbw[i]);
    char *s = rle_to_string(&out);
    assert_string_equal(s, str);
    free(s);
    assert_int_equal(rle_check(&out), 0);
    rle_clear(&out);
    for (size_t i = 0; i < np; i++) rle_clear(&rs[i]);
    free(rs);
}

static void test_polygons(void **st) {
    (void)st;
    /* square (1,1)-(3,3) in 5x5: pixel centres 1.5 and 2.5 in both axes,
     * so the 2x2 block of columns/rows 1..2: [6, 2, 3, 2, 12] */
    {
        const double p[] = {1, 1, 3, 1, 3, 3, 1, 3};
        const double *pp[] = {p};
        size_t l[] = {8};
        const uint32_t want[] = {6, 2, 3, 2, 12};
        const double bb[] = {1, 1, 2, 2};
        check_poly(pp, l, 1, 5, 5, want, 5, 4, bb, "62309");
    }
    { /* triangle with fractional vertices, 8x9 */
        const double p[] = {0.5, 0.5, 7.2, 1.3, 3.1, 6.8};
        const double *pp[] = {p};
        size_t l[] = {6};
        const uint32_t want[] = {9, 2, 6, 4, 4, 5, 3, 4, 4, 3, 5, 1, 22};
        const double bb[] = {1, 1, 6, 5};
        check_poly(pp, l, 1, 8, 9, want, 13, 19, bb, "9262N1OO1O1Na0");
    }
    { /* negative coordinates (truncating rounding) clipped at the border, 6x6 */
        const double p[] = {-1.3, -0.6, 4.4, 0.2, 4.9, 5.1, -2, 3.3};
        const double *pp[] = {p};
        size_t l[] = {8};
        const uint32_t want[] = {0, 4, 2, 4, 2, 5, 1, 5, 2, 4, 7};
        const double bb[] = {0, 0, 5, 5};
        check_poly(pp, l, 1, 6, 6, want, 11, 22, bb, "042001O01O5");
    }
    { /* repeated vertices (zero-length edges), 7x8 */
        const double p[] = {1, 1, 1, 1, 6, 1, 6, 5, 1, 5, 1, 1};
        const double *pp[] = {p};
        size_t l[] = {12};
        const uint32_t want[] = {8, 4, 3, 4, 3, 4, 3, 4, 3, 4, 16};
        const double bb[] = {1, 1, 5, 4};
        check_poly(pp, l, 1, 7, 8, want, 11, 20, bb, "8430000000=");
    }
    { /* beyond the right and bottom border, 8x10 */
        const double p[] = {2, 2, 12.7, 3, 11, 9.6, 3, 8};
        const double *pp[] = {p};
        size_t l[] = {8};
        const uint32_t want[] = {18, 3, 5, 6, 2, 6, 2, 6, 2, 6, 3, 5, 3, 5, 3, 5};
        const double bb[] = {2, 2, 8, 6};
        check_poly(pp, l, 1, 8, 10, want, 16, 42, bb, "b0353M000001O0000");
    }
    { /* two overlapping parts merged (union), 7x7 */
        const double p0[] = {0, 0, 3, 0, 3, 3, 0, 3}, p1[] = {2, 2, 6, 2, 6, 6, 2, 6};
        const double *pp[] = {p0, p1};
        size_t l[] = {8, 8};
        const uint32_t want[] = {0, 3, 4, 3, 4, 6, 3, 4, 3, 4, 3, 4, 8};
        const double bb[] = {0, 0, 6, 6};
        check_poly(pp, l, 2, 7, 7, want, 13, 24, bb, "034003ON00005");
    }
    /* frBbox([1.2, 0.7, 2.5, 3.1]) in 6x5 */
    rle_t r;
    const double box[] = {1.2, 0.7, 2.5, 3.1};
    assert_int_equal(rle_from_bbox(&r, box, 6, 5), 0);
    const uint32_t wantb[] = {7, 3, 3, 3, 3, 3, 8};
    expect_counts(&r, wantb, 7);
    rle_clear(&r);
    /* non-finite coordinates are refused */
    const double bad[] = {0, 0, NAN, 1, 2, 2};
    assert_int_equal(rle_from_poly(&r, bad, 3, 5, 5), -1);
}

static void test_merge_iou(void **st) {
    (void)st;
    /* A: pixels 2..6 of 12, B: pixels 4..8. union 2..8 = [2,7,3],
     * intersection 4..6 = [4,3,5]; IoU 3/7; B crowd: 3 / area(A) = 3/5.
     * pycocotools: merge "273" / "435", iou 0.42857143 / 0.6 */
    uint32_t ca[] = {2, 5, 5}, cb[] = {4, 5, 3};
    rle_t rs[2] = {{3, 4, 3, ca}, {3, 4, 3, cb}}, u, in;
    assert_int_equal(rle_merge(rs, 2, 0, &u), 0);
    const uint32_t wu[] = {2, 7, 3}, wi[] = {4, 3, 5};
    expect_counts(&u, wu, 3);
    assert_int_equal(rle_merge(rs, 2, 1, &in), 0);
    expect_counts(&in, wi, 3);
    rle_clear(&u);
    rle_clear(&in);
    assert_true(fabs(rle_iou(&rs[0], &rs[1], 0) - 3.0 / 7) < 1e-15);
    assert_true(rle_iou(&rs[0], &rs[1], 1) == 3.0 / 5);
    /* disjoint: 0; different sizes with overlapping boxes: -1 */
    uint32_t cc[] = {9, 3}, cd[] = {2, 5, 5};
    rle_t c = {3, 4, 2, cc}, d = {4, 3, 3, cd};
    assert_true(rle_iou(&rs[0], &c, 0) == 0);
    assert_true(rle_iou(&rs[0], &d, 0) == -1);
    /* merging masks of different sizes is an error */
    rle_t mixed[2] = {rs[0], d};
    assert_int_equal(rle_merge(mixed, 2, 0, &u), -1);
    /* boxes: [0,0,10,10] vs [5,5,10,10]: 25 / 175; crowd 25 / 100 */
    const double b1[] = {0, 0, 10, 10}, b2[] = {5, 5, 10, 10}, b3[] = {10, 0, 5, 5};
    assert_true(rle_bbox_iou(b1, b2, 0) == 25.0 / 175.0);
    assert_true(rle_bbox_iou(b1, b2, 1) == 0.25);
    assert_true(rle_bbox_iou(b1, b3, 0) == 0); /* touching edges */
    double m[2];
    const double dts[] = {0, 0, 10, 10, 5, 5, 10, 10};
    const uint8_t crowd[] = {1};
    rle_bbox_iou_matrix(dts, 2, b2, 1, crowd, m);
    assert_true(m[0] == 0.25 && m[1] == 1.0);
}

/* toBbox by the original's formula (a division per run, unsigned 32-bit),
 * against the incremental one on random RLEs, zero-length runs included. */
static void ref_to_bbox(const rle_t *r, double bb[4]) {
    uint32_t h = r->h, w = r->w, xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
    size_t m = r->m / 2 * 2;
    if (m == 0) {
        bb[0] = bb[1] = bb[2] = bb[3] = 0;
        return;
    }
    for (size_t j = 0; j < m; j++) {
        cc += r->cnts[j];
        uint32_t t = cc - (uint32_t)(j % 2), y = t % h, x = (t - y) / h;
        if (j % 2 == 0)
            xp = x;
        else if (xp < x) {
            ys = 0;
            ye = h - 1;
        }
        xs = x < xs ? x : xs;
        xe = x > xe ? x : xe;
        ys = y < ys ? y : ys;
        ye = y > ye ? y : ye;
    }
    bb[0] = xs;
    bb[2] = xe - xs + 1;
    bb[1] = ys;
    bb[3] = ye - ys + 1;
}

static void test_bbox_random(void **st) {
    (void)st;
    uint32_t seed = 7, cnts[64];
    for (int it = 0; it < 20000; it++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t h = 1 + (seed >> 16) % 40, w = 1 + (seed >> 8) % 40, left = h * w;
        size_t m = 0;
        while (left && m < 63) {
            seed = seed * 1103515245u + 12345u;
            uint32_t c = (seed >> 16) % 4 == 0 ? 0 : (seed >> 8) % (2 * h + 1);
            if (c > left) c = left;
            cnts[m++] = c;
            left -= c;
        }
        if (left) cnts[m++] = left;
        rle_t r = {h, w, m, cnts};
        double a[4], b[4];
        rle_to_bbox(&r, a);
        ref_to_bbox(&r, b);
        if (memcmp(a, b, sizeof a) != 0)
            fail_msg("it %d (%ux%u, %zu runs): [%g %g %g %g] vs [%g %g %g %g]", it, h, w, m, a[0], a[1], a[2], a[3],
                     b[0], b[1], b[2], b[3]);
    }
}

static void test_json(void **st) {
    (void)st;
    rle_t r;
    rle_init(&r);
    cJSON *j = cJSON_Parse("[[1,1,3,1,3,3,1,3]]");
    assert_int_equal(rle_from_json(&r, j, 5, 5), 0);
    assert_int_equal(rle_area(&r), 4);
    rle_clear(&r);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"size\":[3,4],\"counts\":[2,5,5]}");
    assert_int_equal(rle_from_json(&r, j, 3, 4), 0);
    assert_int_equal(rle_area(&r), 5);
    rle_clear(&r);
    assert_int_equal(rle_from_json(&r, j, 4, 3), -1); /* size vs image */
    assert_non_null(strstr(hnd_error(), "does not match"));
    cJSON_Delete(j);
    j = cJSON_Parse("{\"size\":[3,4],\"counts\":\"255\"}");
    assert_int_equal(rle_from_json(&r, j, 3, 4), 0);
    assert_int_equal(rle_area(&r), 5);
    rle_clear(&r);
    cJSON_Delete(j);
    static const char *bad[] = {
        "{\"size\":[3,4],\"counts\":[2,5,4]}",  /* sums to 11 */
        "{\"size\":[3,4],\"counts\":[2,-5,15]}", /* negative */
        "{\"size\":[3,4],\"counts\":\"25\"}",    /* sums to 7 */
        "{\"size\":[3],\"counts\":\"255\"}",
        "{\"counts\":\"255\"}",
        "{\"size\":[3,4]}",
        "[]",
        "[[1,2,3]]",
        "[[1,2,3,4,5,\"x\"]]",
        "[[1,1,3,1,3,3],5]",
        "17",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = cJSON_Parse(bad[i]);
        assert_non_null(j);
        if (rle_from_json(&r, j, 3, 4) != -1) fail_msg("accepted %s", bad[i]);
        assert_true(strlen(hnd_error()) > 0);
        cJSON_Delete(j);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitmap_roundtrip), cmocka_unit_test(test_string_codec),
        cmocka_unit_test(test_polygons),         cmocka_unit_test(test_merge_iou),
        cmocka_unit_test(test_json),           cmocka_unit_test(test_bbox_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
