/* train_run.c: see train_run.h. */
#include "train_run.h"

#include "atomic_file.h"
#include "config_diff.h"
#include "dist_dp.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hnd_error.h"
#include "mono_clock.h"
#include "path.h"

void trun_fmt_eta(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0) s = 0;
    long v = (long)s;
    snprintf(buf, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
}

int trun_log_open(trun_log *l, const char *dir, int append, const char *config_json) {
    if (path_mkdirs(dir) != 0) return -1;
    char p[1100];
    const char *mode = append ? "a" : "w";
    snprintf(p, sizeof p, "%s/train.log", dir);
    if (!(l->log = fopen(p, mode))) return hnd_error_set("%s: %s", p, strerror(errno));
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    if (!(l->metrics = fopen(p, mode))) return hnd_error_set("%s: %s", p, strerror(errno));
    if (config_json) {
        /* a record of what ran, not an input: a failed write is not fatal */
        snprintf(p, sizeof p, "%s/config.json", dir);
        if (af_write_text(p, config_json) != 0) hnd_error_clear();
    }
    return 0;
}

int trun_check_config(const char *ckpt_path, const char *config_json, int allow_change, char *changed, size_t cap) {
    if (cap) changed[0] = 0;
    char *stored = ck_attr(ckpt_path, "config");
    if (!stored) return 0;   /* written before configs were stored: nothing to compare */
    char diff[2048];
    int n = cdiff_keys(stored, config_json, diff, sizeof diff);
    free(stored);
    if (n < 0) return hnd_error_prefix("%s", ckpt_path);
    if (n > 0 && !allow_change)
        return hnd_error_set("%s was trained with another config (%d training-relevant key%s differ%s: %s); "
                             "use the same config, another output_dir, or --resume --allow-config-change to "
                             "continue under the new one",
                             ckpt_path, n, n == 1 ? "" : "s", n == 1 ? "s" : "", diff);
    if (cap) snprintf(changed, cap, "%s", diff);
    return 0;
}

static const char *const k_run_files[] = {"last.h5", "best.h5", "train.log", "metrics.jsonl", "config.json"};

int trun_check_start(const tc_config *cfg, const char *cmd, const char *last_path, int resume, int overwrite,
                     int allow_change, int *resuming, char *changed, size_t cap) {
    *resuming = resume && access(last_path, R_OK) == 0;
    if (cap) changed[0] = 0;
    if (!*resuming) return trun_check_fresh_dir(cfg->output_dir, cmd, overwrite);
    return trun_check_config(last_path, cfg->json, allow_change, changed, cap);
}

int trun_start_state(const tc_config *cfg, int resuming, const char *last_path, const char *trainable,
                     const char *what_changed, int64_t iters, sr_model *m, ct_optim *opt, ck_state *st) {
    memset(st, 0, sizeof *st);
    st->best_map = -1;
    st->best_epoch = -1;
    st->seed = cfg->seed;
    if (!resuming) return 0;
    if (ck_load_state(last_path, st) != 0 ||
        trun_check_resume(last_path, trainable, what_changed, st, cfg->seed, iters) != 0 ||
        sr_load(m, last_path) != 0 || ck_load_optim(last_path, opt, sr_device(m)) != 0)
        return -1;
    return 0;
}

int trun_check_fresh_dir(const char *dir, const char *cmd, int overwrite) {
    for (size_t i = 0; i < sizeof k_run_files / sizeof k_run_files[0]; i++) {
        char p[1100];
        snprintf(p, sizeof p, "%s/%s", dir, k_run_files[i]);
        if (access(p, F_OK) == 0 && !overwrite)
            return hnd_error_set("%s holds a run (%s): use --resume to continue it or --overwrite to replace it "
                                 "(hnd %s CONFIG --resume | --overwrite)",
                                 dir, k_run_files[i], cmd);
    }
    return 0;
}

int trun_clear_run_dir(const char *dir) {
    for (size_t i = 0; i < sizeof k_run_files / sizeof k_run_files[0]; i++) {
        char p[1100];
        snprintf(p, sizeof p, "%s/%s", dir, k_run_files[i]);
        if (unlink(p) != 0 && errno != ENOENT) return hnd_error_set("%s: %s", p, strerror(errno));
    }
    return 0;
}

void trun_log_close(trun_log *l) {
    if (!l) return;
    prg_end(l->bar);
    l->bar = NULL;
    if (l->log) fclose(l->log);
    if (l->metrics) fclose(l->metrics);
    l->log = l->metrics = NULL;
}

void trun_logf(trun_log *l, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    if (l->log) {
        fprintf(l->log, "%s %s\n", ts, msg);
        fflush(l->log);
    }
    /* clear the progress bar's line first; the bar redraws on its next update */
    if (!l->quiet) fprintf(stderr, "%s%s\n", l->bar ? "\r\033[K" : "", msg);
}

void trun_metric(trun_log *l, const char *json) {
    if (!l->metrics) return;
    fprintf(l->metrics, "%s\n", json);
    fflush(l->metrics);
}

int trun_trainable(mp_params *p, ct_tensor ***params, int *n, char **names, int64_t *numel) {
    *params = NULL;
    *names = NULL;
    *n = 0;
    if (numel) *numel = 0;
    int cnt = 0;
    size_t cap = 1;
    for (int i = 0; i < mp_params_count(p); i++) {
        if (ct_requires_grad(mp_params_tensor(p, i)) != 1) continue;
        cnt++;
        cap += strlen(mp_params_name(p, i)) + 1;
    }
    ct_tensor **v = malloc(sizeof *v * (size_t)(cnt ? cnt : 1));
    char *s = calloc(1, cap);
    if (!v || !s) {
        free(v);
        free(s);
        return hnd_error_set("out of memory");
    }
    int k = 0;
    size_t o = 0;
    for (int i = 0; i < mp_params_count(p); i++) {
        ct_tensor *t = mp_params_tensor(p, i);
        if (ct_requires_grad(t) != 1) continue;
        v[k++] = t;
        if (numel) *numel += ct_numel(t);
        o += (size_t)snprintf(s + o, cap - o, "%s\n", mp_params_name(p, i));
    }
    *params = v;
    *names = s;
    *n = k;
    return 0;
}

ct_optim *trun_optimizer(const tc_train *t, ct_tensor **params, int n) {
    ct_optim *o = strcmp(t->optimizer, "Adam") == 0
                      ? ct_optim_adam(params, n, t->lr, t->beta1, t->beta2, t->eps, t->weight_decay, t->amsgrad)
                      : ct_optim_sgd(params, n, t->lr, t->momentum, t->dampening, t->weight_decay, t->nesterov);
    if (!o) hnd_error_set("optimizer: %s", ct_last_error());
    return o;
}

int trun_check_resume(const char *last_path, const char *trainable, const char *what_changed, const ck_state *st,
                      uint64_t seed, int64_t iters_per_epoch) {
    char *tr = ck_attr(last_path, "trainable");
    int same = tr && trainable && strcmp(tr, trainable) == 0;
    free(tr);
    if (!same)
        return hnd_error_set("%s: its trainable tensors differ from this config's (%s changed): cannot resume",
                             last_path, what_changed);
    if (st->seed != seed)
        return hnd_error_set("%s: written with seed %llu, the config says %llu: cannot resume", last_path,
                             (unsigned long long)st->seed, (unsigned long long)seed);
    if (st->iteration >= iters_per_epoch)
        return hnd_error_set("%s: iteration %lld of an epoch of %lld (the data changed?)", last_path,
                             (long long)st->iteration, (long long)iters_per_epoch);
    return 0;
}

int trun_check_classes(const coco_dataset *ds, int num_classes, const char *what) {
    for (int64_t i = 0; i < ds->n_anns; i++) {
        int64_t id = ds->anns[i].category_id;
        if (id >= 1 && id < num_classes) continue;
        const coco_category *cat = &ds->cats[ds->anns[i].category];
        return hnd_error_set("%s: annotations[%lld]: category %lld ('%s') is outside the model's classes 1..%d "
                             "(%s num_classes %d counts the background; category ids are the labels)",
                             ds->path, (long long)i, (long long)id, coco_str(ds, cat->name), num_classes - 1, what,
                             num_classes);
    }
    return 0;
}

int trun_open_train_data(const tc_config *c, int with_masks, coco_dataset **ds, ld_loader **ld) {
    const tc_split *s = &c->dataset.train;
    if (!s->present) return hnd_error_set("%s: dataset.splits.train is needed for training", c->source);
    coco_load_opts lo = {0};
    if (!(*ds = coco_load(s->annotations, &lo))) return -1;
    const tc_model *m = c->is_org ? &c->teacher : &c->student;
    if (trun_check_classes(*ds, m->num_classes, c->is_org ? "model.params" : "student_model.params") != 0) return -1;
    ld_opts o;
    ld_opts_default(&o);
    o.ds = *ds;
    o.image_dir = s->images;
    o.workers = c->dataset.num_workers;
    o.queue = 2 * o.workers;
    o.batch_size = c->train.batch_size;
    o.train = 1;
    o.drop_empty = s->remove_non_annotated;
    o.group_factor = c->dataset.aspect_ratio_group_factor;
    o.hflip_prob = c->dataset.hflip_prob;
    o.seed = c->seed;
    o.with_masks = with_masks;
    o.skip_bad = 1;
    o.jpeg_quality = s->jpeg_quality;
    o.rank = dp_rank();   /* data-parallel: this rank's share of each step's batch */
    o.world = dp_world();
    if (!(*ld = ld_open(&o))) return -1;
    if (ld_num_batches(*ld) < 1)
        return hnd_error_set("%s: %s: no batch of %d images (%lld usable images)", c->source, s->annotations,
                             c->train.batch_size, (long long)ld_num_samples(*ld));
    return 0;
}

/* The running means of one logged window, and the log + metrics lines. */
typedef struct {
    double t0, loss, parts[TRUN_MAX_PARTS];
    int64_t n, images;
} trun_window;

static void window_log(trun_loop *L, trun_window *w, const ck_state *st, int64_t epoch, int64_t it, int64_t iters,
                       double lr, double t_epoch, int64_t it_start) {
    double t = mono_now_s(), dt = t - w->t0;
    double ips = dt > 0 ? (double)w->images / dt : 0;
    double per_it = it > it_start ? (t - t_epoch) / (double)(it - it_start) : 0;
    int64_t left = (int64_t)L->cfg->train.num_epochs * iters - (epoch * iters + it);
    char eta[32], detail[256] = "", js[1024];
    trun_fmt_eta(per_it * (double)left, eta, sizeof eta);
    double ml = w->n ? w->loss / (double)w->n : NAN;
    int o = 0;
    int jo = snprintf(js, sizeof js,
                      "{\"type\": \"train\", \"epoch\": %lld, \"iteration\": %lld, \"step\": %lld, \"loss\": %.9g, "
                      "\"lr\": %.9g, \"images_per_s\": %.4g, \"eta_s\": %.1f",
                      (long long)epoch, (long long)it, (long long)st->global_step, ml, lr, ips, per_it * (double)left);
    for (int i = 0; i < L->n_parts; i++) {
        double v = w->n ? w->parts[i] / (double)w->n : NAN;
        if (!isfinite(v)) continue;
        const char *nm = L->part_name(i);
        const char *shortnm = strncmp(nm, "loss_", 5) == 0 ? nm + 5 : nm;
        if (o < (int)sizeof detail - 40)
            o += snprintf(detail + o, sizeof detail - (size_t)o, "%s%s %.4f", o ? " " : "", shortnm, v);
        if (jo < (int)sizeof js - 64) jo += snprintf(js + jo, sizeof js - (size_t)jo, ", \"%s\": %.6g", nm, v);
    }
    snprintf(js + jo, sizeof js - (size_t)jo, "}");
    trun_logf(L->log, "epoch %lld [%lld/%lld] loss %.6g%s%s%s lr %.3g %.2f images/s %.2f s/it eta %s", (long long)epoch,
              (long long)it, (long long)iters, ml, o ? " (" : "", detail, o ? ")" : "", lr, ips,
              w->n ? dt / (double)w->n : 0.0, eta);
    trun_metric(L->log, js);
    memset(w, 0, sizeof *w);
    w->t0 = t;
}

void trun_loop_init(trun_loop *L, const tc_config *cfg, ld_loader *ld, trun_log *log, volatile sig_atomic_t *stop,
                    int64_t stop_after, int progress) {
    memset(L, 0, sizeof *L);
    L->cfg = cfg;
    L->ld = ld;
    L->log = log;
    L->stop = stop;
    L->stop_after = stop_after;
    L->progress = progress;
}

int trun_run_epochs(trun_loop *L, ck_state *st) {
    const tc_config *cfg = L->cfg;
    if (L->n_parts < 0 || L->n_parts > TRUN_MAX_PARTS) return hnd_error_set("trun_run_epochs: %d loss parts", L->n_parts);
    const int64_t iters = ld_num_batches(L->ld);
    L->ran = 0;
    L->stopped = 0;
    L->first_mean = L->last_mean = L->first_iter_loss = L->last_iter_loss = NAN;
    for (int i = 0; i < TRUN_MAX_PARTS; i++) L->last_parts[i] = NAN;
    for (int64_t epoch = st->epoch; epoch < cfg->train.num_epochs && !L->stopped; epoch++) {
        if (ld_epoch_begin(L->ld, (int)epoch) != 0) return -1;
        int64_t it = 0;
        ld_batch *b;
        int got = 1;
        if (epoch == st->epoch && st->iteration > 0) {
            /* resuming mid-epoch: the loader replays the epoch's batches in
             * the same order; skip what was trained */
            for (; it < st->iteration && (got = ld_next(L->ld, &b)) == 1; it++) ld_batch_destroy(b);
            if (it < st->iteration) return got < 0 ? -1 : hnd_error_set("epoch %lld ended early", (long long)epoch);
        } else {
            st->loss_sum = 0;
            st->loss_count = 0;
        }
        double part_sum[TRUN_MAX_PARTS] = {0};   /* this process's part of the epoch (logs only) */
        int64_t part_n = 0;
        L->set_training(L->ctx, 1);
        double epoch_lr = tc_epoch_lr(&cfg->train, (int)epoch);
        char label[64];
        snprintf(label, sizeof label, "%s %lld/%d", L->bar_label, (long long)epoch + 1, cfg->train.num_epochs);
        L->log->bar = prg_begin(label, (uint64_t)iters, "it", L->progress);
        prg_update(L->log->bar, (uint64_t)it);
        double t_epoch = mono_now_s();
        int64_t it_start = it;
        trun_window w;
        memset(&w, 0, sizeof w);
        w.t0 = t_epoch;
        while ((got = ld_next(L->ld, &b)) == 1) {
            double lr = epoch_lr;
            if (epoch == 0 && cfg->train.warmup) lr *= tc_warmup_factor((int)it, iters);
            double loss = 0, parts[TRUN_MAX_PARTS];
            for (int i = 0; i < TRUN_MAX_PARTS; i++) parts[i] = NAN;
            int bn = b->n;
            int ok = (bn == 0 && !L->step_empty) || L->step(L->ctx, b, st->global_step, lr, &loss, parts) == 0;
            ld_batch_destroy(b);
            if (!ok) {
                prg_end(L->log->bar);
                L->log->bar = NULL;
                return hnd_error_prefix("epoch %lld, iteration %lld", (long long)epoch, (long long)it);
            }
            it++;
            L->ran++;
            st->global_step++;
            if (bn > 0) {
                if (isnan(L->first_iter_loss)) L->first_iter_loss = loss;
                L->last_iter_loss = loss;
                st->loss_sum += loss;
                st->loss_count++;
                w.loss += loss;
                w.n++;
                w.images += bn;
                part_n++;
                for (int i = 0; i < L->n_parts; i++) {
                    part_sum[i] += parts[i];
                    w.parts[i] += parts[i];
                }
            }
            prg_update(L->log->bar, (uint64_t)it);
            if (it % cfg->train.log_freq == 0 || it == iters) window_log(L, &w, st, epoch, it, iters, lr, t_epoch, it_start);
            int stop_now = (L->stop && *L->stop) || (L->stop_after > 0 && L->ran >= L->stop_after);
            /* data-parallel: the ranks stop at the same iteration */
            if (dp_world() > 1 && (stop_now = dp_max_int(stop_now)) < 0) return -1;
            if (stop_now && it < iters) {
                L->stopped = 1;
                break;
            }
        }
        prg_end(L->log->bar);
        L->log->bar = NULL;
        if (got < 0) return -1;
        if (L->stopped) {
            st->epoch = epoch;
            st->iteration = it;
            if (L->save(L->ctx, L->last_path, st, 1) != 0) return -1;
            trun_logf(L->log, "interrupted at epoch %lld, iteration %lld/%lld: checkpoint %s (continue with --resume)",
                      (long long)epoch, (long long)it, (long long)iters, L->last_path);
            break;
        }
        double mean = st->loss_count ? st->loss_sum / (double)st->loss_count : NAN;
        for (int i = 0; i < L->n_parts; i++) L->last_parts[i] = part_n ? part_sum[i] / (double)part_n : NAN;
        if (isnan(L->first_mean)) L->first_mean = mean;
        L->last_mean = mean;
        if (ld_skipped(L->ld) > 0)
            trun_logf(L->log, "%lld unreadable images skipped so far (last: %s)", (long long)ld_skipped(L->ld),
                      ld_skipped_name(L->ld, 0));
        double map = NAN;
        if (L->validate) {
            if (L->validate(L->ctx, epoch, mean, L->last_parts, &map) != 0) return -1;
        } else {
            char js[256];
            snprintf(js, sizeof js, "{\"type\": \"epoch\", \"epoch\": %lld, \"train_loss\": %.9g}", (long long)epoch,
                     mean);
            trun_metric(L->log, js);
        }
        st->epoch = epoch + 1;
        st->iteration = 0;
        /* without validation the best is the last: written once, at the end */
        int better = L->validate ? map > st->best_map || st->best_epoch < 0 : epoch + 1 == cfg->train.num_epochs;
        if (better) {
            st->best_map = L->validate ? map : -1;
            st->best_epoch = epoch;
            if (L->save(L->ctx, L->best_path, st, 0) != 0) return -1;
            if (L->validate) trun_logf(L->log, "best bbox AP so far: %.4f -> %s", map, L->best_path);
        }
        if (L->save(L->ctx, L->last_path, st, 1) != 0) return -1;
        trun_logf(L->log, "epoch %lld done: mean loss %.6g (%.1f s)", (long long)epoch, mean, mono_now_s() - t_epoch);
        int stop_end = L->stop && *L->stop;
        /* data-parallel: every rank ends the run here, or none */
        if (dp_world() > 1 && (stop_end = dp_max_int(stop_end)) < 0) return -1;
        if (stop_end && epoch + 1 < cfg->train.num_epochs) {
            L->stopped = 1;
            trun_logf(L->log, "interrupted after epoch %lld: checkpoint %s (continue with --resume)", (long long)epoch,
                      L->last_path);
        }
    }
    return 0;
}
