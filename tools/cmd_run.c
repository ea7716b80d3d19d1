/* cmd_run.c: see cmd_run.h. */
#include "cmd_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
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

int cr_parse(const char *cmd, int argc, char **argv, cr_args *out) {
    memset(out, 0, sizeof *out);
    if (hnd_parse(cmd, argc, argv, &out->opts) != 0) return 2;
    const co_args *o = &out->opts;
    out->config = o->pos[0];
    out->sets = co_list(o, "--set", &out->n_sets);
    out->resume = co_has(o, "--resume");
    out->overwrite = co_has(o, "--overwrite");
    out->allow_config_change = co_has(o, "--allow-config-change");
    out->quiet = co_has(o, "--quiet");
    out->no_val = co_has(o, "--no-val");
    out->sync_bn = co_has(o, "--sync-bn");
    out->stop_after = co_int(o, "--stop-after", 0);
    if (out->resume && out->overwrite) {
        co_usage_error(o->cmd, "--resume and --overwrite exclude each other");
        cr_args_clear(out);
        return 2;
    }
    if (out->allow_config_change && !out->resume) {
        co_usage_error(o->cmd, "--allow-config-change goes with --resume");
        cr_args_clear(out);
        return 2;
    }
    return 0;
}

void cr_args_clear(cr_args *a) {
    if (!a) return;
    co_args_clear(&a->opts);
    a->sets = NULL;
    a->n_sets = 0;
    a->config = NULL;
}

int cr_load(const char *cmd, const cr_args *a, tc_config *cfg) {
    if (tc_load(a->config, a->sets, a->n_sets, cfg) != 0) {
        fprintf(stderr, "hnd %s: %s\n", cmd, hnd_error());
        return 1;
    }
    if (cfg->threads > 0) ct_set_num_threads(cfg->threads);
    return 0;
}
