/* fuzz_eval.c: libFuzzer entry for the COCO results reader (infer/
 * coco_eval_load.c: the fast reader, the cJSON path, the ranges parsed on
 * threads and their merge) and the evaluation after it. The input is a
 * results file against a fixed small ground truth (2 images with masks, 2
 * categories). Each input is read as bbox and as segm results, once in a
 * single range and once in ranges of one result on 3 threads: both must
 * accept or refuse alike, with the same message (naming the file) or the
 * same 12 stats. regress_main.c replays tests/fuzz/regress_eval/ in ctest. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coco_eval.h"
#include "hnd_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char k_gt[] =
    "{\"images\":[{\"id\":1,\"width\":40,\"height\":30},{\"id\":7,\"width\":20,\"height\":20}],"
    "\"categories\":[{\"id\":1,\"name\":\"a\"},{\"id\":3,\"name\":\"b\"}],\"annotations\":["
    "{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[2,2,10,8],\"area\":80,"
    "\"segmentation\":[[2,2,12,2,12,10,2,10]]},"
    "{\"id\":2,\"image_id\":1,\"category_id\":3,\"bbox\":[20,5,15,20],\"area\":300,\"iscrowd\":1,"
    "\"segmentation\":{\"size\":[30,40],\"counts\":[605,20,10,20,545]}},"
    "{\"id\":3,\"image_id\":7,\"category_id\":1,\"bbox\":[0,0,5,5],\"area\":25,"
    "\"segmentation\":[[0,0,5,0,5,5,0,5]]}]}";

/* Parse and evaluate; 0 with stats, or -1 with msg. */
static int run(const ce_gt *g, const char *s, size_t n, ce_iou_type t, double st[12], char *msg, size_t cap) {
    ce_dt *d = ce_dt_parse(g, s, n, "dt.json", t, NULL);
    if (!d) {
        strncpy(msg, hnd_error(), cap - 1);
        msg[cap - 1] = 0;
        if (strncmp(msg, "dt.json", 7) != 0) abort(); /* every refusal names the file */
        return -1;
    }
    ce_result r;
    if (ce_eval(g, d, &r) != 0) abort();
    memcpy(st, r.stats, 12 * sizeof *st);
    ce_result_clear(&r);
    ce_dt_destroy(d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ce_gt *g;
    if (!g && !(g = ce_gt_parse(k_gt, sizeof k_gt - 1, "gt.json", 1))) abort();
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    for (int t = 0; t < 2; t++) {
        double a[12], b[12];
        char ma[512], mb[512];
        setenv("HND_EVAL_THREADS", "1", 1);
        unsetenv("HND_EVAL_RANGE");
        int ra = run(g, s, size, (ce_iou_type)t, a, ma, sizeof ma);
        setenv("HND_EVAL_THREADS", "3", 1);
        setenv("HND_EVAL_RANGE", "1", 1);
        int rb = run(g, s, size, (ce_iou_type)t, b, mb, sizeof mb);
        if (ra != rb) abort();
        if (ra < 0 && strcmp(ma, mb) != 0) abort();
        if (ra == 0 && memcmp(a, b, sizeof a) != 0) abort();
    }
    free(s);
    return 0;
}
