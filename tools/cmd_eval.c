/* cmd_eval.c: `hnd eval`, COCO bbox / segm evaluation without libtorch.
 * stdout: pycocotools' 12 summary lines (and the per-category table with
 * --per-category); stderr: one line of counts and timing unless --quiet. */
#include "cmd_eval.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coco_eval.h"
#include "commands.h"
#include "hnd_error.h"

#define CMD "eval"

static void usage(FILE *f) {
    const hnd_command_info *info = hnd_command_find(CMD);
    fputs(info ? info->usage
               : "usage: hnd eval --gt GT.json --dt RESULTS.json --iou bbox|segm [--json OUT.json] "
                 "[--per-category]\n",
          f);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* --opt VALUE or --opt=VALUE; 1 if matched (value in *v), -1 if the value
 * is missing, 0 if a is another option. */
static int opt_value(const char *a, const char *name, int argc, char **argv, int *i, const char **v) {
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *v = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *v = argv[++*i];
    return 1;
}

int cmd_eval(int argc, char **argv) {
    const char *gt_path = NULL, *dt_path = NULL, *iou = NULL, *json = NULL;
    int per_cat = 0, quiet = 0;
    ce_options opts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        const char *names[4] = {"--gt", "--dt", "--iou", "--json"};
        const char **slots[4] = {&gt_path, &dt_path, &iou, &json};
        int hit = 0;
        for (int k = 0; k < 4 && !hit; k++) {
            const char *v = NULL;
            int r = opt_value(a, names[k], argc, argv, &i, &v);
            if (r < 0) {
                fprintf(stderr, "hnd " CMD ": %s needs a value\n", names[k]);
                usage(stderr);
                return 2;
            }
            if (r > 0) {
                slot = slots[k];
                *slot = v;
                hit = 1;
            }
        }
        if (hit) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--per-category") == 0) {
            per_cat = 1;
        } else if (strcmp(a, "--strict-categories") == 0) {
            opts.strict_categories = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else {
            fprintf(stderr, "hnd " CMD ": %s '%s'\n", a[0] == '-' ? "unknown option" : "unexpected argument", a);
            usage(stderr);
            return 2;
        }
    }
    if (!gt_path || !dt_path || !iou) {
        fprintf(stderr, "hnd " CMD ": --gt, --dt and --iou are required\n");
        usage(stderr);
        return 2;
    }
    int type = ce_iou_parse(iou);
    if (type < 0) {
        fprintf(stderr, "hnd " CMD ": --iou must be bbox or segm, not '%s'\n", iou);
        usage(stderr);
        return 2;
    }
    double t0 = now_s();
    ce_gt *gt = ce_gt_load(gt_path, type == CE_SEGM);
    if (!gt) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
        return 1;
    }
    double t1 = now_s();
    ce_dt *dt = ce_dt_load(gt, dt_path, (ce_iou_type)type, &opts);
    if (!dt) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
        ce_gt_free(gt);
        return 1;
    }
    double t2 = now_s();
    ce_result res;
    int rc = ce_eval(gt, dt, &res);
    if (rc == 0 && json && ce_write_json(json, &res, per_cat) < 0) {
        ce_result_free(&res);
        rc = -1;
    }
    if (rc < 0) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
    } else {
        ce_print_summary(stdout, res.stats);
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
        ce_result_free(&res);
    }
    ce_dt_free(dt);
    ce_gt_free(gt);
    return rc < 0 ? 1 : 0;
}
