/* hnd_torch_main.c: the executable that links libtorch. `hnd` execs it with
 * its own argv (argv[1] is the command); it can also be run directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_analyze.h"
#include "cmd_bench_latency.h"
#include "cmd_common.h"
#include "cmd_detect.h"
#include "cmd_eval_model.h"
#include "cmd_export.h"
#include "cmd_info.h"
#include "cmd_serve.h"
#include "cmd_split_detect.h"
#include "cmd_sweep.h"
#include "cmd_train.h"
#include "cmd_train_teacher.h"
#include "commands.h"
#include "ctorch.h"

static const struct {
    const char *name;
    hnd_cmd_fn fn;
} k_torch[] = {
    {"info", cmd_info},
    {"detect", cmd_detect},
    {"train", cmd_train},
    {"train-teacher", cmd_train_teacher},
    {"sweep", cmd_sweep},
    {"eval-model", cmd_eval_model},
    {"export", cmd_export},
    {"serve", cmd_serve},
    {"split-detect", cmd_split_detect},
    {"analyze", cmd_analyze},
    {"bench-latency", cmd_bench_latency},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        hnd_print_help(NULL);
        return 2;
    }
    const hnd_command_info *info = hnd_command_find(argv[1]);
    if (!info || !info->needs_torch) {
        fprintf(stderr, "hnd-torch: '%s' is not a torch command (run it through 'hnd')\n", argv[1]);
        return 2;
    }
    if (hnd_wants_help(argc - 1, argv + 1)) return hnd_print_help(info->name);
    /* Debian's libtorch defaults to one thread: use every core unless told. */
    if (cc_env_threads() != 0) return 2;
    for (size_t i = 0; i < sizeof k_torch / sizeof k_torch[0]; i++)
        if (strcmp(k_torch[i].name, info->name) == 0) return k_torch[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hnd-torch: command '%s' is not built into this executable\n", info->name);
    return 1;
}
