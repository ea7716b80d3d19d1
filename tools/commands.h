/* commands.h: the table of hnd subcommands, shared by the torch-free
 * dispatcher (hnd) and the torch executable (hnd-torch).
 *
 * Why two executables: merely linking libtorch costs a process ~0.9 s and
 * ~160 MB before main(). `hnd` links no torch and runs every command that
 * needs no tensors itself; it execs `hnd-torch` (next to it) for the rest.
 * Help for every command lives here, so `hnd CMD --help` never loads torch. */
#ifndef HND_COMMANDS_H
#define HND_COMMANDS_H

#include "cli_opt.h"

typedef int (*hnd_cmd_fn)(int argc, char **argv);

/* A command: name, summary, help text and option table (cli_opt.h). */
typedef co_command hnd_command_info;

/* All commands, in the order `hnd help` lists them. */
const hnd_command_info *hnd_commands(int *count);
/* NULL if unknown. */
const hnd_command_info *hnd_command_find(const char *name);
/* `hnd help` / `hnd help CMD` / `hnd CMD --help`. Returns an exit code. */
int hnd_print_help(const char *cmd);
/* 1 if argv holds -h or --help (before a "--"). */
int hnd_wants_help(int argc, char **argv);
/* co_parse with the table of command `name` (argv[0] is the command name).
 * 0, or 2 after a one-line error on stderr. */
int hnd_parse(const char *name, int argc, char **argv, co_args *out);

#endif
