/* pth_ref_names.c: see pth_ref_names.h. */
#include "pth_ref_names.h"

#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

#define EXT_ENC "layer1.encoder.encoder."
#define EXT_CLS "layer1.encoder.ext_classifier."
#define OUR_ENC "layer1.encoder."

/* The first occurrence of pat in key that starts a dotted component. */
static const char *find_component(const char *key, const char *pat) {
    for (const char *p = strstr(key, pat); p; p = strstr(p + 1, pat))
        if (p == key || p[-1] == '.') return p;
    return NULL;
}

char *prn_map_key(const char *key, int *renamed) {
    *renamed = 0;
    if (find_component(key, EXT_CLS)) return NULL;
    const char *p = find_component(key, EXT_ENC);
    size_t n = strlen(key);
    char *out = malloc(n + 1);
    if (!out) {
        *renamed = -1;
        hnd_error_set("out of memory");
        return NULL;
    }
    if (!p) {
        memcpy(out, key, n + 1);
        return out;
    }
    size_t head = (size_t)(p - key);
    memcpy(out, key, head);
    strcpy(out + head, OUR_ENC);
    strcpy(out + head + strlen(OUR_ENC), p + strlen(EXT_ENC));
    *renamed = 1;
    return out;
}

/* A mapped name and the key it came from, sorted to find collisions. */
typedef struct {
    const char *name, *orig;
} pair;

static int cmp_pair(const void *a, const void *b) {
    return strcmp(((const pair *)a)->name, ((const pair *)b)->name);
}

int prn_apply(pth_state *st, prn_report *rep) {
    prn_report r = {0, 0};
    /* First map every name (nothing changed yet), then check collisions,
     * then commit: st stays untouched on any error. */
    char **names = calloc(st->count ? (size_t)st->count : 1, sizeof *names);
    pair *pairs = calloc(st->count ? (size_t)st->count : 1, sizeof *pairs);
    int rc = -1, np = 0, n = st->count;
    if (!names || !pairs) {
        hnd_error_set("out of memory");
        goto done;
    }
    for (int i = 0; i < st->count; i++) {
        int ren;
        names[i] = prn_map_key(st->tensors[i].name, &ren);
        if (ren < 0) goto done;
        if (!names[i]) {
            r.dropped++;
            continue;
        }
        r.renamed += ren;
        pairs[np++] = (pair){names[i], st->tensors[i].name};
    }
    qsort(pairs, (size_t)np, sizeof *pairs, cmp_pair);
    for (int i = 1; i < np; i++)
        if (strcmp(pairs[i - 1].name, pairs[i].name) == 0) {
            hnd_error_set("keys '%s' and '%s' both become '%s' (the reference's ExtEncoder naming and hnd's "
                          "in one file)",
                          pairs[i - 1].orig, pairs[i].orig, pairs[i].name);
            goto done;
        }
    int k = 0;
    for (int i = 0; i < st->count; i++) {
        ws_tensor t = st->tensors[i];
        free(t.name);
        if (!names[i]) {
            st->total_bytes -= t.nbytes;
            free(t.data);
            continue;
        }
        t.name = names[i];
        names[i] = NULL;
        st->tensors[k++] = t;
    }
    st->count = k;
    rc = 0;
done:
    for (int i = 0; names && i < n; i++) free(names[i]);   /* all NULL after a commit */
    free(names);
    free(pairs);
    if (rep) *rep = r;
    return rc;
}
