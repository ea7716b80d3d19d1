/* model_params.c: see model_params.h. */
#include "model_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"
#include "wstore.h"

typedef struct {
    char *name;
    ct_tensor *t;
    int kind;
} mp_entry;

/* An accepted file key: ignored (to == NULL) or loaded into `to`. */
typedef struct {
    char *from, *to;
} mp_extra;

struct mp_params {
    mp_entry *e;
    int n, cap;
    mp_extra *x;
    int nx, capx;
};

mp_params *mp_params_new(void) { return calloc(1, sizeof(mp_params)); }

void mp_params_destroy(mp_params *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        free(p->e[i].name);
        ct_destroy(p->e[i].t);
    }
    free(p->e);
    for (int i = 0; i < p->nx; i++) {
        free(p->x[i].from);
        free(p->x[i].to);
    }
    free(p->x);
    free(p);
}

static int mp_find(const mp_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->e[i].name, name) == 0) return i;
    return -1;
}

ct_tensor *mp_params_add(mp_params *p, const char *name, int kind, const int64_t *shape, int ndim) {
    if (!p || !name) {
        hnd_error_set("model params: NULL argument");
        return NULL;
    }
    if (mp_find(p, name) >= 0) {
        hnd_error_set("model params: '%s' registered twice", name);
        return NULL;
    }
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        mp_entry *e = realloc(p->e, (size_t)cap * sizeof *e);
        if (!e) {
            hnd_error_set("model params: out of memory");
            return NULL;
        }
        p->e = e;
        p->cap = cap;
    }
    /* Parameters outlive any scope the caller may have open. */
    int depth = ct_scope_depth();
    ct_tensor *t = ct_zeros(shape, ndim, CT_F32, ct_cpu());
    if (!t) {
        hnd_error_set("model params: '%s': %s", name, ct_last_error());
        return NULL;
    }
    for (int d = 0; d < depth; d++) ct_scope_keep(t);
    char *n = strdup(name);
    if (!n) {
        ct_destroy(t);
        hnd_error_set("model params: out of memory");
        return NULL;
    }
    p->e[p->n++] = (mp_entry){n, t, kind};
    return t;
}

ct_tensor *mp_params_get(const mp_params *p, const char *name) {
    int i = p ? mp_find(p, name) : -1;
    return i < 0 ? NULL : p->e[i].t;
}

static int mp_add_extra(mp_params *p, const char *from, const char *to) {
    if (!p || !from) return hnd_error_set("model params: NULL argument");
    if (p->nx == p->capx) {
        int cap = p->capx ? 2 * p->capx : 64;
        mp_extra *x = realloc(p->x, (size_t)cap * sizeof *x);
        if (!x) return hnd_error_set("model params: out of memory");
        p->x = x;
        p->capx = cap;
    }
    char *f = strdup(from), *t = to ? strdup(to) : NULL;
    if (!f || (to && !t)) {
        free(f);
        free(t);
        return hnd_error_set("model params: out of memory");
    }
    p->x[p->nx++] = (mp_extra){f, t};
    return 0;
}

int mp_params_ignore(mp_params *p, const char *name) { return mp_add_extra(p, name, NULL); }

int mp_params_alias(mp_params *p, const char *old_name, const char *new_name) {
    if (!new_name) return hnd_error_set("model params: NULL alias target");
    return mp_add_extra(p, old_name, new_name);
}

/* The registered index a file key loads into: itself, or an alias target
 * the file does not also hold. -1: unexpected; -2: ignorable. */
static int mp_resolve(const mp_params *p, const char *name, const char *const *names, int count) {
    int j = mp_find(p, name);
    if (j >= 0) return j;
    for (int k = 0; k < p->nx; k++) {
        if (strcmp(p->x[k].from, name) != 0) continue;
        if (!p->x[k].to) return -2;
        for (int i = 0; i < count; i++)
            if (strcmp(names[i], p->x[k].to) == 0) return -1;
        return mp_find(p, p->x[k].to);
    }
    return -1;
}

int mp_params_count(const mp_params *p) { return p ? p->n : 0; }
const char *mp_params_name(const mp_params *p, int i) { return p->e[i].name; }
ct_tensor *mp_params_tensor(const mp_params *p, int i) { return p->e[i].t; }
int mp_params_kind(const mp_params *p, int i) { return p->e[i].kind; }

/* "[a,b,c]" */
static void mp_shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* Appends "name" to a bounded, comma-separated list; counts the rest. */
typedef struct {
    char text[1024];
    int count;
} mp_list;

static void mp_list_add(mp_list *l, const char *item) {
    size_t k = strlen(l->text);
    if (l->count < 8 && k + strlen(item) + 3 < sizeof l->text)
        snprintf(l->text + k, sizeof l->text - k, "%s%s", l->count ? ", " : "", item);
    l->count++;
}

static void mp_list_close(mp_list *l) {
    if (l->count > 8) {
        size_t k = strlen(l->text);
        snprintf(l->text + k, sizeof l->text - k, ", ... (%d in all)", l->count);
    }
}

int mp_params_load(mp_params *p, const char *path, int strict, int *n_missing, int *n_unexpected) {
    if (!p || !path) return hnd_error_set("model params: NULL argument to load");
    ws_reader *r = ws_reader_open(path);
    if (!r) return -1;
    const char *const *names;
    int count;
    if (ws_reader_list(r, "weights", &names, &count) != 0) {
        ws_reader_close(r);
        return -1;
    }
    mp_list missing = {{0}, 0}, unexpected = {{0}, 0}, misshaped = {{0}, 0};
    char *found = calloc((size_t)p->n + 1, 1);
    if (!found) {
        ws_reader_close(r);
        return hnd_error_set("model params: out of memory");
    }
    /* Pass 1: check names and shapes without touching any tensor, so a
     * failed strict load leaves the model as it was. */
    for (int i = 0; i < count; i++) {
        int j = mp_resolve(p, names[i], names, count);
        if (j == -2) continue;
        if (j < 0) {
            mp_list_add(&unexpected, names[i]);
            continue;
        }
        found[j] = 1;
        ws_tensor info;
        if (ws_reader_info(r, "weights", names[i], &info) != 0) {
            free(found);
            ws_reader_close(r);
            return -1;
        }
        int64_t want[CT_MAX_DIMS];
        int nd = ct_shape(p->e[j].t, want, CT_MAX_DIMS);
        int same = nd == info.ndim;
        for (int d = 0; same && d < nd; d++) same = want[d] == info.shape[d];
        if (!same) {
            char a[128], b[128], item[512];
            mp_shape_str(a, sizeof a, info.ndim, info.shape);
            mp_shape_str(b, sizeof b, nd, want);
            snprintf(item, sizeof item, "%s (file %s, model %s)", names[i], a, b);
            mp_list_add(&misshaped, item);
        }
        ws_tensor_clear(&info);
    }
    for (int j = 0; j < p->n; j++)
        if (!found[j]) mp_list_add(&missing, p->e[j].name);
    free(found);
    mp_list_close(&missing);
    mp_list_close(&unexpected);
    mp_list_close(&misshaped);
    if (misshaped.count || (strict && (missing.count || unexpected.count))) {
        char msg[3600] = "";
        size_t k = 0;
        if (missing.count)
            k += (size_t)snprintf(msg + k, sizeof msg - k, "; %d missing key(s): %s", missing.count, missing.text);
        if (unexpected.count && k < sizeof msg)
            k += (size_t)snprintf(msg + k, sizeof msg - k, "; %d unexpected key(s): %s", unexpected.count,
                                  unexpected.text);
        if (misshaped.count && k < sizeof msg)
            snprintf(msg + k, sizeof msg - k, "; %d mis-shaped key(s): %s", misshaped.count, misshaped.text);
        ws_reader_close(r);
        return hnd_error_set("%s: weights do not match the model%s", path, msg);
    }
    /* Pass 2: copy the values. */
    int loaded = 0;
    for (int i = 0; i < count; i++) {
        int j = mp_resolve(p, names[i], names, count);
        if (j < 0) continue;
        ws_tensor t;
        if (ws_reader_get(r, "weights", names[i], &t) != 0) {
            ws_reader_close(r);
            return -1;
        }
        ct_scope_begin();
        ct_tensor *src = ct_from_buffer(t.data, t.dtype, t.ndim, t.shape);
        int ok = src && ct_copy_(p->e[j].t, src) == 0;
        ct_scope_end();
        ws_tensor_clear(&t);
        if (!ok) {
            ws_reader_close(r);
            return hnd_error_set("%s: loading '%s': %s", path, names[i], ct_last_error());
        }
        loaded++;
    }
    ws_reader_close(r);
    if (n_missing) *n_missing = missing.count;
    if (n_unexpected) *n_unexpected = unexpected.count;
    return loaded;
}

int mp_params_to_channels_last(mp_params *p, const char *prefix) {
    if (!p) return hnd_error_set("model params: NULL argument to channels_last");
    size_t lp = prefix ? strlen(prefix) : 0;
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        if (ct_ndim(p->e[i].t) != 4 || strncmp(p->e[i].name, prefix ? prefix : "", lp) != 0) continue;
        if (ct_to_channels_last_(p->e[i].t) != 0)
            return hnd_error_set("model params: '%s': %s", p->e[i].name, ct_last_error());
        n++;
    }
    return n;
}

int mp_params_save(const mp_params *p, ws_writer *w) { return mp_params_save_if(p, w, NULL, NULL); }

int mp_params_save_if(const mp_params *p, ws_writer *w, int (*keep)(const char *name, void *ctx), void *ctx) {
    if (!p || !w) return hnd_error_set("model params: NULL argument to save");
    for (int i = 0; i < p->n; i++) {
        if (keep && !keep(p->e[i].name, ctx)) continue;
        ct_tensor *t = p->e[i].t;
        int64_t shape[CT_MAX_DIMS];
        int nd = ct_shape(t, shape, CT_MAX_DIMS);
        ct_scope_begin();
        ct_tensor *c = ct_to_device(t, ct_cpu());
        c = c ? ct_contiguous(c) : NULL;
        void *buf = NULL;
        size_t nbytes = (size_t)ct_numel(t) * ct_dtype_size(ct_dtype_of(t));
        int rc = -1;
        if (c && (buf = malloc(nbytes ? nbytes : 1)) && ct_to_buffer(c, buf, nbytes) == 0)
            rc = ws_writer_put(w, "weights", p->e[i].name, ct_dtype_of(t), nd, shape, buf);
        else
            hnd_error_set("model params: saving '%s': %s", p->e[i].name, ct_last_error());
        free(buf);
        ct_scope_end();
        if (rc != 0) return -1;
    }
    return 0;
}
