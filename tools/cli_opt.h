/* cli_opt.h: table-driven command-line options. Prefix co_.
 *
 * Every hnd command declares its options once, in a table of co_opt (name,
 * kind, range or choices, default, help). The same table parses argv (with
 * checked conversions: no atoi/atof, every number range-checked, a missing
 * value or an unknown option named in a one-line error, exit status 2) and
 * generates the command's --help. The tables live in cmd_help.c, which is
 * torch-free, so `hnd CMD --help` never loads libtorch.
 *
 * Accepted forms: `--name VALUE`, `--name=VALUE`, `--flag`; `--` ends the
 * options; anything else not starting with '-' is a positional argument. */
#ifndef HND_CLI_OPT_H
#define HND_CLI_OPT_H

#include <stdio.h>

typedef enum {
    CO_FLAG,   /* no value */
    CO_STR,    /* a string; `choices` ("a|b|c") restricts it */
    CO_INT,    /* a decimal integer in [min, max]; `choices` ("8|16|32") restricts it */
    CO_REAL,   /* a finite number in [min, max] */
    CO_U64,    /* an unsigned 64-bit integer (seeds); no sign allowed */
    CO_LIST,   /* a string, repeatable (e.g. --set K=V) */
} co_kind;

typedef struct {
    const char *name;     /* "--bits" */
    const char *arg;      /* metavariable for help ("N", "DIR"); NULL for flags */
    co_kind kind;
    double min, max;      /* inclusive range (CO_INT, CO_REAL); min > max: no range */
    const char *choices;  /* "8|16|32" or "bbox|segm"; NULL: any */
    const char *def;      /* default shown in help; NULL: none shown */
    const char *help;     /* may hold '\n': continuation lines are indented */
} co_opt;

/* A command: what `hnd help` lists and `hnd CMD --help` prints. */
typedef struct {
    const char *name;
    const char *summary;    /* one line for `hnd help` */
    const char *synopsis;   /* "usage: hnd ..." lines, each ending in '\n' */
    const char *about;      /* prose after the synopsis; may be NULL */
    const co_opt *opts;
    int n_opts;
    const char *epilog;     /* prose after the options; may be NULL */
    const char *pos_name;   /* positional arguments' name ("CONFIG.json"); NULL: none */
    int pos_min, pos_max;   /* how many positionals; pos_max < 0: unlimited */
    int needs_torch;        /* 1: runs in hnd-torch */
} co_command;

typedef struct {
    int set;                /* times given */
    const char *str;        /* the text of the last value */
    long long i;
    unsigned long long u;
    double d;
    const char **list;      /* CO_LIST: every value, in order */
    int n_list;
} co_value;

typedef struct {
    const co_command *cmd;
    co_value *vals;         /* parallel to cmd->opts */
    const char **pos;       /* positional arguments (borrowed from argv) */
    int n_pos;
} co_args;

/* Parses argv[1..argc-1] (argv[0] is the command name). 0, or 2 after one
 * line "hnd CMD: ..." on stderr (usage error). co_args_clear in both cases. */
int co_parse(const co_command *cmd, int argc, char **argv, co_args *out);
void co_args_clear(co_args *a);

/* Values by option name ("--bits"). The name must be in the command's table
 * (a typo is a programming error: reported on stderr, the default returned). */
int co_has(const co_args *a, const char *name);
const char *co_str(const co_args *a, const char *name, const char *def);
long long co_int(const co_args *a, const char *name, long long def);
unsigned long long co_u64(const co_args *a, const char *name, unsigned long long def);
double co_real(const co_args *a, const char *name, double def);
/* CO_LIST: the values (NULL when none) and their count. */
const char **co_list(const co_args *a, const char *name, int *n);

/* The generated help: synopsis, about, the option table, epilog. */
void co_print_help(FILE *f, const co_command *cmd);

/* "hnd CMD: <message>" on stderr; returns 2 (usage errors). */
int co_usage_error(const co_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing (whole string, base 10, range checked). 0 or -1. */
int co_parse_ll(const char *s, long long lo, long long hi, long long *out);
int co_parse_real(const char *s, double lo, double hi, double *out);
int co_parse_u64(const char *s, unsigned long long *out);

#endif
