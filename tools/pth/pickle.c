/* pickle.c: the bounded unpickler declared in pickle.h.
 *
 * Design: one pass over the bytes with an explicit value stack, a MARK stack
 * and a hashed memo; no recursion anywhere, so hostile nesting or cycles
 * cannot exhaust the C stack. Values are arena-allocated so that an error at
 * any point frees everything with pk_destroy() and nothing can leak. */
#include "pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

/* ---------------------------------------------------------------- arena */

typedef struct pk_block {
    struct pk_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} pk_block;

#define PK_BLOCK_SIZE ((size_t)64 * 1024)

typedef struct {
    uint64_t key;
    pk_value *v; /* NULL: empty slot (values are never NULL) */
} pk_memo_slot;

struct pk_ctx {
    pk_limits lim;
    pk_block *blocks;
    size_t arena_total;
    /* parse state, reset by each pk_parse */
    const uint8_t *buf;
    size_t len, pos, op_pos;
    int op;
    pk_value **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    pk_memo_slot *memo;
    size_t memo_n, memo_cap;
    pk_value **pids; /* persistent ids of the last parse, in order (arena) */
    size_t npids, pids_cap;
};

pk_ctx *pk_new(const pk_limits *limits) {
    pk_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        hnd_error_set("pickle: out of memory");
        return NULL;
    }
    if (limits) c->lim = *limits;
    if (!c->lim.max_memory) c->lim.max_memory = (size_t)1 << 30;
    if (!c->lim.max_stack) c->lim.max_stack = (size_t)1 << 22;
    if (!c->lim.max_marks) c->lim.max_marks = (size_t)1 << 16;
    if (!c->lim.max_memo) c->lim.max_memo = (size_t)1 << 22;
    /* Allocated up front: `stack + start` must never be arithmetic on NULL. */
    c->stack_cap = c->lim.max_stack < 256 ? c->lim.max_stack : 256;
    c->stack = malloc(c->stack_cap * sizeof *c->stack);
    if (!c->stack) {
        free(c);
        hnd_error_set("pickle: out of memory");
        return NULL;
    }
    return c;
}

void pk_destroy(pk_ctx *c) {
    if (!c) return;
    pk_block *b = c->blocks;
    while (b) {
        pk_block *n = b->next;
        free(b);
        b = n;
    }
    free(c->stack);
    free(c->marks);
    free(c->memo);
    free(c);
}

void *pk_alloc(pk_ctx *c, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    pk_block *b = c->blocks;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > PK_BLOCK_SIZE / 4 ? size : PK_BLOCK_SIZE;
        if (size > c->lim.max_memory || c->arena_total > c->lim.max_memory - size) {
            hnd_error_set("pickle: memory limit of %zu bytes exceeded", c->lim.max_memory);
            return NULL;
        }
        pk_block *nb = malloc(sizeof *nb + cap);
        if (!nb) {
            hnd_error_set("pickle: out of memory (%zu bytes)", cap);
            return NULL;
        }
        nb->used = 0;
        nb->cap = cap;
        c->arena_total += cap;
        if (b && cap != PK_BLOCK_SIZE) {
            /* A big one-off block goes behind the current one so that the
             * current block keeps serving small allocations. */
            nb->next = b->next;
            b->next = nb;
            nb->used = size;
            return memset(nb->data, 0, size);
        }
        nb->next = b;
        c->blocks = b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    return memset(p, 0, size);
}

/* ---------------------------------------------------------------- opcodes */

/* The opcodes of pickle protocols 0-5, with the names CPython's pickle.py
 * and pickletools give them (error messages use the same names, so they can
 * be compared with `python3 -m pickletools` output). */
typedef enum {
    OP_MARK = '(',
    OP_STOP = '.',
    OP_POP = '0',
    OP_POP_MARK = '1',
    OP_DUP = '2',
    OP_FLOAT = 'F',
    OP_INT = 'I',
    OP_BININT = 'J',
    OP_BININT1 = 'K',
    OP_LONG = 'L',
    OP_BININT2 = 'M',
    OP_NONE = 'N',
    OP_PERSID = 'P',
    OP_BINPERSID = 'Q',
    OP_REDUCE = 'R',
    OP_STRING = 'S',
    OP_BINSTRING = 'T',
    OP_SHORT_BINSTRING = 'U',
    OP_UNICODE = 'V',
    OP_BINUNICODE = 'X',
    OP_APPEND = 'a',
    OP_BUILD = 'b',
    OP_GLOBAL = 'c',
    OP_DICT = 'd',
    OP_EMPTY_DICT = '}',
    OP_APPENDS = 'e',
    OP_GET = 'g',
    OP_BINGET = 'h',
    OP_INST = 'i',
    OP_LONG_BINGET = 'j',
    OP_LIST = 'l',
    OP_EMPTY_LIST = ']',
    OP_OBJ = 'o',
    OP_PUT = 'p',
    OP_BINPUT = 'q',
    OP_LONG_BINPUT = 'r',
    OP_SETITEM = 's',
    OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')',
    OP_SETITEMS = 'u',
    OP_BINFLOAT = 'G',
    OP_BINBYTES = 'B',
    OP_SHORT_BINBYTES = 'C',
    /* protocol 2 */
    OP_PROTO = 0x80,
    OP_NEWOBJ = 0x81,
    OP_EXT1 = 0x82,
    OP_EXT2 = 0x83,
    OP_EXT4 = 0x84,
    OP_TUPLE1 = 0x85,
    OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87,
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_LONG1 = 0x8a,
    OP_LONG4 = 0x8b,
    /* protocol 4 */
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE8 = 0x8d,
    OP_BINBYTES8 = 0x8e,
    OP_EMPTY_SET = 0x8f,
    OP_ADDITEMS = 0x90,
    OP_FROZENSET = 0x91,
    OP_NEWOBJ_EX = 0x92,
    OP_STACK_GLOBAL = 0x93,
    OP_MEMOIZE = 0x94,
    OP_FRAME = 0x95,
    /* protocol 5 */
    OP_BYTEARRAY8 = 0x96,
    OP_NEXT_BUFFER = 0x97,
    OP_READONLY_BUFFER = 0x98,
} pk_opcode;

/* Which step_* function handles an opcode (0: none, an unknown opcode). */
enum { G_UNKNOWN, G_CONTROL, G_SCALAR, G_CONTAINER, G_OBJECT, G_MEMO, G_UNSUPPORTED };

typedef struct {
    const char *name;
    int group;
} op_info;

#define OPI(op, group) [OP_##op] = {#op, group}
static const op_info op_table[256] = {
    OPI(MARK, G_CONTROL), OPI(STOP, G_CONTROL), OPI(POP, G_CONTROL),
    OPI(POP_MARK, G_CONTROL), OPI(DUP, G_CONTROL), OPI(PROTO, G_CONTROL),
    OPI(FRAME, G_CONTROL),

    OPI(NONE, G_SCALAR), OPI(NEWTRUE, G_SCALAR), OPI(NEWFALSE, G_SCALAR),
    OPI(INT, G_SCALAR), OPI(LONG, G_SCALAR), OPI(BININT, G_SCALAR),
    OPI(BININT1, G_SCALAR), OPI(BININT2, G_SCALAR), OPI(LONG1, G_SCALAR),
    OPI(LONG4, G_SCALAR), OPI(FLOAT, G_SCALAR), OPI(BINFLOAT, G_SCALAR),
    OPI(STRING, G_SCALAR), OPI(BINSTRING, G_SCALAR), OPI(SHORT_BINSTRING, G_SCALAR),
    OPI(UNICODE, G_SCALAR), OPI(BINUNICODE, G_SCALAR), OPI(SHORT_BINUNICODE, G_SCALAR),
    OPI(BINUNICODE8, G_SCALAR), OPI(BINBYTES, G_SCALAR), OPI(SHORT_BINBYTES, G_SCALAR),
    OPI(BINBYTES8, G_SCALAR), OPI(BYTEARRAY8, G_SCALAR),

    OPI(EMPTY_TUPLE, G_CONTAINER), OPI(EMPTY_LIST, G_CONTAINER), OPI(EMPTY_DICT, G_CONTAINER),
    OPI(EMPTY_SET, G_CONTAINER), OPI(TUPLE, G_CONTAINER), OPI(LIST, G_CONTAINER),
    OPI(FROZENSET, G_CONTAINER), OPI(TUPLE1, G_CONTAINER), OPI(TUPLE2, G_CONTAINER),
    OPI(TUPLE3, G_CONTAINER), OPI(DICT, G_CONTAINER), OPI(APPEND, G_CONTAINER),
    OPI(APPENDS, G_CONTAINER), OPI(ADDITEMS, G_CONTAINER), OPI(SETITEM, G_CONTAINER),
    OPI(SETITEMS, G_CONTAINER),

    OPI(GLOBAL, G_OBJECT), OPI(STACK_GLOBAL, G_OBJECT), OPI(REDUCE, G_OBJECT),
    OPI(NEWOBJ, G_OBJECT), OPI(NEWOBJ_EX, G_OBJECT), OPI(OBJ, G_OBJECT),
    OPI(INST, G_OBJECT), OPI(BUILD, G_OBJECT), OPI(PERSID, G_OBJECT),
    OPI(BINPERSID, G_OBJECT),

    OPI(PUT, G_MEMO), OPI(BINPUT, G_MEMO), OPI(LONG_BINPUT, G_MEMO),
    OPI(MEMOIZE, G_MEMO), OPI(GET, G_MEMO), OPI(BINGET, G_MEMO),
    OPI(LONG_BINGET, G_MEMO),

    OPI(EXT1, G_UNSUPPORTED), OPI(EXT2, G_UNSUPPORTED), OPI(EXT4, G_UNSUPPORTED),
    OPI(NEXT_BUFFER, G_UNSUPPORTED), OPI(READONLY_BUFFER, G_UNSUPPORTED),
};
#undef OPI

/* The opcode's name, "?" for bytes that are no opcode (and for c->op == -1,
 * before the first byte of an opcode is read). */
static const char *op_name(int op) {
    if (op < 0 || op > 255 || !op_table[op].name) return "?";
    return op_table[op].name;
}

/* ---------------------------------------------------------------- errors */

/* "pickle: offset N: OPNAME: message"; returns -1. */
static int perr(pk_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(pk_ctx *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hnd_error_set("pickle: offset %zu: %s: %s", c->op_pos, op_name(c->op), msg);
}

/* ---------------------------------------------------------------- input */

/* The next n bytes, or NULL (truncation error) if fewer remain. */
static const uint8_t *need(pk_ctx *c, size_t n) {
    if (c->len - c->pos < n) {
        if (c->op < 0) {
            hnd_error_set("pickle: truncated at offset %zu (no STOP opcode)", c->len);
            return NULL;
        }
        hnd_error_set("pickle: truncated at offset %zu (%s at offset %zu needs %zu bytes, %zu left)",
                      c->len, op_name(c->op), c->op_pos, n, c->len - c->pos);
        return NULL;
    }
    const uint8_t *p = c->buf + c->pos;
    c->pos += n;
    return p;
}

static uint64_t le_u(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A protocol-0 text argument up to '\n' (excluded). */
static int read_line(pk_ctx *c, const char **s, size_t *n) {
    const uint8_t *start = c->buf + c->pos;
    const uint8_t *nl = memchr(start, '\n', c->len - c->pos);
    if (!nl) {
        hnd_error_set("pickle: truncated at offset %zu (%s at offset %zu: no end of line)", c->len,
                      op_name(c->op), c->op_pos);
        return -1;
    }
    *s = (const char *)start;
    *n = (size_t)(nl - start);
    c->pos += *n + 1;
    return 0;
}

/* ---------------------------------------------------------------- values */

static pk_value *new_val(pk_ctx *c, pk_kind k) {
    pk_value *v = pk_alloc(c, sizeof *v);
    if (v) v->kind = k;
    return v;
}

static pk_value *new_int(pk_ctx *c, int64_t i) {
    pk_value *v = new_val(c, PK_INT);
    if (v) v->u.i = i;
    return v;
}

/* A str/bytes/bigint value holding a NUL-terminated copy of n bytes. */
static pk_value *new_blob(pk_ctx *c, pk_kind k, const void *p, size_t n) {
    if (n == SIZE_MAX) {
        hnd_error_set("pickle: string too long");
        return NULL;
    }
    pk_value *v = new_val(c, k);
    if (!v) return NULL;
    char *s = pk_alloc(c, n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, p, n);
    v->u.str.s = s;
    v->u.str.len = n;
    return v;
}

/* Append to a growable array of pointers kept in the arena (old arrays are
 * abandoned to the arena; doubling bounds the waste to 2x). */
static int grow(pk_ctx *c, pk_value ***arr, size_t n, size_t *cap, size_t extra) {
    if (*cap - n >= extra) return 0;
    size_t ncap = *cap ? *cap : 4;
    while (ncap - n < extra) {
        if (ncap > SIZE_MAX / 2 / sizeof(pk_value *)) return hnd_error_set("pickle: container too large");
        ncap *= 2;
    }
    pk_value **na = pk_alloc(c, ncap * sizeof *na);
    if (!na) return -1;
    if (n) memcpy(na, *arr, n * sizeof *na);
    *arr = na;
    *cap = ncap;
    return 0;
}

static int seq_add(pk_ctx *c, pk_value *seq, pk_value *const *items, size_t n) {
    pk_seq *s = &seq->u.seq;
    if (grow(c, &s->items, s->n, &s->cap, n) < 0) return -1;
    if (n) memcpy(s->items + s->n, items, n * sizeof *items);
    s->n += n;
    return 0;
}

static int dict_add(pk_ctx *c, pk_value *d, pk_value *k, pk_value *v) {
    pk_dict *dd = &d->u.dict;
    size_t kc = dd->cap;
    if (grow(c, &dd->keys, dd->n, &kc, 1) < 0) return -1;
    if (grow(c, &dd->vals, dd->n, &dd->cap, 1) < 0) return -1;
    dd->keys[dd->n] = k;
    dd->vals[dd->n] = v;
    dd->n++;
    return 0;
}

static pk_value *new_seq(pk_ctx *c, pk_kind k, pk_value *const *items, size_t n) {
    pk_value *v = new_val(c, k);
    if (!v || seq_add(c, v, items, n) < 0) return NULL;
    return v;
}

/* ---------------------------------------------------------------- stack */

/* Values above the innermost MARK are the only ones an opcode may touch. */
static size_t fence(const pk_ctx *c) { return c->nmarks ? c->marks[c->nmarks - 1] : 0; }

static int push(pk_ctx *c, pk_value *v) {
    if (!v) return -1;
    if (c->sp == c->stack_cap) {
        if (c->stack_cap >= c->lim.max_stack) return perr(c, "stack limit of %zu values exceeded", c->lim.max_stack);
        size_t ncap = c->stack_cap ? c->stack_cap * 2 : 256;
        if (ncap > c->lim.max_stack) ncap = c->lim.max_stack;
        pk_value **ns = realloc(c->stack, ncap * sizeof *ns);
        if (!ns) return perr(c, "out of memory");
        c->stack = ns;
        c->stack_cap = ncap;
    }
    c->stack[c->sp++] = v;
    return 0;
}

static pk_value *pop(pk_ctx *c) {
    if (c->sp <= fence(c)) {
        perr(c, "stack underflow");
        return NULL;
    }
    return c->stack[--c->sp];
}

static pk_value *top(pk_ctx *c) {
    if (c->sp <= fence(c)) {
        perr(c, "stack underflow");
        return NULL;
    }
    return c->stack[c->sp - 1];
}

/* Remove the innermost MARK; the values above it are stack[*start .. sp). */
static int pop_mark(pk_ctx *c, size_t *start) {
    if (!c->nmarks) return perr(c, "no MARK on the stack");
    *start = c->marks[--c->nmarks];
    return 0;
}

/* ---------------------------------------------------------------- memo */

static pk_memo_slot *memo_find(pk_ctx *c, uint64_t key) {
    if (!c->memo_cap) return NULL;
    size_t mask = c->memo_cap - 1;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;
    while (c->memo[i].v && c->memo[i].key != key) i = (i + 1) & mask;
    return &c->memo[i];
}

static int memo_put(pk_ctx *c, uint64_t key, pk_value *v) {
    pk_memo_slot *s = memo_find(c, key);
    if (s && s->v) {
        s->v = v;
        return 0;
    }
    if ((c->memo_n + 1) * 2 > c->memo_cap) {
        if (c->memo_n >= c->lim.max_memo) return perr(c, "memo limit of %zu entries exceeded", c->lim.max_memo);
        size_t ncap = c->memo_cap ? c->memo_cap * 2 : 64;
        pk_memo_slot *old = c->memo;
        size_t ocap = c->memo_cap;
        c->memo = calloc(ncap, sizeof *c->memo);
        if (!c->memo) {
            c->memo = old;
            return perr(c, "out of memory");
        }
        c->memo_cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].v) *memo_find(c, old[i].key) = old[i];
        free(old);
    }
    s = memo_find(c, key);
    s->key = key;
    s->v = v;
    c->memo_n++;
    return 0;
}

static pk_value *memo_get(pk_ctx *c, uint64_t key) {
    pk_memo_slot *s = memo_find(c, key);
    if (!s || !s->v) {
        perr(c, "memo key %llu not found", (unsigned long long)key);
        return NULL;
    }
    return s->v;
}

/* ---------------------------------------------------------------- calls */

int pk_is_global(const pk_value *v, const char *module, const char *name) {
    return v && v->kind == PK_GLOBAL && strcmp(v->u.global.module, module) == 0 &&
           strcmp(v->u.global.name, name) == 0;
}

static int is_builtin(const pk_value *f, const char *name) {
    return pk_is_global(f, "builtins", name) || pk_is_global(f, "__builtin__", name);
}

/* Read a tuple (or list) of ints into out[]; -1 if not that shape. */
static int int_tuple(const pk_value *v, int64_t *out, int *n) {
    if (!v || (v->kind != PK_TUPLE && v->kind != PK_LIST)) return -1;
    if (v->u.seq.n > CT_MAX_DIMS) return -2;
    for (size_t i = 0; i < v->u.seq.n; i++) {
        const pk_value *e = v->u.seq.items[i];
        if (e->kind != PK_INT) return -1;
        out[i] = e->u.i;
    }
    *n = (int)v->u.seq.n;
    return 0;
}

/* torch._utils._rebuild_tensor{,_v2,_v3}(storage, offset, size, stride, ...). */
static pk_value *rebuild_tensor(pk_ctx *c, const char *fn, const pk_value *args, int v3) {
    size_t n = args->u.seq.n;
    if (n < (v3 ? 7u : 4u)) {
        perr(c, "%s: expected at least %d arguments, got %zu", fn, v3 ? 7 : 4, n);
        return NULL;
    }
    pk_value *const *a = args->u.seq.items;
    if (a[0]->kind != PK_PERSID) {
        perr(c, "%s: storage is a %s, not a persistent id", fn, pk_kind_name(a[0]->kind));
        return NULL;
    }
    if (a[1]->kind != PK_INT || a[1]->u.i < 0) {
        perr(c, "%s: storage offset is not a non-negative int", fn);
        return NULL;
    }
    pk_value *t = new_val(c, PK_TENSOR);
    if (!t) return NULL;
    pk_tensor *tt = &t->u.tensor;
    tt->storage = a[0];
    tt->offset = a[1]->u.i;
    int nd = 0, ns = 0;
    int r1 = int_tuple(a[2], tt->shape, &nd), r2 = int_tuple(a[3], tt->stride, &ns);
    if (r1 == -2 || r2 == -2) {
        perr(c, "%s: more than %d dimensions", fn, CT_MAX_DIMS);
        return NULL;
    }
    if (r1 < 0 || r2 < 0 || nd != ns) {
        perr(c, "%s: size and stride must be tuples of ints of the same length", fn);
        return NULL;
    }
    for (int i = 0; i < nd; i++)
        if (tt->shape[i] < 0) {
            perr(c, "%s: negative size %lld", fn, (long long)tt->shape[i]);
            return NULL;
        }
    tt->ndim = nd;
    if (n > 4 && a[4]->kind == PK_BOOL) tt->requires_grad = a[4]->u.b;
    if (v3) {
        tt->has_dtype = 1;
        tt->dtype = a[6];
    }
    return t;
}

/* Latin-1 bytes from the UTF-8 str that protocol 2 uses to carry bytes
 * (_codecs.encode(str, 'latin1')). NULL with an error if not representable. */
static pk_value *latin1_bytes(pk_ctx *c, const pk_value *s) {
    pk_value *v = new_blob(c, PK_BYTES, NULL, 0);
    char *out = v ? pk_alloc(c, s->u.str.len + 1) : NULL;
    if (!out) return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s->u.str.s;
    for (size_t i = 0; i < s->u.str.len; i++) {
        if (p[i] < 0x80) {
            out[o++] = (char)p[i];
        } else if ((p[i] & 0xFE) == 0xC2 && i + 1 < s->u.str.len && (p[i + 1] & 0xC0) == 0x80) {
            out[o++] = (char)(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3F));
            i++;
        } else {
            perr(c, "_codecs.encode: string is not latin-1");
            return NULL;
        }
    }
    v->u.str.s = out;
    v->u.str.len = o;
    return v;
}

/* callable(*args) for the few callables we know; anything else becomes an
 * opaque object so that unknown entries can be skipped, never executed. */
static pk_value *call(pk_ctx *c, pk_value *f, pk_value *args) {
    if (args->kind == PK_TUPLE && f->kind == PK_GLOBAL) {
        size_t n = args->u.seq.n;
        pk_value *const *a = args->u.seq.items;
        const char *mod = f->u.global.module, *name = f->u.global.name;
        if (strcmp(mod, "torch._utils") == 0) {
            if (strcmp(name, "_rebuild_tensor_v2") == 0 || strcmp(name, "_rebuild_tensor") == 0)
                return rebuild_tensor(c, name, args, 0);
            if (strcmp(name, "_rebuild_tensor_v3") == 0) return rebuild_tensor(c, name, args, 1);
            if (strcmp(name, "_rebuild_parameter") == 0 || strcmp(name, "_rebuild_parameter_with_state") == 0) {
                if (n < 1 || a[0]->kind != PK_TENSOR) {
                    perr(c, "%s: first argument is not a tensor", name);
                    return NULL;
                }
                return a[0];
            }
        }
        if (pk_is_global(f, "collections", "OrderedDict") || is_builtin(f, "dict")) {
            pk_value *d = new_val(c, PK_DICT);
            if (!d) return NULL;
            if (n == 0) return d;
            if (n == 1 && (a[0]->kind == PK_LIST || a[0]->kind == PK_TUPLE)) {
                for (size_t i = 0; i < a[0]->u.seq.n; i++) {
                    pk_value *p = a[0]->u.seq.items[i];
                    if ((p->kind != PK_TUPLE && p->kind != PK_LIST) || p->u.seq.n != 2) {
                        perr(c, "%s: item %zu is not a pair", name, i);
                        return NULL;
                    }
                    if (dict_add(c, d, p->u.seq.items[0], p->u.seq.items[1]) < 0) return NULL;
                }
                return d;
            }
        }
        if ((is_builtin(f, "set") || is_builtin(f, "frozenset")) && n <= 1) {
            pk_value *s = new_val(c, PK_SET);
            if (!s) return NULL;
            if (n == 1 && (a[0]->kind == PK_LIST || a[0]->kind == PK_TUPLE))
                return seq_add(c, s, a[0]->u.seq.items, a[0]->u.seq.n) < 0 ? NULL : s;
            if (n == 0) return s;
        }
        if (pk_is_global(f, "torch", "Size") && n == 1 && a[0]->kind == PK_TUPLE) return a[0];
        if (pk_is_global(f, "_codecs", "encode") && n == 2 && a[0]->kind == PK_STR && a[1]->kind == PK_STR &&
            (strcmp(a[1]->u.str.s, "latin1") == 0 || strcmp(a[1]->u.str.s, "latin-1") == 0))
            return latin1_bytes(c, a[0]);
    }
    pk_value *o = new_val(c, PK_OBJECT);
    if (!o) return NULL;
    o->u.obj.callable = f;
    o->u.obj.args = args;
    return o;
}

/* ---------------------------------------------------------------- arguments */

/* Integer or bool from protocol 0's INT/LONG text ("I42\n", "I01\n", "L42L\n"). */
static pk_value *text_int(pk_ctx *c, int is_long) {
    const char *s;
    size_t n;
    if (read_line(c, &s, &n) < 0) return NULL;
    char tmp[32];
    if (is_long && n && s[n - 1] == 'L') n--;
    if (n == 0 || n >= sizeof tmp) {
        perr(c, "bad integer literal");
        return NULL;
    }
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (!is_long && (strcmp(tmp, "00") == 0 || strcmp(tmp, "01") == 0)) {
        pk_value *v = new_val(c, PK_BOOL);
        if (v) v->u.b = tmp[1] == '1';
        return v;
    }
    char *end;
    long long x = strtoll(tmp, &end, 10);
    if (*end) {
        perr(c, "bad integer literal '%s'", tmp);
        return NULL;
    }
    return new_int(c, (int64_t)x);
}

/* A persistent id, also remembered for pk_persistent_ids(). */
static pk_value *new_persid(pk_ctx *c, pk_value *id) {
    pk_value *v = new_val(c, PK_PERSID);
    if (!v || grow(c, &c->pids, c->npids, &c->pids_cap, 1) < 0) return NULL;
    v->u.persid = id;
    c->pids[c->npids++] = v;
    return v;
}

/* LONG1/LONG4: n bytes of little-endian two's complement. */
static pk_value *bin_long(pk_ctx *c, size_t n) {
    const uint8_t *p = need(c, n);
    if (!p) return NULL;
    if (n > 8) return new_blob(c, PK_BIGINT, p, n);
    if (n == 0) return new_int(c, 0);
    uint64_t u = le_u(p, (int)n);
    if (n < 8 && (p[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    int64_t i;
    memcpy(&i, &u, sizeof i);
    return new_int(c, i);
}

/* A length-prefixed str/bytes: lb bytes of little-endian length, then data. */
static pk_value *counted(pk_ctx *c, int lb, pk_kind k, int signed32) {
    const uint8_t *p = need(c, (size_t)lb);
    if (!p) return NULL;
    uint64_t n = le_u(p, lb);
    if (signed32 && (n & 0x80000000u)) {
        perr(c, "negative length");
        return NULL;
    }
    if (n > c->len - c->pos) {
        hnd_error_set("pickle: truncated at offset %zu (%s at offset %zu needs %llu bytes, %zu left)", c->len,
                      op_name(c->op), c->op_pos, (unsigned long long)n, c->len - c->pos);
        return NULL;
    }
    const uint8_t *d = c->buf + c->pos;
    c->pos += (size_t)n;
    return new_blob(c, k, d, (size_t)n);
}

static pk_value *make_global(pk_ctx *c, const char *m, size_t mn, const char *n, size_t nn) {
    pk_value *v = new_val(c, PK_GLOBAL);
    char *ms = v ? pk_alloc(c, mn + 1) : NULL;
    char *ns = ms ? pk_alloc(c, nn + 1) : NULL;
    if (!ns) return NULL;
    memcpy(ms, m, mn);
    memcpy(ns, n, nn);
    v->u.global.module = ms;
    v->u.global.name = ns;
    return v;
}

/* Append items (APPEND/APPENDS/ADDITEMS) to a list or set; objects (whose
 * extend() we never call) just count them. */
static int add_items(pk_ctx *c, pk_value *target, pk_value *const *items, size_t n) {
    if (target->kind == PK_LIST || target->kind == PK_SET) return seq_add(c, target, items, n);
    if (target->kind == PK_OBJECT) {
        target->u.obj.dropped += n;
        return 0;
    }
    return perr(c, "cannot append to a %s", pk_kind_name(target->kind));
}

static int set_items(pk_ctx *c, pk_value *target, pk_value *const *kv, size_t n) {
    if (n % 2) return perr(c, "odd number of values for keys and values");
    if (target->kind == PK_OBJECT) {
        target->u.obj.dropped += n / 2;
        return 0;
    }
    if (target->kind != PK_DICT) return perr(c, "cannot set items on a %s", pk_kind_name(target->kind));
    for (size_t i = 0; i < n; i += 2)
        if (dict_add(c, target, kv[i], kv[i + 1]) < 0) return -1;
    return 0;
}

static uint64_t text_uint(pk_ctx *c, int *ok) {
    const char *s;
    size_t n;
    *ok = 0;
    if (read_line(c, &s, &n) < 0) return 0;
    uint64_t v = 0;
    if (n == 0 || n > 19) {
        perr(c, "bad memo key");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            perr(c, "bad memo key");
            return 0;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *ok = 1;
    return v;
}

/* The step_* functions run one opcode of their group (see op_table).
 * Each returns 0 to go on, -1 on error; step_control returns 1 on STOP. */

static int push_mark(pk_ctx *c) {
    if (c->nmarks == c->marks_cap) {
        if (c->marks_cap >= c->lim.max_marks) return perr(c, "MARK limit of %zu exceeded", c->lim.max_marks);
        size_t ncap = c->marks_cap ? c->marks_cap * 2 : 32;
        size_t *nm = realloc(c->marks, ncap * sizeof *nm);
        if (!nm) return perr(c, "out of memory");
        c->marks = nm;
        c->marks_cap = ncap;
    }
    c->marks[c->nmarks++] = c->sp;
    return 0;
}

/* Framing, MARK and the plain stack operations. */
static int step_control(pk_ctx *c, int op, pk_value **out) {
    const uint8_t *p;
    pk_value *v;
    size_t start = 0;
    switch (op) {
    case OP_PROTO:
        if (!(p = need(c, 1))) return -1;
        if (*p > 5) return perr(c, "unsupported protocol %d", *p);
        return 0;
    case OP_FRAME: /* an advisory length; the bytes follow inline */
        return need(c, 8) ? 0 : -1;
    case OP_STOP:
        if (!(v = pop(c))) return -1;
        *out = v;
        return 1;
    case OP_MARK: return push_mark(c);
    case OP_POP: /* like CPython, an empty frame pops its MARK instead */
        if (c->nmarks && c->marks[c->nmarks - 1] == c->sp) {
            c->nmarks--;
            return 0;
        }
        return pop(c) ? 0 : -1;
    case OP_POP_MARK:
        if (pop_mark(c, &start) < 0) return -1;
        c->sp = start;
        return 0;
    case OP_DUP:
        if (!(v = top(c))) return -1;
        return push(c, v);
    }
    return perr(c, "internal error: not a control opcode");
}

/* Protocol 0's FLOAT: repr() text up to the end of the line. */
static pk_value *text_float(pk_ctx *c) {
    const char *s;
    size_t n;
    char tmp[64], *end;
    if (read_line(c, &s, &n) < 0) return NULL;
    if (n == 0 || n >= sizeof tmp) {
        perr(c, "bad float literal");
        return NULL;
    }
    memcpy(tmp, s, n);
    tmp[n] = 0;
    double d = strtod(tmp, &end);
    if (*end) {
        perr(c, "bad float literal '%s'", tmp);
        return NULL;
    }
    pk_value *v = new_val(c, PK_FLOAT);
    if (v) v->u.f = d;
    return v;
}

/* BINFLOAT: a big-endian IEEE double. */
static pk_value *bin_float(pk_ctx *c) {
    const uint8_t *p = need(c, 8);
    if (!p) return NULL;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = (u << 8) | p[i];
    double d;
    memcpy(&d, &u, sizeof d);
    pk_value *v = new_val(c, PK_FLOAT);
    if (v) v->u.f = d;
    return v;
}

/* STRING (a quoted repr) and UNICODE (raw-unicode-escape), both kept as
 * written: nothing we read needs them unescaped. */
static pk_value *text_str(pk_ctx *c, int quoted) {
    const char *s;
    size_t n;
    if (read_line(c, &s, &n) < 0) return NULL;
    if (quoted) {
        if (n < 2 || (s[0] != '\'' && s[0] != '"') || s[n - 1] != s[0]) {
            perr(c, "bad quoted string");
            return NULL;
        }
        s++;
        n -= 2;
    }
    return new_blob(c, PK_STR, s, n);
}

/* A little-endian unsigned integer argument of nb bytes as an int value. */
static pk_value *bin_uint(pk_ctx *c, int nb) {
    const uint8_t *p = need(c, (size_t)nb);
    return p ? new_int(c, (int64_t)le_u(p, nb)) : NULL;
}

/* Opcodes that push one scalar (None, bool, int, float, str, bytes). */
static int step_scalar(pk_ctx *c, int op) {
    const uint8_t *p;
    pk_value *v;
    switch (op) {
    case OP_NONE: return push(c, new_val(c, PK_NONE));
    case OP_NEWTRUE:
    case OP_NEWFALSE:
        if ((v = new_val(c, PK_BOOL))) v->u.b = op == OP_NEWTRUE;
        return push(c, v);
    case OP_INT: return push(c, text_int(c, 0));
    case OP_LONG: return push(c, text_int(c, 1));
    case OP_BININT:
        if (!(p = need(c, 4))) return -1;
        return push(c, new_int(c, (int32_t)(uint32_t)le_u(p, 4)));
    case OP_BININT1: return push(c, bin_uint(c, 1));
    case OP_BININT2: return push(c, bin_uint(c, 2));
    case OP_LONG1:
        if (!(p = need(c, 1))) return -1;
        return push(c, bin_long(c, p[0]));
    case OP_LONG4: {
        if (!(p = need(c, 4))) return -1;
        int32_t n = (int32_t)(uint32_t)le_u(p, 4);
        if (n < 0) return perr(c, "negative length");
        return push(c, bin_long(c, (size_t)n));
    }
    case OP_FLOAT: return push(c, text_float(c));
    case OP_BINFLOAT: return push(c, bin_float(c));
    case OP_STRING: return push(c, text_str(c, 1));
    case OP_UNICODE: return push(c, text_str(c, 0));
    case OP_BINSTRING: return push(c, counted(c, 4, PK_STR, 1));
    case OP_SHORT_BINSTRING: return push(c, counted(c, 1, PK_STR, 0));
    case OP_BINUNICODE: return push(c, counted(c, 4, PK_STR, 0));
    case OP_SHORT_BINUNICODE: return push(c, counted(c, 1, PK_STR, 0));
    case OP_BINUNICODE8: return push(c, counted(c, 8, PK_STR, 0));
    case OP_BINBYTES: return push(c, counted(c, 4, PK_BYTES, 0));
    case OP_SHORT_BINBYTES: return push(c, counted(c, 1, PK_BYTES, 0));
    case OP_BINBYTES8:
    case OP_BYTEARRAY8: return push(c, counted(c, 8, PK_BYTES, 0));
    }
    return perr(c, "internal error: not a scalar opcode");
}

/* The target of APPENDS/ADDITEMS/SETITEMS: the value just below the MARK
 * popped into *start. */
static pk_value *below_mark(pk_ctx *c, size_t *start) {
    if (pop_mark(c, start) < 0) return NULL;
    if (*start <= fence(c) || *start == 0) {
        perr(c, "stack underflow");
        return NULL;
    }
    return c->stack[*start - 1];
}

/* Building tuples, lists, sets and dicts. */
static int step_container(pk_ctx *c, int op) {
    pk_value *v, *w;
    size_t start = 0;
    switch (op) {
    case OP_EMPTY_TUPLE: return push(c, new_val(c, PK_TUPLE));
    case OP_EMPTY_LIST: return push(c, new_val(c, PK_LIST));
    case OP_EMPTY_DICT: return push(c, new_val(c, PK_DICT));
    case OP_EMPTY_SET: return push(c, new_val(c, PK_SET));
    case OP_TUPLE:
    case OP_LIST:
    case OP_FROZENSET: /* the values above the MARK */
        if (pop_mark(c, &start) < 0) return -1;
        v = new_seq(c, op == OP_TUPLE ? PK_TUPLE : op == OP_LIST ? PK_LIST : PK_SET, c->stack + start,
                    c->sp - start);
        c->sp = start;
        return push(c, v);
    case OP_TUPLE1:
    case OP_TUPLE2:
    case OP_TUPLE3: {
        size_t n = (size_t)(op - OP_TUPLE1 + 1);
        if (c->sp - fence(c) < n) return perr(c, "stack underflow");
        c->sp -= n;
        return push(c, new_seq(c, PK_TUPLE, c->stack + c->sp, n));
    }
    case OP_DICT:
        if (pop_mark(c, &start) < 0) return -1;
        if (!(v = new_val(c, PK_DICT))) return -1;
        if (set_items(c, v, c->stack + start, c->sp - start) < 0) return -1;
        c->sp = start;
        return push(c, v);
    case OP_APPEND:
        if (!(w = pop(c)) || !(v = top(c))) return -1;
        return add_items(c, v, &w, 1);
    case OP_APPENDS:
    case OP_ADDITEMS:
        if (!(v = below_mark(c, &start))) return -1;
        if (add_items(c, v, c->stack + start, c->sp - start) < 0) return -1;
        c->sp = start;
        return 0;
    case OP_SETITEM:
        if (c->sp - fence(c) < 3) return perr(c, "stack underflow");
        if (set_items(c, c->stack[c->sp - 3], c->stack + c->sp - 2, 2) < 0) return -1;
        c->sp -= 2;
        return 0;
    case OP_SETITEMS:
        if (!(v = below_mark(c, &start))) return -1;
        if (set_items(c, v, c->stack + start, c->sp - start) < 0) return -1;
        c->sp = start;
        return 0;
    }
    return perr(c, "internal error: not a container opcode");
}

/* INST: "module\nname\n" as two text lines, applied to the values above
 * the MARK. */
static int inst(pk_ctx *c) {
    const char *m, *n;
    size_t mn, nn, start = 0;
    if (read_line(c, &m, &mn) < 0 || read_line(c, &n, &nn) < 0) return -1;
    if (pop_mark(c, &start) < 0) return -1;
    pk_value *v = make_global(c, m, mn, n, nn);
    pk_value *w = v ? new_seq(c, PK_TUPLE, c->stack + start, c->sp - start) : NULL;
    c->sp = start;
    return push(c, w ? call(c, v, w) : NULL);
}

/* Globals, calls (never executed, see call()), BUILD and persistent ids. */
static int step_object(pk_ctx *c, int op) {
    pk_value *v, *w;
    size_t start = 0;
    switch (op) {
    case OP_GLOBAL: { /* "module\nname\n" */
        const char *m, *n;
        size_t mn, nn;
        if (read_line(c, &m, &mn) < 0 || read_line(c, &n, &nn) < 0) return -1;
        return push(c, make_global(c, m, mn, n, nn));
    }
    case OP_STACK_GLOBAL:
        if (!(w = pop(c)) || !(v = pop(c))) return -1;
        if (v->kind != PK_STR || w->kind != PK_STR) return perr(c, "module and name must be str");
        return push(c, make_global(c, v->u.str.s, v->u.str.len, w->u.str.s, w->u.str.len));
    case OP_REDUCE: /* callable(*args) */
    case OP_NEWOBJ: /* cls.__new__(cls, *args) */
        if (!(w = pop(c)) || !(v = pop(c))) return -1;
        if (w->kind != PK_TUPLE) return perr(c, "arguments are a %s, not a tuple", pk_kind_name(w->kind));
        return push(c, call(c, v, w));
    case OP_NEWOBJ_EX: { /* cls, args, kwargs: always opaque */
        pk_value *kw = pop(c);
        if (!kw || !(w = pop(c)) || !(v = pop(c))) return -1;
        pk_value *o = new_val(c, PK_OBJECT);
        if (!o) return -1;
        o->u.obj.callable = v;
        o->u.obj.args = w;
        return push(c, o);
    }
    case OP_OBJ: /* MARK cls args... */
        if (pop_mark(c, &start) < 0) return -1;
        if (c->sp == start) return perr(c, "no class given");
        v = c->stack[start];
        w = new_seq(c, PK_TUPLE, c->stack + start + 1, c->sp - start - 1);
        c->sp = start;
        return push(c, w ? call(c, v, w) : NULL);
    case OP_INST: return inst(c);
    case OP_BUILD: /* we keep the state but never run __setstate__ */
        if (!(w = pop(c)) || !(v = top(c))) return -1;
        if (v->kind == PK_DICT) v->u.dict.state = w;
        else if (v->kind == PK_OBJECT) v->u.obj.state = w;
        else if (v->kind != PK_TENSOR) return perr(c, "cannot BUILD a %s", pk_kind_name(v->kind));
        return 0;
    case OP_PERSID: { /* a text id */
        const char *s;
        size_t n;
        if (read_line(c, &s, &n) < 0) return -1;
        if (!(w = new_blob(c, PK_STR, s, n))) return -1;
        return push(c, new_persid(c, w));
    }
    case OP_BINPERSID:
        if (!(w = pop(c))) return -1;
        return push(c, new_persid(c, w));
    }
    return perr(c, "internal error: not an object opcode");
}

/* PUT/BINPUT/LONG_BINPUT/MEMOIZE store the top of the stack in the memo,
 * GET/BINGET/LONG_BINGET push a stored value. */
static int step_memo(pk_ctx *c, int op) {
    uint64_t key;
    int ok = 1;
    const uint8_t *p;
    int is_put = op == OP_PUT || op == OP_BINPUT || op == OP_LONG_BINPUT || op == OP_MEMOIZE;
    if (op == OP_PUT || op == OP_GET) {
        key = text_uint(c, &ok);
    } else if (op == OP_MEMOIZE) {
        key = c->memo_n;
    } else {
        int nb = op == OP_BINPUT || op == OP_BINGET ? 1 : 4;
        if (!(p = need(c, (size_t)nb))) return -1;
        key = le_u(p, nb);
    }
    if (!ok) return -1;
    if (!is_put) return push(c, memo_get(c, key));
    pk_value *v = top(c);
    return v ? memo_put(c, key, v) : -1;
}

/* One opcode. Returns 1 on STOP (result in *out), 0 to go on, -1 on error. */
static int step(pk_ctx *c, pk_value **out) {
    c->op_pos = c->pos;
    c->op = -1;
    const uint8_t *p = need(c, 1);
    if (!p) return -1;
    int op = c->op = *p;
    switch (op_table[op].group) {
    case G_CONTROL: return step_control(c, op, out);
    case G_SCALAR: return step_scalar(c, op);
    case G_CONTAINER: return step_container(c, op);
    case G_OBJECT: return step_object(c, op);
    case G_MEMO: return step_memo(c, op);
    case G_UNSUPPORTED:
        if (op == OP_NEXT_BUFFER || op == OP_READONLY_BUFFER)
            return perr(c, "out-of-band buffers are not supported");
        return perr(c, "the extension registry is not supported");
    }
    return hnd_error_set("pickle: offset %zu: unknown opcode 0x%02x", c->op_pos, op);
}

pk_value *pk_parse(pk_ctx *c, const uint8_t *buf, size_t len, size_t *pos) {
    if (!c || !pos || (!buf && len)) {
        hnd_error_set("pickle: bad arguments");
        return NULL;
    }
    if (*pos > len) {
        hnd_error_set("pickle: start offset %zu beyond the end (%zu bytes)", *pos, len);
        return NULL;
    }
    c->buf = buf;
    c->len = len;
    c->pos = *pos;
    c->sp = 0;
    c->nmarks = 0;
    c->memo_n = 0;
    c->npids = 0;
    if (c->memo) memset(c->memo, 0, c->memo_cap * sizeof *c->memo);
    pk_value *out = NULL;
    int r;
    while ((r = step(c, &out)) == 0) {
    }
    if (r < 0) return NULL;
    *pos = c->pos;
    return out;
}

/* ---------------------------------------------------------------- helpers */

pk_value *const *pk_persistent_ids(const pk_ctx *c, size_t *n) {
    *n = c ? c->npids : 0;
    return c ? c->pids : NULL;
}

const char *pk_kind_name(pk_kind k) {
    switch (k) {
    case PK_NONE: return "None";
    case PK_BOOL: return "bool";
    case PK_INT: return "int";
    case PK_BIGINT: return "big int";
    case PK_FLOAT: return "float";
    case PK_STR: return "str";
    case PK_BYTES: return "bytes";
    case PK_TUPLE: return "tuple";
    case PK_LIST: return "list";
    case PK_SET: return "set";
    case PK_DICT: return "dict";
    case PK_GLOBAL: return "global";
    case PK_PERSID: return "persistent id";
    case PK_OBJECT: return "object";
    case PK_TENSOR: return "tensor";
    }
    return "?";
}

int pk_is_str(const pk_value *v, const char *s) {
    return v && v->kind == PK_STR && v->u.str.len == strlen(s) && memcmp(v->u.str.s, s, v->u.str.len) == 0;
}

pk_value *pk_dict_get(const pk_value *d, const char *key) {
    if (!d || d->kind != PK_DICT) return NULL;
    for (size_t i = d->u.dict.n; i-- > 0;)
        if (pk_is_str(d->u.dict.keys[i], key)) return d->u.dict.vals[i];
    return NULL;
}

pk_value *pk_item(const pk_value *v, size_t i) {
    if (!v || (v->kind != PK_TUPLE && v->kind != PK_LIST && v->kind != PK_SET) || i >= v->u.seq.n) return NULL;
    return v->u.seq.items[i];
}
