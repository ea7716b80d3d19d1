/* cmd_analyze.c: `hnd analyze` (see the usage in cmd_help.c). */
#include "cmd_analyze.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "analysis_plot.h"
#include "cmd_common.h"
#include "commands.h"
#include "hnd_error.h"
#include "config.h"
#include "hnd_model.h"
#include "path.h"

/* ------------------------------------------------------------ helpers */

int acli_parse_size(const char *s, int64_t chw[3]) {
    long long v[3];
    int n = 0;
    const char *p = s;
    while (n < 3) {
        char *end;
        errno = 0;
        v[n] = strtoll(p, &end, 10);
        if (end == p || errno || v[n] <= 0 || v[n] > 8192) return -1;
        n++;
        p = end;
        if (*p == 'x' || *p == 'X') p++;
        else break;
    }
    if (*p) return -1;
    if (n == 2) chw[0] = 3, chw[1] = v[0], chw[2] = v[1];
    else if (n == 3) chw[0] = v[0], chw[1] = v[1], chw[2] = v[2];
    else return -1;
    return 0;
}

int acli_parse_channels(const char *s, int64_t *v, int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long c = strtoll(p, &end, 10);
        if (end == p || errno || c < 1 || c > 4096 || n == max) return -1;
        v[n++] = c;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return n > 0 ? n : -1;
}

FILE *acli_open(af_file *a, const char *dir, const char *name) {
    char path[4096];
    if (path_join(path, sizeof path, dir, name) != 0) return NULL;
    return af_open(a, path);
}

/* failed != 0: the writer's own message is kept, with the path in front. */
int acli_commit(af_file *a, int failed) {
    if (!failed) return af_commit(a, 0);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", hnd_error());
    af_abort(a);
    return hnd_error_set("%s: cannot write%s%s", a->path, msg[0] ? ": " : "", msg);
}

/* One spec of a config's model section: the detector exactly as hnd train
 * and train-teacher build it (hm_model_config: model.params' FPN width,
 * head sizes, anchors...). */
static int spec_of_model(const tc_model *m, spa_model_spec *s) {
    if (hm_model_config(m, &s->config) != 0) return -1;
    s->has_config = 1;
    snprintf(s->arch, sizeof s->arch, "%s", s->config.arch);
    s->student_kind = -1;
    return 0;
}

int acli_specs_from_config(const char *path, spa_model_spec specs[2], int *n_specs) {
    tc_config cfg;
    if (tc_load(path, NULL, 0, &cfg) != 0) return -1;
    memset(specs, 0, 2 * sizeof *specs);
    int rc = spec_of_model(&cfg.teacher, &specs[0]);
    snprintf(specs[0].weights, sizeof specs[0].weights, "%s", cfg.teacher.ckpt);
    *n_specs = 1;
    if (rc == 0 && cfg.student.present) {
        spa_model_spec *s = &specs[1];
        rc = spec_of_model(cfg.student.arch[0] ? &cfg.student : &cfg.teacher, s);
        sr_bottleneck_spec bn;
        if (rc == 0) rc = hm_bottleneck_spec(&cfg.student, &bn);
        s->student_channels = bn.channels;
        s->student_kind = bn.kind;
        snprintf(s->weights, sizeof s->weights, "%s", cfg.teacher.ckpt);
        /* the student checkpoint once trained; absent before training */
        if (cfg.student.ckpt[0] && access(cfg.student.ckpt, R_OK) == 0)
            snprintf(s->student_weights, sizeof s->student_weights, "%s", cfg.student.ckpt);
        if (rc == 0 && s->student_channels < 1) rc = hnd_error_set("%s: student_model has no bottleneck_channel", path);
        *n_specs = 2;
    }
    /* a teacher checkpoint that is not there yet: random weights (shapes only) */
    for (int i = 0; i < *n_specs; i++)
        if (specs[i].weights[0] && access(specs[i].weights, R_OK) != 0) specs[i].weights[0] = 0;
    tc_clear(&cfg);
    return rc;
}

/* ------------------------------------------------------------ plots */

static int plot_results(const char *dir, spa_result *const *rs, int n, int params, const char *format) {
    /* categories: the union of point names in order (students add "bottleneck") */
    const char *cats[AN_MAX_POINTS + 2];
    int nc = 0;
    const spa_result *widest = rs[0];
    for (int k = 0; k < n; k++)
        if (rs[k]->n > widest->n) widest = rs[k];
    for (int i = 0; i < widest->n; i++) cats[nc++] = widest->pts[i].name;
    ap_series s[16];
    double *ys[16] = {0};
    char labels[16][128];
    int ns = n < 16 ? n : 16, rc = 0;
    for (int k = 0; k < ns; k++) {
        if (!(ys[k] = malloc(sizeof(double) * (size_t)nc))) {
            rc = hnd_error_set("out of memory");
            goto out;
        }
        for (int c = 0; c < nc; c++) {
            int i = spa_find(rs[k], cats[c]);
            ys[k][c] = i < 0 ? NAN : params ? (double)rs[k]->pts[i].cum_params : rs[k]->pts[i].ratio;
        }
        spa_label(rs[k], labels[k], sizeof labels[k]);
        s[k] = (ap_series){labels[k], NULL, ys[k], nc};
    }
    char title[160], path[4096];
    if (params) {
        snprintf(title, sizeof title, "Cumulative parameters up to each module");
        ap_chart c = {title, "split after", "parameters (cumulative)", 0, 1, cats, nc, 0, 0, NULL, 0, 0};
        snprintf(path, sizeof path, "%s/params.%s", dir, format);
        rc = ap_line_chart(path, &c, s, ns);
    } else {
        snprintf(title, sizeof title, "Tensor size to send / input size (%" PRId64 "x%" PRId64 "x%" PRId64 ")",
                 rs[0]->input[0], rs[0]->input[1], rs[0]->input[2]);
        ap_chart c = {title, "split after", "scaled tensor size", 0, 1, cats, nc, 1, 1.0, "input size", 0, 0};
        snprintf(path, sizeof path, "%s/tensor_sizes.%s", dir, format);
        rc = ap_line_chart(path, &c, s, ns);
    }
out:
    for (int k = 0; k < ns; k++) free(ys[k]);
    return rc;
}

/* ------------------------------------------------------------ command */

/* The paper's finding in this model's numbers. */
static void conclude(const spa_result *r) {
    char label[128];
    spa_label(r, label, sizeof label);
    int l2 = spa_find(r, "layer2");
    int best = -1;
    for (int i = 1; i < (l2 > 0 ? l2 : r->n); i++)
        if (best < 0 || r->pts[i].ratio < r->pts[best].ratio) best = i;
    if (best < 0) return;
    printf("%s: smallest split point before layer2: %s at %.3f x the input (%s)\n", label, r->pts[best].name,
           r->pts[best].ratio, r->pts[best].ratio < 1 ? "smaller than the input" : "no gain over sending the input");
    int b = spa_find(r, "bottleneck");
    if (b >= 0)
        printf("%s: bottleneck %s = %.4f x the input: %.1f%% %s; head holds %" PRId64 " parameters\n", label,
               r->pts[b].shapes, r->pts[b].ratio, 100.0 * fabs(1.0 - r->pts[b].ratio),
               r->pts[b].ratio <= 1 ? "smaller" : "LARGER", r->pts[b].cum_params);
}

/* A shrunk model's widths (FPN channels, head sizes) and class count from
 * its weight file's shapes, on top of --arch's defaults in rc. */
static int widths_from_weights(const char *path, rcnn_config *rc, spa_model_spec *s) {
    sr_probe p;
    if (sr_probe_file(path, &p) != 0) return -1;
    if (sr_probe_apply(&p, rc) != 0) return hnd_error_prefix("%s", path);
    s->config = *rc;
    s->has_config = 1;
    return 0;
}

/* The options into base/input/chans (table in cmd_help.c). 0, or 2 / 1
 * after a message. */
static int parse_args(int argc, char **argv, spa_model_spec *base, int64_t input[3], int64_t *chans, int *n_chans,
                      co_args *a) {
    if (hnd_parse("analyze", argc, argv, a) != 0) return 2;
    const co_command *cmd = a->cmd;
    const char *v;
    if ((v = co_str(a, "--input", NULL)) && (acli_parse_size(v, input) != 0 || input[0] != 3))
        return co_usage_error(cmd, "--input: expected 3xHxW or HxW, each side 1..8192, got '%s'", v);
    if ((v = co_str(a, "--student-channels", NULL)) && (*n_chans = acli_parse_channels(v, chans, 16)) < 0)
        return co_usage_error(cmd, "--student-channels: expected C or C1,C2,... (1..4096, at most 16), got '%s'", v);
    if ((v = co_str(a, "--student-kind", NULL)) && (base->student_kind = stu_kind_parse(v)) < 0)
        return co_usage_error(cmd, "--student-kind: expected Bottleneck4LargeResNet or Bottleneck4SmallResNet, got '%s'", v);
    snprintf(base->weights, sizeof base->weights, "%s", co_str(a, "--weights", ""));
    snprintf(base->student_weights, sizeof base->student_weights, "%s", co_str(a, "--student-weights", ""));
    base->num_classes = (int)co_int(a, "--num-classes", 0);
    base->min_size = co_real(a, "--min-size", 0);
    base->max_size = co_real(a, "--max-size", 0);
    base->seed = co_u64(a, "--seed", 0);
    int rc = cc_threads(a);
    if (rc == 0) rc = cc_device(cmd, co_str(a, "--device", "cpu"), &base->device);
    return rc;
}

int cmd_analyze(int argc, char **argv) {
    spa_model_spec base;
    memset(&base, 0, sizeof base);
    base.student_kind = -1;
    base.device = ct_cpu();
    int64_t input[3] = {3, 800, 800};
    int64_t chans[16];
    int n_chans = -1;
    co_args args;
    int prc = parse_args(argc, argv, &base, input, chans, &n_chans, &args);
    if (prc != 0) {
        co_args_clear(&args);
        return prc;
    }
    int no_student = co_has(&args, "--no-student"), quiet = co_has(&args, "--quiet");
    const char *config = co_str(&args, "--config", NULL), *out = co_str(&args, "--out", "analysis");
    const char *arch = co_str(&args, "--arch", NULL), *format = co_str(&args, "--format", "png");
    const co_command *cmd = args.cmd;
    co_args_clear(&args);   /* the strings point into argv */
    spa_model_spec specs[18];
    int n_specs = 0;
    if (config) {
        if (acli_specs_from_config(config, specs, &n_specs) != 0) {
            fprintf(stderr, "hnd analyze: %s\n", hnd_error());
            return 1;
        }
        for (int i = 0; i < n_specs; i++) {
            specs[i].seed = base.seed;
            specs[i].device = base.device;
            /* another architecture than the config's: its defaults */
            if (arch && strcmp(arch, specs[i].arch) != 0) specs[i].has_config = 0;
            if (arch) snprintf(specs[i].arch, sizeof specs[i].arch, "%s", arch);
            if (base.weights[0]) snprintf(specs[i].weights, sizeof specs[i].weights, "%s", base.weights);
            if (base.min_size > 0) specs[i].min_size = base.min_size;
            if (base.max_size > 0) specs[i].max_size = base.max_size;
        }
        if (n_specs == 2 && base.student_weights[0])
            snprintf(specs[1].student_weights, sizeof specs[1].student_weights, "%s", base.student_weights);
    } else {
        if (!arch) return co_usage_error(cmd, "--arch ARCH (or --config) is required");
        rcnn_config probe;
        if (rcnn_config_default(&probe, arch) != 0) {
            fprintf(stderr, "hnd analyze: %s\n", hnd_error());
            return 2;
        }
        specs[n_specs] = base;
        snprintf(specs[n_specs].arch, sizeof specs[n_specs].arch, "%s", arch);
        specs[n_specs].student_weights[0] = 0;
        /* the widths of the teacher's file, else of the students' */
        const char *wf = base.weights[0] ? base.weights : base.student_weights;
        if (wf[0] && widths_from_weights(wf, &probe, &specs[n_specs]) != 0) {
            fprintf(stderr, "hnd analyze: %s\n", hnd_error());
            return 1;
        }
        n_specs++;
    }
    if (!no_student && (n_chans > 0 || (!config && n_chans < 0))) {
        if (n_chans < 0) chans[0] = 3, n_chans = 1;   /* default: the paper's smallest bottleneck */
        for (int k = 0; k < n_chans && n_specs < 18; k++) {
            spa_model_spec s = specs[0];
            s.student_channels = chans[k];
            s.student_kind = base.student_kind;
            snprintf(s.student_weights, sizeof s.student_weights, "%s", base.student_weights);
            specs[n_specs++] = s;
        }
    }
    spa_result *rs = calloc((size_t)n_specs, sizeof *rs);
    if (!rs) return 1;
    int rc = 1;
    for (int k = 0; k < n_specs; k++) {
        spa_options o;
        memset(&o, 0, sizeof o);
        o.model = specs[k];
        memcpy(o.input, input, sizeof input);
        spa_model m;
        if (spa_model_open(&o.model, &m) != 0) {
            fprintf(stderr, "hnd analyze: %s\n", hnd_error());
            goto done;
        }
        if (!quiet && (o.model.weights[0] || o.model.student_weights[0]) && m.n_missing > 0)
            fprintf(stderr, "hnd analyze: %d tensor(s) of %s were in no weight file (random values)\n",
                    m.n_missing, o.model.arch);
        int r = spa_run_model(&m, o.input, NULL, &rs[k]);
        spa_model_clear(&m);
        if (r != 0) {
            fprintf(stderr, "hnd analyze: %s\n", hnd_error());
            goto done;
        }
        if (!quiet) {
            spa_print(stdout, &rs[k]);
            printf("\n");
        }
    }
    /* the directory only now: a failed run leaves none behind */
    if (path_mkdirs(out) != 0) {
        fprintf(stderr, "hnd analyze: %s\n", hnd_error());
        goto done;
    }
    af_file a;
    FILE *f = acli_open(&a, out, "analysis.csv");
    const spa_result *cr[18];
    spa_result *pr[18];
    for (int k = 0; k < n_specs; k++) cr[k] = pr[k] = &rs[k];
    if (!f || acli_commit(&a, spa_write_csv(f, cr, n_specs) != 0) != 0 ||
        plot_results(out, pr, n_specs, 0, format) != 0 || plot_results(out, pr, n_specs, 1, format) != 0) {
        fprintf(stderr, "hnd analyze: %s\n", hnd_error());
        goto done;
    }
    for (int k = 0; k < n_specs; k++) conclude(&rs[k]);
    if (!quiet) printf("wrote %s/analysis.csv, %s/tensor_sizes.%s, %s/params.%s\n", out, out, format, out, format);
    rc = 0;
done:
    free(rs);
    return rc;
}
