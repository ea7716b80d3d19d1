/* cmd_eval_model.c: `hnd eval-model CKPT --config CONFIG [options]`: a
 * teacher or student checkpoint on the configured split, bbox (and segm)
 * mAP, and for students the bottleneck's size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "ckpt.h"
#include "cmd_common.h"
#include "cmd_eval_model.h"
#include "coco_eval.h"
#include "commands.h"
#include "config.h"
#include "ctorch.h"
#include "dist_dp.h"
#include "evaluate.h"
#include "device.h"
#include "hnd_error.h"
#include "hnd_model.h"
#include "train_run.h"

/* --json: the stats (and bottleneck sizes), atomically. 0 / -1. */
static int write_stats_json(const char *json, const char *ckpt, const ev_result *r) {
    af_file a;
    FILE *f = af_open(&a, json);
    if (!f) return -1;
    cJSON *name = cJSON_CreateString(ckpt);   /* the path, JSON-escaped */
    char *quoted = name ? cJSON_PrintUnformatted(name) : NULL;
    cJSON_Delete(name);
    fprintf(f, "{\"checkpoint\": %s, \"images\": %lld, \"bbox\": [", quoted ? quoted : "null", (long long)r->images);
    free(quoted);
    for (int i = 0; i < 12; i++) fprintf(f, "%s%.17g", i ? ", " : "", r->bbox[i]);
    fprintf(f, "]");
    if (r->has_segm) {
        fprintf(f, ", \"segm\": [");
        for (int i = 0; i < 12; i++) fprintf(f, "%s%.17g", i ? ", " : "", r->segm[i]);
        fprintf(f, "]");
    }
    if (r->has_kp) {
        fprintf(f, ", \"keypoints\": [");
        for (int i = 0; i < 10; i++) fprintf(f, "%s%.17g", i ? ", " : "", r->kp[i]);
        fprintf(f, "]");
    }
    if (r->has_bottleneck)
        fprintf(f, ", \"bottleneck\": {\"channels\": %lld, \"mean_h\": %.4f, \"mean_w\": %.4f, "
                   "\"bytes_f32\": %.2f, \"bytes_q8\": %.2f, \"bytes_q8_rans\": %.2f, \"bytes_q8_zstd\": %.2f, "
                   "\"ratio_f32\": %.6g, \"ratio_q8\": %.6g}",
                (long long)r->channels, r->mean_h, r->mean_w, r->mean_bytes_f32, r->mean_bytes_q8, r->mean_bytes_rans,
                r->mean_bytes_zstd, r->ratio_f32, r->ratio_q8);
    if (r->has_eb) fprintf(f, ", \"bytes_eb\": %.2f", r->mean_bytes_eb);
    fprintf(f, "}\n");
    return af_commit(&a, 0);
}

int cmd_eval_model(int argc, char **argv) {
    co_args args;
    if (hnd_parse("eval-model", argc, argv, &args) != 0) return 2;
    const co_command *cmd = args.cmd;
    const char *ckpt = args.pos[0], *config = co_str(&args, "--config", NULL);
    const char *split = co_str(&args, "--split", NULL), *out = co_str(&args, "--out", NULL);
    const char *json = co_str(&args, "--json", NULL);
    int quiet = co_has(&args, "--quiet");
    int bits = (int)co_int(&args, "--bits", -1);
    if (co_has(&args, "--no-transform")) {
        if (bits != -1 && bits != 32) {
            co_args_clear(&args);
            return co_usage_error(cmd, "--no-transform contradicts --bits %d", bits);
        }
        bits = 32;
    }
    int n_sets;
    const char **sets = co_list(&args, "--set", &n_sets);
    if (!config) {
        co_args_clear(&args);
        return co_usage_error(cmd, "--config CONFIG.json is required");
    }
    tc_config cfg;
    int rc = tc_load(config, sets, n_sets, &cfg);
    co_args_clear(&args);
    if (rc != 0) {
        fprintf(stderr, "hnd eval-model: %s\n", hnd_error());
        return 1;
    }
    rc = 1;
    sr_model *h = NULL;
    ev_ctx *e = NULL;
    if (cfg.threads > 0) ct_set_num_threads(cfg.threads);
    const tc_split *sp = split ? (strcmp(split, "val") == 0 ? &cfg.dataset.val : &cfg.dataset.test)
                               : cfg.dataset.test.present ? &cfg.dataset.test : &cfg.dataset.val;
    if (!sp->present) {
        fprintf(stderr, "hnd eval-model: %s: dataset.splits.%s is not configured\n", config,
                split ? split : "test (or val)");
        goto done;
    }
    int student = ck_is_student(ckpt);
    if (student < 0) {
        fprintf(stderr, "hnd eval-model: %s\n", hnd_error());
        goto done;
    }
    if (student && !cfg.student.present) {
        fprintf(stderr, "hnd eval-model: %s is a student; %s has no student_model\n", ckpt, config);
        goto done;
    }
    ct_device dev;
    if (cc_device(cmd, cfg.device, &dev) != 0) goto done;
    h = student ? hm_new_student(&cfg.student) : hm_new_teacher(&cfg.teacher);
    if (!h || sr_load(h, ckpt) != 0 || sr_to_device(h, dev) != 0 || !(e = ev_open(sp, sr_has_masks(h)))) {
        fprintf(stderr, "hnd eval-model: %s\n", hnd_error());
        goto done;
    }
    if (trun_check_classes(ev_dataset(e), sr_config(h)->box.num_classes,
                           student ? "student_model.params" : "the model's") != 0) {
        fprintf(stderr, "hnd eval-model: %s\n", hnd_error());
        goto done;
    }
    if (ev_num_images(e) == 0) {   /* every stat would be -1: not a result */
        fprintf(stderr, "hnd eval-model: %s: the %s split has no images\n", sp->annotations,
                sp == &cfg.dataset.val ? "val" : "test");
        goto done;
    }
    ev_opts o;
    ev_opts_default(&o);
    o.batch_size = cfg.test_batch_size;
    o.workers = cfg.dataset.num_workers;
    o.progress = !quiet;
    o.results_path = out;
    o.transform_bits = bits == 32 ? 0 : bits;   /* -1: as configured */
    o.shard = 1;   /* under hnd launch: each rank its share, rank 0 reports */
    ev_result r;
    if (ev_run(e, h, &o, &r) != 0) {
        fprintf(stderr, "hnd eval-model: %s\n", hnd_error());
        goto done;
    }
    if (!dp_is_main()) {
        rc = 0;
        goto done;
    }
    printf("%s (%s, %s) on %s: %lld images, %lld detections, %.1f s\n", ckpt, student ? "student" : "teacher",
           sr_config(h)->arch, sp->annotations, (long long)r.images, (long long)r.detections, r.seconds);
    if (student) {
        int b = o.transform_bits < 0 ? sr_bits(h) : o.transform_bits;
        char tb[16];
        snprintf(tb, sizeof tb, "%d-bit", b);
        /* the quantized size is bit-packed: ceil(numel * bits / 8) + scale + zero point */
        printf("bottleneck: %lld x %.1f x %.1f (mean), %.0f bytes float32, %.0f bytes %d-bit "
               "(%.4f / %.4f of the input at 32 / 8 bits); transformer: %s\n",
               (long long)r.channels, r.mean_h, r.mean_w, r.mean_bytes_f32, r.mean_bytes_q8, r.q_bits, r.ratio_f32,
               r.ratio_q8, b == 0 || b == 32 ? "none" : tb);
        printf("8-bit bottleneck coded losslessly: %.0f bytes with rANS, %.0f with zstd -19 (mean, scale and zero "
               "point included)\n",
               r.mean_bytes_rans, r.mean_bytes_zstd);
        if (r.has_eb)
            printf("entropy bottleneck: %.1f bytes per image (rANS: the learned 16-bit tables or the context "
                   "coder, the shorter per image; %.4f bits per input pixel)\n",
                   r.mean_bytes_eb, 8.0 * r.mean_bytes_eb * 3.0 / r.mean_input_numel);
    }
    printf("bbox:\n");
    ce_print_summary(stdout, r.bbox);
    if (r.has_segm) {
        printf("segm:\n");
        ce_print_summary(stdout, r.segm);
    }
    if (r.has_kp) {
        printf("keypoints:\n");
        ce_print_summary_type(stdout, CE_KEYPOINTS, r.kp);
    }
    if (json && write_stats_json(json, ckpt, &r) != 0) {
        fprintf(stderr, "hnd eval-model: --json: %s\n", hnd_error());
        goto done;
    }
    rc = 0;
done:
    ev_destroy(e);
    sr_destroy(h);
    tc_clear(&cfg);
    return rc;
}
