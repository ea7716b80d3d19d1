/* cmd_run.c: see cmd_run.h. */
#include "cmd_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctorch.h"
#include "hnd_error.h"

static volatile sig_atomic_t g_stop;
static const char *g_msg;

static void on_stop(int sig) {
    if (g_stop) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop = 1;
    if (g_msg) {   /* write(2) is async-signal-safe, stdio is not */
        ssize_t w = write(2, g_msg, strlen(g_msg));
        (void)w;
    }
}

volatile sig_atomic_t *cr_catch_stop(const char *msg) {
    g_msg = msg;
    g_stop = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &g_stop;
}

void cr_release_stop(void) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

int cr_parse(const char *cmd, const char *usage, int argc, char **argv, const cr_opt *opts, int n_opts,
             cr_args *out) {
    memset(out, 0, sizeof *out);
    out->sets = calloc((size_t)argc + 1, sizeof *out->sets);
    if (!out->sets) {
        fprintf(stderr, "hnd %s: out of memory\n", cmd);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc, matched = 0;
        for (int k = 0; k < n_opts && !matched; k++) {
            if (strcmp(a, opts[k].name) != 0) continue;
            matched = 1;
            if (!has_value) {
                fprintf(stderr, "hnd %s: %s needs a value (see hnd %s --help)\n", cmd, a, cmd);
                cr_args_free(out);
                return 2;
            }
            *opts[k].value = argv[++i];
        }
        if (matched) continue;
        if (strcmp(a, "--set") == 0 && has_value) out->sets[out->n_sets++] = argv[++i];
        else if (strncmp(a, "--set=", 6) == 0) out->sets[out->n_sets++] = a + 6;
        else if (strcmp(a, "--resume") == 0) out->resume = 1;
        else if (strcmp(a, "--quiet") == 0) out->quiet = 1;
        else if (strcmp(a, "--no-val") == 0) out->no_val = 1;
        else if (strcmp(a, "--stop-after") == 0 && has_value) out->stop_after = atoll(argv[++i]);
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hnd %s: unknown option '%s' (see hnd %s --help)\n", cmd, a, cmd);
            cr_args_free(out);
            return 2;
        } else if (!out->config) {
            out->config = a;
        } else {
            fprintf(stderr, "hnd %s: one config only ('%s' and '%s')\n", cmd, out->config, a);
            cr_args_free(out);
            return 2;
        }
    }
    if (!out->config) {
        fprintf(stderr, "%s\n", usage);
        cr_args_free(out);
        return 2;
    }
    return 0;
}

void cr_args_free(cr_args *a) {
    if (!a) return;
    free(a->sets);
    a->sets = NULL;
    a->n_sets = 0;
}

int cr_load(const char *cmd, const cr_args *a, tc_config *cfg) {
    if (tc_load(a->config, a->sets, a->n_sets, cfg) != 0) {
        fprintf(stderr, "hnd %s: %s\n", cmd, hnd_error());
        return 1;
    }
    if (cfg->threads > 0) ct_set_num_threads(cfg->threads);
    return 0;
}
