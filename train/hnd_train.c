/* hnd_train.c: see hnd_train.h. */
#include "hnd_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"
#include "coco_ann.h"
#include "data_tensors.h"
#include "evaluate.h"
#include "device.h"
#include "dist_dp.h"
#include "hnd_error.h"
#include "hnd_mixed.h"
#include "mono_clock.h"
#include "hnd_model.h"
#include "hnd_rate.h"
#include "ld.h"
#include "progress.h"
#include "splitmix.h"
#include "train_run.h"

void ht_opts_default(ht_opts *o) {
    memset(o, 0, sizeof *o);
    o->progress = 1;
    o->validate = 1;
}

/* ---- the run ---- */

typedef struct {
    const tc_config *cfg;
    sr_model *teacher, *student;
    ct_optim *opt;
    hr_rate rate;           /* the entropy bottleneck's rate term and aux optimizer (none: no-ops) */
    char *trainable;        /* names, one per line */
    int n_trainable;
    ct_tensor **params;     /* the trainable tensors (borrowed from the student) */
    int grad_avg;           /* data-parallel: average the ranks' gradients (a mean-reduced term), else sum */
    int t_upto, s_upto;     /* deepest stage the terms need */
    int channels_last;      /* CPU: backbone weights and batches in NHWC (oneDNN without reorders) */
    ld_loader *ld;
    coco_dataset *ds;
    ev_ctx *ev;
    trun_log log;
    char last_path[1100];
    const ht_opts *opts;    /* for the callbacks of trun_run_epochs */
    ht_result *res;
} ht_run;

static void run_free(ht_run *r) {
    dp_overlap_end();
    ct_optim_destroy(r->opt);
    sr_destroy(r->teacher);
    sr_destroy(r->student);
    hr_close(&r->rate);
    free(r->trainable);
    free(r->params);
    ld_destroy(r->ld);
    coco_destroy(r->ds);
    ev_destroy(r->ev);
    trun_log_close(&r->log);
}

static int build(ht_run *r) {
    const tc_config *c = r->cfg;
    ct_device dev;
    if (md_device_parse(c->device, &dev) != 0) return -1;
    if (c->teacher.min_size != c->student.min_size || c->teacher.max_size != c->student.max_size)
        return hnd_error_set("%s: teacher and student must share min_size/max_size (%g/%g vs %g/%g)", c->source,
                             c->teacher.min_size, c->teacher.max_size, c->student.min_size, c->student.max_size);
    if (!*c->teacher.ckpt) return hnd_error_set("%s: teacher_model.ckpt: the teacher's weights (.h5) are needed", c->source);
    ct_manual_seed(c->seed);
    if (!(r->teacher = hm_new_teacher(&c->teacher))) return -1;
    if (sr_load(r->teacher, c->teacher.ckpt) != 0) return hnd_error_prefix("teacher");
    if (!(r->student = hm_new_student(&c->student))) return -1;
    if (sr_load_from_teacher(r->student, c->teacher.ckpt) != 0) return hnd_error_prefix("student");
    int n = sr_set_trainable(r->student, (const char(*)[128])c->student.frozen, c->student.n_frozen);
    if (n < 0) return -1;
    if (n == 0) return hnd_error_set("%s: student_model.frozen_modules leaves nothing to train", c->source);
    if (sr_to_device(r->teacher, dev) != 0 || sr_to_device(r->student, dev) != 0) return -1;
    /* On the CPU the 2x2 convolutions of the bottleneck dominate a step; in
     * NHWC, oneDNN runs them (and their backward) without converting every
     * activation between NCHW and its blocked layout (bench/hnd_step_bench.sh).
     * Before the optimizer, so that its state takes the same layout. */
    r->channels_last = dev.type == CT_CPU;
    if (r->channels_last && (mp_params_to_channels_last(sr_params(r->teacher), "backbone.body.") < 0 ||
                             mp_params_to_channels_last(sr_params(r->student), "backbone.body.") < 0))
        return -1;
    ct_tensor **params;
    int k;
    if (trun_trainable(sr_params(r->student), &params, &k, &r->trainable, NULL) != 0) return -1;
    /* the entropy bottleneck's quantiles get their own optimizer */
    if (hr_open(&r->rate, r->student, &c->student, params, &k) != 0) {
        free(params);
        return -1;
    }
    r->n_trainable = k;
    const tc_train *t = &c->train;
    r->opt = trun_optimizer(t, params, k);
    r->params = params;
    if (!r->opt) return -1;
    r->t_upto = r->s_upto = 1;
    for (int i = 0; i < t->n_terms; i++) {
        if (t->terms[i].teacher_stage > r->t_upto) r->t_upto = t->terms[i].teacher_stage;
        if (t->terms[i].student_stage > r->s_upto) r->s_upto = t->terms[i].student_stage;
        if (t->terms[i].reduction != CT_REDUCE_SUM) r->grad_avg = 1;
    }
    return 0;
}

static int open_data(ht_run *r) {
    /* the student learns layer 1's output: no masks needed, unless a Mask
     * R-CNN student's detection losses count too */
    int masks = r->cfg->train.org_loss_factor > 0 && sr_has_masks(r->student);
    return trun_open_train_data(r->cfg, masks, &r->ds, &r->ld);
}

/* The end of every step: backward of loss, the ranks' gradients (and
 * losses) reduced (data-parallel, dist_dp.h), the optimizer step at lr.
 * *value: the (reduced) loss; a non-finite one is an error (diverged). */
static int backward_step(ht_run *r, ct_tensor *loss, double lr, double *value) {
    double v = NAN;
    /* data-parallel: the gradient buckets' all-reduces start during the backward (dp_overlap_arm) */
    hnd_error_clear();
    if (ct_item_f64(loss, &v) != 0 || ct_optim_zero_grad(r->opt, 0) != 0 || dp_overlap_arm() != 0 ||
        ct_backward(loss) != 0)
        return hnd_error_set("training step: %s", hnd_error()[0] ? hnd_error() : ct_last_error());
    if (dp_sync_grads(r->params, r->n_trainable, r->grad_avg, &v) != 0) return -1;
    if (ct_optim_set_lr(r->opt, lr) != 0 || ct_optim_step(r->opt) != 0)
        return hnd_error_set("training step: %s", ct_last_error());
    if (!isfinite(v)) return hnd_error_set("training step: the loss is %g (diverged)", v);
    *value = v;
    return 0;
}

/* org_loss_factor > 0 (distill_backbone_only false): the whole student in
 * training mode, its detection losses added to the terms (hnd_mixed.h);
 * then backward and step as step(). */
static int step_mixed(ht_run *r, const ld_batch *b, double lr, double *loss_out) {
    int n = b->n, rc = -1, have_tg = 0;
    ct_tensor *imgs[512];
    dt_target tg[512];
    rt_target rt[512];
    ct_scope_begin();
    if (dt_batch_tensors(b, imgs, tg) != 0) goto done;
    have_tg = 1;
    const ct_device dev = sr_device(r->student);
    for (int i = 0; i < n; i++) {
        memset(&rt[i], 0, sizeof rt[i]);
        rt[i].boxes = tg[i].boxes;
        rt[i].labels = tg[i].labels;
        rt[i].masks = sr_has_masks(r->student) ? tg[i].masks : NULL;
        rt[i].keypoints = sr_has_keypoints(r->student) ? tg[i].keypoints : NULL;
        if (dev.type != CT_CPU &&
            (!(imgs[i] = ct_to_device(imgs[i], dev)) || !(rt[i].boxes = ct_to_device(rt[i].boxes, dev)) ||
             !(rt[i].labels = ct_to_device(rt[i].labels, dev)) ||
             (rt[i].masks && !(rt[i].masks = ct_to_device(rt[i].masks, dev))) ||
             (rt[i].keypoints && !(rt[i].keypoints = ct_to_device(rt[i].keypoints, dev))))) {
            hnd_error_set("to device: %s", ct_last_error());
            goto done;
        }
    }
    ct_tensor *loss;
    if (hx_batch_loss(r->cfg, r->teacher, r->student, (const ct_tensor *const *)imgs, rt, n, r->channels_last, NULL,
                      &loss, NULL) != 0)
        goto done;
    /* an entropy bottleneck's rate counts here too (the student's training
     * forward left it), and its quantiles take their step */
    if (!(loss = hr_add_rate(&r->rate, r->student, loss, n))) goto done;
    if (backward_step(r, loss, lr, loss_out) != 0 || hr_aux_step(&r->rate) != 0) goto done;
    rc = 0;
done:
    if (have_tg)
        for (int i = 0; i < n; i++) dt_target_clear(&tg[i]);
    ct_scope_end();
    return rc;
}

/* One iteration: forward both, loss, backward, step. *loss_out: the loss. */
static int step(ht_run *r, const ld_batch *b, double lr, double *loss_out) {
    const tc_config *c = r->cfg;
    int n = b->n, rc = -1;
    ct_tensor *imgs[512];
    dt_target tg[512];
    if (n > 512) return hnd_error_set("batch of %d images: at most 512", n);
    if (n == 0) {
        /* data-parallel, this rank's share was all unreadable images: it
         * still joins the step's all-reduce, with zero gradients */
        double v = 0;
        if (ct_optim_zero_grad(r->opt, 0) != 0 || dp_sync_grads(r->params, r->n_trainable, r->grad_avg, &v) != 0 ||
            ct_optim_set_lr(r->opt, lr) != 0 || ct_optim_step(r->opt) != 0)
            return hnd_error_set("training step: %s", hnd_error()[0] ? hnd_error() : ct_last_error());
        *loss_out = v;
        return 0;
    }
    if (c->train.org_loss_factor > 0) return step_mixed(r, b, lr, loss_out);
    ct_scope_begin();
    if (dt_batch_tensors(b, imgs, tg) != 0) goto done;
    for (int i = 0; i < n; i++) dt_target_clear(&tg[i]);
    for (int i = 0; i < n; i++)
        if (sr_device(r->student).type != CT_CPU && !(imgs[i] = ct_to_device(imgs[i], sr_device(r->student)))) {
            hnd_error_set("to device: %s", ct_last_error());
            goto done;
        }
    rt_image_list l;
    memset(&l, 0, sizeof l);
    if (rcnn_transform_images(sr_rcnn(r->teacher), (const ct_tensor *const *)imgs, n, &l) != 0) goto done;
    ct_tensor *to[5], *so[5];
    const ct_tensor *x = r->channels_last ? ct_channels_last(l.tensors) : l.tensors;
    if (!x) {
        hnd_error_set("batch: %s", ct_last_error());
        rt_image_list_clear(&l);
        goto done;
    }
    int prev = ct_grad_set_enabled(0);
    int ok = sr_stages(r->teacher, x, r->t_upto, to) == 0;
    ct_grad_set_enabled(1);
    ok = ok && sr_stages(r->student, x, r->s_upto, so) == 0;
    ct_grad_set_enabled(prev);
    if (!ok) {
        rt_image_list_clear(&l);
        goto done;
    }
    ct_tensor *loss = NULL;
    for (int i = 0; i < c->train.n_terms; i++) {
        const tc_term *t = &c->train.terms[i];
        ct_tensor *x = t->loss == TC_LOSS_MSE
                           ? ct_mse_loss(to[t->teacher_stage], so[t->student_stage], (ct_reduction)t->reduction)
                           : ct_l1_loss(to[t->teacher_stage], so[t->student_stage], (ct_reduction)t->reduction);
        if (x && t->factor != 1.0) x = ct_mul_scalar(x, t->factor);
        if (x && loss) x = ct_add(loss, x);
        if (!x) {
            hnd_error_set("loss term %s: %s", t->name, ct_last_error());
            rt_image_list_clear(&l);
            goto done;
        }
        loss = x;
    }
    rt_image_list_clear(&l);
    if (!(loss = hr_add_rate(&r->rate, r->student, loss, n))) goto done;
    double v = NAN;
    if (backward_step(r, loss, lr, &v) != 0 || hr_aux_step(&r->rate) != 0) goto done;
    *loss_out = v;
    rc = 0;
done:
    ct_scope_end();
    return rc;
}

static int save(ht_run *r, const char *path, const ck_state *st) {
    if (!dp_is_main()) return 0;   /* rank 0 alone writes */
    /* with the entropy bottleneck's quantile and density optimizers: a resumed run goes on exactly */
    const ck_optim_ref extra[] = {{CK_AUX_OPTIM, r->rate.aux}, {CK_DENSITY_OPTIM, r->rate.density}};
    return ck_save_aux(path, sr_params(r->student), r->opt, extra, 2, st, r->cfg->json, r->trainable, "hnd-student");
}

int ht_finished(const tc_config *cfg) {
    char p[1100];
    snprintf(p, sizeof p, "%s/last.h5", cfg->output_dir);
    if (access(p, R_OK) != 0) return 0;
    ck_state st;
    if (ck_load_state(p, &st) != 0) {
        hnd_error_clear();
        return 0;
    }
    return st.epoch >= cfg->train.num_epochs && st.iteration == 0;
}

int ht_finished_same(const tc_config *cfg) {
    char p[1100];
    snprintf(p, sizeof p, "%s/last.h5", cfg->output_dir);
    if (access(p, R_OK) == 0 && trun_check_config(p, cfg->json, 0, NULL, 0) != 0) return -1;
    return ht_finished(cfg);
}

/* ---- trun_run_epochs callbacks ---- */

static int cb_step(void *ctx, const ld_batch *b, int64_t global_step, double lr, double *loss, double *parts) {
    (void)parts;
    ht_run *r = ctx;
    /* HND draws no random numbers while training, but an entropy
     * bottleneck's noise (and the mixed losses' samplers) do: from a
     * generator seeded by the step (and rank), so that a resumed run draws
     * what the uninterrupted one did */
    if (r->rate.eb) ct_manual_seed(sm64_mix(r->cfg->seed ^ sm64_mix((uint64_t)global_step * 1024u + (uint64_t)dp_rank())));
    return step(r, b, lr, loss);
}

static void cb_set_training(void *ctx, int on) { sr_set_training(((ht_run *)ctx)->student, on); }

static int cb_save(void *ctx, const char *path, const ck_state *st, int resumable) {
    (void)resumable;   /* a student's best.h5 keeps its optimizer state too */
    return save((ht_run *)ctx, path, st);
}

static int cb_validate(void *ctx, int64_t epoch, double mean, const double *part_means, double *map) {
    (void)part_means;
    ht_run *r = ctx;
    const tc_config *cfg = r->cfg;
    sr_set_training(r->student, 0);
    ev_opts eo;
    ev_opts_default(&eo);
    eo.batch_size = cfg->test_batch_size;
    eo.workers = cfg->dataset.num_workers;
    eo.progress = r->opts->progress && !r->opts->quiet;
    eo.shard = 1;   /* data-parallel: each rank validates its share */
    /* as the reference: the float bottleneck unless train.transform_bottleneck */
    eo.transform_bits = cfg->train.transform_bottleneck ? -1 : 0;
    ev_result er;
    if (ev_run(r->ev, r->student, &eo, &er) != 0) return -1;
    *map = er.bbox[0];
    memcpy(r->res->last_bbox, er.bbox, sizeof er.bbox);
    memcpy(r->res->last_segm, er.segm, sizeof er.segm);
    r->res->has_val = 1;
    r->res->has_segm = er.has_segm;
    char segm[64] = "", js[1024];
    if (er.has_segm) snprintf(segm, sizeof segm, ", segm AP %.4f", er.segm[0]);
    else if (er.has_kp) snprintf(segm, sizeof segm, ", keypoint AP %.4f AP50 %.4f", er.kp[0], er.kp[1]);
    trun_logf(&r->log, "epoch %lld: validation bbox AP %.4f AP50 %.4f%s (%lld images, %.1f s)", (long long)epoch,
              er.bbox[0], er.bbox[1], segm, (long long)er.images, er.seconds);
    snprintf(js, sizeof js,
             "{\"type\": \"val\", \"epoch\": %lld, \"train_loss\": %.9g, \"bbox_ap\": %.6f, \"bbox_ap50\": "
             "%.6f, \"segm_ap\": %.6f, \"keypoint_ap\": %.6f, \"bottleneck_bytes_q8\": %.1f, \"seconds\": %.2f}",
             (long long)epoch, mean, er.bbox[0], er.bbox[1], er.has_segm ? er.segm[0] : -1.0,
             er.has_kp ? er.kp[0] : -1.0, er.mean_bytes_q8, er.seconds);
    trun_metric(&r->log, js);
    hr_log(&r->rate, &r->log, epoch);
    return 0;
}

int ht_train(const tc_config *cfg, const ht_opts *opts, ht_result *res) {
    if (!cfg || !res) return hnd_error_set("ht_train: NULL argument");
    ht_opts dflt;
    if (!opts) {
        ht_opts_default(&dflt);
        opts = &dflt;
    }
    memset(res, 0, sizeof *res);
    res->best_epoch = -1;
    if (cfg->is_org)
        return hnd_error_set("%s: a teacher ('model') config: hnd train distills students (teacher_model + "
                             "student_model); evaluate teachers with hnd eval-model", cfg->source);
    if (!cfg->has_train || cfg->train.n_terms == 0)
        return hnd_error_set("%s: train.criterion.terms: nothing to distill", cfg->source);
    ht_run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    /* data-parallel (WORLD_SIZE > 1): rank 0 alone logs and writes */
    if (dp_init() != 0) return -1;
    ct_dist_set_sync_batch_norm(opts->sync_bn ? dp_group() : NULL);
    r.log.quiet = opts->quiet || !dp_is_main();
    int rc = -1;
    snprintf(r.last_path, sizeof r.last_path, "%s/last.h5", cfg->output_dir);
    snprintf(res->last_path, sizeof res->last_path, "%s", r.last_path);
    snprintf(res->best_path, sizeof res->best_path, "%s", cfg->student.ckpt);
    /* every input is checked before anything in output_dir is touched */
    int resuming;
    char changed[2048];
    if (trun_check_start(cfg, "train", r.last_path, opts->resume, opts->overwrite, opts->allow_config_change, &resuming,
                         changed, sizeof changed) != 0)
        goto out;
    double t_build = mono_now_s();
    int ok = build(&r) == 0 && open_data(&r) == 0;
    const int64_t iters = ok ? ld_num_batches(r.ld) : 0;
    ck_state st;
    ok = ok && trun_start_state(cfg, resuming, r.last_path, r.trainable, "frozen_modules or the student", iters,
                                r.student, r.opt, &st) == 0;
    int aux_found = -1, dens_found = -1;   /* the quantile / density optimizers' state tensors in last.h5 */
    if (ok && resuming && r.rate.aux)
        ok = ck_load_aux_optim(r.last_path, CK_AUX_OPTIM, r.rate.aux, sr_device(r.student), &aux_found) == 0;
    if (ok && resuming && r.rate.density)
        ok = ck_load_aux_optim(r.last_path, CK_DENSITY_OPTIM, r.rate.density, sr_device(r.student), &dens_found) == 0;
    if (ok && cfg->dataset.val.present && opts->validate) ok = (r.ev = ev_open(&cfg->dataset.val, sr_has_masks(r.student))) != NULL;
    /* every rank checked its inputs before rank 0 touches output_dir; then
     * every rank starts from rank 0's weights */
    if (dp_all_ok(ok) != 1 || dp_broadcast_params(sr_params(r.student)) != 0 ||
        dp_overlap_begin(r.params, r.n_trainable, r.grad_avg) != 0)
        goto out;
    if (dp_is_main()) {
        if (opts->overwrite && trun_clear_run_dir(cfg->output_dir) != 0) goto out;
        /* logs are appended to, never truncated (--overwrite removed them) */
        if (trun_log_open(&r.log, cfg->output_dir, 1, cfg->json) != 0) goto out;
    }
    if (dp_world() > 1)
        trun_logf(&r.log, "data-parallel: %d processes (%s), batch %d per process = %d per step, gradients %s over ranks",
                  dp_world(), ct_dist_backend(dp_group()), cfg->train.batch_size, cfg->train.batch_size * dp_world(),
                  r.grad_avg ? "averaged" : "summed (sum-reduced loss)");
    trun_logf(&r.log, "hnd train: %s -> %s (%s)", cfg->source, cfg->output_dir, ct_build_info());
    trun_logf(&r.log, "teacher %s (%s), student %s C=%d (%d trainable tensors, %lld parameters in the bottleneck), "
                      "%lld images, %lld iterations/epoch, built in %.1f s",
              cfg->teacher.arch, cfg->teacher.ckpt, cfg->student.layer1, cfg->student.bottleneck_channel, r.n_trainable,
              (long long)stu_num_parameters(sr_bottleneck(r.student)), (long long)ld_num_samples(r.ld), (long long)iters,
              mono_now_s() - t_build);
    if (!cfg->dataset.val.present)
        trun_logf(&r.log, "note: %s configures no dataset.splits.val: no validation, best.h5 is the last epoch",
                  cfg->source);
    if (resuming) {
        if (st.best_map >= 0)
            trun_logf(&r.log, "resuming from %s: epoch %lld, iteration %lld (best bbox AP %.4f)", r.last_path,
                      (long long)st.epoch, (long long)st.iteration, st.best_map);
        else   /* no validation yet (or none configured): no AP to quote */
            trun_logf(&r.log, "resuming from %s: epoch %lld, iteration %lld", r.last_path, (long long)st.epoch,
                      (long long)st.iteration);
        if (changed[0]) trun_logf(&r.log, "config changed since the checkpoint (--allow-config-change): %s", changed);
        if (aux_found == 0)
            trun_logf(&r.log, "note: %s has no state of the entropy bottleneck's quantile optimizer (an older "
                              "checkpoint): it restarts", r.last_path);
        if (dens_found == 0)
            trun_logf(&r.log, "note: %s has no state of the entropy bottleneck's density optimizer (density_lr "
                              "was not set): it restarts", r.last_path);
    }
    r.opts = opts;
    r.res = res;
    trun_loop L;
    trun_loop_init(&L, cfg, r.ld, &r.log, opts->stop, opts->stop_after, opts->progress && !opts->quiet);
    L.bar_label = "epoch";
    L.last_path = r.last_path;
    L.best_path = cfg->student.ckpt;
    L.ctx = &r;
    L.step = cb_step;
    L.set_training = cb_set_training;
    L.validate = r.ev ? cb_validate : NULL;
    L.save = cb_save;
    L.step_empty = dp_world() > 1;
    if (trun_run_epochs(&L, &st) != 0) goto out;
    hr_log(&r.rate, &r.log, st.epoch - 1);   /* the rate since the last validation */
    if (dp_world() > 1) {
        uint64_t h;
        if (dp_check_identical(r.params, r.n_trainable, &h) != 0) goto out;
        trun_logf(&r.log, "parameters identical on all %d ranks (hash %016llx)", dp_world(), (unsigned long long)h);
    }
    int stopped = L.stopped;
    int64_t ran = L.ran;
    double first_mean = L.first_mean, last_mean = L.last_mean;
    res->status = stopped ? HT_INTERRUPTED : HT_DONE;
    res->epochs_done = st.epoch;
    res->iterations = ran;
    res->first_loss = first_mean;
    res->last_loss = last_mean;
    res->best_map = st.best_map;
    res->best_epoch = st.best_epoch;
    if (!stopped && st.best_map >= 0)
        trun_logf(&r.log, "finished %d epochs; best bbox AP %.4f (epoch %lld)", cfg->train.num_epochs, st.best_map,
                  (long long)st.best_epoch);
    else if (!stopped)   /* no validation: best.h5 is the last epoch */
        trun_logf(&r.log, "finished %d epochs (not validated: best.h5 is the last epoch)", cfg->train.num_epochs);
    rc = 0;
out:
    if (rc != 0 && r.log.log) {
        fprintf(r.log.log, "error: %s\n", hnd_error());
    }
    run_free(&r);
    return rc;
}
