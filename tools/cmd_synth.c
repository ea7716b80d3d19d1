/* cmd_synth.c: hnd synth --out DIR --train N --val M [--size WxH] [--seed S]. */
#include "cmd_synth.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "hnd_error.h"
#include "mono_clock.h"
#include "path.h"
#include "syn.h"

#define CMD "synth"

/* Removes the .jpg files of dir (a split of an earlier set). 0 / -1. */
static int remove_jpegs(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : hnd_error_set("%s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".jpg") != 0) continue;
        char p[4096];
        if (path_join(p, sizeof p, dir, e->d_name) != 0) {
            rc = -1;
            break;
        }
        if (unlink(p) != 0) rc = hnd_error_set("%s: %s", p, strerror(errno));
    }
    closedir(d);
    return rc;
}

/* An existing DIR: a set written by hnd synth (only annotations/, train/,
 * val/) is replaced, so that no image of a larger earlier set stays behind;
 * anything else is refused. 0 / -1 + hnd_error(). */
static int prepare_out_dir(const char *out) {
    DIR *d = opendir(out);
    if (!d) return errno == ENOENT ? 0 : hnd_error_set("--out %s: %s", out, strerror(errno));
    struct dirent *e;
    int foreign = 0, any = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        any = 1;
        if (strcmp(e->d_name, "annotations") && strcmp(e->d_name, "train") && strcmp(e->d_name, "val")) foreign = 1;
    }
    closedir(d);
    char ann[4096];
    snprintf(ann, sizeof ann, "%s/annotations/instances_train.json", out);
    if (any && (foreign || access(ann, F_OK) != 0))
        return hnd_error_set("--out %s: the directory is not empty and holds no set written by hnd synth: "
                             "choose another or empty it", out);
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/train", out);
    if (remove_jpegs(sub) != 0) return -1;
    snprintf(sub, sizeof sub, "%s/val", out);
    return remove_jpegs(sub);
}

int cmd_synth(int argc, char **argv) {
    syn_opts o;
    syn_opts_default(&o);
    long nt = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = nt > 0 ? (int)(nt > 16 ? 16 : nt) : 1;
    o.progress = 1;
    co_args args;
    if (hnd_parse(CMD, argc, argv, &args) != 0) return 2;
    const hnd_command_info *cmd = args.cmd;
    int quiet = co_has(&args, "--quiet");
    o.progress = !quiet;
    o.class_colors = co_has(&args, "--class-colors");
    o.keypoints = co_has(&args, "--keypoints");
    o.out_dir = co_str(&args, "--out", NULL);
    o.n_train = (int)co_int(&args, "--train", 0);
    o.n_val = (int)co_int(&args, "--val", 0);
    o.seed = co_u64(&args, "--seed", o.seed);
    o.quality = (int)co_int(&args, "--quality", o.quality);
    o.threads = (int)co_int(&args, "--threads", o.threads);
    int have_train = co_has(&args, "--train"), have_val = co_has(&args, "--val");
    const char *size = co_str(&args, "--size", NULL);
    co_args_clear(&args);
    if (size) {
        int w, h;
        char tail;
        if (sscanf(size, "%dx%d%c", &w, &h, &tail) != 2 || w < 32 || h < 32 || w > 8192 || h > 8192)
            return co_usage_error(cmd, "--size: expected WIDTHxHEIGHT, each 32..8192, got '%s'", size);
        o.width = w;
        o.height = h;
    }
    if (!o.out_dir) return co_usage_error(cmd, "--out DIR is required");
    if (!have_train || !have_val) return co_usage_error(cmd, "--train N and --val M are required");
    if (prepare_out_dir(o.out_dir) != 0) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
        return 1;
    }
    double t0 = mono_now_s();
    int64_t na[2];
    if (syn_generate(&o, na) < 0) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
        return 1;
    }
    double t1 = mono_now_s();
    if (!quiet)
        printf("synth: %s: train %d images / %lld objects, val %d images / %lld objects, %dx%d, seed %llu%s%s (%.2f s)\n",
               o.out_dir, o.n_train, (long long)na[0], o.n_val, (long long)na[1], o.width, o.height,
               (unsigned long long)o.seed, o.class_colors ? ", class colours" : "",
               o.keypoints ? ", stars with 5 keypoints" : "", t1 - t0);
    return 0;
}
