/* test_pth.c: the unpickler and the legacy .pth reader on hand-written bytes.
 *
 * Pickles are assembled opcode by opcode (pb_* below) so that each test shows
 * exactly which stream it feeds; the error tests cut and corrupt them and
 * only require an error with a message, never a crash (ASan/UBSan builds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <zip.h>

#include "hnd_error.h"
#include "pickle.h"
#include "pth_reader.h"
#include "test_util.h"

/* ---------------------------------------------------------------- builder */

typedef struct {
    uint8_t b[8192];
    size_t n;
} pb;

static void pb_raw(pb *p, const void *d, size_t n) {
    assert_true(p->n + n <= sizeof p->b);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}
static void pb_op(pb *p, int op) {
    uint8_t c = (uint8_t)op;
    pb_raw(p, &c, 1);
}
static void pb_u32(pb *p, uint32_t v) {
    uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    pb_raw(p, d, 4);
}
static void pb_proto(pb *p, int v) {
    pb_op(p, 0x80);
    pb_op(p, v);
}
static void pb_str(pb *p, const char *s) {
    size_t n = strlen(s);
    if (n < 256) {
        pb_op(p, 0x8c); /* SHORT_BINUNICODE */
        pb_op(p, (int)n);
    } else {
        pb_op(p, 'X');
        pb_u32(p, (uint32_t)n);
    }
    pb_raw(p, s, n);
}
static void pb_int(pb *p, int64_t v) {
    if (v >= 0 && v < 256) {
        pb_op(p, 'K');
        pb_op(p, (int)v);
    } else if (v >= 0 && v < 65536) {
        pb_op(p, 'M');
        pb_op(p, (int)(v & 0xff));
        pb_op(p, (int)(v >> 8));
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        pb_op(p, 'J');
        pb_u32(p, (uint32_t)(int32_t)v);
    } else {
        pb_op(p, 0x8a);
        pb_op(p, 8);
        uint64_t u = (uint64_t)v;
        for (int i = 0; i < 8; i++) pb_op(p, (int)((u >> (8 * i)) & 0xff));
    }
}
static void pb_global(pb *p, const char *mod, const char *name) {
    pb_op(p, 'c');
    pb_raw(p, mod, strlen(mod));
    pb_op(p, '\n');
    pb_raw(p, name, strlen(name));
    pb_op(p, '\n');
}
/* ('storage', torch.<type>, key, 'cpu', numel[, None]) as a BINPERSID. */
static void pb_storage(pb *p, const char *type, const char *key, int64_t numel, int legacy) {
    pb_op(p, '(');
    pb_str(p, "storage");
    pb_global(p, "torch", type);
    pb_str(p, key);
    pb_str(p, "cpu");
    pb_int(p, numel);
    if (legacy) pb_op(p, 'N');
    pb_op(p, 't');
    pb_op(p, 'Q');
}
/* _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) */
static void pb_tensor(pb *p, const char *type, const char *key, int64_t numel, int64_t offset, int ndim,
                      const int64_t *size, const int64_t *stride, int legacy) {
    pb_global(p, "torch._utils", "_rebuild_tensor_v2");
    pb_op(p, '(');
    pb_storage(p, type, key, numel, legacy);
    pb_int(p, offset);
    pb_op(p, '(');
    for (int i = 0; i < ndim; i++) pb_int(p, size[i]);
    pb_op(p, 't');
    pb_op(p, '(');
    for (int i = 0; i < ndim; i++) pb_int(p, stride[i]);
    pb_op(p, 't');
    pb_op(p, 0x89);
    pb_global(p, "collections", "OrderedDict");
    pb_op(p, ')');
    pb_op(p, 'R');
    pb_op(p, 't');
    pb_op(p, 'R');
}

static pk_value *parse(pk_ctx *c, const pb *p) {
    size_t pos = 0;
    pk_value *v = pk_parse(c, p->b, p->n, &pos);
    if (v) assert_int_equal(pos, p->n);
    return v;
}

/* ---------------------------------------------------------------- values */

static void test_scalars(void **state) {
    pb p = {0};
    pb_proto(&p, 2);
    pb_op(&p, '(');
    pb_op(&p, 'N');
    pb_op(&p, 0x88);
    pb_op(&p, 0x89);
    pb_int(&p, 5);
    pb_int(&p, 300);
    pb_int(&p, -7);
    pb_int(&p, INT64_MIN);
    pb_raw(&p, "\x8a\x00", 2);                                        /* LONG1 0 bytes: 0 */
    pb_raw(&p, "\x8a\x03\x00\x00\x80", 5);                            /* LONG1 -2^23 */
    pb_raw(&p, "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 12); /* the legacy magic */
    pb_raw(&p, "G\x3f\xf8\x00\x00\x00\x00\x00\x00", 9);               /* BINFLOAT 1.5 */
    pb_raw(&p, "I42\nI01\nF0.25\nL-9L\n", 19);                        /* protocol 0 */
    pb_str(&p, "abc");
    pb_raw(&p, "X\x02\x00\x00\x00hi", 7);
    pb_raw(&p, "C\x03\x00\x01\x02", 5); /* SHORT_BINBYTES */
    pb_op(&p, 't');
    pb_op(&p, '.');
    pk_ctx *c = pk_new(NULL);
    pk_value *v = parse(c, &p);
    assert_non_null(v);
    assert_int_equal(v->kind, PK_TUPLE);
    assert_int_equal(v->u.seq.n, 18);
    pk_value **it = v->u.seq.items;
    assert_int_equal(it[0]->kind, PK_NONE);
    assert_true(it[1]->kind == PK_BOOL && it[1]->u.b == 1);
    assert_true(it[2]->kind == PK_BOOL && it[2]->u.b == 0);
    assert_int_equal(it[3]->u.i, 5);
    assert_int_equal(it[4]->u.i, 300);
    assert_int_equal(it[5]->u.i, -7);
    assert_true(it[6]->kind == PK_INT && it[6]->u.i == INT64_MIN);
    assert_true(it[7]->kind == PK_INT && it[7]->u.i == 0);
    assert_true(it[8]->kind == PK_INT && it[8]->u.i == -(1 << 23));
    assert_true(it[9]->kind == PK_BIGINT && it[9]->u.str.len == 10);
    assert_true(it[10]->kind == PK_FLOAT && it[10]->u.f == 1.5);
    assert_true(it[11]->kind == PK_INT && it[11]->u.i == 42);
    assert_true(it[12]->kind == PK_BOOL && it[12]->u.b == 1);
    assert_true(it[13]->kind == PK_FLOAT && it[13]->u.f == 0.25);
    assert_true(it[14]->kind == PK_INT && it[14]->u.i == -9);
    assert_true(pk_is_str(it[15], "abc"));
    assert_true(pk_is_str(it[16], "hi"));
    assert_true(it[17]->kind == PK_BYTES && it[17]->u.str.len == 3);
    pk_destroy(c);

    /* bytes: SHORT_BINBYTES alone, and protocol 2's _codecs.encode form */
    pb q = {0};
    pb_proto(&q, 2);
    pb_raw(&q, "C\x03\x00\x01\x02", 5);
    pb_op(&q, '.');
    c = pk_new(NULL);
    v = parse(c, &q);
    assert_true(v && v->kind == PK_BYTES && v->u.str.len == 3 && v->u.str.s[2] == 2);
    q.n = 0;
    pb_proto(&q, 2);
    pb_global(&q, "_codecs", "encode");
    pb_str(&q, "a\xc3\xbf"); /* "aÿ" */
    pb_str(&q, "latin1");
    pb_op(&q, 0x86);
    pb_op(&q, 'R');
    pb_op(&q, '.');
    v = parse(c, &q);
    assert_true(v && v->kind == PK_BYTES && v->u.str.len == 2 && (uint8_t)v->u.str.s[1] == 0xff);
    pk_destroy(c);
}

static void test_containers(void **state) {
    pb p = {0};
    pb_proto(&p, 4);
    pb_raw(&p, "\x95\x00\x00\x00\x00\x00\x00\x00\x00", 9); /* FRAME (advisory) */
    pb_op(&p, '}');                                        /* {"a": [1, 2, (3,)], "b": {}, "s": {4, 5}} */
    pb_op(&p, '(');
    pb_str(&p, "a");
    pb_op(&p, ']');
    pb_int(&p, 1);
    pb_op(&p, 'a');
    pb_op(&p, '(');
    pb_int(&p, 2);
    pb_int(&p, 3);
    pb_op(&p, 0x85);
    pb_op(&p, 'e');
    pb_str(&p, "b");
    pb_op(&p, '}');
    pb_str(&p, "s");
    pb_op(&p, 0x8f);
    pb_op(&p, '(');
    pb_int(&p, 4);
    pb_int(&p, 5);
    pb_op(&p, 0x90);
    pb_op(&p, 'u');
    pb_str(&p, "t"); /* SETITEM "t": ((), (1, 2), frozenset()) */
    pb_op(&p, ')');
    pb_int(&p, 1);
    pb_int(&p, 2);
    pb_op(&p, 0x86);
    pb_op(&p, '(');
    pb_op(&p, 0x91);
    pb_op(&p, 0x87);
    pb_op(&p, 's');
    pb_op(&p, '.');
    pk_ctx *c = pk_new(NULL);
    pk_value *v = parse(c, &p);
    assert_non_null(v);
    assert_int_equal(v->kind, PK_DICT);
    assert_int_equal(v->u.dict.n, 4);
    pk_value *a = pk_dict_get(v, "a");
    assert_true(a && a->kind == PK_LIST && a->u.seq.n == 3);
    assert_int_equal(pk_item(a, 1)->u.i, 2);
    assert_true(pk_item(a, 2)->kind == PK_TUPLE && pk_item(pk_item(a, 2), 0)->u.i == 3);
    assert_true(pk_dict_get(v, "b")->kind == PK_DICT);
    pk_value *s = pk_dict_get(v, "s");
    assert_true(s->kind == PK_SET && s->u.seq.n == 2);
    pk_value *t = pk_dict_get(v, "t");
    assert_true(t->kind == PK_TUPLE && t->u.seq.n == 3);
    assert_int_equal(pk_item(t, 0)->u.seq.n, 0);
    assert_int_equal(pk_item(pk_item(t, 1), 1)->u.i, 2);
    assert_int_equal(pk_item(t, 2)->kind, PK_SET);
    assert_null(pk_dict_get(v, "zzz"));
    pk_destroy(c);
}

/* l = [7] memoized under 0 and 10000; (l, l, "x") built through BINGET,
 * LONG_BINGET, MEMOIZE, PUT/GET; then l.append(8) through the memo. */
static void memo_stream(pb *p) {
    p->n = 0;
    pb_proto(p, 2);
    pb_op(p, ']');
    pb_raw(p, "q\x00", 2); /* BINPUT 0 */
    pb_int(p, 7);
    pb_op(p, 'a');
    pb_raw(p, "r\x10\x27\x00\x00", 5); /* LONG_BINPUT 10000 */
    pb_op(p, '0');
    pb_raw(p, "h\x00", 2);             /* BINGET 0 */
    pb_raw(p, "j\x10\x27\x00\x00", 5); /* LONG_BINGET 10000 */
    pb_str(p, "x");
    pb_op(p, 0x94);        /* MEMOIZE: key 2, the memo holding 2 keys */
    pb_raw(p, "p99\n", 4); /* PUT 99 */
    pb_op(p, '0');
    pb_raw(p, "g99\n", 4); /* GET 99 */
    pb_op(p, '(');
    pb_op(p, '1'); /* empty MARK, POP_MARK */
    pb_op(p, '2'); /* DUP */
    pb_op(p, '0');
    pb_op(p, 0x87); /* TUPLE3 */
}

static void test_memo(void **state) {
    pb p;
    memo_stream(&p);
    pb_raw(&p, "h\x02", 2); /* BINGET 2 ("x"), POP */
    pb_op(&p, '0');
    pb_raw(&p, "h\x00", 2); /* l.append(8) via the memo */
    pb_int(&p, 8);
    pb_op(&p, 'a');
    pb_op(&p, '0');
    pb_op(&p, '.');
    pk_ctx *c = pk_new(NULL);
    pk_value *v = parse(c, &p);
    assert_non_null(v);
    assert_int_equal(v->kind, PK_TUPLE);
    assert_int_equal(v->u.seq.n, 3);
    assert_ptr_equal(pk_item(v, 0), pk_item(v, 1)); /* the same list object */
    assert_int_equal(pk_item(v, 0)->u.seq.n, 2);
    assert_int_equal(pk_item(pk_item(v, 0), 1)->u.i, 8);
    assert_true(pk_is_str(pk_item(v, 2), "x"));

    /* TUPLE1 right after a MARK may not reach below it */
    memo_stream(&p);
    pb_op(&p, '(');
    pb_op(&p, 0x85);
    pb_op(&p, '.');
    size_t pos = 0;
    assert_null(pk_parse(c, p.b, p.n, &pos));
    assert_non_null(strstr(hnd_error(), "TUPLE1: stack underflow"));

    /* the memo does not survive into the next pickle */
    pb q = {0};
    pb_raw(&q, "\x80\x02h\x00.", 5);
    pos = 0;
    assert_null(pk_parse(c, q.b, q.n, &pos));
    assert_non_null(strstr(hnd_error(), "memo key 0 not found"));
    pk_destroy(c);
}

static void test_ordereddict_metadata(void **state) {
    /* OrderedDict() with two items and BUILD {'_metadata': {}} (torch's state_dict) */
    pb p = {0};
    pb_proto(&p, 2);
    pb_global(&p, "collections", "OrderedDict");
    pb_op(&p, ')');
    pb_op(&p, 'R');
    pb_op(&p, '(');
    pb_str(&p, "w");
    pb_int(&p, 1);
    pb_str(&p, "b");
    pb_int(&p, 2);
    pb_op(&p, 'u');
    pb_op(&p, '}');
    pb_str(&p, "_metadata");
    pb_global(&p, "collections", "OrderedDict");
    pb_op(&p, ')');
    pb_op(&p, 'R');
    pb_op(&p, 's');
    pb_op(&p, 'b');
    pb_op(&p, '.');
    pk_ctx *c = pk_new(NULL);
    pk_value *v = parse(c, &p);
    assert_non_null(v);
    assert_int_equal(v->kind, PK_DICT);
    assert_int_equal(v->u.dict.n, 2);
    assert_true(pk_is_str(v->u.dict.keys[0], "w")); /* order kept */
    assert_int_equal(pk_dict_get(v, "b")->u.i, 2);
    assert_non_null(v->u.dict.state);
    assert_non_null(pk_dict_get(v->u.dict.state, "_metadata"));
    pk_destroy(c);
}

static void test_opaque_objects(void **state) {
    /* os.system("x") must stay an inert object; NEWOBJ and BUILD likewise */
    pb p = {0};
    pb_proto(&p, 4);
    pb_op(&p, '(');
    pb_global(&p, "os", "system");
    pb_str(&p, "echo pwned");
    pb_op(&p, 0x85);
    pb_op(&p, 'R');
    pb_str(&p, "argparse"); /* STACK_GLOBAL argparse.Namespace, NEWOBJ, BUILD */
    pb_str(&p, "Namespace");
    pb_op(&p, 0x93);
    pb_op(&p, ')');
    pb_op(&p, 0x81);
    pb_op(&p, '}');
    pb_str(&p, "lr");
    pb_raw(&p, "G\x3f\xf0\x00\x00\x00\x00\x00\x00", 9);
    pb_op(&p, 's');
    pb_op(&p, 'b');
    pb_op(&p, 't');
    pb_op(&p, '.');
    pk_ctx *c = pk_new(NULL);
    pk_value *v = parse(c, &p);
    assert_non_null(v);
    pk_value *o = pk_item(v, 0);
    assert_int_equal(o->kind, PK_OBJECT);
    assert_true(pk_is_global(o->u.obj.callable, "os", "system"));
    assert_true(pk_is_str(pk_item(o->u.obj.args, 0), "echo pwned"));
    pk_value *ns = pk_item(v, 1);
    assert_int_equal(ns->kind, PK_OBJECT);
    assert_true(pk_is_global(ns->u.obj.callable, "argparse", "Namespace"));
    assert_true(pk_dict_get(ns->u.obj.state, "lr")->u.f == 1.0);
    pk_destroy(c);
}

static void test_tensor_rebuild(void **state) {
    pb p = {0};
    int64_t size[2] = {2, 3}, stride[2] = {1, 2};
    pb_proto(&p, 2);
    pb_global(&p, "torch._utils", "_rebuild_parameter");
    pb_op(&p, '(');
    pb_tensor(&p, "HalfStorage", "k7", 10, 4, 2, size, stride, 0);
    pb_op(&p, 0x88);
    pb_global(&p, "collections", "OrderedDict");
    pb_op(&p, ')');
    pb_op(&p, 'R');
    pb_op(&p, 't');
    pb_op(&p, 'R');
    pb_op(&p, '.');
    pk_ctx *c = pk_new(NULL);
    pk_value *v = parse(c, &p);
    assert_non_null(v);
    assert_int_equal(v->kind, PK_TENSOR);
    const pk_tensor *t = &v->u.tensor;
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->offset, 4);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->stride[1], 2);
    assert_int_equal(t->storage->kind, PK_PERSID);
    const pk_value *pid = t->storage->u.persid;
    assert_true(pk_is_str(pk_item(pid, 2), "k7"));
    assert_true(pk_is_global(pk_item(pid, 1), "torch", "HalfStorage"));
    size_t n;
    pk_persistent_ids(c, &n);
    assert_int_equal(n, 1);
    pk_destroy(c);
}

/* ---------------------------------------------------------------- errors */

static void expect_error(const uint8_t *b, size_t n, const char *needle) {
    pk_ctx *c = pk_new(NULL);
    size_t pos = 0;
    assert_null(pk_parse(c, b, n, &pos));
    if (!strstr(hnd_error(), needle)) fail_msg("error '%s' lacks '%s'", hnd_error(), needle);
    pk_destroy(c);
}

static void test_pickle_errors(void **state) {
    expect_error((const uint8_t *)"\x80\x02\xff", 3, "pickle: offset 2: unknown opcode 0xff");
    expect_error((const uint8_t *)"", 0, "truncated at offset 0");
    expect_error((const uint8_t *)"\x80\x02K", 3, "truncated at offset 3");
    expect_error((const uint8_t *)"\x80\x02X\xff\xff\xff\x7f" "ab.", 10, "truncated");
    expect_error((const uint8_t *)"\x80\x02.", 3, "STOP: stack underflow");
    expect_error((const uint8_t *)"\x80\x02h\x05.", 5, "memo key 5 not found");
    expect_error((const uint8_t *)"\x80\x02N]a.", 5, "cannot append to a None");
    expect_error((const uint8_t *)"\x80\x02NNNs.", 7, "cannot set items on a None");
    expect_error((const uint8_t *)"\x80\x02" "e.", 4, "no MARK");
    expect_error((const uint8_t *)"\x80\x09.", 3, "unsupported protocol");
    expect_error((const uint8_t *)"\x80\x02\x82\x01.", 5, "extension registry");
    expect_error((const uint8_t *)"\x80\x02\x8b\xff\xff\xff\xff.", 8, "negative length");
    expect_error((const uint8_t *)"cfoo\n", 5, "no end of line");
    expect_error((const uint8_t *)"Iabc\n.", 6, "bad integer literal");
    expect_error((const uint8_t *)"\x80\x02NNR.", 6, "REDUCE: arguments are a None, not a tuple");
    /* malformed tensor rebuild arguments */
    pb p = {0};
    pb_proto(&p, 2);
    pb_global(&p, "torch._utils", "_rebuild_tensor_v2");
    pb_op(&p, '(');
    pb_int(&p, 1);
    pb_int(&p, 0);
    pb_op(&p, ')');
    pb_op(&p, ')');
    pb_op(&p, 't');
    pb_op(&p, 'R');
    pb_op(&p, '.');
    expect_error(p.b, p.n, "not a persistent id");
    /* more dimensions than CT_MAX_DIMS */
    p.n = 0;
    int64_t size[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    pb_proto(&p, 2);
    pb_tensor(&p, "FloatStorage", "0", 1, 0, 9, size, size, 0);
    pb_op(&p, '.');
    expect_error(p.b, p.n, "more than 8 dimensions");
    /* limits: stack and memory */
    pk_limits lim = {.max_stack = 300, .max_memory = 1 << 20};
    pk_ctx *c = pk_new(&lim);
    uint8_t many[1000];
    memset(many, 'N', sizeof many);
    size_t pos = 0;
    assert_null(pk_parse(c, many, sizeof many, &pos));
    assert_non_null(strstr(hnd_error(), "stack limit"));
    pk_destroy(c);
}

/* ---------------------------------------------------------------- legacy .pth */

/* A legacy file: {"w": 2x3 view of FloatStorage "0" (6 elements) at offset
 * off with strides (1, 2), "n": int64 scalar from LongStorage "1", "skip": 3}. */
static void make_legacy(pb *p, int64_t rows, int64_t off, int list_keys) {
    static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                    0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    p->n = 0;
    pb_raw(p, magic, sizeof magic);
    pb_raw(p, "\x80\x02M\xe9\x03.", 6);
    pb_proto(p, 2);
    pb_op(p, '}');
    pb_str(p, "little_endian");
    pb_op(p, 0x88);
    pb_op(p, 's');
    pb_op(p, '.');
    int64_t size[2] = {rows, 3}, stride[2] = {1, 2};
    pb_proto(p, 2);
    pb_global(p, "collections", "OrderedDict");
    pb_op(p, ')');
    pb_op(p, 'R');
    pb_op(p, '(');
    pb_str(p, "w");
    pb_tensor(p, "FloatStorage", "0", 7, off, 2, size, stride, 1);
    pb_str(p, "n");
    pb_tensor(p, "LongStorage", "1", 1, 0, 0, NULL, NULL, 1);
    pb_str(p, "skip");
    pb_int(p, 3);
    pb_op(p, 'u');
    pb_op(p, '.');
    pb_proto(p, 2);
    pb_op(p, '(');
    if (list_keys) {
        pb_str(p, "0");
        pb_str(p, "1");
    }
    pb_op(p, 'l');
    pb_op(p, '.');
    if (list_keys) {
        int64_t n0 = 7, n1 = 1, val = -42;
        float f[7] = {0, 1, 2, 3, 4, 5, 6};
        pb_raw(p, &n0, 8);
        pb_raw(p, f, sizeof f);
        pb_raw(p, &n1, 8);
        pb_raw(p, &val, 8);
    }
}

static void test_legacy_memory(void **state) {
    pb p;
    make_legacy(&p, 2, 1, 1);
    pth_state st;
    if (pth_load_from_memory(p.b, p.n, "mem.pth", NULL, &st) < 0) fail_msg("%s", hnd_error());
    assert_string_equal(st.format, "legacy");
    assert_int_equal(st.count, 2);
    assert_int_equal(st.skipped, 1);
    assert_string_equal(st.tensors[0].name, "w");
    assert_int_equal(st.tensors[0].dtype, CT_F32);
    assert_int_equal(st.tensors[0].ndim, 2);
    assert_int_equal(st.tensors[0].shape[0], 2);
    assert_int_equal(st.tensors[0].shape[1], 3);
    /* element [i][j] = storage[1 + i + 2j] = 1 + i + 2j */
    const float *w = st.tensors[0].data;
    const float want[6] = {1, 3, 5, 2, 4, 6};
    for (int i = 0; i < 6; i++) assert_true(w[i] == want[i]);
    assert_int_equal(st.tensors[1].dtype, CT_I64);
    assert_int_equal(st.tensors[1].ndim, 0);
    assert_int_equal(*(const int64_t *)st.tensors[1].data, -42);
    assert_int_equal(st.total_bytes, 24 + 8);
    pth_state_clear(&st);
    pth_state_clear(&st); /* idempotent */

    /* every truncation fails cleanly with the name in the message */
    for (size_t n = 0; n < p.n; n++) {
        assert_int_equal(pth_load_from_memory(p.b, n, "cut.pth", NULL, &st), -1);
        assert_non_null(strstr(hnd_error(), "cut.pth"));
        assert_null(st.tensors);
    }
}

static void test_legacy_errors(void **state) {
    pb p;
    pth_state st;
    make_legacy(&p, 3, 1, 1); /* 3x3 at offset 1 reaches element 1+2+4 = 7 of 7 */
    assert_int_equal(pth_load_from_memory(p.b, p.n, "oob.pth", NULL, &st), -1);
    assert_non_null(strstr(hnd_error(), "tensor 'w': storage '0' has 7 elements, view needs 8"));
    make_legacy(&p, 2, 1, 0); /* no storage records */
    assert_int_equal(pth_load_from_memory(p.b, p.n, "nodata.pth", NULL, &st), -1);
    assert_non_null(strstr(hnd_error(), "has no data record"));
    make_legacy(&p, 2, 1, 1);
    p.b[5] ^= 1; /* wrong magic */
    assert_int_equal(pth_load_from_memory(p.b, p.n, "magic.pth", NULL, &st), -1);
    assert_non_null(strstr(hnd_error(), "magic.pth: not a PyTorch file"));
    make_legacy(&p, 2, 1, 1);
    /* bit flips anywhere: errors or success, never a crash */
    for (size_t i = 0; i < p.n; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            p.b[i] ^= (uint8_t)(1 << bit);
            if (pth_load_from_memory(p.b, p.n, "flip.pth", NULL, &st) == 0) pth_state_clear(&st);
            else assert_true(hnd_error()[0] != 0);
            p.b[i] ^= (uint8_t)(1 << bit);
        }
    }
    /* a size limit */
    pth_options opt = {.max_total_bytes = 16};
    assert_int_equal(pth_load_from_memory(p.b, p.n, "big.pth", &opt, &st), -1);
    assert_non_null(strstr(hnd_error(), "size limit"));
}

/* ---------------------------------------------------------------- zip .pth */

/* A zip .pth as torch 2.x writes it: any folder name, a byteorder record,
 * _rebuild_tensor_v3 over an UntypedStorage, plus a plain FloatStorage. */
static void write_zip(const char *path, const char *byteorder) {
    static pb p; /* the archive refers to it until zip_close */
    static const uint16_t halfs[4] = {0x3c00, 0x4000, 0x4200, 0x4400}; /* 1 2 3 4 */
    static const float floats[2] = {0.5f, -8.0f};
    int64_t size = 3, stride = 1, fsize = 2;
    p.n = 0;
    pb_proto(&p, 2);
    pb_op(&p, '}');
    pb_str(&p, "h");
    pb_global(&p, "torch._utils", "_rebuild_tensor_v3");
    pb_op(&p, '(');
    pb_storage(&p, "UntypedStorage", "0", 8, 0);
    pb_int(&p, 1);
    pb_op(&p, '(');
    pb_int(&p, size);
    pb_op(&p, 't');
    pb_op(&p, '(');
    pb_int(&p, stride);
    pb_op(&p, 't');
    pb_op(&p, 0x89);
    pb_global(&p, "collections", "OrderedDict");
    pb_op(&p, ')');
    pb_op(&p, 'R');
    pb_global(&p, "torch", "float16");
    pb_op(&p, 't');
    pb_op(&p, 'R');
    pb_op(&p, 's');
    pb_str(&p, "f");
    pb_tensor(&p, "FloatStorage", "1", 2, 0, 1, &fsize, &stride, 0);
    pb_op(&p, 's');
    pb_op(&p, '.');
    int err;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    assert_non_null(z);
    struct { const char *name; const void *d; size_t n; } rec[] = {
        {"weird.name/data.pkl", p.b, p.n},
        {"weird.name/data/0", halfs, sizeof halfs},
        {"weird.name/data/1", floats, sizeof floats},
        {"weird.name/byteorder", byteorder, strlen(byteorder)},
    };
    for (size_t i = 0; i < sizeof rec / sizeof rec[0]; i++) {
        zip_source_t *src = zip_source_buffer(z, rec[i].d, rec[i].n, 0);
        assert_non_null(src);
        assert_true(zip_file_add(z, rec[i].name, src, ZIP_FL_OVERWRITE) >= 0);
    }
    assert_int_equal(zip_close(z), 0);
}

static void test_zip_v3(void **state) {
    char path[1024];
    tu_tmp(path, sizeof path, "test_pth_v3.pth");
    write_zip(path, "little");
    pth_state st;
    if (pth_load(path, NULL, &st) < 0) fail_msg("%s", hnd_error());
    assert_string_equal(st.format, "zip");
    assert_int_equal(st.count, 2);
    assert_int_equal(st.tensors[0].dtype, CT_F16);
    assert_int_equal(st.tensors[0].shape[0], 3);
    const uint16_t *h = st.tensors[0].data;
    assert_true(h[0] == 0x4000 && h[1] == 0x4200 && h[2] == 0x4400);
    assert_int_equal(st.tensors[1].dtype, CT_F32);
    assert_true(((const float *)st.tensors[1].data)[1] == -8.0f);
    pth_state_clear(&st);
    write_zip(path, "big");
    assert_int_equal(pth_load(path, NULL, &st), -1);
    assert_non_null(strstr(hnd_error(), "byte order 'big'"));
    remove(path);
}

static void test_missing_file(void **state) {
    pth_state st;
    assert_int_equal(pth_load("/nonexistent/dir/model.pth", NULL, &st), -1);
    assert_non_null(strstr(hnd_error(), "/nonexistent/dir/model.pth"));
    assert_int_equal(pth_load("/", NULL, &st), -1);
    assert_int_equal(pth_load_from_memory("", 0, "e.pth", NULL, &st), -1);
    assert_non_null(strstr(hnd_error(), "e.pth: empty file"));
    /* a zip signature without a valid archive */
    assert_int_equal(pth_load_from_memory("PK\x03\x04garbage", 11, "z.pth", NULL, &st), -1);
    assert_non_null(strstr(hnd_error(), "z.pth"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_memo),
        cmocka_unit_test(test_ordereddict_metadata),
        cmocka_unit_test(test_opaque_objects),
        cmocka_unit_test(test_tensor_rebuild),
        cmocka_unit_test(test_pickle_errors),
        cmocka_unit_test(test_legacy_memory),
        cmocka_unit_test(test_legacy_errors),
        cmocka_unit_test(test_zip_v3),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
