/* sweep.c: see sweep.h. */
#include "sweep.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "coco_ann.h"
#include "device.h"
#include "dist_dp.h"
#include "hnd_error.h"
#include "path.h"
#include "hnd_model.h"
#include "hnd_train.h"
#include "rcnn_transform.h"
#include "smp.h"

static int parse_list(const char *s, int *out, int max, long lo, long hi, const char *opt) {
    int n = 0;
    const char *p = s;
    while (p && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < lo || v > hi || (*end && *end != ','))
            return hnd_error_set("%s '%s': expected a comma-separated list of integers %ld..%ld", opt, s, lo, hi);
        if (n >= max) return hnd_error_set("%s: at most %d values", opt, max);
        for (int i = 0; i < n; i++)
            if (out[i] == (int)v) return hnd_error_set("%s: %ld twice", opt, v);
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) return hnd_error_set("%s: empty list", opt);
    return n;
}

int sw_parse_channels(const char *s, int *out, int max) { return parse_list(s, out, max, 1, 4096, "--channels"); }

int sw_parse_jpeg(const char *s, int *out, int max) { return parse_list(s, out, max, 1, 95, "--jpeg"); }

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int w = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) return;
        if (b->s && b->n + (size_t)w < b->cap) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = (b->cap + (size_t)w + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) return;
        b->s = s;
        b->cap = cap;
    }
}

int sw_write_results(const char *out_dir, const sw_row *rows, int n, const char *split) {
    sbuf csv = {0}, js = {0};
    sb_printf(&csv, "model,channels,bottleneck_shape,bottleneck_numel,bytes_float32,bytes_8bit,bytes_8bit_rans,"
                    "bytes_8bit_zstd,scale_8bit,"
                    "zero_point_8bit,input_numel,ratio_32bit,ratio_8bit,bbox_ap,bbox_ap50,bbox_ap75,segm_ap,"
                    "segm_ap50,images,checkpoint,bits,bbox_ap_float32,segm_ap_float32,ratio_paper,jpeg_quality,"
                    "bytes_jpeg,keypoint_ap,keypoint_ap50,keypoint_ap_float32\n");
    sb_printf(&js, "{\n  \"split\": \"%s\",\n  \"note\": \"ratio_32bit = float32 bottleneck bytes / float32 input "
                   "bytes (3xHxW); ratio_8bit = 8-bit bottleneck bytes (+ scale and zero point) / 8-bit input "
                   "bytes; the teacher sends the input (ratio 1); bbox/segm at `bits` (the quantized "
                   "bottleneck), bbox_float32/segm_float32 on the float32 one; ratio_paper = mean bottleneck "
                   "(or input) values / (3x874x1044, COCO val2017's mean input), the paper's normalisation; "
                   "teacher_jpeg rows: the teacher on inputs re-encoded as JPEG at jpeg_quality, bytes_jpeg "
                   "the mean JPEG size per image; keypoint_ap (Keypoint R-CNN): OKS AP, maxDets 20, else -1\",\n"
                   "  \"rows\": [\n", split);
    for (int i = 0; i < n; i++) {
        const sw_row *r = &rows[i];
        const ev_result *e = &r->ev;
        char shape[96];
        const char *model = r->jpeg_quality ? "teacher_jpeg" : r->is_teacher ? "teacher" : "student";
        const ev_result *ef = r->has_float ? &r->ev_float : e;   /* the teacher has no bottleneck */
        double paper = (r->is_teacher ? e->mean_input_numel : e->mean_numel) / SW_PAPER_INPUT_NUMEL;
        char jq[16] = "", jb[32] = "", bits[16] = "";
        if (r->jpeg_quality) snprintf(jq, sizeof jq, "%d", r->jpeg_quality);
        if (r->jpeg_quality) snprintf(jb, sizeof jb, "%.1f", e->mean_jpeg_bytes);
        if (!r->is_teacher) snprintf(bits, sizeof bits, "%d", r->bits);
        if (r->jpeg_quality) snprintf(shape, sizeof shape, "jpeg%d", r->jpeg_quality);
        else if (r->is_teacher) snprintf(shape, sizeof shape, "input");
        else snprintf(shape, sizeof shape, "%dx%.1fx%.1f", r->channels, e->mean_h, e->mean_w);
        double r32 = r->jpeg_quality ? e->ratio_q8 : r->is_teacher ? 1.0 : e->ratio_f32,
               r8 = r->jpeg_quality ? e->ratio_q8 : r->is_teacher ? 1.0 : e->ratio_q8;
        char rans[32] = "", zstd[32] = "";   /* the teacher sends the input: not coded */
        if (!r->is_teacher) {
            snprintf(rans, sizeof rans, "%.1f", e->mean_bytes_rans);
            snprintf(zstd, sizeof zstd, "%.1f", e->mean_bytes_zstd);
        }
        sb_printf(&csv, "%s,%d,%s,%.1f,%.1f,%.1f,%s,%s,%.9g,%d,%.1f,%.6g,%.6g,%.6f,%.6f,%.6f,%.6f,%.6f,%lld,%s,"
                        "%s,%.6f,%.6f,%.6g,%s,%s,%.6f,%.6f,%.6f\n",
                  model, r->channels, shape, e->mean_numel, e->mean_bytes_f32,
                  e->mean_bytes_q8, rans, zstd, e->last_scale, e->last_zero_point, e->mean_input_numel, r32, r8, e->bbox[0],
                  e->bbox[1], e->bbox[2], e->has_segm ? e->segm[0] : -1.0, e->has_segm ? e->segm[1] : -1.0,
                  (long long)e->images, r->ckpt, bits, ef->bbox[0], ef->has_segm ? ef->segm[0] : -1.0, paper, jq, jb,
                  e->has_kp ? e->kp[0] : -1.0, e->has_kp ? e->kp[1] : -1.0, ef->has_kp ? ef->kp[0] : -1.0);
        sb_printf(&js,
                  "    {\"model\": \"%s\", \"channels\": %d, \"bottleneck_shape\": [%d, %.4f, %.4f], "
                  "\"bottleneck_numel\": %.2f, \"bytes_float32\": %.2f, \"bytes_8bit\": %.2f, "
                  "\"bytes_8bit_rans\": %s, \"bytes_8bit_zstd\": %s, \"scale_8bit_last\": %.9g, \"zero_point_8bit_last\": %d, \"input_numel\": %.2f, "
                  "\"ratio_32bit\": %.6g, \"ratio_8bit\": %.6g, \"bbox\": [",
                  model, r->channels, r->channels, e->mean_h, e->mean_w,
                  e->mean_numel, e->mean_bytes_f32, e->mean_bytes_q8, r->is_teacher ? "null" : rans,
                  r->is_teacher ? "null" : zstd, e->last_scale, e->last_zero_point, e->mean_input_numel, r32, r8);
        for (int k = 0; k < 12; k++) sb_printf(&js, "%s%.6f", k ? ", " : "", e->bbox[k]);
        sb_printf(&js, "], \"segm\": ");
        if (e->has_segm) {
            sb_printf(&js, "[");
            for (int k = 0; k < 12; k++) sb_printf(&js, "%s%.6f", k ? ", " : "", e->segm[k]);
            sb_printf(&js, "]");
        } else {
            sb_printf(&js, "null");
        }
        sb_printf(&js, ", \"bits\": %s, \"bbox_float32\": [", bits[0] ? bits : "null");
        for (int k = 0; k < 12; k++) sb_printf(&js, "%s%.6f", k ? ", " : "", ef->bbox[k]);
        sb_printf(&js, "], \"segm_float32\": ");
        if (ef->has_segm) {
            sb_printf(&js, "[");
            for (int k = 0; k < 12; k++) sb_printf(&js, "%s%.6f", k ? ", " : "", ef->segm[k]);
            sb_printf(&js, "]");
        } else {
            sb_printf(&js, "null");
        }
        sb_printf(&js, ", \"ratio_paper\": %.6g, \"jpeg_quality\": %s, \"bytes_jpeg\": %s", paper,
                  jq[0] ? jq : "null", jb[0] ? jb : "null");
        for (int f = 0; f < 2; f++) {   /* Keypoint R-CNN: the 10 OKS stats, quantized and float32 */
            const ev_result *ek = f ? ef : e;
            sb_printf(&js, ", \"%s\": ", f ? "keypoints_float32" : "keypoints");
            if (!ek->has_kp) sb_printf(&js, "null");
            for (int k = 0; ek->has_kp && k < 10; k++) sb_printf(&js, "%s%.6f%s", k ? ", " : "[", ek->kp[k], k == 9 ? "]" : "");
        }
        sb_printf(&js, ", \"images\": %lld, \"checkpoint\": \"%s\"}%s\n", (long long)e->images, r->ckpt,
                  i + 1 < n ? "," : "");
    }
    sb_printf(&js, "  ]\n}\n");
    char p[1100];
    int rc = 0;
    if (!csv.s || !js.s) rc = hnd_error_set("out of memory");
    if (rc == 0) {
        snprintf(p, sizeof p, "%s/results.csv", out_dir);
        rc = af_write_text(p, csv.s);
    }
    if (rc == 0) {
        snprintf(p, sizeof p, "%s/results.json", out_dir);
        rc = af_write_text(p, js.s);
    }
    if (rc == 0) rc = sw_write_rate(out_dir, rows, n);   /* bytes, bits per pixel, BD-rates */
    free(csv.s);
    free(js.s);
    return rc;
}

/* ckpt on the config's test split (else val), once per entry of bits
 * (ev_opts.transform_bits; a teacher ignores it) into out[]. */
static int eval_ckpt(const tc_config *cfg, int student, const char *ckpt, const sw_opts *o, const int *bits, int nb,
                     ev_result *out) {
    /* --students-from: another detector's student file, checked against cfg's teacher */
    int from = student && o->students_from;
    const tc_split *sp = cfg->dataset.test.present ? &cfg->dataset.test : &cfg->dataset.val;
    if (!sp->present) return hnd_error_set("%s: neither dataset.splits.test nor val is configured", cfg->source);
    ct_device dev;
    if (md_device_parse(cfg->device, &dev) != 0) return -1;
    sr_model *h = student ? hm_new_student(&cfg->student) : hm_new_teacher(&cfg->teacher);
    ev_ctx *e = NULL;
    int rc = -1;
    if (h && (from ? sw_load_student_from(h, cfg, ckpt) : sr_load(h, ckpt)) == 0 && sr_to_device(h, dev) == 0 && (e = ev_open(sp, sr_has_masks(h)))) {
        ev_opts eo;
        ev_opts_default(&eo);
        eo.batch_size = cfg->test_batch_size;
        eo.workers = cfg->dataset.num_workers;
        eo.progress = o->progress && !o->quiet;
        eo.shard = 1;   /* under hnd launch: each rank its share, the stats on every rank */
        rc = 0;
        for (int i = 0; rc == 0 && i < nb; i++) {
            eo.transform_bits = bits[i];
            rc = ev_run(e, h, &eo, &out[i]);
        }
    }
    ev_destroy(e);
    sr_destroy(h);
    return rc;
}

/* The teacher's row: in split-computing terms it sends the 8-bit input
 * image itself, 3 x H x W bytes at the size its R-CNN transform resizes
 * each evaluated image to (students measure their bottleneck in
 * evaluate.c). The images are the loader's: remove_non_annotated applies. */
static int teacher_sends(const tc_config *cfg, ev_result *ev) {
    const tc_split *sp = cfg->dataset.test.present ? &cfg->dataset.test : &cfg->dataset.val;
    coco_dataset *ds = coco_load(sp->annotations, NULL);
    if (!ds) return -1;
    int64_t *order = smp_dataset_order(ds), *keep = malloc(((size_t)ds->n_images + 1) * sizeof *keep), n = 0;
    int rc = order && keep ? 0 : hnd_error_set("out of memory");
    if (rc == 0 && sp->remove_non_annotated) n = smp_filter_with_annotations(ds, order, ds->n_images, keep);
    else if (rc == 0)
        for (n = 0; n < ds->n_images; n++) keep[n] = n;
    double sum = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        const coco_image *im = &ds->images[order[keep[i]]];
        int64_t hw[2];
        rc = rt_resized_size(im->height, im->width, cfg->teacher.min_size, cfg->teacher.max_size, hw);
        sum += 3.0 * (double)hw[0] * (double)hw[1];
    }
    if (rc == 0 && n > 0) {
        ev->mean_input_numel = ev->mean_numel = ev->mean_bytes_q8 = sum / (double)n;   /* a byte a value */
        ev->mean_bytes_f32 = 4 * ev->mean_bytes_q8;
        ev->ratio_f32 = ev->ratio_q8 = 1;
    }
    free(order);
    free(keep);
    coco_destroy(ds);
    return rc;
}

/* Under hnd launch every rank runs the sweep (training and evaluation are
 * collective); rank 0 alone writes the result files. */
static int write_rows(const char *out_dir, const sw_row *rows, int n, const char *split) {
    return dp_is_main() ? sw_write_results(out_dir, rows, n, split) : 0;
}

/* Trains (or resumes) the run of config c: 0 when it finished (r->trained_here
 * set), 1 when stopped (Ctrl-C), -1 + hnd_error(). Under hnd launch every
 * rank trains; rank 0 has written best.h5 when all of them return. */
static int train_run(const tc_config *c, const sw_opts *o, sw_row *r) {
    ht_opts to;
    ht_opts_default(&to);
    to.resume = 1;
    to.quiet = o->quiet;
    to.progress = o->progress;
    to.stop = o->stop;
    ht_result tr;
    if (ht_train(c, &to, &tr) != 0) return -1;
    if (tr.status == HT_INTERRUPTED) return 1;
    r->trained_here = 1;
    return dp_all_ok(1) == 1 ? 0 : -1;
}

int sw_run(const char *config_path, const char *const *sets, int n_sets, const int *channels, int n,
           const sw_opts *o, sw_row *rows, int *n_rows) {
    *n_rows = 0;
    /* the group first (a no-op without the torchrun variables): who is rank 0
     * decides who prints and writes; the others stay quiet */
    if (dp_init() != 0) return -1;
    sw_opts quiet_rank = *o;
    if (!dp_is_main()) {
        quiet_rank.quiet = 1;
        o = &quiet_rank;
    }
    if (n < 1 || n > SW_MAX) return hnd_error_set("sweep: 1..%d channel counts", SW_MAX);
    if (o->n_jpeg < 0 || o->n_jpeg > SW_MAX) return hnd_error_set("sweep: at most %d JPEG qualities", SW_MAX);
    if (o->students_from && o->n_beta > 0)
        return hnd_error_set("sweep: --students-from evaluates trained students only; --beta trains");
    if (path_mkdirs(o->out_dir) != 0) return -1;
    const char **all = calloc((size_t)n_sets + 5, sizeof *all);
    if (!all) return hnd_error_set("out of memory");
    for (int i = 0; i < n_sets; i++) all[i] = sets[i];
    char s_ch[64], s_out[1200], s_ckpt[1300];
    all[n_sets] = s_ch;
    all[n_sets + 1] = s_out;
    all[n_sets + 2] = s_ckpt;
    int rc = -1;
    const char *split = "test";
    tc_config base;
    if (tc_load(config_path, sets, n_sets, &base) != 0) goto out;
    if (base.is_org) {
        tc_clear(&base);
        hnd_error_set("%s: a teacher config; a sweep needs a distillation config", config_path);
        goto out;
    }
    split = base.dataset.test.present ? "test" : "val";
    for (int i = 0; i < n; i++) {
        sw_row *r = &rows[*n_rows];
        memset(r, 0, sizeof *r);
        r->channels = channels[i];
        snprintf(r->run_dir, sizeof r->run_dir, "%s/b%dch", o->out_dir, channels[i]);
        snprintf(s_ch, sizeof s_ch, "student_model.backbone.params.layer1.bottleneck_channel=%d", channels[i]);
        snprintf(s_out, sizeof s_out, "output_dir=\"%s\"", r->run_dir);
        snprintf(s_ckpt, sizeof s_ckpt, "student_model.ckpt=\"%s/best.h5\"", r->run_dir);
        tc_config c;
        if (tc_load(config_path, all, n_sets + 3, &c) != 0) goto fail;
        snprintf(r->ckpt, sizeof r->ckpt, "%s", c.student.ckpt);
        if (o->students_from && sw_students_from_ckpt(o->students_from, channels[i], r->ckpt, sizeof r->ckpt) != 0) {
            tc_clear(&c);
            goto fail;
        }
        int fin = o->students_from ? 1 : ht_finished_same(&c);   /* a run of another config is refused, not reused */
        if (fin < 0) {
            hnd_error_prefix("C=%d", channels[i]);
            tc_clear(&c);
            goto fail;
        }
        if (!fin) {
            if (!o->quiet) fprintf(stderr, "sweep: C=%d: training in %s\n", channels[i], r->run_dir);
            int t = train_run(&c, o, r);
            if (t != 0) {
                tc_clear(&c);
                if (t < 0) goto fail;
                rc = 1;
                goto written;
            }
        } else if (!o->quiet && o->students_from) {
            fprintf(stderr, "sweep: C=%d: evaluating %s (no training)\n", channels[i], r->ckpt);
        } else if (!o->quiet) {
            fprintf(stderr, "sweep: C=%d: %s finished earlier, evaluating it\n", channels[i], r->run_dir);
        }
        /* the float32 bottleneck (the reference's default, Figure 5) and the
         * configured quantizer (8 bits when the config has none) */
        r->bits = c.student.transform_bits ? c.student.transform_bits : 8;
        int bits[2] = {r->bits, 0};
        ev_result ev2[2];
        int e = eval_ckpt(&c, 1, r->ckpt, o, bits, 2, ev2);
        tc_clear(&c);
        if (e != 0) goto fail;
        r->ev = ev2[0];
        r->ev_float = ev2[1];
        r->has_float = 1;
        if (!o->quiet) {
            char segm[64] = "";
            if (r->ev.has_segm)
                snprintf(segm, sizeof segm, ", segm AP %.4f (float32 %.4f)", r->ev.segm[0], r->ev_float.segm[0]);
            else if (r->ev.has_kp)
                snprintf(segm, sizeof segm, ", keypoint AP %.4f (float32 %.4f)", r->ev.kp[0], r->ev_float.kp[0]);
            fprintf(stderr, "sweep: C=%d: bbox AP %.4f at %d bits (float32 %.4f)%s, bottleneck %.0f bytes at 8 bits "
                    "(%.4f of the input)\n", channels[i], r->ev.bbox[0], r->bits, r->ev_float.bbox[0], segm,
                    r->ev.mean_bytes_q8, r->ev.ratio_q8);
        }
        (*n_rows)++;
        if (write_rows(o->out_dir, rows, *n_rows, split) != 0) goto fail;
        if (o->stop && *o->stop) {
            rc = 1;
            goto written;
        }
    }
    /* issue 18: students with a learned entropy bottleneck, one per beta,
     * evaluated on the symbols the link codes (real rANS bytes) */
    for (int i = 0; i < o->n_beta; i++) {
        sw_row *r = &rows[*n_rows];
        memset(r, 0, sizeof *r);
        int C = o->eb_channels;
        for (int k = 0; C <= 0 && k < n; k++)
            if (channels[k] > C) C = channels[k];
        r->channels = C;
        r->entropy = 1;
        r->beta = o->beta[i];
        snprintf(r->run_dir, sizeof r->run_dir, "%s/b%dch_beta%g", o->out_dir, C, o->beta[i]);
        snprintf(s_ch, sizeof s_ch, "student_model.backbone.params.layer1.bottleneck_channel=%d", C);
        snprintf(s_out, sizeof s_out, "output_dir=\"%s\"", r->run_dir);
        snprintf(s_ckpt, sizeof s_ckpt, "student_model.ckpt=\"%s/best.h5\"", r->run_dir);
        char s_beta[64];
        snprintf(s_beta, sizeof s_beta, "student_model.entropy_bottleneck.beta=%.17g", o->beta[i]);
        all[n_sets + 3] = s_beta;
        tc_config c;
        if (tc_load(config_path, all, n_sets + 4, &c) != 0) goto fail;
        /* the density's own learning rate: --density-lr, else the config's,
         * else SW_DENSITY_LR (in the main optimizer, 500 demo steps never fit
         * it: the prior charged 3x the symbols' entropy) */
        if (o->density_lr > 0 || !(c.student.eb_density_lr > 0)) {
            char s_dlr[80];
            snprintf(s_dlr, sizeof s_dlr, "student_model.entropy_bottleneck.density_lr=%.17g",
                     o->density_lr > 0 ? o->density_lr : SW_DENSITY_LR);
            all[n_sets + 4] = s_dlr;
            tc_clear(&c);
            if (tc_load(config_path, all, n_sets + 5, &c) != 0) goto fail;
        }
        snprintf(r->ckpt, sizeof r->ckpt, "%s", c.student.ckpt);
        int fin = ht_finished_same(&c);
        if (fin < 0) {
            hnd_error_prefix("beta %g", o->beta[i]);
            tc_clear(&c);
            goto fail;
        }
        if (!fin) {
            if (!o->quiet) fprintf(stderr, "sweep: C=%d beta %g: training in %s\n", C, o->beta[i], r->run_dir);
            int t = train_run(&c, o, r);
            if (t != 0) {
                tc_clear(&c);
                if (t < 0) goto fail;
                rc = 1;
                goto written;
            }
        }
        int b0 = 0;   /* the float32 link carries the rounded symbols exactly */
        int e = eval_ckpt(&c, 1, r->ckpt, o, &b0, 1, &r->ev);
        tc_clear(&c);
        if (e != 0) goto fail;
        if (!o->quiet)
            fprintf(stderr, "sweep: C=%d beta %g: bbox AP %.4f, %.0f bytes per image entropy-coded (%.4f bits per "
                    "pixel)\n", C, o->beta[i], r->ev.bbox[0], r->ev.mean_bytes_eb, sw_bits_per_pixel(r));
        (*n_rows)++;
        if (write_rows(o->out_dir, rows, *n_rows, split) != 0) goto fail;
        if (o->stop && *o->stop) {
            rc = 1;
            goto written;
        }
    }
    if (o->teacher) {
        sw_row *r = &rows[*n_rows];
        memset(r, 0, sizeof *r);
        r->is_teacher = 1;
        snprintf(r->ckpt, sizeof r->ckpt, "%s", base.teacher.ckpt);
        if (!o->quiet) fprintf(stderr, "sweep: evaluating the teacher %s\n", base.teacher.ckpt);
        int b0 = 0;
        if (eval_ckpt(&base, 0, base.teacher.ckpt, o, &b0, 1, &r->ev) != 0 || teacher_sends(&base, &r->ev) != 0)
            goto fail;
        (*n_rows)++;
        if (write_rows(o->out_dir, rows, *n_rows, split) != 0) goto fail;
    }
    /* the edge-computing baseline: the teacher on the split re-encoded as
     * JPEG (the reference's jpeg_quality), what a device would send instead */
    for (int q = 0; q < o->n_jpeg; q++) {
        if (o->stop && *o->stop) {
            rc = 1;
            goto written;
        }
        sw_row *r = &rows[*n_rows];
        memset(r, 0, sizeof *r);
        r->is_teacher = 1;
        r->jpeg_quality = o->jpeg[q];
        snprintf(r->ckpt, sizeof r->ckpt, "%s", base.teacher.ckpt);
        tc_config jc = base;   /* a shallow copy: only a split's quality changes; never cleared */
        (jc.dataset.test.present ? &jc.dataset.test : &jc.dataset.val)->jpeg_quality = o->jpeg[q];
        if (!o->quiet) fprintf(stderr, "sweep: evaluating the teacher on JPEG inputs at quality %d\n", o->jpeg[q]);
        int b0 = 0;
        if (eval_ckpt(&jc, 0, base.teacher.ckpt, o, &b0, 1, &r->ev) != 0 || teacher_sends(&jc, &r->ev) != 0)
            goto fail;
        /* it sends the JPEG: sizes relative to the 8-bit input as the students' */
        r->ev.mean_bytes_q8 = r->ev.mean_bytes_f32 = r->ev.mean_jpeg_bytes;
        r->ev.ratio_q8 = r->ev.mean_jpeg_bytes / r->ev.mean_input_numel;
        if (!o->quiet)
            fprintf(stderr, "sweep: JPEG quality %d: bbox AP %.4f, %.0f bytes per image\n", o->jpeg[q],
                    r->ev.bbox[0], r->ev.mean_jpeg_bytes);
        (*n_rows)++;
        if (write_rows(o->out_dir, rows, *n_rows, split) != 0) goto fail;
    }
    rc = 0;
    goto written;
fail:
    rc = -1;
written:
    tc_clear(&base);
out:
    free(all);
    return rc;
}
