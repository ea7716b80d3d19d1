/* ckpt.c: see ckpt.h. */
#include "ckpt.h"
#include "config_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "split_rcnn.h"
#include "wstore.h"

static int put_i64(ws_writer *w, const char *name, int64_t v) {
    return ws_writer_put(w, "train", name, CT_I64, 0, NULL, &v);
}
static int put_f64(ws_writer *w, const char *name, double v) {
    return ws_writer_put(w, "train", name, CT_F64, 0, NULL, &v);
}

/* Every state tensor of o as /train/<prefix><state name>. 0 / -1. */
static int put_optim(ws_writer *w, const ct_optim *o, const char *prefix) {
    {
        int n = ct_optim_state_count(o);
        for (int i = 0; i < n; i++) {
            const char *name = ct_optim_state_name(o, i);
            ct_tensor *t = ct_optim_state_get(o, i);
            if (!name || !t) {
                ct_destroy(t);
                return hnd_error_set("optimizer state %d: %s", i, ct_last_error());
            }
            int64_t shape[CT_MAX_DIMS];
            int nd = ct_shape(t, shape, CT_MAX_DIMS);
            int dt = ct_dtype_of(t);
            size_t nb = (size_t)ct_numel(t) * ct_dtype_size((ct_dtype)dt);
            void *buf = malloc(nb ? nb : 1);
            char key[256];
            snprintf(key, sizeof key, "%s%s", prefix, name);
            int rc = buf && nd >= 0 && dt >= 0 && ct_to_buffer(t, buf, nb) == 0 ? 0 : -1;
            if (rc != 0) hnd_error_set("optimizer state %s: %s", name, buf ? ct_last_error() : "out of memory");
            else rc = ws_writer_put(w, "train", key, (ct_dtype)dt, nd, shape, buf);
            free(buf);
            ct_destroy(t);
            if (rc != 0) return -1;
        }
    }
    return 0;
}

int ck_save(const char *path, const mp_params *p, const ct_optim *o, const ck_state *st, const char *config,
            const char *trainable, const char *kind) {
    return ck_save_aux(path, p, o, NULL, 0, st, config, trainable, kind);
}

int ck_save_aux(const char *path, const mp_params *p, const ct_optim *o, const ck_optim_ref *extra, int n_extra,
                const ck_state *st, const char *config, const char *trainable, const char *kind) {
    ws_writer *w = ws_writer_open(path);
    if (!w) return -1;
    if (mp_params_save(p, w) != 0) goto fail;
    if (o && put_optim(w, o, "optim.") != 0) goto fail;
    for (int i = 0; i < n_extra; i++)
        if (extra[i].o && put_optim(w, extra[i].o, extra[i].prefix) != 0) goto fail;
    if (st && (put_i64(w, "epoch", st->epoch) || put_i64(w, "iteration", st->iteration) ||
               put_i64(w, "global_step", st->global_step) || put_i64(w, "seed", (int64_t)st->seed) ||
               put_f64(w, "best_map", st->best_map) || put_i64(w, "best_epoch", st->best_epoch) ||
               put_f64(w, "loss_sum", st->loss_sum) || put_i64(w, "loss_count", st->loss_count)))
        goto fail;
    if (config && ws_writer_set_attr(w, "config", config) != 0) goto fail;
    if (config) {   /* for a quick equality check without parsing (config_diff.h) */
        char digest[32];
        snprintf(digest, sizeof digest, "%016llx", (unsigned long long)cdiff_digest(config));
        if (ws_writer_set_attr(w, "train_digest", digest) != 0) goto fail;
    }
    if (trainable && ws_writer_set_attr(w, "trainable", trainable) != 0) goto fail;
    if (kind && ws_writer_set_attr(w, "kind", kind) != 0) goto fail;
    if (ws_writer_commit(w) != 0) return hnd_error_prefix("checkpoint %s", path);
    return 0;
fail:
    ws_writer_abort(w);
    return hnd_error_prefix("checkpoint %s", path);
}

static int get_scalar(ws_reader *r, const char *name, void *dst, ct_dtype want) {
    ws_tensor t;
    if (ws_reader_get(r, "train", name, &t) != 0) return -1;
    int ok = t.dtype == want && ws_numel(t.ndim, t.shape) == 1;
    if (ok) memcpy(dst, t.data, ct_dtype_size(want));
    ws_tensor_clear(&t);
    return ok ? 0 : hnd_error_set("/train/%s: unexpected type or shape", name);
}

int ck_load_state(const char *path, ck_state *st) {
    memset(st, 0, sizeof *st);
    ws_reader *r = ws_reader_open(path);
    if (!r) return -1;
    int64_t seed = 0;
    int rc = get_scalar(r, "epoch", &st->epoch, CT_I64) || get_scalar(r, "iteration", &st->iteration, CT_I64) ||
             get_scalar(r, "global_step", &st->global_step, CT_I64) || get_scalar(r, "seed", &seed, CT_I64) ||
             get_scalar(r, "best_map", &st->best_map, CT_F64) ||
             get_scalar(r, "best_epoch", &st->best_epoch, CT_I64) ||
             get_scalar(r, "loss_sum", &st->loss_sum, CT_F64) ||
             get_scalar(r, "loss_count", &st->loss_count, CT_I64)
                 ? -1
                 : 0;
    st->seed = (uint64_t)seed;
    ws_reader_close(r);
    if (rc != 0) return hnd_error_prefix("%s: not a training checkpoint", path);
    return 0;
}

/* The state tensors /train/<prefix>* into o; *found: how many. */
static int load_optim(const char *path, ct_optim *o, ct_device dev, const char *prefix, int *found) {
    ws_reader *r = ws_reader_open(path);
    if (!r) return -1;
    const char *const *names;
    const size_t pl = strlen(prefix);
    int n, rc = ws_reader_list(r, "train", &names, &n);
    *found = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (strncmp(names[i], prefix, pl) != 0) continue;
        ++*found;
        ws_tensor t;
        if (ws_reader_get(r, "train", names[i], &t) != 0) {
            rc = -1;
            break;
        }
        ct_tensor *c = ct_from_buffer(t.data, t.dtype, t.ndim, t.shape);
        ws_tensor_clear(&t);
        if (c && dev.type != CT_CPU) {
            ct_tensor *d = ct_to_device(c, dev);
            ct_destroy(c);
            c = d;
        }
        if (!c || ct_optim_state_set(o, names[i] + pl, c) != 0) {
            rc = hnd_error_set("%s: /train/%s: %s", path, names[i], ct_last_error());
        }
        ct_destroy(c);
    }
    ws_reader_close(r);
    return rc;
}

int ck_load_optim(const char *path, ct_optim *o, ct_device dev) {
    int found;
    return load_optim(path, o, dev, "optim.", &found);
}

int ck_load_aux_optim(const char *path, const char *prefix, ct_optim *o, ct_device dev, int *found) {
    return load_optim(path, o, dev, prefix, found);
}

char *ck_attr(const char *path, const char *name) {
    ws_reader *r = ws_reader_open(path);
    if (!r) return NULL;
    char *v = ws_reader_attr(r, name);
    ws_reader_close(r);
    return v;
}

int ck_is_student(const char *path) {
    sr_probe p;
    if (sr_probe_file(path, &p) != 0) return -1;
    return p.channels > 0;
}
