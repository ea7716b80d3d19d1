/* cli_opt.c: see cli_opt.h. */
#include "cli_opt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int co_parse_ll(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int co_parse_real(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int co_parse_u64(const char *s, unsigned long long *out) {
    if (!s || *s < '0' || *s > '9') return -1;   /* strtoull would accept "-1" */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int co_usage_error(const co_command *cmd, const char *fmt, ...) {
    fprintf(stderr, "hnd %s: ", cmd->name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    /* the synopsis too: the common case of a usage error is a forgotten form */
    fputs(cmd->synopsis, stderr);
    fprintf(stderr, "(see 'hnd %s --help')\n", cmd->name);
    return 2;
}

/* "|"-separated choices contain s exactly. */
static int in_choices(const char *choices, const char *s) {
    size_t n = strlen(s);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

static int has_range(const co_opt *o) { return o->min <= o->max; }

/* "in 1..64" for the messages (integers without decimals). */
static void range_text(const co_opt *o, char *buf, size_t cap) {
    if (o->choices) snprintf(buf, cap, "one of %s", o->choices);
    else if (o->kind == CO_INT) snprintf(buf, cap, "an integer in %.0f..%.0f", o->min, o->max);
    else snprintf(buf, cap, "a number in %g..%g", o->min, o->max);
}

/* Converts and checks one value into v. 0, or 2 after the message. */
static int take_value(const co_command *cmd, const co_opt *o, const char *s, co_value *v) {
    char want[160];
    switch (o->kind) {
    case CO_INT: {
        long long lo = has_range(o) ? (long long)o->min : -9223372036854775807LL;
        long long hi = has_range(o) ? (long long)o->max : 9223372036854775807LL;
        long long x;
        if (co_parse_ll(s, -9223372036854775807LL, 9223372036854775807LL, &x) != 0)
            return co_usage_error(cmd, "%s: expected an integer, got '%s'", o->name, s);
        if (x < lo || x > hi || (o->choices && !in_choices(o->choices, s))) {
            range_text(o, want, sizeof want);
            return co_usage_error(cmd, "%s: expected %s, got '%s'", o->name, want, s);
        }
        v->i = x;
        v->d = (double)x;
        break;
    }
    case CO_REAL: {
        double x;
        if (co_parse_real(s, -HUGE_VAL, HUGE_VAL, &x) != 0)
            return co_usage_error(cmd, "%s: expected a number, got '%s'", o->name, s);
        if (has_range(o) && (x < o->min || x > o->max)) {
            range_text(o, want, sizeof want);
            return co_usage_error(cmd, "%s: expected %s, got '%s'", o->name, want, s);
        }
        v->d = x;
        break;
    }
    case CO_U64:
        if (co_parse_u64(s, &v->u) != 0)
            return co_usage_error(cmd, "%s: expected an unsigned integer, got '%s'", o->name, s);
        break;
    case CO_STR:
        if (o->choices && !in_choices(o->choices, s))
            return co_usage_error(cmd, "%s: expected one of %s, got '%s'", o->name, o->choices, s);
        break;
    case CO_LIST: {
        const char **l = realloc(v->list, (size_t)(v->n_list + 1) * sizeof *l);
        if (!l) return co_usage_error(cmd, "out of memory");
        l[v->n_list++] = s;
        v->list = l;
        break;
    }
    case CO_FLAG:
        break;
    }
    v->str = s;
    return 0;
}

void co_args_clear(co_args *a) {
    if (!a) return;
    if (a->vals && a->cmd)
        for (int i = 0; i < a->cmd->n_opts; i++) free(a->vals[i].list);
    free(a->vals);
    free(a->pos);
    memset(a, 0, sizeof *a);
}

/* One option argument at argv[*i]; 0 or 2. */
static int take_option(const co_command *cmd, int argc, char **argv, int *i, co_args *out) {
    const char *a = argv[*i];
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    for (int k = 0; k < cmd->n_opts; k++) {
        const co_opt *o = &cmd->opts[k];
        if (strlen(o->name) != len || strncmp(o->name, a, len) != 0) continue;
        co_value *v = &out->vals[k];
        if (o->kind == CO_FLAG) {
            if (eq) return co_usage_error(cmd, "%s takes no value", o->name);
            v->set++;
            return 0;
        }
        const char *s = eq ? eq + 1 : NULL;
        if (!s) {
            if (*i + 1 >= argc) return co_usage_error(cmd, "%s needs a value (%s)", o->name, o->arg ? o->arg : "");
            s = argv[++*i];
        }
        v->set++;
        return take_value(cmd, o, s, v);
    }
    return co_usage_error(cmd, "unknown option '%.*s'", (int)len, a);
}

int co_parse(const co_command *cmd, int argc, char **argv, co_args *out) {
    memset(out, 0, sizeof *out);
    out->cmd = cmd;
    out->vals = calloc((size_t)cmd->n_opts + 1, sizeof *out->vals);
    out->pos = calloc((size_t)argc + 1, sizeof *out->pos);
    if (!out->vals || !out->pos) {
        co_args_clear(out);
        return co_usage_error(cmd, "out of memory");
    }
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1]) {
            if (take_option(cmd, argc, argv, &i, out) != 0) goto fail;
            continue;
        }
        if (cmd->pos_max >= 0 && out->n_pos >= cmd->pos_max) {
            if (cmd->pos_max == 0) co_usage_error(cmd, "unexpected argument '%s'", a);
            else co_usage_error(cmd, "unexpected argument '%s' (one %s only)", a, cmd->pos_name);
            goto fail;
        }
        out->pos[out->n_pos++] = a;
    }
    if (out->n_pos < cmd->pos_min) {
        co_usage_error(cmd, "missing %s", cmd->pos_name ? cmd->pos_name : "argument");
        goto fail;
    }
    return 0;
fail:
    co_args_clear(out);
    return 2;
}

static const co_value *find(const co_args *a, const char *name, co_kind *kind) {
    for (int k = 0; a->cmd && k < a->cmd->n_opts; k++)
        if (strcmp(a->cmd->opts[k].name, name) == 0) {
            if (kind) *kind = a->cmd->opts[k].kind;
            return &a->vals[k];
        }
    fprintf(stderr, "hnd: internal error: option %s is not in the table of '%s'\n", name,
            a->cmd ? a->cmd->name : "?");
    return NULL;
}

int co_has(const co_args *a, const char *name) {
    const co_value *v = find(a, name, NULL);
    return v ? v->set : 0;
}

const char *co_str(const co_args *a, const char *name, const char *def) {
    const co_value *v = find(a, name, NULL);
    return v && v->set ? v->str : def;
}

long long co_int(const co_args *a, const char *name, long long def) {
    const co_value *v = find(a, name, NULL);
    return v && v->set ? v->i : def;
}

unsigned long long co_u64(const co_args *a, const char *name, unsigned long long def) {
    const co_value *v = find(a, name, NULL);
    return v && v->set ? v->u : def;
}

double co_real(const co_args *a, const char *name, double def) {
    const co_value *v = find(a, name, NULL);
    return v && v->set ? v->d : def;
}

const char **co_list(const co_args *a, const char *name, int *n) {
    const co_value *v = find(a, name, NULL);
    *n = v ? v->n_list : 0;
    return v ? v->list : NULL;
}

/* Help text lines after the first, indented to the help column. */
static void put_indented(FILE *f, const char *text, int col) {
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (p != text) fprintf(f, "\n%*s", col, "");
        fwrite(p, 1, len, f);
        if (!nl) break;
        p = nl + 1;
    }
}

void co_print_help(FILE *f, const co_command *cmd) {
    fputs(cmd->synopsis, f);
    if (cmd->about) fprintf(f, "\n%s", cmd->about);
    if (cmd->n_opts) fputs("\noptions:\n", f);
    const int col = 26;
    for (int k = 0; k < cmd->n_opts; k++) {
        const co_opt *o = &cmd->opts[k];
        char head[128];
        int n = snprintf(head, sizeof head, "  %s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        if (n >= col - 1) fprintf(f, "%s\n%*s", head, col, "");
        else fprintf(f, "%-*s", col, head);
        put_indented(f, o->help, col);
        if (o->def) fprintf(f, " (default %s)", o->def);
        fputc('\n', f);
    }
    if (cmd->epilog) fprintf(f, "\n%s", cmd->epilog);
}
