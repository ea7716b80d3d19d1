/* pth_reader.c: torch.save() files (zip and legacy) to contiguous tensors.
 *
 * The pickle gives tensor views (storage persistent id, offset, size,
 * stride); this file finds each storage's bytes (a zip record, or a slice of
 * the legacy file's tail), bounds-checks every view and gathers it into a
 * fresh row-major buffer. Files are mmap'ed so the legacy format costs one
 * copy; in the zip format a tensor that is the sole, exact user of its
 * storage takes that buffer over instead of copying it. */
#define _GNU_SOURCE
#include "pth_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "hnd_error.h"
#include "pickle.h"

#define DEFAULT_MAX_TOTAL ((size_t)64 << 30)

/* One storage, keyed by the string torch gave it. */
typedef struct {
    const char *key;     /* in the pickle arena */
    ct_dtype dtype;      /* element type of the storage (uint8 if untyped) */
    const uint8_t *data; /* NULL until found */
    size_t nbytes;
    uint8_t *owned;      /* zip: malloc'ed record, freed unless taken over */
    int refs;            /* tensors using it */
} storage_rec;

/* One tensor entry of the state dict before gathering. */
typedef struct {
    const char *name;
    const pk_tensor *view;
    int storage;          /* index into storages */
    size_t view_off;      /* legacy storage view: byte offset into the root */
    size_t view_limit;    /* and its byte length (SIZE_MAX: to the end) */
    ct_dtype dtype;
} entry;

typedef struct {
    const char *name;     /* file name for messages */
    const pth_options *opt;
    size_t max_total;
    pk_ctx *pk;
    storage_rec *st;
    int nst, st_cap;
    int *hash;            /* open addressing over st, -1 empty */
    size_t hash_cap;
    entry *ent;
    int nent;
    zip_t *zip;
    const char *prefix;   /* zip top-level folder (arena) */
    size_t loaded_bytes;  /* storages read from the zip */
} reader;

/* ---------------------------------------------------------------- storages */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int find_storage(const reader *r, const char *key) {
    if (!r->hash_cap) return -1;
    size_t mask = r->hash_cap - 1;
    for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
        int k = r->hash[i];
        if (k < 0) return -1;
        if (strcmp(r->st[k].key, key) == 0) return k;
    }
}

static int rehash(reader *r, size_t cap) {
    int *h = malloc(cap * sizeof *h);
    if (!h) return hnd_error_set("out of memory");
    memset(h, 0xff, cap * sizeof *h);
    for (int k = 0; k < r->nst; k++) {
        size_t i = hash_str(r->st[k].key) & (cap - 1);
        while (h[i] >= 0) i = (i + 1) & (cap - 1);
        h[i] = k;
    }
    free(r->hash);
    r->hash = h;
    r->hash_cap = cap;
    return 0;
}

/* Map torch's storage class to our dtype; -1 for what we cannot hold. */
static int storage_dtype(const pk_value *g, ct_dtype *dt) {
    static const struct { const char *name; ct_dtype dt; } map[] = {
        {"FloatStorage", CT_F32}, {"HalfStorage", CT_F16},  {"DoubleStorage", CT_F64},
        {"LongStorage", CT_I64},  {"IntStorage", CT_I32},   {"ShortStorage", CT_I16},
        {"CharStorage", CT_I8},   {"ByteStorage", CT_U8},   {"BoolStorage", CT_BOOL},
        {"UntypedStorage", CT_U8}, {"_UntypedStorage", CT_U8},
    };
    if (!g || g->kind != PK_GLOBAL) return -1;
    const char *m = g->u.global.module;
    if (strcmp(m, "torch") != 0 && strcmp(m, "torch.cuda") != 0 && strcmp(m, "torch.storage") != 0) return -1;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(g->u.global.name, map[i].name) == 0) {
            *dt = map[i].dt;
            return 0;
        }
    return -1;
}

/* torch.float32 etc., as _rebuild_tensor_v3 passes them. */
static int dtype_from_global(const pk_value *g, ct_dtype *dt) {
    static const struct { const char *name; ct_dtype dt; } map[] = {
        {"float32", CT_F32}, {"float", CT_F32}, {"float16", CT_F16}, {"half", CT_F16},
        {"float64", CT_F64}, {"double", CT_F64}, {"int64", CT_I64}, {"long", CT_I64},
        {"int32", CT_I32}, {"int", CT_I32},     {"int16", CT_I16},  {"short", CT_I16},
        {"int8", CT_I8},     {"uint8", CT_U8},  {"bool", CT_BOOL},
    };
    if (!g || g->kind != PK_GLOBAL || strcmp(g->u.global.module, "torch") != 0) return -1;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(g->u.global.name, map[i].name) == 0) {
            *dt = map[i].dt;
            return 0;
        }
    return -1;
}

static const char *global_name(const pk_value *g, char *buf, size_t n) {
    if (g && g->kind == PK_GLOBAL) snprintf(buf, n, "%s.%s", g->u.global.module, g->u.global.name);
    else snprintf(buf, n, "a %s", g ? pk_kind_name(g->kind) : "missing value");
    return buf;
}

/* Decode ('storage', type, key, location, numel[, view_metadata]) and
 * register the storage. *idx gets its index; view_* describe a legacy view
 * (offset and length in bytes). */
static int add_storage(reader *r, const pk_value *pid, int *idx, size_t *view_off, size_t *view_limit) {
    const pk_value *t = pid->u.persid;
    char gbuf[256];
    *view_off = 0;
    *view_limit = SIZE_MAX;
    if (!t || t->kind != PK_TUPLE || t->u.seq.n < 5 || !pk_is_str(pk_item(t, 0), "storage"))
        return hnd_error_set("persistent id is not a ('storage', type, key, location, numel) tuple");
    const pk_value *type = pk_item(t, 1), *key = pk_item(t, 2), *numel = pk_item(t, 4);
    ct_dtype dt;
    if (storage_dtype(type, &dt) < 0)
        return hnd_error_set("unsupported storage type %s", global_name(type, gbuf, sizeof gbuf));
    if (key->kind != PK_STR) return hnd_error_set("storage key is a %s, not a str", pk_kind_name(key->kind));
    if (numel->kind != PK_INT || numel->u.i < 0)
        return hnd_error_set("storage '%s': bad element count", key->u.str.s);
    int k = find_storage(r, key->u.str.s);
    if (k >= 0) {
        if (r->st[k].dtype != dt)
            return hnd_error_set("storage '%s' is used with two types (%s and %s)", key->u.str.s,
                                 ct_dtype_name(r->st[k].dtype), ct_dtype_name(dt));
    } else {
        if (r->nst == r->st_cap) {
            int ncap = r->st_cap ? r->st_cap * 2 : 64;
            storage_rec *ns = realloc(r->st, (size_t)ncap * sizeof *ns);
            if (!ns) return hnd_error_set("out of memory");
            r->st = ns;
            r->st_cap = ncap;
        }
        k = r->nst++;
        r->st[k] = (storage_rec){.key = key->u.str.s, .dtype = dt};
        if ((size_t)r->nst * 2 > r->hash_cap && rehash(r, r->hash_cap ? r->hash_cap * 2 : 128) < 0) return -1;
        else if ((size_t)r->nst * 2 <= r->hash_cap) {
            size_t i = hash_str(key->u.str.s) & (r->hash_cap - 1);
            while (r->hash[i] >= 0) i = (i + 1) & (r->hash_cap - 1);
            r->hash[i] = k;
        }
    }
    *idx = k;
    /* Legacy views: (view_key, offset, size) in elements of the storage. */
    const pk_value *vm = pk_item(t, 5);
    if (vm && vm->kind != PK_NONE) {
        const pk_value *off = pk_item(vm, 1), *sz = pk_item(vm, 2);
        size_t es = ct_dtype_size(dt);
        if (vm->kind != PK_TUPLE || !off || !sz || off->kind != PK_INT || sz->kind != PK_INT || off->u.i < 0 ||
            sz->u.i < 0 || (uint64_t)off->u.i > SIZE_MAX / es || (uint64_t)sz->u.i > SIZE_MAX / es)
            return hnd_error_set("storage '%s': bad view metadata", key->u.str.s);
        *view_off = (size_t)off->u.i * es;
        *view_limit = (size_t)sz->u.i * es;
    }
    return 0;
}

/* zip: read <prefix>/data/<key> into a malloc'ed buffer. */
static int load_zip_storage(reader *r, storage_rec *s) {
    char path[1024];
    if ((size_t)snprintf(path, sizeof path, "%s/data/%s", r->prefix, s->key) >= sizeof path)
        return hnd_error_set("storage key '%s' too long", s->key);
    zip_stat_t zs;
    zip_int64_t ix = zip_name_locate(r->zip, path, 0);
    if (ix < 0 || zip_stat_index(r->zip, (zip_uint64_t)ix, 0, &zs) < 0 || !(zs.valid & ZIP_STAT_SIZE))
        return hnd_error_set("missing storage record '%s'", path);
    if (zs.size > r->max_total || r->loaded_bytes > r->max_total - zs.size)
        return hnd_error_set("storage record '%s' (%llu bytes) exceeds the size limit of %zu bytes", path,
                             (unsigned long long)zs.size, r->max_total);
    size_t n = (size_t)zs.size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return hnd_error_set("out of memory reading '%s' (%zu bytes)", path, n);
    zip_file_t *f = zip_fopen_index(r->zip, (zip_uint64_t)ix, 0);
    zip_int64_t got = f ? zip_fread(f, buf, n) : -1;
    if (!f || got < 0 || (size_t)got != n) {
        hnd_error_set("cannot read storage record '%s': %s", path, f ? zip_file_strerror(f) : zip_strerror(r->zip));
        if (f) zip_fclose(f);
        free(buf);
        return -1;
    }
    zip_fclose(f);
    s->owned = buf;
    s->data = buf;
    s->nbytes = n;
    r->loaded_bytes += n;
    return 0;
}

/* ---------------------------------------------------------------- gather */

static int mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }

/* Copy the view e into a new contiguous tensor t. */
static int gather(reader *r, const entry *e, ws_tensor *t, size_t *total) {
    const pk_tensor *v = e->view;
    storage_rec *s = &r->st[e->storage];
    size_t es = ct_dtype_size(e->dtype);
    t->dtype = e->dtype;
    t->ndim = v->ndim;
    size_t numel = 1;
    for (int i = 0; i < v->ndim; i++) {
        t->shape[i] = v->shape[i];
        if (!mul_ok(numel, (size_t)v->shape[i], &numel))
            return hnd_error_set("tensor '%s': size overflows", e->name);
    }
    size_t nbytes;
    if (!mul_ok(numel, es, &nbytes) || nbytes > r->max_total || *total > r->max_total - nbytes)
        return hnd_error_set("tensor '%s': data exceeds the size limit of %zu bytes", e->name, r->max_total);
    if (!s->data && numel) return hnd_error_set("tensor '%s': storage '%s' has no data record", e->name, s->key);
    /* Bytes of the (possibly legacy-view) storage this tensor may touch. */
    size_t avail = 0;
    if (s->data && e->view_off <= s->nbytes) avail = s->nbytes - e->view_off;
    if (e->view_limit < avail) avail = e->view_limit;
    size_t avail_el = avail / es;
    const uint8_t *base = s->data ? s->data + (e->view_off <= s->nbytes ? e->view_off : 0) : NULL;
    int contiguous = 1;
    if (numel) {
        /* Highest element index the view reaches, with overflow checks. */
        uint64_t extent = (uint64_t)v->offset, expect = 1;
        for (int i = v->ndim - 1; i >= 0; i--) {
            if (v->stride[i] < 0) return hnd_error_set("tensor '%s': negative stride", e->name);
            uint64_t span;
            if (__builtin_mul_overflow((uint64_t)(v->shape[i] - 1), (uint64_t)v->stride[i], &span) ||
                __builtin_add_overflow(extent, span, &extent))
                return hnd_error_set("tensor '%s': view overflows", e->name);
            if (v->shape[i] != 1 && (uint64_t)v->stride[i] != expect) contiguous = 0;
            expect *= (uint64_t)v->shape[i];
        }
        if (extent >= avail_el)
            return hnd_error_set("tensor '%s': storage '%s' has %zu elements, view needs %llu", e->name, s->key,
                                 avail_el, (unsigned long long)extent + 1);
    }
    t->nbytes = nbytes;
    const uint8_t *src = numel ? base + (size_t)v->offset * es : NULL;
    if (numel && contiguous && s->owned && s->refs == 1 && v->offset == 0 && e->view_off == 0 &&
        nbytes == s->nbytes) {
        t->data = s->owned; /* sole exact user: take the record over */
        s->owned = NULL;
        s->data = NULL;
    } else {
        t->data = malloc(nbytes ? nbytes : 1);
        if (!t->data) return hnd_error_set("tensor '%s': out of memory (%zu bytes)", e->name, nbytes);
        if (numel && contiguous) {
            memcpy(t->data, src, nbytes);
        } else if (numel) {
            /* Odometer over all but the last dimension; inner rows element-wise. */
            int nd = v->ndim;
            int64_t idx[CT_MAX_DIMS] = {0};
            int64_t inner = nd ? v->shape[nd - 1] : 1, istr = nd ? v->stride[nd - 1] : 0;
            uint8_t *dst = t->data;
            for (;;) {
                size_t off = 0;
                for (int i = 0; i < nd - 1; i++) off += (size_t)idx[i] * (size_t)v->stride[i];
                const uint8_t *row = src + off * es;
                for (int64_t j = 0; j < inner; j++, dst += es) memcpy(dst, row + (size_t)(j * istr) * es, es);
                int d = nd - 2;
                while (d >= 0 && ++idx[d] == v->shape[d]) idx[d--] = 0;
                if (d < 0) break;
            }
        }
    }
    *total += nbytes;
    return 0;
}

/* ---------------------------------------------------------------- top level */

static int cmp_names(const void *a, const void *b) {
    return strcmp(((const ws_tensor *)a)->name, ((const ws_tensor *)b)->name);
}

/* Pick the state dict, list its tensors and register their storages. */
static int collect(reader *r, const pk_value *root, pth_state *out) {
    if (!root || root->kind != PK_DICT)
        return hnd_error_set("top-level object is a %s, not a dict (save model.state_dict(), not the model)",
                             root ? pk_kind_name(root->kind) : "nothing");
    const pk_value *sd = root;
    static const char *const containers[] = {"model", "state_dict"};
    for (int i = 0; i < 2; i++) {
        const pk_value *v = pk_dict_get(root, containers[i]);
        if (v && v->kind == PK_DICT) {
            sd = v;
            out->container = containers[i];
            break;
        }
    }
    size_t n = sd->u.dict.n;
    r->ent = calloc(n ? n : 1, sizeof *r->ent);
    if (!r->ent) return hnd_error_set("out of memory");
    for (size_t i = 0; i < n; i++) {
        const pk_value *k = sd->u.dict.keys[i], *v = sd->u.dict.vals[i];
        if (k->kind != PK_STR || v->kind != PK_TENSOR || strlen(k->u.str.s) != k->u.str.len) {
            out->skipped++;
            continue;
        }
        entry *e = &r->ent[r->nent];
        e->name = k->u.str.s;
        e->view = &v->u.tensor;
        if (add_storage(r, v->u.tensor.storage, &e->storage, &e->view_off, &e->view_limit) < 0)
            return hnd_error_prefix("tensor '%s'", e->name);
        e->dtype = r->st[e->storage].dtype;
        if (v->u.tensor.has_dtype && dtype_from_global(v->u.tensor.dtype, &e->dtype) < 0) {
            char g[256];
            return hnd_error_set("tensor '%s': unsupported dtype %s", e->name,
                                 global_name(v->u.tensor.dtype, g, sizeof g));
        }
        r->st[e->storage].refs++;
        r->nent++;
    }
    return 0;
}

/* Gather every entry into out->tensors and reject duplicate names. */
static int gather_all(reader *r, pth_state *out) {
    out->tensors = calloc(r->nent ? (size_t)r->nent : 1, sizeof *out->tensors);
    if (!out->tensors) return hnd_error_set("out of memory");
    for (int i = 0; i < r->nent; i++) {
        ws_tensor *t = &out->tensors[i];
        if (!(t->name = strdup(r->ent[i].name))) return hnd_error_set("out of memory");
        out->count = i + 1; /* so that pth_state_clear sees it */
        if (gather(r, &r->ent[i], t, &out->total_bytes) < 0) return -1;
    }
    if (r->nent > 1) {
        ws_tensor *sorted = malloc((size_t)r->nent * sizeof *sorted);
        if (!sorted) return hnd_error_set("out of memory");
        memcpy(sorted, out->tensors, (size_t)r->nent * sizeof *sorted);
        qsort(sorted, (size_t)r->nent, sizeof *sorted, cmp_names);
        for (int i = 1; i < r->nent; i++)
            if (strcmp(sorted[i - 1].name, sorted[i].name) == 0) {
                hnd_error_set("duplicate key '%s'", sorted[i].name);
                free(sorted);
                return -1;
            }
        free(sorted);
    }
    return 0;
}

/* The legacy magic number 0x1950a86a20f9469cfc6c as LONG1 little-endian bytes. */
static const uint8_t legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

static int load_legacy(reader *r, const uint8_t *buf, size_t len, pth_state *out) {
    size_t pos = 0;
    pk_value *v = pk_parse(r->pk, buf, len, &pos);
    if (!v || v->kind != PK_BIGINT || v->u.str.len != sizeof legacy_magic ||
        memcmp(v->u.str.s, legacy_magic, sizeof legacy_magic) != 0)
        return hnd_error_set("not a PyTorch file: neither a zip archive nor the legacy magic number");
    out->format = "legacy";
    if (!(v = pk_parse(r->pk, buf, len, &pos))) return hnd_error_prefix("protocol version");
    if (v->kind != PK_INT || v->u.i != 1001)
        return hnd_error_set("unsupported legacy protocol version (expected 1001)");
    if (!(v = pk_parse(r->pk, buf, len, &pos))) return hnd_error_prefix("sys_info");
    const pk_value *le = pk_dict_get(v, "little_endian");
    if (le && le->kind == PK_BOOL && !le->u.b) return hnd_error_set("big-endian files are not supported");
    pk_value *root = pk_parse(r->pk, buf, len, &pos);
    if (!root) return -1;
    /* Every storage written below needs its type, even those of entries we
     * skip (optimizer state), so register all persistent ids first. */
    size_t npid;
    pk_value *const *pids = pk_persistent_ids(r->pk, &npid);
    for (size_t i = 0; i < npid; i++) {
        const pk_value *t = pids[i]->u.persid;
        if (t && t->kind == PK_TUPLE && pk_is_str(pk_item(t, 0), "module")) continue; /* nn.Module source */
        int idx;
        size_t a, b;
        if (add_storage(r, pids[i], &idx, &a, &b) < 0) return -1;
    }
    if (collect(r, root, out) < 0) return -1;
    pk_value *keys = pk_parse(r->pk, buf, len, &pos);
    if (!keys) return hnd_error_prefix("storage key list");
    if (keys->kind != PK_LIST) return hnd_error_set("storage key list is a %s", pk_kind_name(keys->kind));
    for (size_t i = 0; i < keys->u.seq.n; i++) {
        const pk_value *k = keys->u.seq.items[i];
        if (k->kind != PK_STR) return hnd_error_set("storage key %zu is not a str", i);
        int idx = find_storage(r, k->u.str.s);
        if (idx < 0) return hnd_error_set("storage '%s' is listed but never referenced", k->u.str.s);
        storage_rec *s = &r->st[idx];
        if (len - pos < 8)
            return hnd_error_set("truncated at offset %zu: storage '%s' has no size field", len, s->key);
        int64_t count;
        memcpy(&count, buf + pos, 8);
        pos += 8;
        size_t nb;
        if (count < 0 || !mul_ok((size_t)count, ct_dtype_size(s->dtype), &nb))
            return hnd_error_set("offset %zu: storage '%s': bad element count %lld", pos - 8, s->key,
                                 (long long)count);
        if (nb > len - pos)
            return hnd_error_set("truncated at offset %zu: storage '%s' needs %zu bytes at offset %zu", len, s->key,
                                 nb, pos);
        s->data = buf + pos;
        s->nbytes = nb;
        pos += nb;
    }
    return gather_all(r, out);
}

/* Find "<prefix>/data.pkl" for the single top-level folder <prefix>. */
static int zip_find_pickle(reader *r, char **pkl_name) {
    zip_int64_t n = zip_get_num_entries(r->zip, 0);
    const char *found = NULL;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(r->zip, (zip_uint64_t)i, 0);
        if (!nm) continue;
        const char *slash = strchr(nm, '/');
        if (!slash || slash == nm || strcmp(slash, "/data.pkl") != 0) continue;
        if (found) return hnd_error_set("several data.pkl records ('%s' and '%s')", found, nm);
        found = nm;
    }
    if (!found) return hnd_error_set("zip archive without <folder>/data.pkl: not a torch.save file");
    size_t pl = strlen(found) - strlen("/data.pkl");
    char *prefix = pk_alloc(r->pk, pl + 1);
    *pkl_name = pk_alloc(r->pk, strlen(found) + 1);
    if (!prefix || !*pkl_name) return -1;
    memcpy(prefix, found, pl);
    strcpy(*pkl_name, found);
    r->prefix = prefix;
    return 0;
}

/* Read a whole (small) zip record into the pickle arena. NULL with *len 0
 * if absent (no error set); NULL with *len SIZE_MAX and an error otherwise. */
static uint8_t *zip_read_small(reader *r, const char *name, size_t *len, size_t limit) {
    zip_stat_t zs;
    *len = 0;
    if (zip_stat(r->zip, name, 0, &zs) < 0 || !(zs.valid & ZIP_STAT_SIZE)) return NULL;
    if (zs.size > limit) {
        hnd_error_set("record '%s' too large (%llu bytes)", name, (unsigned long long)zs.size);
        *len = SIZE_MAX;
        return NULL;
    }
    uint8_t *buf = pk_alloc(r->pk, (size_t)zs.size + 1);
    zip_file_t *f = buf ? zip_fopen(r->zip, name, 0) : NULL;
    zip_int64_t got = f ? zip_fread(f, buf, zs.size) : -1;
    if (f) zip_fclose(f);
    if (!buf || got < 0 || (zip_uint64_t)got != zs.size) {
        if (buf) hnd_error_set("cannot read record '%s': %s", name, zip_strerror(r->zip));
        *len = SIZE_MAX;
        return NULL;
    }
    *len = (size_t)zs.size;
    return buf;
}

static int load_zip(reader *r, const uint8_t *buf, size_t len, pth_state *out) {
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *src = zip_source_buffer_create(buf, len, 0, &zerr);
    if (!src) {
        hnd_error_set("cannot open zip: %s", zip_error_strerror(&zerr));
        zip_error_fini(&zerr);
        return -1;
    }
    r->zip = zip_open_from_source(src, ZIP_RDONLY, &zerr);
    if (!r->zip) {
        hnd_error_set("not a valid zip archive: %s", zip_error_strerror(&zerr));
        zip_source_free(src);
        zip_error_fini(&zerr);
        return -1;
    }
    zip_error_fini(&zerr);
    out->format = "zip";
    char *pkl_name = NULL, bo_name[1024];
    if (zip_find_pickle(r, &pkl_name) < 0) return -1;
    /* torch 2.x records the writer's byte order; older files are little. */
    snprintf(bo_name, sizeof bo_name, "%s/byteorder", r->prefix);
    size_t bl;
    uint8_t *bo = zip_read_small(r, bo_name, &bl, 64);
    if (!bo && bl == SIZE_MAX) return -1;
    if (bo && !(bl >= 6 && memcmp(bo, "little", 6) == 0))
        return hnd_error_set("byte order '%.*s' is not supported", (int)(bl < 16 ? bl : 16), (const char *)bo);
    size_t plen, pos = 0;
    uint8_t *pkl = zip_read_small(r, pkl_name, &plen, r->opt && r->opt->max_pickle_memory ? r->opt->max_pickle_memory
                                                                                        : (size_t)1 << 30);
    if (!pkl) return plen == SIZE_MAX ? -1 : hnd_error_set("cannot read '%s'", pkl_name);
    pk_value *root = pk_parse(r->pk, pkl, plen, &pos);
    if (!root) return hnd_error_prefix("%s", pkl_name);
    if (collect(r, root, out) < 0) return -1;
    for (int i = 0; i < r->nst; i++)
        if (load_zip_storage(r, &r->st[i]) < 0) return -1;
    return gather_all(r, out);
}

void pth_state_clear(pth_state *st) {
    if (!st) return;
    for (int i = 0; st->tensors && i < st->count; i++) {
        free(st->tensors[i].name);
        free(st->tensors[i].data);
    }
    free(st->tensors);
    memset(st, 0, sizeof *st);
}

int pth_load_from_memory(const void *buf, size_t len, const char *name, const pth_options *opt, pth_state *out) {
    if (!name) name = "<memory>";
    memset(out, 0, sizeof *out);
    if (!buf || len == 0) return hnd_error_set("%s: empty file", name);
    reader r = {.name = name, .opt = opt};
    r.max_total = opt && opt->max_total_bytes ? opt->max_total_bytes : DEFAULT_MAX_TOTAL;
    pk_limits lim = {.max_memory = opt ? opt->max_pickle_memory : 0};
    r.pk = pk_new(&lim);
    int rc = -1;
    if (r.pk) {
        const uint8_t *b = buf;
        if (len >= 4 && memcmp(b, "PK\x03\x04", 4) == 0) rc = load_zip(&r, b, len, out);
        else rc = load_legacy(&r, b, len, out);
    }
    if (rc < 0) {
        hnd_error_prefix("%s", name);
        pth_state_clear(out);
    }
    for (int i = 0; i < r.nst; i++) free(r.st[i].owned);
    free(r.st);
    free(r.hash);
    free(r.ent);
    if (r.zip) zip_discard(r.zip);
    pk_destroy(r.pk);
    return rc;
}

int pth_load(const char *path, const pth_options *opt, pth_state *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hnd_error_set("%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        int e = errno;
        close(fd);
        return hnd_error_set("%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return hnd_error_set("%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return hnd_error_set("%s: empty file", path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return hnd_error_set("%s: cannot map: %s", path, strerror(errno));
    int rc = pth_load_from_memory(map, (size_t)sb.st_size, path, opt, out);
    munmap(map, (size_t)sb.st_size);
    return rc;
}
