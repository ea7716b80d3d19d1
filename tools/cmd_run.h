/* cmd_run.h: what the long-running commands (hnd train, train-teacher, sweep)
 * share on their command line. Prefix cr_.
 *
 * - Ctrl-C / SIGTERM: the first sets a flag the trainers poll (they finish the
 *   iteration and write a resumable checkpoint), with a message on stderr;
 *   the second kills the process as the default action would.
 * - The common arguments (RUN_OPTS in cmd_help.c): one CONFIG.json,
 *   --set KEY=VALUE (or --set=K=V, repeatable), --resume, --overwrite,
 *   --allow-config-change, --quiet, --no-val, --stop-after N (a test hook),
 *   plus the command's own options. */
#ifndef HND_CMD_RUN_H
#define HND_CMD_RUN_H

#include <signal.h>

#include "cli_opt.h"
#include "config.h"

/* Installs the handler; `msg` (kept by pointer, must live on) is written on
 * the first signal. Returns the flag. */
volatile sig_atomic_t *cr_catch_stop(const char *msg);
/* Restores the default SIGINT/SIGTERM actions. */
void cr_release_stop(void);

typedef struct {
    co_args opts;        /* everything given (co_str(&a.opts, "--init", NULL), ...) */
    const char *config;
    const char **sets;   /* --set values (borrowed from opts) */
    int n_sets;
    int resume, overwrite, allow_config_change, quiet, no_val;
    int sync_bn;                 /* --sync-bn (data-parallel SyncBatchNorm) */
    long long stop_after;
} cr_args;

/* Parses argv[1..] of `cmd` (e.g. "train") with its table (cmd_help.c).
 * 0, or 2 after a one-line message on stderr. */
int cr_parse(const char *cmd, int argc, char **argv, cr_args *out);
void cr_args_clear(cr_args *a);
/* tc_load of the config with its --set values, then the config's thread
 * count. 0, or 1 after "hnd CMD: message" on stderr. */
int cr_load(const char *cmd, const cr_args *a, tc_config *cfg);

#endif
