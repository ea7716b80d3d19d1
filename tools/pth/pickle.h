/* pickle.h: a small, bounded unpickler for what torch.save writes.
 *
 * It understands protocols 0-4 well enough for state dicts and checkpoints:
 * None/bool/int/float/str/bytes, tuple/list/dict/set, globals, persistent ids
 * and the torch tensor rebuild calls. Nothing is ever executed: a call to an
 * unknown global (REDUCE, NEWOBJ, OBJ) becomes an opaque object that keeps
 * its callable and arguments. Every read is bounds-checked; errors name the
 * byte offset and the opcode ("pickle: offset 12: unknown opcode 0xff").
 *
 * All values live in the arena of a pk_ctx and are freed together by
 * pk_destroy(); values may be shared (memo) or even cyclic, so walkers must not
 * recurse without a depth limit. */
#ifndef HND_PICKLE_H
#define HND_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "ct_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PK_NONE,
    PK_BOOL,
    PK_INT,     /* fits in int64 */
    PK_BIGINT,  /* LONG1/LONG4 wider than 8 bytes: kept as raw LE bytes */
    PK_FLOAT,
    PK_STR,     /* UTF-8 as pickled (not validated) */
    PK_BYTES,
    PK_TUPLE,
    PK_LIST,
    PK_SET,     /* set and frozenset */
    PK_DICT,    /* ordered; dict, OrderedDict */
    PK_GLOBAL,  /* module.name, not resolved */
    PK_PERSID,  /* persistent id: the object torch's persistent_load sees */
    PK_OBJECT,  /* opaque: an unknown callable applied to args (+ BUILD state) */
    PK_TENSOR,  /* torch._utils._rebuild_tensor*, _rebuild_parameter */
} pk_kind;

typedef struct pk_value pk_value;

typedef struct {
    pk_value **items;
    size_t n, cap;
} pk_seq;

typedef struct {
    pk_value **keys, **vals;
    size_t n, cap;
    pk_value *state; /* BUILD on a dict (OrderedDict's _metadata): kept, unused */
} pk_dict;

/* A tensor view as pickled: storage is the PK_PERSID the reader resolves. */
typedef struct {
    pk_value *storage;
    int64_t offset;              /* in elements */
    int ndim;
    int64_t shape[CT_MAX_DIMS];
    int64_t stride[CT_MAX_DIMS]; /* in elements */
    int requires_grad;
    int has_dtype;               /* _rebuild_tensor_v3 passes the dtype... */
    pk_value *dtype;             /* ...as a global such as torch.float32 */
} pk_tensor;

struct pk_value {
    pk_kind kind;
    union {
        int b;
        int64_t i;
        double f;
        struct { char *s; size_t len; } str;   /* PK_STR, PK_BYTES, PK_BIGINT; NUL-terminated */
        pk_seq seq;                            /* PK_TUPLE, PK_LIST, PK_SET */
        pk_dict dict;
        struct { char *module, *name; } global;
        pk_value *persid;
        struct { pk_value *callable, *args, *state; size_t dropped; } obj;
        pk_tensor tensor;
    } u;
};

typedef struct pk_ctx pk_ctx;

/* Limits; 0 in any field means the default. */
typedef struct {
    size_t max_memory;  /* arena bytes (default 1 GiB) */
    size_t max_stack;   /* values on the stack (default 1<<22) */
    size_t max_marks;   /* nested MARKs (default 1<<16) */
    size_t max_memo;    /* memo entries (default 1<<22) */
} pk_limits;

/* A context owning the arena; limits may be NULL. NULL if out of memory. */
pk_ctx *pk_new(const pk_limits *limits);
/* Free the context and every value parsed with it. NULL is fine. */
void pk_destroy(pk_ctx *ctx);

/* Parse one pickle starting at buf[*pos] (buf holds len bytes). On success
 * returns the value and moves *pos past STOP; several pickles in a row (the
 * legacy torch format) are read by calling again. Offsets in error messages
 * are positions in buf. NULL with hnd_error() set on failure. The memo is
 * reset for each call; values stay valid until pk_destroy(). */
pk_value *pk_parse(pk_ctx *ctx, const uint8_t *buf, size_t len, size_t *pos);

/* The persistent ids created by the last pk_parse(), in stream order (the
 * legacy format needs every storage's type, even those of skipped entries). */
pk_value *const *pk_persistent_ids(const pk_ctx *ctx, size_t *n);

/* Allocation in the context's arena (also for callers building values). */
void *pk_alloc(pk_ctx *ctx, size_t size);

/* ---- small helpers for walking values (all NULL-safe) ---- */

/* Name of a kind ("dict", "tensor", ...). */
const char *pk_kind_name(pk_kind k);
/* Dict lookup by string key; the last matching entry wins, like Python. */
pk_value *pk_dict_get(const pk_value *dict, const char *key);
/* 1 if v is a PK_STR equal to s. */
int pk_is_str(const pk_value *v, const char *s);
/* 1 if v is a PK_GLOBAL module.name. */
int pk_is_global(const pk_value *v, const char *module, const char *name);
/* Item i of a tuple/list, NULL if out of range. */
pk_value *pk_item(const pk_value *seq, size_t i);

#ifdef __cplusplus
}
#endif
#endif
