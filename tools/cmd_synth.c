/* cmd_synth.c: hnd synth --out DIR --train N --val M [--size WxH] [--seed S]. */
#include "cmd_synth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "hnd_error.h"
#include "syn.h"

#define CMD "synth"

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "hnd " CMD ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see 'hnd " CMD " --help')\n");
    return 2;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cmd_synth(int argc, char **argv) {
    syn_opts o;
    syn_opts_default(&o);
    long nt = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = nt > 0 ? (int)(nt > 16 ? 16 : nt) : 1;
    o.progress = 1;
    int have_train = 0, have_val = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
            o.progress = 0;
            continue;
        }
        if (strcmp(a, "--class-colors") == 0) {
            o.class_colors = 1;
            continue;
        }
        if (strcmp(a, "--out") != 0 && strcmp(a, "--train") != 0 && strcmp(a, "--val") != 0 &&
            strcmp(a, "--size") != 0 && strcmp(a, "--seed") != 0 && strcmp(a, "--quality") != 0 &&
            strcmp(a, "--threads") != 0)
            return usage_error("unknown argument '%s'", a);
        if (!v) return usage_error("%s needs a value", a);
        i++;
        if (strcmp(a, "--out") == 0) {
            o.out_dir = v;
        } else if (strcmp(a, "--train") == 0) {
            if (parse_long(v, 0, 10000000, &x) < 0) return usage_error("--train: bad count '%s'", v);
            o.n_train = (int)x;
            have_train = 1;
        } else if (strcmp(a, "--val") == 0) {
            if (parse_long(v, 0, 10000000, &x) < 0) return usage_error("--val: bad count '%s'", v);
            o.n_val = (int)x;
            have_val = 1;
        } else if (strcmp(a, "--size") == 0) {
            int w, h;
            char tail;
            if (sscanf(v, "%dx%d%c", &w, &h, &tail) != 2 || w < 32 || h < 32 || w > 8192 || h > 8192)
                return usage_error("--size: expected WIDTHxHEIGHT, each 32..8192, got '%s'", v);
            o.width = w;
            o.height = h;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || *v == '-') return usage_error("--seed: bad value '%s'", v);
            o.seed = s;
        } else if (strcmp(a, "--quality") == 0) {
            if (parse_long(v, 1, 100, &x) < 0) return usage_error("--quality: expected 1..100, got '%s'", v);
            o.quality = (int)x;
        } else {
            if (parse_long(v, 1, 64, &x) < 0) return usage_error("--threads: expected 1..64, got '%s'", v);
            o.threads = (int)x;
        }
    }
    if (!o.out_dir) return usage_error("%s", "--out DIR is required");
    if (!have_train || !have_val) return usage_error("%s", "--train N and --val M are required");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t na[2];
    if (syn_generate(&o, na) < 0) {
        fprintf(stderr, "hnd " CMD ": %s\n", hnd_error());
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!quiet)
        printf("synth: %s: train %d images / %lld objects, val %d images / %lld objects, %dx%d, seed %llu%s (%.2f s)\n",
               o.out_dir, o.n_train, (long long)na[0], o.n_val, (long long)na[1], o.width, o.height,
               (unsigned long long)o.seed, o.class_colors ? ", class colours" : "",
               (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
