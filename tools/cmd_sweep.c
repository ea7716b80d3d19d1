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
#include "dist_dp.h"
#include "hnd_error.h"
#include "plot_png.h"
#include "sweep.h"

/* Bytes per image a row's device sends: the quantized bottleneck at the
 * row's bits (8: with scale and zero point), float32, a JPEG, the input. */
static double sent_bytes(const sw_row *r, int as_float) {
    if (r->jpeg_quality) return r->ev.mean_jpeg_bytes;
    if (r->entropy) return r->ev.mean_bytes_eb;
    if (r->is_teacher) return r->ev.mean_bytes_q8;
    if (as_float) return r->ev.mean_bytes_f32;
    return r->bits == 8 ? r->ev.mean_bytes_q8 : r->ev.mean_numel * r->bits / 8.0;
}

/* One curve: the rows selected by `want` (0 students, 1 JPEG, 2 students
 * with an entropy bottleneck, 3 students' 8-bit bytes coded with rANS),
 * sorted by x; y: bbox mAP, segm (segm 1) or keypoint (segm 2) AP. */
static int add_curve(pp_plot *p, const sw_row *rows, int n, int want, int as_float, int segm, const char *label,
                     uint32_t rgb, int style) {
    double x[2 * SW_MAX + 1], y[2 * SW_MAX + 1];
    int k = 0;
    for (int i = 0; i < n; i++) {
        const sw_row *r = &rows[i];
        if (((want == 0 || want == 3) && (r->is_teacher || r->entropy)) || (want == 1 && !r->jpeg_quality) ||
            (want == 2 && !r->entropy))
            continue;
        if ((segm == 1 && !r->ev.has_segm) || (segm == 2 && !r->ev.has_kp)) continue;
        const ev_result *e = as_float && r->has_float ? &r->ev_float : &r->ev;
        x[k] = want == 3 ? r->ev.mean_bytes_rans : sent_bytes(r, as_float);
        y[k] = segm == 2 ? e->kp[0] : segm ? e->segm[0] : e->bbox[0];
        k++;
    }
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            double t = x[j]; x[j] = x[j - 1]; x[j - 1] = t;
            t = y[j]; y[j] = y[j - 1]; y[j - 1] = t;
        }
    return k ? pp_add(p, label, x, y, k, rgb, style) : 0;
}

static int draw_curve(const char *path, const sw_row *rows, int n, const char *title) {
    const sw_row *teacher = NULL;
    int bits = 8, segm = 0, kps = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].is_teacher && !rows[i].jpeg_quality) teacher = &rows[i];
        if (!rows[i].is_teacher && !rows[i].entropy) bits = rows[i].bits;   /* EB rows have no bit width */
        segm |= rows[i].ev.has_segm;
        kps |= rows[i].ev.has_kp;
    }
    pp_plot *p = pp_new(900, 600);
    if (!p) return -1;
    pp_title(p, title);
    pp_xlabel(p, "bytes sent per image (log): the bottleneck (quantized / float32), a JPEG, the 8-bit input");
    pp_ylabel(p, "mAP");
    pp_xlog(p, 1);
    char lq[64], lf[64], mq[64], mf[64];
    snprintf(lq, sizeof lq, "student bbox mAP (%d-bit)", bits);
    snprintf(lf, sizeof lf, "student bbox mAP (float32)");
    snprintf(mq, sizeof mq, "student mask mAP (%d-bit)", bits);
    snprintf(mf, sizeof mf, "student mask mAP (float32)");
    int rc = add_curve(p, rows, n, 0, 0, 0, lq, 0x1F77B4, PP_LINE | PP_POINTS);
    if (rc == 0) rc = add_curve(p, rows, n, 0, 1, 0, lf, 0x1F77B4, PP_LINE | PP_POINTS | PP_DASHED);
    if (rc == 0 && segm) rc = add_curve(p, rows, n, 0, 0, 1, mq, 0xD62728, PP_LINE | PP_POINTS);
    if (rc == 0 && segm) rc = add_curve(p, rows, n, 0, 1, 1, mf, 0xD62728, PP_LINE | PP_POINTS | PP_DASHED);
    char kq[64];   /* Keypoint R-CNN: the keypoint AP (OKS) as well */
    snprintf(kq, sizeof kq, "student keypoint AP (%d-bit)", bits);
    if (rc == 0 && kps) rc = add_curve(p, rows, n, 0, 0, 2, kq, 0xE377C2, PP_LINE | PP_POINTS);
    if (rc == 0 && kps)
        rc = add_curve(p, rows, n, 0, 1, 2, "student keypoint AP (float32)", 0xE377C2, PP_LINE | PP_POINTS | PP_DASHED);
    if (rc == 0) rc = add_curve(p, rows, n, 3, 0, 0, "student bbox mAP (8-bit, rANS-coded)", 0x17BECF, PP_LINE | PP_POINTS);
    if (rc == 0)
        rc = add_curve(p, rows, n, 2, 0, 0, "entropy bottleneck bbox mAP (learned, rANS)", 0xBCBD22, PP_LINE | PP_POINTS);
    if (rc == 0) rc = add_curve(p, rows, n, 1, 0, 0, "teacher bbox mAP on JPEG inputs", 0x9467BD, PP_LINE | PP_POINTS);
    if (rc == 0 && segm)
        rc = add_curve(p, rows, n, 1, 0, 1, "teacher mask mAP on JPEG inputs", 0x8C564B, PP_LINE | PP_POINTS);
    if (rc == 0 && teacher) {
        /* the teacher sends the 8-bit input: its points there, and its
         * levels as lines across to compare the students with */
        double tx = teacher->ev.mean_bytes_q8, tyb = teacher->ev.bbox[0], tys = teacher->ev.segm[0];
        rc = pp_add(p, "", &tx, &tyb, 1, 0x2CA02C, PP_POINTS);
        if (rc == 0) rc = pp_hline(p, "teacher bbox mAP (sends the input)", tyb, 0x2CA02C);
        if (rc == 0 && teacher->ev.has_segm) rc = pp_add(p, "", &tx, &tys, 1, 0xFF7F0E, PP_POINTS);
        if (rc == 0 && teacher->ev.has_segm) rc = pp_hline(p, "teacher mask mAP (sends the input)", tys, 0xFF7F0E);
        double tyk = teacher->ev.kp[0];
        if (rc == 0 && teacher->ev.has_kp) rc = pp_add(p, "", &tx, &tyk, 1, 0x7F7F7F, PP_POINTS);
        if (rc == 0 && teacher->ev.has_kp) rc = pp_hline(p, "teacher keypoint AP (sends the input)", tyk, 0x7F7F7F);
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        char t[32];
        if (rows[i].jpeg_quality) snprintf(t, sizeof t, "Q%d", rows[i].jpeg_quality);
        else if (rows[i].entropy) snprintf(t, sizeof t, "b=%g", rows[i].beta);
        else if (!rows[i].is_teacher) snprintf(t, sizeof t, "C=%d", rows[i].channels);
        else continue;
        rc = pp_annotate(p, sent_bytes(&rows[i], 0), rows[i].ev.bbox[0], t,
                         rows[i].jpeg_quality ? 0x9467BD : 0x1F77B4);
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
    const char *jpeg = co_str(&args, "--jpeg", NULL), *beta = co_str(&args, "--beta", NULL);
    const char *eb_ch = co_str(&args, "--eb-channels", NULL);
    const char *from = co_str(&args, "--students-from", NULL);
    int teacher = !co_has(&args, "--no-teacher"), quiet = co_has(&args, "--quiet");
    int n_sets;
    const char **sets = co_list(&args, "--set", &n_sets);
    if (!channels) {
        co_usage_error(args.cmd, "--channels L is required");
        co_args_clear(&args);
        return 2;
    }
    int ch[SW_MAX], jq[SW_MAX], n_jq = 0, n_beta = 0, ebc[1] = {0};
    double betas[SW_MAX];
    int n = sw_parse_channels(channels, ch, SW_MAX);
    if (n >= 0 && jpeg && (n_jq = sw_parse_jpeg(jpeg, jq, SW_MAX)) < 0) n = -1;
    if (n >= 0 && beta && (n_beta = sw_parse_beta(beta, betas, SW_MAX)) < 0) n = -1;
    if (n >= 0 && eb_ch && sw_parse_channels(eb_ch, ebc, 1) < 0) n = -1;
    tc_config cfg;
    if (n < 0 || tc_load(config, sets, n_sets, &cfg) != 0) {
        fprintf(stderr, "hnd sweep: %s\n", hnd_error());
        co_args_clear(&args);
        return n < 0 ? 2 : 1;
    }
    char dir[1100];
    snprintf(dir, sizeof dir, "%s-sweep", cfg.output_dir);
    if (!out) out = dir;
    if (cfg.threads > 0) ct_set_num_threads(cfg.threads);
    volatile sig_atomic_t *stop =
        cr_catch_stop("\nhnd sweep: interrupted: writing a checkpoint (Ctrl-C again to abort)\n");
    sw_opts o = {out, teacher, quiet, !quiet, stop, jq, n_jq, betas, n_beta, ebc[0], co_real(&args, "--density-lr", 0), from};
    sw_row *rows = calloc(3 * SW_MAX + 1, sizeof *rows);
    int n_rows = 0, rc = rows ? sw_run(config, sets, n_sets, ch, n, &o, rows, &n_rows) : -1;
    co_args_clear(&args);
    if (rc < 0) {
        fprintf(stderr, "hnd sweep: %s\n", hnd_error());
        free(rows);
        tc_clear(&cfg);
        return 1;
    }
    if (!dp_is_main()) {   /* under hnd launch: rank 0 alone draws and prints */
        free(rows);
        tc_clear(&cfg);
        return rc == 1 ? 130 : 0;
    }
    char png[1200], title[200];
    snprintf(png, sizeof png, "%s/curve.%s", out, format);
    snprintf(title, sizeof title, "%s: mAP vs bytes sent per image", cfg.student.arch);
    if (n_rows > 0 && draw_curve(png, rows, n_rows, title) != 0) {
        fprintf(stderr, "hnd sweep: %s\n", hnd_error());
        rc = -1;
    }
    if (!quiet && n_rows > 0) {
        printf("%-12s %4s %-18s %12s %12s %10s %10s %9s %9s %9s %4s %8s %8s %8s %8s\n", "model", "C", "bottleneck",
               "bytes f32", "bytes 8bit", "8bit rANS", "8bit zstd", "ratio32", "ratio8", "paper", "bits", "bbox AP",
               "segm AP", "bbox f32", "segm f32");
        for (int i = 0; i < n_rows; i++) {
            const sw_row *r = &rows[i];
            const ev_result *ef = r->has_float ? &r->ev_float : &r->ev;
            char shape[64], model[24];
            snprintf(model, sizeof model, "%s",
                     r->jpeg_quality ? "teacher_jpeg" : r->is_teacher ? "teacher" : r->entropy ? "student_eb" : "student");
            if (r->jpeg_quality) snprintf(shape, sizeof shape, "(JPEG Q%d)", r->jpeg_quality);
            else if (r->is_teacher) snprintf(shape, sizeof shape, "(input)");
            else snprintf(shape, sizeof shape, "%dx%.1fx%.1f", r->channels, r->ev.mean_h, r->ev.mean_w);
            char c[16], bits[8] = "-", segm[16] = "-", segmf[16] = "-";
            if (r->is_teacher) snprintf(c, sizeof c, "-");
            else snprintf(c, sizeof c, "%d", r->channels);
            if (!r->is_teacher) snprintf(bits, sizeof bits, "%d", r->bits);
            if (r->ev.has_segm) snprintf(segm, sizeof segm, "%.4f", r->ev.segm[0]);
            if (ef->has_segm) snprintf(segmf, sizeof segmf, "%.4f", ef->segm[0]);
            char rans[24] = "-", zstd[24] = "-";
            if (!r->is_teacher) {
                snprintf(rans, sizeof rans, "%.0f", r->ev.mean_bytes_rans);
                snprintf(zstd, sizeof zstd, "%.0f", r->ev.mean_bytes_zstd);
            }
            double r32 = r->jpeg_quality ? r->ev.ratio_q8 : r->is_teacher ? 1.0 : r->ev.ratio_f32;
            double r8 = r->jpeg_quality ? r->ev.ratio_q8 : r->is_teacher ? 1.0 : r->ev.ratio_q8;
            double paper = (r->is_teacher ? r->ev.mean_input_numel : r->ev.mean_numel) / SW_PAPER_INPUT_NUMEL;
            printf("%-12s %4s %-18s %12.0f %12.0f %10s %10s %9.4f %9.4f %9.6f %4s %8.4f %8s %8.4f %8s\n", model, c,
                   shape, r->ev.mean_bytes_f32, r->ev.mean_bytes_q8, rans, zstd, r32, r8, paper, bits, r->ev.bbox[0],
                   segm, ef->bbox[0], segmf);
        }
        /* rate-accuracy (issue 18): what each row sends, and BD-rates */
        printf("\n%-18s %4s %8s %12s %10s %8s\n", "curve", "C", "beta", "bytes/image", "bits/px", "bbox AP");
        for (int i = 0; i < n_rows; i++) {
            const sw_row *r = &rows[i];
            char c[16] = "-", b[24] = "-";
            if (!r->is_teacher) snprintf(c, sizeof c, "%d", r->channels);
            if (r->entropy) snprintf(b, sizeof b, "%g", r->beta);
            printf("%-18s %4s %8s %12.0f %10.4f %8.4f\n",
                   r->jpeg_quality ? "teacher_jpeg" : r->is_teacher ? "teacher" : r->entropy ? "student_eb" : "student_8bit",
                   c, b, sw_sent_bytes(r), sw_bits_per_pixel(r), r->ev.bbox[0]);
            if (!r->is_teacher && !r->entropy)
                printf("%-18s %4s %8s %12.0f %10.4f %8.4f\n", "student_8bit_rans", c, "-", r->ev.mean_bytes_rans,
                       8.0 * r->ev.mean_bytes_rans / (r->ev.mean_input_numel / 3.0), r->ev.bbox[0]);
        }
        double bd[SW_BD_COUNT];
        int ok[SW_BD_COUNT];
        char why[SW_BD_COUNT][SW_BD_WHY];
        sw_bd_rates(rows, n_rows, bd, ok, why);
        static const char *const bn[SW_BD_COUNT] = {"8-bit rANS", "entropy bottleneck", "JPEG"};
        for (int k = 0; k < SW_BD_COUNT; k++) {
            if (ok[k]) printf("BD-rate of %s vs the 8-bit students: %+.1f%%\n", bn[k], bd[k]);
            else if (why[k][0]) {   /* e.g. bbox mAP ranges that do not overlap: say so, not nothing */
                const char *w = strncmp(why[k], "BD-rate: ", 9) == 0 ? why[k] + 9 : why[k];
                printf("BD-rate of %s vs the 8-bit students: not defined: %s (A: the 8-bit students, B: %s)\n",
                       bn[k], w, bn[k]);
            }
        }
        printf("%s/results.csv, results.json, rate.csv, rate.json, curve.%s\n", out, format);
    }
    free(rows);
    tc_clear(&cfg);
    if (rc == 1) {
        fprintf(stderr, "hnd sweep: stopped; run the same command again to continue\n");
        return 130;
    }
    return rc == 0 ? 0 : 1;
}
