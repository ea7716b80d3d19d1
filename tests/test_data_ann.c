/* test_data_ann.c: the COCO annotation loader against Python's json on a
 * generated file (tests/py/data_make_ann.py), hand-made small files for the
 * fields and error messages, and truncated/garbled files (errors, no crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco_ann.h"
#include "hnd_error.h"
#include "mask_rle.h"
#include "test_util.h"

static char g_json[1024], g_summ[1024], g_small[1024], g_small_summ[1024];

static int setup(void **state) {
    tu_tmp(g_json, sizeof g_json, "data_ann.json");
    tu_tmp(g_summ, sizeof g_summ, "data_ann.txt");
    tu_tmp(g_small, sizeof g_small, "data_ann_small.json");
    tu_tmp(g_small_summ, sizeof g_small_summ, "data_ann_small.txt");
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "data_make_ann.py %s %s 300", g_json, g_summ);
    if (tu_python(cmd) != 0) return -1;
    snprintf(cmd, sizeof cmd, "data_make_ann.py %s %s 12", g_small, g_small_summ);
    return tu_python(cmd) == 0 ? 0 : -1;
}

static const char *summ_get(const char *key, char *buf, size_t n) {
    FILE *f = fopen(g_summ, "r");
    if (!f) return NULL;
    char line[4096];
    const char *res = NULL;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
            line[strcspn(line, "\n")] = '\0';
            snprintf(buf, n, "%s", line + kl + 1);
            res = buf;
            break;
        }
    fclose(f);
    return res;
}

static double summ_num(const char *key) {
    char b[4096];
    assert_non_null(summ_get(key, b, sizeof b));
    return strtod(b, NULL);
}

static void test_against_python(void **state) {
    coco_dataset *ds = coco_load(g_json, NULL);
    if (!ds) fail_msg("%s", hnd_error());
    assert_int_equal(ds->n_images, (int64_t)summ_num("n_images"));
    assert_int_equal(ds->n_anns, (int64_t)summ_num("n_anns"));
    assert_int_equal(ds->n_cats, (int)summ_num("n_cats"));
    assert_int_equal(ds->n_polys, (size_t)summ_num("n_polys"));
    assert_int_equal(ds->n_coords, (size_t)summ_num("n_coords"));
    int64_t crowd = 0, maxper = 0;
    double sa = 0, sb = 0, sc = 0;
    uint64_t scnt = 0;
    for (int64_t i = 0; i < ds->n_anns; i++) {
        const coco_ann *a = &ds->anns[i];
        crowd += a->iscrowd;
        sa += a->area;
        sb += ((a->bbox[0] + a->bbox[1]) + a->bbox[2]) + a->bbox[3];
        if (a->seg_kind == COCO_SEG_POLY)
            for (uint32_t k = 0; k < a->seg_n; k++) {
                uint32_t n;
                const double *p = coco_ann_polygon(ds, a, k, &n);
                for (uint32_t j = 0; j < n; j++) sc += p[j];
            }
        if (a->seg_kind == COCO_SEG_RLE)
            for (uint32_t k = 0; k < a->seg_n; k++) scnt += ds->counts[a->seg_off + k];
        /* references resolved */
        assert_int_equal(ds->images[a->image].id, a->image_id);
        assert_int_equal(ds->cats[a->category].id, a->category_id);
    }
    for (int64_t i = 0; i < ds->n_images; i++) {
        int64_t n;
        coco_image_anns(ds, i, &n);
        if (n > maxper) maxper = n;
    }
    assert_int_equal(crowd, (int64_t)summ_num("n_crowd"));
    assert_true(sa == summ_num("sum_area"));
    assert_true(sb == summ_num("sum_bbox"));
    assert_true(sc == summ_num("sum_coords"));
    assert_int_equal(scnt, (uint64_t)summ_num("sum_counts"));
    assert_int_equal(maxper, (int64_t)summ_num("max_anns_per_image"));
    char b[4096];
    /* the first images: size, file name, annotation ids in file order */
    FILE *f = fopen(g_summ, "r");
    char line[4096];
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "image ", 6) != 0) continue;
        long long id, w, h, n;
        char fn[256];
        int off;
        assert_int_equal(sscanf(line + 6, "%lld %lld %lld %255s %lld%n", &id, &w, &h, fn, &n, &off), 5);
        int64_t ii = coco_image_index(ds, id);
        assert_true(ii >= 0);
        assert_int_equal(ii, seen); /* file order kept */
        assert_int_equal(ds->images[ii].width, w);
        assert_int_equal(ds->images[ii].height, h);
        assert_string_equal(coco_str(ds, ds->images[ii].file_name), fn);
        int64_t na;
        const int32_t *ai = coco_image_anns(ds, ii, &na);
        assert_int_equal(na, n);
        const char *p = line + 6 + off;
        for (int64_t k = 0; k < na; k++) {
            char *end;
            long long aid = strtoll(p, &end, 10);
            p = end;
            assert_int_equal(ds->anns[ai[k]].id, aid);
        }
        seen++;
    }
    fclose(f);
    assert_int_equal(seen, 5);
    long long aid, iid, cid;
    double area, bb[4];
    assert_non_null(summ_get("ann7", b, sizeof b));
    assert_int_equal(sscanf(b, "%lld %lld %lld %lf %lf %lf %lf %lf", &aid, &iid, &cid, &area, &bb[0], &bb[1], &bb[2],
                            &bb[3]),
                     8);
    const coco_ann *a7 = &ds->anns[7];
    assert_int_equal(a7->id, aid);
    assert_int_equal(a7->image_id, iid);
    assert_int_equal(a7->category_id, cid);
    assert_true(a7->area == area);
    for (int k = 0; k < 4; k++) assert_true(a7->bbox[k] == bb[k]);
    assert_non_null(summ_get("cat2", b, sizeof b));
    long long c2;
    char sup[64];
    assert_int_equal(sscanf(b, "%lld %63s", &c2, sup), 2);
    int32_t ci = coco_cat_index(ds, c2);
    assert_int_equal(ci, 2);
    assert_string_equal(coco_str(ds, ds->cats[ci].supercategory), sup);
    char cn[4096];
    snprintf(cn, sizeof cn, "%s.catname", g_summ);
    FILE *fc = fopen(cn, "rb");
    char name[256] = {0};
    assert_true(fread(name, 1, sizeof name - 1, fc) > 0);
    fclose(fc);
    assert_string_equal(coco_str(ds, ds->cats[ci].name), name); /* UTF-8 and escapes decoded */
    /* tricky numbers: exactly Python's float() of the same text */
    int64_t tid = (int64_t)summ_num("tricky_id");
    const coco_ann *ta = NULL;
    for (int64_t i = 0; i < ds->n_anns; i++)
        if (ds->anns[i].id == tid) ta = &ds->anns[i];
    assert_non_null(ta);
    assert_non_null(summ_get("tricky", b, sizeof b));
    uint32_t tn;
    const double *tv = coco_ann_polygon(ds, ta, 0, &tn);
    char *q = b;
    for (uint32_t k = 0; k < tn; k++) {
        char *end;
        double want = strtod(q, &end); /* repr() round-trips exactly */
        assert_true(end != q);
        q = end;
        if (memcmp(&want, &tv[k], sizeof want) != 0) fail_msg("number %u: %.17g, Python %.17g", k, tv[k], want);
    }
    assert_int_equal(tn, 16);
    assert_int_equal(coco_image_index(ds, -5), -1);
    assert_int_equal(coco_cat_index(ds, 2), -1);
    coco_destroy(ds);
}

static coco_dataset *load_str(const char *s) { return coco_load_mem("t.json", s, strlen(s), NULL); }

#define IMG "{\"id\": 7, \"file_name\": \"a.jpg\", \"width\": 6, \"height\": 4}"
#define CAT "{\"id\": 3, \"name\": \"c\"}"

static void expect_error(const char *json, const char *needle) {
    coco_dataset *ds = load_str(json);
    if (ds) {
        coco_destroy(ds);
        fail_msg("no error for %s", json);
    }
    if (!strstr(hnd_error(), needle)) fail_msg("error '%s' lacks '%s'", hnd_error(), needle);
    if (strncmp(hnd_error(), "t.json: ", 8) != 0) fail_msg("error '%s' does not name the file", hnd_error());
}

static void test_errors(void **state) {
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1,2,3,4], \"area\": 1},"
                 "{\"id\": 2, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1,2,3], \"area\": 1}]}",
                 "annotations[1].bbox: expected 4 numbers");
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 8, \"category_id\": 3, \"bbox\": [1,2,3,4], \"area\": 1}]}",
                 "annotations[0].image_id: unknown image 8");
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 7, \"category_id\": 4, \"bbox\": [1,2,3,4], \"area\": 1}]}",
                 "annotations[0].category_id: unknown category 4");
    expect_error("{\"images\": [" IMG ", " IMG "]}", "images[1].id: duplicate id 7");
    expect_error("{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 2}]}", "images[0].height: missing");
    expect_error("{\"images\": [{\"id\": 1.5, \"file_name\": \"a\", \"width\": 2, \"height\": 2}]}",
                 "images[0].id: expected an integer");
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1,2,3,4], \"area\": 1, "
                 "\"segmentation\": [[1, 2, \"x\"]]}]}",
                 "annotations[0].segmentation[0][2]: expected a number");
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1,2,3,4], \"area\": 1, "
                 "\"segmentation\": {\"counts\": [1, 2], \"size\": [4, 6]}}]}",
                 "annotations[0].segmentation.counts: sum 3 != height*width 24");
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1,2,3,4], \"area\": 1, \"iscrowd\": 2}]}",
                 "annotations[0].iscrowd: expected 0 or 1");
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1,2,3,4]}]}",
                 "annotations[0].area: missing");
    /* a non-number then numbers in bbox: refused, nothing written outside it */
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [\"x\", 1, 2, 3, 4, 5], \"area\": 1}]}",
                 "annotations[0].bbox: expected 4 numbers");
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1, 2, 3, 4, 5], \"area\": 1}]}",
                 "annotations[0].bbox: expected 4 numbers");
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                 "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1, 2, 3, 4], \"area\": 1.}]}",
                 "annotations[0]: invalid JSON at line 1, column");
    expect_error("{\"images\": [" IMG "], \"categories\": [" CAT "]", "truncated");
    expect_error("{\"images\": [" IMG "], \"categories\": [{\"id\": 4}]}", "categories[0].name: missing");
    expect_error("{\"images\": [{\"id\": 1, \"width\": 2, \"height\": 2}]}", "images[0].file_name: missing");
    expect_error("{\"images\": 5}", "images: expected an array");
    expect_error("{\"categories\": []}", "no \"images\" array");
    expect_error("[1, 2]", "expected a JSON object");
    expect_error("{\"images\": [" IMG "]} x", "trailing data");
    expect_error("{\"images\": [" IMG ", {\"id\": 2, \"file_name\": \"b\", \"width\": 1, \"height\": 1,}]}",
                 "images[1]: invalid JSON");
    expect_error("{\"images\": [" IMG "], \"info\": {\"a\": tru}}", "info: invalid JSON");
}

static void test_fields_and_masks(void **state) {
    /* 4x6 image; an uncompressed RLE, the same as a compressed string, a
     * polygon and no segmentation */
    const char *js = "{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                     "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [0,0,2,3], \"area\": 5, \"iscrowd\": 1,"
                     " \"segmentation\": {\"counts\": [2, 3, 14, 5], \"size\": [4, 6]}},"
                     "{\"id\": 2, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1,1,2,2], \"area\": 4.5,"
                     " \"segmentation\": [[1, 1, 3, 1, 3, 3, 1, 3]]},"
                     "{\"id\": 3, \"image_id\": 7, \"category_id\": 3, \"bbox\": [1,1,2,2], \"area\": 4}]}";
    coco_dataset *ds = load_str(js);
    if (!ds) fail_msg("%s", hnd_error());
    assert_int_equal(ds->anns[0].seg_kind, COCO_SEG_RLE);
    assert_int_equal(ds->anns[0].seg_h, 4);
    assert_int_equal(ds->anns[0].seg_w, 6);
    assert_int_equal(ds->anns[1].seg_kind, COCO_SEG_POLY);
    assert_int_equal(ds->anns[2].seg_kind, COCO_SEG_NONE);
    assert_true(ds->anns[1].area == 4.5);
    rle_t r;
    assert_int_equal(coco_ann_rle(ds, &ds->anns[0], &r), 0);
    uint8_t bm[24];
    rle_decode(&r, bm); /* column-major: 2 zeros, 3 ones, 14 zeros, 5 ones */
    for (int i = 0; i < 24; i++) assert_int_equal(bm[i], (i >= 2 && i < 5) || i >= 19);
    assert_int_equal(rle_area(&r), 8);
    /* the same mask as a compressed string gives the same counts */
    char *s = rle_to_string(&r);
    rle_clear(&r);
    char js2[2048];
    snprintf(js2, sizeof js2,
             "{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
             "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [0,0,2,3], \"area\": 5, \"iscrowd\": 1,"
             " \"segmentation\": {\"counts\": \"%s\", \"size\": [4, 6]}}]}",
             s);
    free(s);
    coco_dataset *ds2 = load_str(js2);
    if (!ds2) fail_msg("%s", hnd_error());
    assert_int_equal(ds2->anns[0].seg_kind, COCO_SEG_RLE_STR);
    assert_int_equal(coco_ann_rle(ds2, &ds2->anns[0], &r), 0);
    assert_int_equal(r.m, 4);
    assert_int_equal(r.cnts[0], 2);
    assert_int_equal(r.cnts[1], 3);
    assert_int_equal(r.cnts[2], 14);
    assert_int_equal(r.cnts[3], 5);
    rle_clear(&r);
    coco_destroy(ds2);
    /* polygon: the merged RLE of its one part, as the RLE module makes it */
    rle_t p, q;
    assert_int_equal(coco_ann_rle(ds, &ds->anns[1], &p), 0);
    const double xy[8] = {1, 1, 3, 1, 3, 3, 1, 3};
    assert_int_equal(rle_from_poly(&q, xy, 4, 4, 6), 0);
    assert_int_equal(p.m, q.m);
    for (size_t i = 0; i < p.m; i++) assert_int_equal(p.cnts[i], q.cnts[i]);
    rle_clear(&p);
    rle_clear(&q);
    /* no segmentation: an empty mask of the image's size */
    assert_int_equal(coco_ann_rle(ds, &ds->anns[2], &p), 0);
    assert_int_equal(rle_area(&p), 0);
    assert_int_equal(p.h, 4);
    assert_int_equal(p.w, 6);
    rle_clear(&p);
    coco_destroy(ds);
    /* an RLE whose size is not the image's */
    ds = load_str("{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": ["
                  "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [0,0,2,3], \"area\": 5, \"iscrowd\": 1,"
                  " \"segmentation\": {\"counts\": [2, 4], \"size\": [2, 3]}}]}");
    assert_non_null(ds);
    assert_int_equal(coco_ann_rle(ds, &ds->anns[0], &p), -1);
    assert_non_null(strstr(hnd_error(), "annotations[0].segmentation.size"));
    coco_destroy(ds);
    /* empty arrays and unknown keys are fine */
    ds = load_str(" {\"x\": null, \"images\": [], \"annotations\": [], \"categories\": []} \n");
    assert_non_null(ds);
    assert_int_equal(ds->n_images, 0);
    coco_destroy(ds);
}

/* coco_load_opts.for_eval: what pycocotools does not need may be absent;
 * iscrowd may be a JSON boolean (also without for_eval). */
static void test_for_eval(void **state) {
    const char *js = "{\"images\": [{\"id\": 7}], \"categories\": [{\"id\": 3}], \"annotations\": ["
                     "{\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [0,0,2,3], \"area\": 5, \"iscrowd\": true,"
                     " \"segmentation\": [[1, 1, 3, 1, 3, 3]]}]}";
    assert_null(load_str(js)); /* a training set needs them */
    coco_load_opts o = {.for_eval = 1};
    coco_dataset *ds = coco_load_mem("t.json", js, strlen(js), &o);
    if (!ds) fail_msg("%s", hnd_error());
    assert_int_equal(ds->images[0].width, -1);
    assert_int_equal(ds->images[0].height, -1);
    assert_string_equal(coco_str(ds, ds->images[0].file_name), "");
    assert_string_equal(coco_str(ds, ds->cats[0].name), "");
    assert_int_equal(ds->anns[0].iscrowd, 1);
    assert_int_equal(ds->has_anns, 1);
    assert_int_equal(ds->has_cats, 1);
    rle_t r;
    assert_int_equal(coco_ann_rle(ds, &ds->anns[0], &r), -1); /* no size to rasterise into */
    assert_non_null(strstr(hnd_error(), "t.json: annotations[0]: image 7 has no width and height"));
    coco_destroy(ds);
    ds = coco_load_mem("t.json", "{\"images\": []}", 14, &o);
    assert_non_null(ds);
    assert_int_equal(ds->has_anns, 0);
    assert_int_equal(ds->has_cats, 0);
    coco_destroy(ds);
}

/* Every prefix of a valid file and byte-garbled copies: an error or a
 * dataset, never a crash (the test runs under ASan in make test SANITIZE=1). */
static void test_truncated_and_garbled(void **state) {
    uint8_t *buf;
    size_t len;
    FILE *f = fopen(g_small, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    rewind(f);
    buf = malloc(len);
    assert_int_equal(fread(buf, 1, len, f), len);
    fclose(f);
    size_t step = len / 400 + 1, errors = 0;
    for (size_t n = 0; n < len; n += step) {
        coco_dataset *ds = coco_load_mem("cut.json", (const char *)buf, n, NULL);
        if (!ds) {
            errors++;
            assert_true(strlen(hnd_error()) > 0);
        }
        coco_destroy(ds);
    }
    assert_int_equal(errors, (len + step - 1) / step); /* every proper prefix is an error */
    uint64_t x = 42;
    for (int t = 0; t < 300; t++) {
        uint8_t *c = malloc(len);
        memcpy(c, buf, len);
        for (int k = 0; k < 4; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t pos = (size_t)(x >> 33) % len;
            static const char junk[] = "{}[],:\"\\0-e.x \n";
            c[pos] = (uint8_t)junk[(x >> 20) % (sizeof junk - 1)];
        }
        coco_dataset *ds = coco_load_mem("garbled.json", (const char *)c, len, NULL);
        coco_destroy(ds);
        free(c);
    }
    free(buf);
    /* a missing file */
    assert_null(coco_load("/nonexistent/x.json", NULL));
    assert_non_null(strstr(hnd_error(), "/nonexistent/x.json"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_python),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_fields_and_masks),
        cmocka_unit_test(test_for_eval),
        cmocka_unit_test(test_truncated_and_garbled),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
