/* teacher_train.c: see teacher_train.h. */
#include "teacher_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"
#include "dist_dp.h"
#include "coco_ann.h"
#include "data_tensors.h"
#include "evaluate.h"
#include "device.h"
#include "hnd_error.h"
#include "hnd_model.h"
#include "ld.h"
#include "mono_clock.h"
#include "path.h"
#include "progress.h"
#include "splitmix.h"
#include "str_util.h"
#include "train_run.h"

void tt_opts_default(tt_opts *o) {
    memset(o, 0, sizeof *o);
    o->progress = 1;
    o->validate = 1;
}

void tt_best_path(const tc_config *cfg, char *buf, size_t n) {
    if (*cfg->teacher.ckpt) snprintf(buf, n, "%s", cfg->teacher.ckpt);
    else snprintf(buf, n, "%s/best.h5", cfg->output_dir);
}

int tt_finished(const tc_config *cfg) {
    char p[1100], b[1100];
    snprintf(p, sizeof p, "%s/last.h5", cfg->output_dir);
    tt_best_path(cfg, b, sizeof b);
    if (access(p, R_OK) != 0 || access(b, R_OK) != 0) return 0;
    ck_state st;
    if (ck_load_state(p, &st) != 0) {
        hnd_error_clear();
        return 0;
    }
    return st.epoch >= cfg->train.num_epochs && st.iteration == 0;
}

int tt_finished_same(const tc_config *cfg) {
    char p[1100];
    snprintf(p, sizeof p, "%s/last.h5", cfg->output_dir);
    if (access(p, R_OK) == 0 && trun_check_config(p, cfg->json, 0, NULL, 0) != 0) return -1;
    return tt_finished(cfg);
}

int tt_write_box_teacher(const tc_config *cfg, const char *src, const char *dst) {
    if (!cfg || !src || !dst) return hnd_error_set("tt_write_box_teacher: NULL argument");
    rcnn_config rc;
    if (hm_model_config(&cfg->teacher, &rc) != 0) return -1;
    if (!rc.mask.enabled) return hnd_error_set("%s: model %s: not a Mask R-CNN", cfg->source, cfg->teacher.arch);
    rcnn_model *m = rcnn_new(&rc);
    if (!m) return hnd_error_prefix("model %s", cfg->teacher.arch);
    mp_params *box = mp_params_new();
    int rc_ = -1;
    if (!box) {
        hnd_error_set("out of memory");
        goto out;
    }
    if (rcnn_load(m, src, 1) < 0) {
        hnd_error_prefix("%s", src);
        goto out;
    }
    mp_params *p = rcnn_params(m);
    for (int i = 0; i < mp_params_count(p); i++) {
        const char *n = mp_params_name(p, i);
        if (strncmp(n, "roi_heads.mask_", 15) == 0) continue;
        ct_tensor *t = mp_params_tensor(p, i);
        int64_t sh[8];
        int nd = ct_shape(t, sh, 8);
        ct_tensor *d = nd >= 0 ? mp_params_add(box, n, mp_params_kind(p, i), sh, nd) : NULL;
        if (!d || ct_copy_(d, t) != 0) {
            hnd_error_set("%s: %s", n, d ? ct_last_error() : hnd_error());
            goto out;
        }
    }
    ck_state st = {0};
    st.best_map = -1;
    st.best_epoch = -1;
    st.seed = cfg->seed;
    if (ck_save(dst, box, NULL, &st, cfg->json, NULL, "hnd-teacher") != 0) goto out;
    rc_ = 0;
out:
    mp_params_destroy(box);
    rcnn_destroy(m);
    return rc_;
}

/* ---- the run ---- */

typedef struct {
    const tc_config *cfg;
    sr_model *model;
    ct_optim *opt;
    char *trainable;
    int n_trainable;
    int64_t n_params;
    ct_tensor **params;     /* the trainable tensors (borrowed), for the data-parallel all-reduce */
    ld_loader *ld;
    coco_dataset *ds;
    ev_ctx *ev;
    trun_log log;
    char last_path[1100], best_path[1100];
    const tt_opts *opts;    /* for the callbacks of trun_run_epochs */
    tt_result *res;
} tt_run;

static void run_free(tt_run *r) {
    dp_overlap_end();
    ct_optim_destroy(r->opt);
    sr_destroy(r->model);
    free(r->trainable);
    free(r->params);
    ld_destroy(r->ld);
    coco_destroy(r->ds);
    ev_destroy(r->ev);
    trun_log_close(&r->log);
}

static int build(tt_run *r, const tt_opts *o) {
    const tc_config *c = r->cfg;
    ct_device dev;
    if (md_device_parse(c->device, &dev) != 0) return -1;
    rcnn_config rc;
    if (hm_model_config(&c->teacher, &rc) != 0) return hnd_error_prefix("model %s", c->teacher.arch);
    /* not frozen: rcnn_new makes the trainable backbone layers' tensors trainable */
    sr_model *h = r->model = sr_new(&rc, NULL);
    if (!h) return -1;
    mp_params *p = sr_params(h);
    /* from scratch: each module's torchvision initialisation (models/init.h) */
    if (rcnn_init(sr_rcnn(h), c->seed) != 0) return -1;
    if (o->init) {
        int missing = 0, unexpected = 0;
        int loaded = mp_params_load(p, o->init, 0, &missing, &unexpected);
        if (loaded < 0) return hnd_error_prefix("--init %s", o->init);
        trun_logf(&r->log, "initial weights: %s (%d tensors loaded, %d kept their initialisation, %d unused)", o->init,
                  loaded, missing, unexpected);
    }
    /* trainable: the backbone as built (trainable_layers), everything else's parameters */
    int n = 0;
    for (int i = 0; i < mp_params_count(p); i++) {
        const char *name = mp_params_name(p, i);
        ct_tensor *t = mp_params_tensor(p, i);
        if (!su_starts_with(name, "backbone.body.") && mp_params_kind(p, i) == MP_PARAM &&
            ct_set_requires_grad(t, 1) != 0)
            return hnd_error_set("%s: %s", name, ct_last_error());
        if (ct_requires_grad(t) == 1) n++;
    }
    if (n == 0) return hnd_error_set("%s: nothing to train", c->source);
    if (dev.type != CT_CPU && sr_to_device(h, dev) != 0) return -1;
    /* HND_TEACHER_NHWC=1 (CPU): every 4-D weight laid out NHWC once, so
     * that oneDNN convolves without a reorder per call. Not the default: on
     * the quiet 2-core machine it gained nothing for the demo's Mask R18
     * (0.432 s both) and cost 10% for Faster R50 at 800 (10.9 vs 9.9 s;
     * bench/teacher_step_bench.sh); only 1 thread under load gained (2.1 ->
     * 1.6 s). Handles and values are unchanged either way. */
    const char *nhwc = getenv("HND_TEACHER_NHWC");
    if (dev.type == CT_CPU && nhwc && strcmp(nhwc, "1") == 0 && mp_params_to_channels_last(p, NULL) < 0)
        return hnd_error_prefix("channels-last weights");
    ct_tensor **params;
    int k;
    if (trun_trainable(p, &params, &k, &r->trainable, &r->n_params) != 0) return -1;
    r->n_trainable = k;
    r->opt = trun_optimizer(&c->train, params, k);
    r->params = params;
    if (!r->opt) return -1;
    return 0;
}

static int open_data(tt_run *r) {
    return trun_open_train_data(r->cfg, sr_has_masks(r->model), &r->ds, &r->ld);
}

/* The samplers' per-image seeds: the run seed, the step and the image's
 * index in the dataset, so that an image draws the same anchors and RoIs
 * whichever rank and batch position it has (and a resumed run what the
 * uninterrupted one drew). */
static uint64_t image_seed(const tt_run *r, int64_t global_step, int64_t image) {
    return sm64_mix(r->cfg->seed ^ sm64_mix((uint64_t)global_step ^ sm64_mix((uint64_t)image + 0x9e37u)));
}

/* One iteration; loss[RL_NUM_LOSSES] (NAN where absent) and *total.
 * Data-parallel: every loss is this rank's share of the global batch's
 * mean (dp_global_losses), so the ranks' gradients are SUMMED. */
static int step(tt_run *r, const ld_batch *b, int64_t global_step, double lr, double *total, double *loss) {
    int n = b->n, rc = -1;
    if (n > 512) return hnd_error_set("batch of %d images: at most 512", n);
    ct_tensor *imgs[512];
    dt_target tg[512];
    rt_target rt[512];
    rl_losses L;
    memset(&L, 0, sizeof L);
    int have_tg = 0;
    if (n == 0) {   /* data-parallel: this rank's share was unreadable; it still joins the all-reduces */
        ct_tensor *none[RL_NUM_LOSSES] = {0};
        double zero[RL_NUM_LOSSES] = {0};
        hnd_error_clear();
        if (dp_global_losses(none, zero, RL_NUM_LOSSES, loss) != 0 || ct_optim_zero_grad(r->opt, 0) != 0 ||
            dp_sync_grads(r->params, r->n_trainable, 0, NULL) != 0 || ct_optim_set_lr(r->opt, lr) != 0 ||
            ct_optim_step(r->opt) != 0)
            return hnd_error_set("training step: %s", hnd_error()[0] ? hnd_error() : ct_last_error());
        *total = 0;
        for (int i = 0; i < RL_NUM_LOSSES; i++) loss[i] = NAN;
        return 0;
    }
    ct_scope_begin();
    if (dt_batch_tensors(b, imgs, tg) != 0) goto done;
    have_tg = 1;
    ct_device dev = sr_device(r->model);
    for (int i = 0; i < n; i++) {
        rt[i].boxes = tg[i].boxes;
        rt[i].labels = tg[i].labels;
        rt[i].masks = sr_has_masks(r->model) ? tg[i].masks : NULL;
        rt[i].keypoints = sr_has_keypoints(r->model) ? tg[i].keypoints : NULL;
        if (dev.type != CT_CPU) {
            if (!(imgs[i] = ct_to_device(imgs[i], dev)) || !(rt[i].boxes = ct_to_device(rt[i].boxes, dev)) ||
                !(rt[i].labels = ct_to_device(rt[i].labels, dev)) ||
                (rt[i].masks && !(rt[i].masks = ct_to_device(rt[i].masks, dev))) ||
                (rt[i].keypoints && !(rt[i].keypoints = ct_to_device(rt[i].keypoints, dev)))) {
                hnd_error_set("to device: %s", ct_last_error());
                goto done;
            }
        }
    }
    uint64_t seeds[512];
    for (int i = 0; i < n; i++) seeds[i] = image_seed(r, global_step, b->samples[i].image);
    rl_sampler smp = {NULL, NULL, seeds};
    if (rl_forward_train(sr_rcnn(r->model), (const ct_tensor *const *)imgs, rt, n, &smp, &L) != 0) goto done;
    /* the means over the global batch (one process: as they are) */
    if (dp_global_losses(L.loss, L.count, RL_NUM_LOSSES, loss) != 0) goto done;
    ct_tensor *sum = rl_losses_sum(&L);
    double v = 0;
    for (int i = 0; i < RL_NUM_LOSSES; i++)
        if (L.loss[i]) v += loss[i];
    if (!sum) {
        hnd_error_set("loss: %s", hnd_error());
        goto done;
    }
    if (!isfinite(v)) {
        hnd_error_set("training step: the loss is %g (diverged; lower train.optimizer.params.lr?)", v);
        goto done;
    }
    hnd_error_clear();
    if (ct_optim_zero_grad(r->opt, 0) != 0 || dp_overlap_arm() != 0 || ct_backward(sum) != 0) {
        hnd_error_set("training step: %s", hnd_error()[0] ? hnd_error() : ct_last_error());
        goto done;
    }
    /* data-parallel: each rank's losses are its share of the global batch's
     * means, so the ranks' gradients are summed (dist_dp.h) */
    if (dp_sync_grads(r->params, r->n_trainable, 0, NULL) != 0) goto done;
    if (ct_optim_set_lr(r->opt, lr) != 0 || ct_optim_step(r->opt) != 0) {
        hnd_error_set("training step: %s", ct_last_error());
        goto done;
    }
    *total = v;
    rc = 0;
done:
    rl_losses_clear(&L);
    if (have_tg)
        for (int i = 0; i < n; i++) dt_target_clear(&tg[i]);
    ct_scope_end();
    return rc;
}

static int validate(tt_run *r, const tt_opts *opts, int64_t epoch, double mean, const double *means, double *map,
                    tt_result *res) {
    const tc_config *cfg = r->cfg;
    rcnn_set_training(sr_rcnn(r->model), 0);
    ev_opts eo;
    ev_opts_default(&eo);
    eo.batch_size = cfg->test_batch_size;
    eo.workers = cfg->dataset.num_workers;
    eo.progress = opts->progress && !opts->quiet;
    eo.shard = 1;   /* data-parallel: each rank validates its share */
    ev_result er;
    if (ev_run(r->ev, r->model, &eo, &er) != 0) return -1;
    *map = er.bbox[0];
    memcpy(res->last_bbox, er.bbox, sizeof er.bbox);
    memcpy(res->last_segm, er.segm, sizeof er.segm);
    res->has_val = 1;
    res->has_segm = er.has_segm;
    char segm[64] = "";
    if (er.has_segm) snprintf(segm, sizeof segm, ", segm AP %.4f", er.segm[0]);
    else if (er.has_kp) snprintf(segm, sizeof segm, ", keypoint AP %.4f AP50 %.4f", er.kp[0], er.kp[1]);
    trun_logf(&r->log, "epoch %lld: validation bbox AP %.4f AP50 %.4f%s (%lld images, %.1f s)", (long long)epoch,
              er.bbox[0], er.bbox[1], segm, (long long)er.images, er.seconds);
    char js[1024];
    int o = snprintf(js, sizeof js,
                     "{\"type\": \"val\", \"epoch\": %lld, \"train_loss\": %.9g, \"bbox_ap\": %.6f, \"bbox_ap50\": "
                     "%.6f, \"segm_ap\": %.6f, \"keypoint_ap\": %.6f, \"seconds\": %.2f",
                     (long long)epoch, mean, er.bbox[0], er.bbox[1], er.has_segm ? er.segm[0] : -1.0,
                     er.has_kp ? er.kp[0] : -1.0, er.seconds);
    for (int i = 0; i < RL_NUM_LOSSES && o < (int)sizeof js - 64; i++)
        if (isfinite(means[i])) o += snprintf(js + o, sizeof js - (size_t)o, ", \"%s\": %.6g", rl_loss_name(i), means[i]);
    snprintf(js + o, sizeof js - (size_t)o, "}");
    trun_metric(&r->log, js);
    return 0;
}

/* ---- trun_run_epochs callbacks ---- */

static int cb_step(void *ctx, const ld_batch *b, int64_t global_step, double lr, double *loss, double *parts) {
    tt_run *r = ctx;
    /* the samplers reseed torch's generator per image (image_seed); the
     * step's seed covers any other draw (the transform's size draw) */
    ct_manual_seed(sm64_mix(r->cfg->seed ^ sm64_mix((uint64_t)global_step)));
    return step(r, b, global_step, lr, loss, parts);
}

static void cb_set_training(void *ctx, int on) { rcnn_set_training(sr_rcnn(((tt_run *)ctx)->model), on); }

static int cb_save(void *ctx, const char *path, const ck_state *st, int resumable) {
    tt_run *r = ctx;
    if (!dp_is_main()) return 0;   /* rank 0 alone writes */
    /* the teacher file is a detector state dict; last.h5 also resumes */
    return ck_save(path, sr_params(r->model), resumable ? r->opt : NULL, st, r->cfg->json,
                   resumable ? r->trainable : NULL, "hnd-teacher");
}

static int cb_validate(void *ctx, int64_t epoch, double mean, const double *part_means, double *map) {
    tt_run *r = ctx;
    return validate(r, r->opts, epoch, mean, part_means, map, r->res);
}

static const char *part_name(int i) { return rl_loss_name(i); }

int tt_train(const tc_config *cfg, const tt_opts *opts, tt_result *res) {
    if (!cfg || !res) return hnd_error_set("tt_train: NULL argument");
    tt_opts dflt;
    if (!opts) {
        tt_opts_default(&dflt);
        opts = &dflt;
    }
    memset(res, 0, sizeof *res);
    res->best_epoch = -1;
    if (!cfg->is_org)
        return hnd_error_set("%s: a distillation config: hnd train-teacher trains a 'model' (teacher) config; "
                             "distill students with hnd train", cfg->source);
    if (!cfg->has_train) return hnd_error_set("%s: train: the schedule is needed", cfg->source);
    const double t0 = mono_now_s();
    tt_run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    if (dp_init() != 0) return -1;
    ct_dist_set_sync_batch_norm(opts->sync_bn ? dp_group() : NULL);
    r.log.quiet = opts->quiet || !dp_is_main();   /* data-parallel: rank 0 alone logs and writes */
    int rc = -1;
    snprintf(r.last_path, sizeof r.last_path, "%s/last.h5", cfg->output_dir);
    tt_best_path(cfg, r.best_path, sizeof r.best_path);
    snprintf(res->last_path, sizeof res->last_path, "%s", r.last_path);
    snprintf(res->best_path, sizeof res->best_path, "%s", r.best_path);
    /* every input is checked before anything in output_dir is touched */
    int resuming;
    char changed[2048];
    if (trun_check_start(cfg, "train-teacher", r.last_path, opts->resume, opts->overwrite, opts->allow_config_change,
                         &resuming, changed, sizeof changed) != 0)
        goto out;
    int ok = build(&r, opts) == 0 && open_data(&r) == 0;
    const int64_t iters = ok ? ld_num_batches(r.ld) : 0;
    ck_state st;
    ok = ok && trun_start_state(cfg, resuming, r.last_path, r.trainable, "model or trainable_backbone_layers", iters,
                                r.model, r.opt, &st) == 0;
    if (ok && cfg->dataset.val.present && opts->validate) ok = (r.ev = ev_open(&cfg->dataset.val, sr_has_masks(r.model))) != NULL;
    /* data-parallel: every rank checked its inputs before rank 0 touches
     * output_dir; every rank starts from rank 0's weights */
    if (dp_all_ok(ok) != 1 || dp_broadcast_params(sr_params(r.model)) != 0 ||
        dp_overlap_begin(r.params, r.n_trainable, 0) != 0)
        goto out;
    if (!dp_is_main()) goto logs_done;
    if (opts->overwrite && trun_clear_run_dir(cfg->output_dir) != 0) goto out;
    {   /* model.ckpt may live outside output_dir */
        char dir[1100];
        snprintf(dir, sizeof dir, "%s", r.best_path);
        char *sl = strrchr(dir, '/');
        if (sl && sl != dir) {
            *sl = 0;
            if (path_mkdirs(dir) != 0) goto out;
        }
    }
    /* logs are appended to, never truncated (--overwrite removed them) */
    if (trun_log_open(&r.log, cfg->output_dir, 1, cfg->json) != 0) goto out;
logs_done:
    if (dp_world() > 1)
        trun_logf(&r.log, "data-parallel: %d processes (%s), batch %d per process = %d per step, losses over the global batch, gradients summed",
                  dp_world(), ct_dist_backend(dp_group()), cfg->train.batch_size, cfg->train.batch_size * dp_world());
    trun_logf(&r.log, "hnd train-teacher: %s -> %s (%s)", cfg->source, cfg->output_dir, ct_build_info());
    const rcnn_config *rcc = sr_config(r.model);
    trun_logf(&r.log, "%s, %d classes, input %g/%g, FPN %d channels, trainable backbone layers %d, %s BN; "
                      "%d trainable tensors (%lld parameters); %lld images, %lld iterations/epoch, %d epochs",
              cfg->teacher.arch, rcc->box.num_classes, rcc->transform.min_size, rcc->transform.max_size,
              rcc->backbone.fpn_out_channels, rcc->backbone.trainable_layers,
              rcc->backbone.frozen_bn ? "frozen" : "trainable", r.n_trainable, (long long)r.n_params,
              (long long)ld_num_samples(r.ld), (long long)iters, cfg->train.num_epochs);
    if (!cfg->dataset.val.present)
        trun_logf(&r.log, "note: %s configures no dataset.splits.val: no validation, the teacher is the last epoch",
                  cfg->source);
    if (resuming) {
        if (st.best_map >= 0)
            trun_logf(&r.log, "resuming from %s: epoch %lld, iteration %lld (best bbox AP %.4f)", r.last_path,
                      (long long)st.epoch, (long long)st.iteration, st.best_map);
        else   /* no validation yet (or none: --no-val): no AP to quote */
            trun_logf(&r.log, "resuming from %s: epoch %lld, iteration %lld", r.last_path, (long long)st.epoch,
                      (long long)st.iteration);
        if (changed[0]) trun_logf(&r.log, "config changed since the checkpoint (--allow-config-change): %s", changed);
    }
    r.opts = opts;
    r.res = res;
    trun_loop L;
    trun_loop_init(&L, cfg, r.ld, &r.log, opts->stop, opts->stop_after, opts->progress && !opts->quiet);
    L.bar_label = "teacher epoch";
    L.last_path = r.last_path;
    L.best_path = r.best_path;
    L.n_parts = RL_NUM_LOSSES;
    L.part_name = part_name;
    L.ctx = &r;
    L.step = cb_step;
    L.set_training = cb_set_training;
    L.validate = r.ev ? cb_validate : NULL;
    L.save = cb_save;
    L.step_empty = dp_world() > 1;
    if (trun_run_epochs(&L, &st) != 0) goto out;
    if (dp_world() > 1) {
        uint64_t h;
        if (dp_check_identical(r.params, r.n_trainable, &h) != 0) goto out;
        trun_logf(&r.log, "parameters identical on all %d ranks (hash %016llx)", dp_world(), (unsigned long long)h);
    }
    int stopped = L.stopped;
    int64_t ran = L.ran;
    double first_mean = L.first_mean, last_mean = L.last_mean;
    res->first_iter_loss = L.first_iter_loss;
    res->last_iter_loss = L.last_iter_loss;
    for (int i = 0; i < RL_NUM_LOSSES; i++) res->last_losses[i] = L.last_parts[i];
    res->status = stopped ? TT_INTERRUPTED : TT_DONE;
    res->epochs_done = st.epoch;
    res->iterations = ran;
    res->first_loss = first_mean;
    res->last_loss = last_mean;
    res->best_map = st.best_map;
    res->best_epoch = st.best_epoch;
    res->seconds = mono_now_s() - t0;
    if (!stopped && st.best_map >= 0)
        trun_logf(&r.log, "finished %d epochs in %.0f s; best bbox AP %.4f (epoch %lld) -> %s", cfg->train.num_epochs,
                  res->seconds, st.best_map, (long long)st.best_epoch, r.best_path);
    else if (!stopped)   /* not validated: the teacher is the last epoch */
        trun_logf(&r.log, "finished %d epochs in %.0f s (not validated: the last epoch) -> %s", cfg->train.num_epochs,
                  res->seconds, r.best_path);
    rc = 0;
out:
    if (rc != 0 && r.log.log) fprintf(r.log.log, "error: %s\n", hnd_error());
    run_free(&r);
    return rc;
}
