/* c_head_writer.c: see c_head_writer.h. The format is hnd_head.h's; the
 * runtime (c_head/hnd_head.c, compiled into this library too) reads every
 * file back before it is renamed into place, so hnd never ships a head the
 * runtime would refuse. */
#include "c_head_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "c_head/hnd_head.h"
#include "hnd_error.h"
#include "path.h"

/* generated at build time (embed_c_head.cmake) */
struct chw_embedded {
    const char *name;
    const unsigned char *data;
    size_t size;
};
extern const struct chw_embedded chw_embedded_files[];

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void put64(unsigned char *p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static void putf32(unsigned char *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put32(p, u);
}

static void putf64(unsigned char *p, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    put64(p, u);
}

int chw_write_weights(const hg_head *h, const char *path) {
    if (!h || !path) return hnd_error_set("c head: NULL argument");
    if (h->n_ops < 1 || h->n_ops > HG_MAX_OPS || h->n_ops > HND_HEAD_MAX_OPS)
        return hnd_error_set("c head %s: %d ops", path, h->n_ops);
    uint64_t floats = 0;
    for (int i = 0; i < h->n_ops; i++) {
        const hg_op *o = &h->ops[i];
        if (o->kind == HG_CONV) {
            if (!o->weight) return hnd_error_set("c head %s: op %d (%s) has no weights", path, i, o->name);
            floats += (uint64_t)o->cout * o->cin * o->kh * o->kw + (o->bias ? (uint64_t)o->cout : 0u);
        }
    }
    size_t size = HND_HEAD_HEADER_BYTES + (size_t)h->n_ops * HND_HEAD_OP_BYTES + 4 * (size_t)floats + 4;
    unsigned char *b = calloc(1, size);
    if (!b) return hnd_error_set("c head %s: out of memory (%zu bytes)", path, size);
    memcpy(b, HND_HEAD_MAGIC, 8);
    put32(b + 8, HND_HEAD_VERSION);
    put32(b + 12, (uint32_t)h->in_channels);
    put32(b + 16, (uint32_t)h->channels);
    put32(b + 20, (uint32_t)h->bits);
    for (int c = 0; c < 3; c++) {
        putf32(b + 24 + 4 * c, h->mean[c]);
        putf32(b + 36 + 4 * c, h->std[c]);
    }
    putf64(b + 48, h->min_size);
    putf64(b + 56, h->max_size);
    put32(b + 64, (uint32_t)h->size_divisible);
    put32(b + 68, (uint32_t)h->n_ops);
    put64(b + 72, floats);
    unsigned char *w = b + HND_HEAD_HEADER_BYTES + (size_t)h->n_ops * HND_HEAD_OP_BYTES;
    for (int i = 0; i < h->n_ops; i++) {
        const hg_op *o = &h->ops[i];
        unsigned char *q = b + HND_HEAD_HEADER_BYTES + (size_t)i * HND_HEAD_OP_BYTES;
        int relu = o->kind == HG_RELU;
        uint32_t f[8] = {o->kind == HG_CONV ? HND_HEAD_CONV : relu ? HND_HEAD_RELU : HND_HEAD_MAXPOOL,
                         (uint32_t)o->cin,
                         (uint32_t)o->cout,
                         relu ? 1u : (uint32_t)o->kh,
                         relu ? 1u : (uint32_t)o->kw,
                         relu ? 1u : (uint32_t)o->stride,
                         relu ? 0u : (uint32_t)o->pad,
                         o->kind == HG_CONV && o->bias ? 1u : 0u};
        for (int j = 0; j < 8; j++) put32(q + 4 * j, f[j]);
        if (o->kind != HG_CONV) continue;
        size_t nw = (size_t)o->cout * o->cin * o->kh * o->kw;
        for (size_t k = 0; k < nw; k++, w += 4) putf32(w, o->weight[k]);
        for (int k = 0; o->bias && k < o->cout; k++, w += 4) putf32(w, o->bias[k]);
    }
    put32(b + size - 4, hnd_head_crc32(0, b, size - 4));
    /* what the runtime will say about it */
    char err[512];
    hnd_head *chk;
    if (hnd_head_load_memory(b, size, path, &chk, err, sizeof err) != 0) {
        free(b);
        return hnd_error_set("c head: the runtime would refuse the file: %s", err);
    }
    hnd_head_free(chk);
    af_file a;
    FILE *fp = af_open(&a, path);
    if (!fp) {
        free(b);
        return -1;
    }
    int failed = fwrite(b, 1, size, fp) != size;
    free(b);
    return af_commit(&a, failed);
}

int chw_write_sources(const char *dir) {
    if (!dir) return hnd_error_set("c head: NULL directory");
    for (const struct chw_embedded *e = chw_embedded_files; e->name; e++) {
        char path[4096];
        if (path_join(path, sizeof path, dir, e->name) != 0) return -1;
        af_file a;
        FILE *fp = af_open(&a, path);
        if (!fp) return -1;
        int failed = fwrite(e->data, 1, e->size, fp) != e->size;
        if (af_commit(&a, failed) != 0) return -1;
    }
    return 0;
}
