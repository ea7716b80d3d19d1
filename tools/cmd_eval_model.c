/* cmd_eval_model.c: `hnd eval-model CKPT --config CONFIG [options]`: a
 * teacher or student checkpoint on the configured split, bbox (and segm)
 * mAP, and for students the bottleneck's size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "cmd_eval_model.h"
#include "coco_eval.h"
#include "config.h"
#include "ctorch.h"
#include "evaluate.h"
#include "hnd_error.h"
#include "hnd_model.h"

int cmd_eval_model(int argc, char **argv) {
    const char *ckpt = NULL, *config = NULL, *split = NULL, *out = NULL, *json = NULL;
    int bits = -1, quiet = 0;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0;
    if (!sets) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 && i + 1 < argc) config = argv[++i];
        else if (strcmp(a, "--set") == 0 && i + 1 < argc) sets[n_sets++] = argv[++i];
        else if (strcmp(a, "--split") == 0 && i + 1 < argc) split = argv[++i];
        else if (strcmp(a, "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(a, "--json") == 0 && i + 1 < argc) json = argv[++i];
        else if (strcmp(a, "--bits") == 0 && i + 1 < argc) bits = atoi(argv[++i]);
        else if (strcmp(a, "--no-transform") == 0) bits = 0;
        else if (strcmp(a, "--quiet") == 0) quiet = 1;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hnd eval-model: unknown option '%s' (see hnd eval-model --help)\n", a);
            free(sets);
            return 2;
        } else if (!ckpt) ckpt = a;
        else {
            fprintf(stderr, "hnd eval-model: one checkpoint only\n");
            free(sets);
            return 2;
        }
    }
    if (!ckpt || !config) {
        fprintf(stderr, "usage: hnd eval-model CKPT.h5 --config CONFIG.json [--split val|test] [--out R.json]\n");
        free(sets);
        return 2;
    }
    if (bits != -1 && bits != 0 && bits != 8 && bits != 16 && bits != 32) {
        fprintf(stderr, "hnd eval-model: --bits must be 8, 16 or 32\n");
        free(sets);
        return 2;
    }
    tc_config cfg;
    int rc = tc_load(config, sets, n_sets, &cfg);
    free(sets);
    if (rc != 0) {
        fprintf(stderr, "hnd eval-model: %s\n", hnd_error());
        return 1;
    }
    rc = 1;
    hm_model *h = NULL;
    ev_ctx *e = NULL;
    if (cfg.threads > 0) ct_set_num_threads(cfg.threads);
    const tc_split *sp = split ? (strcmp(split, "val") == 0 ? &cfg.dataset.val
                                  : strcmp(split, "test") == 0 ? &cfg.dataset.test : NULL)
                               : cfg.dataset.test.present ? &cfg.dataset.test : &cfg.dataset.val;
    if (!sp) {
        fprintf(stderr, "hnd eval-model: --split must be val or test\n");
        tc_free(&cfg);
        return 2;
    }
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
    if (hm_parse_device(cfg.device, &dev) != 0) {
        fprintf(stderr, "hnd eval-model: %s\n", hnd_error());
        goto done;
    }
    h = student ? hm_new_student(&cfg.student) : hm_new_teacher(&cfg.teacher);
    if (!h || hm_load(h, ckpt) != 0 || hm_to_device(h, dev) != 0 ||
        !(e = ev_open(sp, rcnn_has_masks(h->det)))) {
        fprintf(stderr, "hnd eval-model: %s\n", hnd_error());
        goto done;
    }
    ev_opts o;
    ev_opts_default(&o);
    o.batch_size = cfg.test_batch_size;
    o.workers = cfg.dataset.num_workers;
    o.progress = !quiet;
    o.results_path = out;
    o.transform_bits = bits == 32 ? 0 : bits;
    ev_result r;
    if (ev_run(e, h, &o, &r) != 0) {
        fprintf(stderr, "hnd eval-model: %s\n", hnd_error());
        goto done;
    }
    printf("%s (%s, %s) on %s: %lld images, %lld detections, %.1f s\n", ckpt, student ? "student" : "teacher",
           h->rc.arch, sp->annotations, (long long)r.images, (long long)r.detections, r.seconds);
    if (student) {
        int b = o.transform_bits < 0 ? stu_get_transform(h->stu) : o.transform_bits;
        printf("bottleneck: %lld x %.1f x %.1f (mean), %.0f bytes float32, %.0f bytes 8-bit "
               "(%.4f / %.4f of the input at 32 / 8 bits); transformer: %s\n",
               (long long)r.channels, r.mean_h, r.mean_w, r.mean_bytes_f32, r.mean_bytes_q8, r.ratio_f32,
               r.ratio_q8, b == 8 ? "8-bit" : b == 16 ? "16-bit" : "none");
    }
    printf("bbox:\n");
    ce_print_summary(stdout, r.bbox);
    if (r.has_segm) {
        printf("segm:\n");
        ce_print_summary(stdout, r.segm);
    }
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            fprintf(stderr, "hnd eval-model: cannot write %s\n", json);
            goto done;
        }
        fprintf(f, "{\"checkpoint\": \"%s\", \"images\": %lld, \"bbox\": [", ckpt, (long long)r.images);
        for (int i = 0; i < 12; i++) fprintf(f, "%s%.17g", i ? ", " : "", r.bbox[i]);
        fprintf(f, "]");
        if (r.has_segm) {
            fprintf(f, ", \"segm\": [");
            for (int i = 0; i < 12; i++) fprintf(f, "%s%.17g", i ? ", " : "", r.segm[i]);
            fprintf(f, "]");
        }
        if (r.has_bottleneck)
            fprintf(f, ", \"bottleneck\": {\"channels\": %lld, \"mean_h\": %.4f, \"mean_w\": %.4f, "
                       "\"bytes_f32\": %.2f, \"bytes_q8\": %.2f, \"ratio_f32\": %.6g, \"ratio_q8\": %.6g}",
                    (long long)r.channels, r.mean_h, r.mean_w, r.mean_bytes_f32, r.mean_bytes_q8, r.ratio_f32,
                    r.ratio_q8);
        fprintf(f, "}\n");
        fclose(f);
    }
    rc = 0;
done:
    ev_close(e);
    hm_free(h);
    tc_free(&cfg);
    return rc;
}
