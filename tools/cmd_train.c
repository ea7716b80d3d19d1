/* cmd_train.c: `hnd train CONFIG.json [--set KEY=VALUE ...] [--resume]`:
 * head network distillation of the config's student (train/hnd_train.h).
 * Ctrl-C finishes the current iteration, writes a resumable checkpoint
 * and exits with status 130; a second Ctrl-C exits at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_run.h"
#include "cmd_train.h"
#include "config.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "hnd_train.h"

int cmd_train(int argc, char **argv) {
    cr_args a;
    int rc = cr_parse("train", argc, argv, &a);
    if (rc != 0) return rc;
    const char *config = a.config;
    int quiet = a.quiet;
    tc_config cfg;
    rc = cr_load("train", &a, &cfg);
    if (rc != 0) {
        cr_args_clear(&a);
        return rc;
    }
    ht_opts o;
    ht_opts_default(&o);
    o.resume = a.resume;
    o.overwrite = a.overwrite;
    o.allow_config_change = a.allow_config_change;
    o.quiet = quiet;
    o.validate = !a.no_val;
    o.stop_after = a.stop_after;
    o.sync_bn = a.sync_bn;
    cr_args_clear(&a);
    o.stop = cr_catch_stop("\nhnd train: interrupted: finishing the iteration and writing a checkpoint "
                           "(Ctrl-C again to abort)\n");
    ht_result res;
    rc = ht_train(&cfg, &o, &res);
    cr_release_stop();
    if (rc != 0) {
        fprintf(stderr, "hnd train: %s\n", hnd_error());
        tc_clear(&cfg);
        return 1;
    }
    if (res.status == HT_INTERRUPTED) {
        fprintf(stderr, "hnd train: stopped; resume with: hnd train %s --resume (same --set options)\n", config);
        tc_clear(&cfg);
        return 130;
    }
    if (!quiet) {
        printf("trained %lld epochs (%lld iterations here); mean loss %.6g -> %.6g\n", (long long)res.epochs_done,
               (long long)res.iterations, res.first_loss, res.last_loss);
        if (res.has_val) {
            printf("last validation: bbox AP %.4f", res.last_bbox[0]);
            if (res.has_segm) printf(", segm AP %.4f", res.last_segm[0]);
            printf("; best bbox AP %.4f (epoch %lld) in %s\n", res.best_map, (long long)res.best_epoch, res.best_path);
        }
        printf("checkpoints: %s, %s\n", res.last_path, res.best_path);
    }
    tc_clear(&cfg);
    return 0;
}
