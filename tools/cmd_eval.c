/* cmd_eval.c: `hnd eval`, COCO bbox / segm / keypoints evaluation without
 * libtorch. stdout: pycocotools' 12 summary lines (10 for keypoints) (and the per-category table with
 * --per-category); stderr: one line of counts and timing unless --quiet. */
#include "cmd_eval.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coco_eval.h"
#include "commands.h"
#include "file_check.h"
#include "hnd_error.h"
#include "mono_clock.h"

#define CMD "eval"

int cmd_eval(int argc, char **argv) {
    co_args args;
    if (hnd_parse(CMD, argc, argv, &args) != 0) return 2;
    const char *gt_path = co_str(&args, "--gt", NULL), *dt_path = co_str(&args, "--dt", NULL);
    const char *iou = co_str(&args, "--iou", NULL), *json = co_str(&args, "--json", NULL);
    int per_cat = co_has(&args, "--per-category"), quiet = co_has(&args, "--quiet") || co_has(&args, "-q");
    ce_options opts = {0};
    opts.strict_categories = co_has(&args, "--strict-categories");
    co_args_clear(&args);
    if (!gt_path || !dt_path || !iou)
        return co_usage_error(hnd_command_find(CMD), "--gt, --dt and --iou are required");
    int type = ce_iou_parse(iou);
    if (fchk_regular(gt_path, FCHK_JSON_MAX) != 0 || fchk_regular(dt_path, FCHK_JSON_MAX) != 0) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
        return 1;
    }
    double t0 = mono_now_s();
    ce_gt *gt = ce_gt_load(gt_path, type == CE_SEGM);
    if (!gt) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
        return 1;
    }
    double t1 = mono_now_s();
    ce_dt *dt = ce_dt_load(gt, dt_path, (ce_iou_type)type, &opts);
    if (!dt) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
        ce_gt_destroy(gt);
        return 1;
    }
    double t2 = mono_now_s();
    /* pycocotools scores missing images as misses. A detector leaves a few
     * images empty; results for under half of them are usually a file of a
     * subset (or of another split), worth a word */
    size_t covered = ce_dt_num_images(dt);
    if (covered > 0 && 2 * covered < (size_t)ce_gt_num_images(gt))
        fprintf(stderr, "hnd " CMD ": warning: %s covers %zu of the %d ground-truth images; the others count as "
                        "images without detections\n",
                dt_path, covered, ce_gt_num_images(gt));
    ce_result res;
    int rc = ce_eval(gt, dt, &res);
    if (rc == 0 && json && ce_write_json(json, &res, per_cat) < 0) {
        ce_result_clear(&res);
        rc = -1;
    }
    if (rc < 0) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
    } else {
        ce_print_summary_type(stdout, (ce_iou_type)type, res.stats);
        if (per_cat) {
            printf("\n");
            ce_print_per_category(stdout, &res);
        }
        if (!quiet) {
            fprintf(stderr,
                    "hnd " CMD ": %s, %zu images, %zu ground-truth annotations, %zu results", ce_iou_name(type),
                    res.num_images, res.num_gt, res.num_dt);
            if (res.num_dropped)
                fprintf(stderr, " (+%zu of categories absent from the ground truth, ignored as pycocotools does)",
                        res.num_dropped);
            fprintf(stderr, "; load %.2f s + %.2f s, evaluate %.2f s\n", t1 - t0, t2 - t1, res.seconds_eval);
        }
        ce_result_clear(&res);
    }
    ce_dt_destroy(dt);
    ce_gt_destroy(gt);
    return rc < 0 ? 1 : 0;
}
