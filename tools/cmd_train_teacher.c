/* cmd_train_teacher.c: `hnd train-teacher CONFIG.json [--set KEY=VALUE ...]
 * [--init WEIGHTS.h5] [--resume]`: trains a teacher (Faster / Mask R-CNN) with
 * torchvision's losses (train/teacher_train.h). Ctrl-C finishes the current
 * iteration, writes a resumable checkpoint and exits with status 130; a
 * second Ctrl-C exits at once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_run.h"
#include "cmd_train_teacher.h"
#include "config.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "hnd_model.h"
#include "teacher_train.h"

/* --box-teacher F.h5 needs a Mask R-CNN and an existing directory for F:
 * checked before training, not after hours of it. 0 / -1 + hnd_error(). */
static int check_box_teacher(const tc_config *cfg, const char *path) {
    rcnn_config rc;
    if (hm_model_config(&cfg->teacher, &rc) != 0) return -1;
    if (!rc.mask.enabled)
        return hnd_error_set("%s: model %s is not a Mask R-CNN: it has no mask branch to drop", cfg->source,
                             cfg->teacher.arch);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *sl = strrchr(dir, '/');
    if (!sl) return 0;
    if (sl == dir) sl[1] = 0;
    else *sl = 0;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return hnd_error_set("%s: directory %s does not exist", path, dir);
    return 0;
}

int cmd_train_teacher(int argc, char **argv) {
    cr_args a;
    int rc = cr_parse("train-teacher", argc, argv, &a);
    if (rc != 0) return rc;
    const char *init = co_str(&a.opts, "--init", NULL), *box_out = co_str(&a.opts, "--box-teacher", NULL);
    const char *config = a.config;
    int quiet = a.quiet, reused = 0;
    tc_config cfg;
    rc = cr_load("train-teacher", &a, &cfg);
    if (rc != 0) {
        cr_args_clear(&a);
        return rc;
    }
    tt_opts o;
    tt_opts_default(&o);
    o.resume = a.resume;
    o.overwrite = a.overwrite;
    o.allow_config_change = a.allow_config_change;
    o.init = init;
    o.quiet = quiet;
    o.validate = !a.no_val;
    o.stop_after = a.stop_after;
    o.sync_bn = a.sync_bn;
    cr_args_clear(&a);
    o.stop = cr_catch_stop("\nhnd train-teacher: interrupted: finishing the iteration and writing a checkpoint "
                           "(Ctrl-C again to abort)\n");
    tt_result res;
    if (box_out && check_box_teacher(&cfg, box_out) != 0) {
        fprintf(stderr, "hnd train-teacher: --box-teacher: %s\n", hnd_error());
        cr_release_stop();
        tc_clear(&cfg);
        return 1;
    }
    int finished = o.resume ? tt_finished_same(&cfg) : 0;
    if (finished < 0) {
        fprintf(stderr, "hnd train-teacher: %s\n", hnd_error());
        cr_release_stop();
        tc_clear(&cfg);
        return 1;
    }
    if (finished) {
        /* a finished run: nothing to train (the weights are best.h5 / model.ckpt) */
        memset(&res, 0, sizeof res);
        res.status = TT_DONE;
        tt_best_path(&cfg, res.best_path, sizeof res.best_path);
        snprintf(res.last_path, sizeof res.last_path, "%s/last.h5", cfg.output_dir);
        if (!quiet) printf("%s: trained earlier (all %d epochs): reusing it\n", res.best_path, cfg.train.num_epochs);
        reused = 1;
        rc = 0;
    } else {
        rc = tt_train(&cfg, &o, &res);
    }
    cr_release_stop();
    if (rc != 0) {
        fprintf(stderr, "hnd train-teacher: %s\n", hnd_error());
        tc_clear(&cfg);
        return 1;
    }
    if (res.status == TT_INTERRUPTED) {
        fprintf(stderr, "hnd train-teacher: stopped; resume with: hnd train-teacher %s --resume (same --set options)\n",
                config);
        tc_clear(&cfg);
        return 130;
    }
    if (box_out) {
        if (tt_write_box_teacher(&cfg, res.best_path, box_out) != 0) {
            fprintf(stderr, "hnd train-teacher: --box-teacher: %s\n", hnd_error());
            tc_clear(&cfg);
            return 1;
        }
        if (!quiet) printf("Faster R-CNN teacher (the box branch of %s): %s\n", res.best_path, box_out);
    }
    if (!quiet && !reused) {
        printf("trained %lld epochs (%lld iterations here, %.0f s); mean loss %.4f -> %.4f\n",
               (long long)res.epochs_done, (long long)res.iterations, res.seconds, res.first_loss, res.last_loss);
        if (res.has_val) {
            printf("last validation: bbox AP %.4f", res.last_bbox[0]);
            if (res.has_segm) printf(", segm AP %.4f", res.last_segm[0]);
            printf("; best bbox AP %.4f (epoch %lld)\n", res.best_map, (long long)res.best_epoch);
        }
        printf("teacher: %s (checkpoint for --resume: %s)\n", res.best_path, res.last_path);
    }
    tc_clear(&cfg);
    return 0;
}
