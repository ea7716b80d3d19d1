/* cmd_sweep.c: `hnd sweep CONFIG.json --channels 3,6,9,12,15 [--out DIR]`:
 * train/sweep.h for the table, tools/plot_png.h for curve.png. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_run.h"
#include "commands.h"
#include "cmd_sweep.h"
#include "config.h"
#include "ctorch.h"
#include "hnd_error.h"
#include "plot_png.h"
#include "sweep.h"

static int draw_curve(const char *path, const sw_row *rows, int n, const char *title) {
    double xb[SW_MAX], yb[SW_MAX], ys[SW_MAX];
    int k = 0, segm = 0;
    const sw_row *teacher = NULL;
    for (int i = 0; i < n; i++) {
        if (rows[i].is_teacher) {
            teacher = &rows[i];
            continue;
        }
        xb[k] = rows[i].ev.ratio_q8;
        yb[k] = rows[i].ev.bbox[0];
        ys[k] = rows[i].ev.segm[0];
        segm |= rows[i].ev.has_segm;
        k++;
    }
    /* sorted by size for the lines */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && xb[j] < xb[j - 1]; j--) {
            double t = xb[j]; xb[j] = xb[j - 1]; xb[j - 1] = t;
            t = yb[j]; yb[j] = yb[j - 1]; yb[j - 1] = t;
            t = ys[j]; ys[j] = ys[j - 1]; ys[j - 1] = t;
        }
    pp_plot *p = pp_new(900, 600);
    if (!p) return -1;
    pp_title(p, title);
    pp_xlabel(p, "normalized bottleneck size (8-bit bottleneck bytes / 8-bit input bytes, log)");
    pp_ylabel(p, "mAP");
    pp_xlog(p, 1);
    int rc = pp_add(p, "student bbox mAP", xb, yb, k, 0x1F77B4, PP_LINE | PP_POINTS);
    if (rc == 0 && segm) rc = pp_add(p, "student mask mAP", xb, ys, k, 0xD62728, PP_LINE | PP_POINTS);
    if (rc == 0 && teacher) {
        /* the teacher sends the input (x = 1): its points there, and its
         * levels as dashed lines across to compare the students with */
        double tx = 1.0, tyb = teacher->ev.bbox[0], tys = teacher->ev.segm[0];
        rc = pp_add(p, "", &tx, &tyb, 1, 0x2CA02C, PP_POINTS);
        if (rc == 0) rc = pp_hline(p, "teacher bbox mAP (sends the input)", tyb, 0x2CA02C);
        if (rc == 0 && teacher->ev.has_segm) rc = pp_add(p, "", &tx, &tys, 1, 0xFF7F0E, PP_POINTS);
        if (rc == 0 && teacher->ev.has_segm) rc = pp_hline(p, "teacher mask mAP (sends the input)", tys, 0xFF7F0E);
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        if (rows[i].is_teacher) continue;
        char t[32];
        snprintf(t, sizeof t, "C=%d", rows[i].channels);
        rc = pp_annotate(p, rows[i].ev.ratio_q8, rows[i].ev.bbox[0], t, 0x1F77B4);
    }
    if (rc == 0) rc = pp_write(p, path);
    pp_destroy(p);
    return rc;
}

int cmd_sweep(int argc, char **argv) {
    co_args args;
    if (hnd_parse("sweep", argc, argv, &args) != 0) return 2;
    const char *config = args.pos[0], *channels = co_str(&args, "--channels", NULL);
    const char *out = co_str(&args, "--out", NULL), *format = co_str(&args, "--format", "png");
    int teacher = !co_has(&args, "--no-teacher"), quiet = co_has(&args, "--quiet");
    int n_sets;
    const char **sets = co_list(&args, "--set", &n_sets);
    if (!channels) {
        co_usage_error(args.cmd, "--channels L is required");
        co_args_clear(&args);
        return 2;
    }
    int ch[SW_MAX];
    int n = sw_parse_channels(channels, ch, SW_MAX);
    tc_config cfg;
    if (n < 0 || tc_load(config, sets, n_sets, &cfg) != 0) {
        fprintf(stderr, "hnd sweep: %s%s\n", n < 0 ? "--channels: " : "", hnd_error());
        co_args_clear(&args);
        return n < 0 ? 2 : 1;
    }
    char dir[1100];
    snprintf(dir, sizeof dir, "%s-sweep", cfg.output_dir);
    if (!out) out = dir;
    if (cfg.threads > 0) ct_set_num_threads(cfg.threads);
    volatile sig_atomic_t *stop =
        cr_catch_stop("\nhnd sweep: interrupted: writing a checkpoint (Ctrl-C again to abort)\n");
    sw_opts o = {out, teacher, quiet, !quiet, stop};
    sw_row *rows = calloc(SW_MAX + 1, sizeof *rows);
    int n_rows = 0, rc = rows ? sw_run(config, sets, n_sets, ch, n, &o, rows, &n_rows) : -1;
    co_args_clear(&args);
    if (rc < 0) {
        fprintf(stderr, "hnd sweep: %s\n", hnd_error());
        free(rows);
        tc_clear(&cfg);
        return 1;
    }
    char png[1200], title[200];
    snprintf(png, sizeof png, "%s/curve.%s", out, format);
    snprintf(title, sizeof title, "%s: mAP vs bottleneck size", cfg.student.arch);
    if (n_rows > 0 && draw_curve(png, rows, n_rows, title) != 0) {
        fprintf(stderr, "hnd sweep: %s\n", hnd_error());
        rc = -1;
    }
    if (!quiet && n_rows > 0) {
        printf("%-8s %4s %-18s %12s %12s %10s %10s %9s %9s %8s %8s\n", "model", "C", "bottleneck", "bytes f32",
               "bytes 8bit", "8bit rANS", "8bit zstd", "ratio32", "ratio8", "bbox AP", "segm AP");
        for (int i = 0; i < n_rows; i++) {
            const sw_row *r = &rows[i];
            char shape[64];
            if (r->is_teacher) snprintf(shape, sizeof shape, "(input)");
            else snprintf(shape, sizeof shape, "%dx%.1fx%.1f", r->channels, r->ev.mean_h, r->ev.mean_w);
            char c[16], segm[16] = "-";
            if (r->is_teacher) snprintf(c, sizeof c, "-");
            else snprintf(c, sizeof c, "%d", r->channels);
            if (r->ev.has_segm) snprintf(segm, sizeof segm, "%.4f", r->ev.segm[0]);
            char rans[24] = "-", zstd[24] = "-";
            if (!r->is_teacher) {
                snprintf(rans, sizeof rans, "%.0f", r->ev.mean_bytes_rans);
                snprintf(zstd, sizeof zstd, "%.0f", r->ev.mean_bytes_zstd);
            }
            printf("%-8s %4s %-18s %12.0f %12.0f %10s %10s %9.4f %9.4f %8.4f %8s\n", r->is_teacher ? "teacher" : "student",
                   c, shape, r->ev.mean_bytes_f32, r->ev.mean_bytes_q8, rans, zstd, r->is_teacher ? 1.0 : r->ev.ratio_f32,
                   r->is_teacher ? 1.0 : r->ev.ratio_q8, r->ev.bbox[0], segm);
        }
        printf("%s/results.csv, results.json, curve.%s\n", out, format);
    }
    free(rows);
    tc_clear(&cfg);
    if (rc == 1) {
        fprintf(stderr, "hnd sweep: stopped; run the same command again to continue\n");
        return 130;
    }
    return rc == 0 ? 0 : 1;
}
