/* config_diff.c: see config_diff.h. */
#include "config_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hnd_error.h"

/* keys (full paths) whose subtree does not change the trained weights */
static const char *const k_ignored[] = {
    "description", "output_dir", "device", "threads", "dataset.num_workers", "dataset.name",
    "dataset.splits.test", "train.log_freq", "test", "student_model.ckpt", "model.ckpt",
};

static int ignored(const char *path) {
    for (size_t i = 0; i < sizeof k_ignored / sizeof k_ignored[0]; i++)
        if (strcmp(path, k_ignored[i]) == 0) return 1;
    const char *dot = strrchr(path, '.');
    return strcmp(dot ? dot + 1 : path, "experiment") == 0;
}

/* One leaf: its path and its value as compact JSON. */
typedef struct {
    char *path, *value;
} leaf;

typedef struct {
    leaf *v;
    int n, cap;
} leaves;

static int push(leaves *l, const char *path, const cJSON *item) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        leaf *v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    char *val = cJSON_PrintUnformatted(item);
    char *p = strdup(path);
    if (!val || !p) {
        free(val);
        free(p);
        return -1;
    }
    l->v[l->n++] = (leaf){p, val};
    return 0;
}

/* Objects are walked key by key; arrays and scalars are leaves (a changed
 * milestone list is one difference). */
static int flatten(leaves *l, const char *prefix, const cJSON *node) {
    if (ignored(prefix)) return 0;
    if (!cJSON_IsObject(node)) return push(l, prefix, node);
    for (const cJSON *c = node->child; c; c = c->next) {
        char path[512];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", c->string ? c->string : "");
        if (flatten(l, path, c) != 0) return -1;
    }
    return 0;
}

static int cmp_leaf(const void *a, const void *b) {
    return strcmp(((const leaf *)a)->path, ((const leaf *)b)->path);
}

static void leaves_free(leaves *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].value);
    }
    free(l->v);
}

/* Sorted leaves of a JSON text; -1 when it does not parse. */
static int load(const char *json, leaves *l) {
    memset(l, 0, sizeof *l);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (!root) return -1;
    int rc = flatten(l, "", root);
    cJSON_Delete(root);
    if (rc != 0) {
        leaves_free(l);
        return -1;
    }
    qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_leaf);
    return 0;
}

static void append(char *out, size_t cap, size_t *len, const char *path, const char *a, const char *b) {
    char item[768];
    snprintf(item, sizeof item, "%s%s (%.100s -> %.100s)", *len ? ", " : "", path, a ? a : "absent",
             b ? b : "absent");
    size_t n = strlen(item);
    if (*len + n + 4 < cap) {
        memcpy(out + *len, item, n + 1);
        *len += n;
    } else if (*len + 4 < cap && strcmp(out + (*len >= 3 ? *len - 3 : 0), "...") != 0) {
        memcpy(out + *len, "...", 4);
        *len += 3;
    }
}

int cdiff_keys(const char *old_json, const char *new_json, char *out, size_t cap) {
    leaves a, b;
    if (cap) out[0] = 0;
    if (load(old_json, &a) != 0) return hnd_error_set("the stored config is not JSON");
    if (load(new_json, &b) != 0) {
        leaves_free(&a);
        return hnd_error_set("the config is not JSON");
    }
    int n = 0, i = 0, j = 0;
    size_t len = 0;
    while (i < a.n || j < b.n) {
        int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.v[i].path, b.v[j].path);
        if (c < 0) append(out, cap, &len, a.v[i].path, a.v[i].value, NULL), i++, n++;
        else if (c > 0) append(out, cap, &len, b.v[j].path, NULL, b.v[j].value), j++, n++;
        else {
            if (strcmp(a.v[i].value, b.v[j].value) != 0) {
                append(out, cap, &len, a.v[i].path, a.v[i].value, b.v[j].value);
                n++;
            }
            i++, j++;
        }
    }
    leaves_free(&a);
    leaves_free(&b);
    return n;
}

static uint64_t fnv(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;   /* a separator no string holds */
}

uint64_t cdiff_digest(const char *json) {
    leaves l;
    if (load(json, &l) != 0) return 0;
    uint64_t h = 14695981039346656037ULL;
    for (int i = 0; i < l.n; i++) h = fnv(fnv(h, l.v[i].path), l.v[i].value);
    leaves_free(&l);
    return h;
}
