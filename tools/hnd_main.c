/* hnd_main.c: the torch-free front door. Runs the commands that need no
 * tensors itself and execs hnd-torch for the others (see commands.h). */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas_env.h"
#include "cmd_eval.h"
#include "cmd_import.h"
#include "cmd_launch.h"
#include "cmd_plot.h"
#include "cmd_synth.h"
#include "commands.h"
#include "hnd_version.h"

static int cmd_version(int argc, char **argv) {
    printf("hnd %s\n", HND_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv) { return hnd_print_help(argc > 1 ? argv[1] : NULL); }

/* Commands implemented in this executable. */
static const struct {
    const char *name;
    hnd_cmd_fn fn;
} k_local[] = {
    {"help", cmd_help},
    {"version", cmd_version},
    {"import-torchvision", cmd_import_torchvision},
    {"synth", cmd_synth},
    {"eval", cmd_eval},
    {"launch", cmd_launch},
    {"plot", cmd_plot},
};

/* hnd-torch lives next to hnd (HND_TORCH_EXE overrides, for tests). */
static int exec_torch(int argc, char **argv) {
    const char *env = getenv("HND_TORCH_EXE");
    char path[PATH_MAX];
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0) {
            fprintf(stderr, "hnd: cannot locate own executable: %s\n", strerror(errno));
            return 1;
        }
        self[n] = '\0';
        snprintf(path, sizeof path, "%s/hnd-torch", dirname(self));
    }
    /* OpenBLAS picks its kernels when libtorch loads it: tell it what this CPU
     * can do (blas_env.h); a user's OPENBLAS_CORETYPE wins */
    blas_env_setup();
    /* argv[0] of hnd-torch is the command name, as for local commands */
    execv(path, argv);
    fprintf(stderr, "hnd: '%s' needs hnd-torch (the libtorch part of hnd), which failed to start at %s: %s\n",
            argv[1], path, strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        hnd_print_help(NULL);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) return hnd_print_help(NULL);
    if (strcmp(name, "--version") == 0) name = "version";
    const hnd_command_info *info = hnd_command_find(name);
    if (!info) {
        fprintf(stderr, "hnd: unknown command '%s' (see 'hnd help')\n", name);
        return 2;
    }
    if (hnd_wants_help(argc - 1, argv + 1)) return hnd_print_help(info->name);
    if (info->needs_torch) {
        /* the option table is torch-free: a usage error is reported here, at
         * once, instead of after the ~1 s it takes to load libtorch (hnd-torch
         * parses the same argv with the same table again) */
        co_args a;
        int rc = co_parse(info, argc - 1, argv + 1, &a);
        co_args_clear(&a);
        if (rc != 0) return rc;
        return exec_torch(argc, argv);
    }
    for (size_t i = 0; i < sizeof k_local / sizeof k_local[0]; i++)
        if (strcmp(k_local[i].name, info->name) == 0) return k_local[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hnd: command '%s' is not built into this executable\n", info->name);
    return 1;
}
