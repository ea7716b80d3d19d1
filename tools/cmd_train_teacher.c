/* cmd_train_teacher.c: `hnd train-teacher CONFIG.json [--set KEY=VALUE ...]
 * [--init WEIGHTS.h5] [--resume]`: trains a teacher (Faster / Mask R-CNN) with
 * torchvision's losses (train/teacher_train.h). Ctrl-C finishes the current
 * iteration, writes a resumable checkpoint and exits with status 130; a
 * second Ctrl-C exits at once. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_train_teacher.h"
#include "config.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "teacher_train.h"

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig) {
    if (g_stop) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop = 1;
    static const char msg[] = "\nhnd train-teacher: interrupted: finishing the iteration and writing a checkpoint "
                              "(Ctrl-C again to abort)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

int cmd_train_teacher(int argc, char **argv) {
    const char *config = NULL, *init = NULL, *box_out = NULL;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0, resume = 0, quiet = 0, no_val = 0, reused = 0;
    long long stop_after = 0;
    if (!sets) return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) sets[n_sets++] = argv[++i];
        else if (strncmp(argv[i], "--set=", 6) == 0) sets[n_sets++] = argv[i] + 6;
        else if (strcmp(argv[i], "--init") == 0 && i + 1 < argc) init = argv[++i];
        else if (strcmp(argv[i], "--box-teacher") == 0 && i + 1 < argc) box_out = argv[++i];
        else if (strcmp(argv[i], "--resume") == 0) resume = 1;
        else if (strcmp(argv[i], "--quiet") == 0) quiet = 1;
        else if (strcmp(argv[i], "--no-val") == 0) no_val = 1;
        else if (strcmp(argv[i], "--stop-after") == 0 && i + 1 < argc) stop_after = atoll(argv[++i]);
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "hnd train-teacher: unknown option '%s' (see hnd train-teacher --help)\n", argv[i]);
            free(sets);
            return 2;
        } else if (!config) config = argv[i];
        else {
            fprintf(stderr, "hnd train-teacher: one config only ('%s' and '%s')\n", config, argv[i]);
            free(sets);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "usage: hnd train-teacher CONFIG.json [--set KEY=VALUE ...] [--init W.h5] [--resume] [--box-teacher F.h5]\n");
        free(sets);
        return 2;
    }
    tc_config cfg;
    int rc = tc_load(config, sets, n_sets, &cfg);
    free(sets);
    if (rc != 0) {
        fprintf(stderr, "hnd train-teacher: %s\n", hnd_error());
        return 1;
    }
    if (cfg.threads > 0) ct_set_num_threads(cfg.threads);
    tt_opts o;
    tt_opts_default(&o);
    o.resume = resume;
    o.init = init;
    o.quiet = quiet;
    o.validate = !no_val;
    o.stop = &g_stop;
    o.stop_after = stop_after;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    tt_result res;
    if (resume && tt_finished(&cfg)) {
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
    signal(SIGINT, SIG_DFL);
    if (rc != 0) {
        fprintf(stderr, "hnd train-teacher: %s\n", hnd_error());
        tc_free(&cfg);
        return 1;
    }
    if (res.status == TT_INTERRUPTED) {
        fprintf(stderr, "hnd train-teacher: stopped; resume with: hnd train-teacher %s --resume (same --set options)\n",
                config);
        tc_free(&cfg);
        return 130;
    }
    if (box_out) {
        if (tt_write_box_teacher(&cfg, res.best_path, box_out) != 0) {
            fprintf(stderr, "hnd train-teacher: --box-teacher: %s\n", hnd_error());
            tc_free(&cfg);
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
    tc_free(&cfg);
    return 0;
}
