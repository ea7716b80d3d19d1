/* cmd_train.c: `hnd train CONFIG.json [--set KEY=VALUE ...] [--resume]`:
 * head network distillation of the config's student (train/hnd_train.h).
 * Ctrl-C finishes the current iteration, writes a resumable checkpoint
 * and exits with status 130; a second Ctrl-C exits at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_train.h"
#include "config.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "hnd_train.h"

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig) {
    if (g_stop) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop = 1;
    static const char msg[] = "\nhnd train: interrupted: finishing the iteration and writing a checkpoint "
                              "(Ctrl-C again to abort)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

int cmd_train(int argc, char **argv) {
    const char *config = NULL;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0, resume = 0, quiet = 0, no_val = 0;
    long long stop_after = 0;
    if (!sets) return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) sets[n_sets++] = argv[++i];
        else if (strncmp(argv[i], "--set=", 6) == 0) sets[n_sets++] = argv[i] + 6;
        else if (strcmp(argv[i], "--resume") == 0) resume = 1;
        else if (strcmp(argv[i], "--quiet") == 0) quiet = 1;
        else if (strcmp(argv[i], "--no-val") == 0) no_val = 1;
        else if (strcmp(argv[i], "--stop-after") == 0 && i + 1 < argc) stop_after = atoll(argv[++i]);
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "hnd train: unknown option '%s' (see hnd train --help)\n", argv[i]);
            free(sets);
            return 2;
        } else if (!config) config = argv[i];
        else {
            fprintf(stderr, "hnd train: one config only ('%s' and '%s')\n", config, argv[i]);
            free(sets);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "usage: hnd train CONFIG.json [--set KEY=VALUE ...] [--resume]\n");
        free(sets);
        return 2;
    }
    tc_config cfg;
    int rc = tc_load(config, sets, n_sets, &cfg);
    free(sets);
    if (rc != 0) {
        fprintf(stderr, "hnd train: %s\n", hnd_error());
        return 1;
    }
    if (cfg.threads > 0) ct_set_num_threads(cfg.threads);
    ht_opts o;
    ht_opts_default(&o);
    o.resume = resume;
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
    ht_result res;
    rc = ht_train(&cfg, &o, &res);
    signal(SIGINT, SIG_DFL);
    if (rc != 0) {
        fprintf(stderr, "hnd train: %s\n", hnd_error());
        tc_free(&cfg);
        return 1;
    }
    if (res.status == HT_INTERRUPTED) {
        fprintf(stderr, "hnd train: stopped; resume with: hnd train %s --resume (same --set options)\n", config);
        tc_free(&cfg);
        return 130;
    }
    if (!quiet) {
        printf("trained %lld epochs (%lld iterations here); mean loss %.6g -> %.6g\n", (long long)res.epochs_done,
               (long long)res.iterations, res.first_loss, res.last_loss);
        if (res.has_val)
            printf("last validation: bbox AP %.4f%s; best bbox AP %.4f (epoch %lld) in %s\n", res.last_bbox[0],
                   res.has_segm ? "" : "", res.best_map, (long long)res.best_epoch, res.best_path);
        printf("checkpoints: %s, %s\n", res.last_path, res.best_path);
    }
    tc_free(&cfg);
    return 0;
}
