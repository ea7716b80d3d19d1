/* cmd_help.c: command table and help texts (torch-free). */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const hnd_command_info k_commands[] = {
    {"help", "show commands, or the help of one command",
     "usage: hnd help [COMMAND]\n", 0},
    {"version", "print the hnd version",
     "usage: hnd version\n", 0},
    {"import-torchvision", "convert a torchvision .pth state dict to an hnd weight file (.h5)",
     "usage: hnd import-torchvision IN.pth OUT.h5 [--prefix-strip PREFIX] [--quiet]\n"
     "\n"
     "Reads a file written by torch.save, zip (torch >= 1.6) or legacy format\n"
     "(the torchvision COCO checkpoints, e.g. fasterrcnn_resnet50_fpn_coco-258fb6c6.pth),\n"
     "holding a state dict or a checkpoint dict with a 'model' entry, and writes\n"
     "every tensor to OUT.h5 under /weights/<key> (atomically). Needs no libtorch.\n"
     "\n"
     "  --prefix-strip P  remove P from the start of every key (e.g. 'module.')\n"
     "  --quiet           no summary\n", 0},
    {"info", "show the libtorch build: version, threads, BLAS, CUDA",
     "usage: hnd info [--threads N]\n"
     "\n"
     "Prints what the torch side of hnd was built with and can use.\n"
     "  --threads N   intra-op threads (default: HND_THREADS, else all cores)\n", 1},
};

const hnd_command_info *hnd_commands(int *count) {
    *count = (int)(sizeof k_commands / sizeof k_commands[0]);
    return k_commands;
}

const hnd_command_info *hnd_command_find(const char *name) {
    int n;
    const hnd_command_info *c = hnd_commands(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(c[i].name, name) == 0) return &c[i];
    return NULL;
}

int hnd_print_help(const char *cmd) {
    if (cmd) {
        const hnd_command_info *c = hnd_command_find(cmd);
        if (!c) {
            fprintf(stderr, "hnd: unknown command '%s' (see 'hnd help')\n", cmd);
            return 2;
        }
        fputs(c->usage, stdout);
        return 0;
    }
    int n;
    const hnd_command_info *c = hnd_commands(&n);
    printf("hnd: split computing for R-CNN object detectors (head network distillation)\n\n"
           "usage: hnd COMMAND [ARGS...]\n\ncommands:\n");
    for (int i = 0; i < n; i++) printf("  %-20s %s\n", c[i].name, c[i].summary);
    printf("\n'hnd COMMAND --help' shows the options of a command.\n");
    return 0;
}

int hnd_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    }
    return 0;
}
