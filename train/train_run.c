/* train_run.c: see train_run.h. */
#include "train_run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hnd_error.h"

double trun_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int trun_mkdirs(const char *path) {
    char buf[1100];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return hnd_error_set("%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return hnd_error_set("%s: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

void trun_fmt_eta(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0) s = 0;
    long v = (long)s;
    snprintf(buf, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
}

int trun_log_open(trun_log *l, const char *dir, int append, const char *config_json) {
    if (trun_mkdirs(dir) != 0) return -1;
    char p[1100];
    const char *mode = append ? "a" : "w";
    snprintf(p, sizeof p, "%s/train.log", dir);
    if (!(l->log = fopen(p, mode))) return hnd_error_set("%s: %s", p, strerror(errno));
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    if (!(l->metrics = fopen(p, mode))) return hnd_error_set("%s: %s", p, strerror(errno));
    if (config_json) {
        /* a record of what ran, not an input: a failed write is not fatal */
        snprintf(p, sizeof p, "%s/config.json", dir);
        FILE *cf = fopen(p, "w");
        if (cf) {
            fprintf(cf, "%s\n", config_json);
            fclose(cf);
        }
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

int trun_open_train_data(const tc_config *c, int with_masks, coco_dataset **ds, ld_loader **ld) {
    const tc_split *s = &c->dataset.train;
    if (!s->present) return hnd_error_set("%s: dataset.splits.train is needed for training", c->source);
    coco_load_opts lo = {0};
    if (!(*ds = coco_load(s->annotations, &lo))) return -1;
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
    if (!(*ld = ld_open(&o))) return -1;
    if (ld_num_batches(*ld) < 1)
        return hnd_error_set("%s: %s: no batch of %d images (%lld usable images)", c->source, s->annotations,
                             c->train.batch_size, (long long)ld_num_samples(*ld));
    return 0;
}
