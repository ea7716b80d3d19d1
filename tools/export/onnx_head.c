/* onnx_head.c: see onnx_head.h.
 *
 * The model is built as protobuf-c messages (code generated from Debian's
 * onnx.proto at build time) and packed by protobuf-c: every string, array
 * and sub-message is malloc'd and hung on the model as soon as it exists, so
 * one onnx__model_proto__free_unpacked frees all of it, on success and on
 * every error path alike.
 *
 * The quantizer is spelled with the ops OpenCV 4.6's DNN importer accepts
 * for an input of symbolic height and width (checked by
 * tests/py/check_export_onnx.py), each rewrite exact in float32:
 *   ReduceMax/Min(x)   -> GlobalMaxPool, Transpose, GlobalMaxPool (min via Neg):
 *                         OpenCV's Reduce returns -FLT_MAX when H, W are symbolic
 *   Clip(v, 0, 255)    -> Min(Relu(v), (v - v) + 255): OpenCV takes Clip only
 *                         with the opset-6 attributes, and Min only between
 *                         two computed tensors of one shape
 *   Where(max == min, guard, d / 255)
 *                      -> d / 255 + eq * guard, eq = Cast(Equal) in {0, 1}:
 *                         OpenCV has no Where; one of the two terms is an
 *                         exact zero, so the sum is the chosen term
 *   guard = |max| + (1 - Sign(|max|))   (|max|, or 1 when max == 0)
 *   x / scale          -> x / ((x - x) + Concat(scale x C)): OpenCV cannot
 *                         broadcast a computed [1,1,1,1] against [1,C,H,W]
 *   Squeeze to []      -> Reshape [1], Gather index 0
 * (x - x) is 0 for finite x; the reference refuses non-finite bottlenecks. */
#include "onnx_head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

#ifndef HND_HAVE_ONNX_PROTO

int oxh_write(const hg_head *h, const char *path) {
    (void)h;
    return hnd_error_set("%s: this hnd was built without protobuf-c or onnx.proto "
                         "(install libprotobuf-c-dev, protobuf-c-compiler, libonnx-dev and rebuild)",
                         path ? path : "(null)");
}

#else

#include "atomic_file.h"
#include "onnx/onnx.pb-c.h"

#if defined(__has_include)
#if __has_include("hnd_version.h")
#include "hnd_version.h"
#endif
#endif
#ifndef HND_VERSION
#define HND_VERSION "unknown"
#endif

enum { OXH_OPSET = 13, OXH_IR_VERSION = 7 };

/* A graph under construction. Helpers do nothing once oom is set, so a
 * builder can emit a whole sequence and check once at the end. */
typedef struct {
    Onnx__GraphProto *g;
    int oom;
} gb;

static char *dup_str(gb *b, const char *s) {
    if (b->oom) return NULL;
    char *d = strdup(s);
    if (!d) b->oom = 1;
    return d;
}

/* Room for one more element in a malloc'd array of n elements of size
 * elem; NULL (and oom) when realloc fails, the old array kept. */
static void *grow(gb *b, void *arr, size_t n, size_t elem) {
    if (b->oom) return NULL;
    void *p = realloc(arr, (n + 1) * elem);
    if (!p) b->oom = 1;
    return p;
}

static void *new_msg(gb *b, size_t size, void (*init)(void *)) {
    if (b->oom) return NULL;
    void *m = malloc(size);
    if (!m) {
        b->oom = 1;
        return NULL;
    }
    init(m);
    return m;
}

/* protobuf-c's init functions take the concrete type; these adapters let
 * new_msg take one signature. */
#define INIT_ADAPTER(fn, type) \
    static void fn##_any(void *m) { fn((type *)m); }
INIT_ADAPTER(onnx__node_proto__init, Onnx__NodeProto)
INIT_ADAPTER(onnx__attribute_proto__init, Onnx__AttributeProto)
INIT_ADAPTER(onnx__tensor_proto__init, Onnx__TensorProto)
INIT_ADAPTER(onnx__value_info_proto__init, Onnx__ValueInfoProto)
INIT_ADAPTER(onnx__type_proto__init, Onnx__TypeProto)
INIT_ADAPTER(onnx__type_proto__tensor__init, Onnx__TypeProto__Tensor)
INIT_ADAPTER(onnx__tensor_shape_proto__init, Onnx__TensorShapeProto)
INIT_ADAPTER(onnx__tensor_shape_proto__dimension__init, Onnx__TensorShapeProto__Dimension)
INIT_ADAPTER(onnx__string_string_entry_proto__init, Onnx__StringStringEntryProto)
INIT_ADAPTER(onnx__operator_set_id_proto__init, Onnx__OperatorSetIdProto)
INIT_ADAPTER(onnx__graph_proto__init, Onnx__GraphProto)
INIT_ADAPTER(onnx__model_proto__init, Onnx__ModelProto)
#define NEW(b, type, init) ((type *)new_msg((b), sizeof(type), init##_any))

/* Appends a copy of s to a (char **, n) pair owned by the graph. */
static void push_str(gb *b, char ***arr, size_t *n, const char *s) {
    char **p = grow(b, *arr, *n, sizeof *p);
    if (!p) return;
    *arr = p;
    if ((p[*n] = dup_str(b, s))) (*n)++;
}

/* ---- nodes and attributes ---- */

static Onnx__NodeProto *add_node(gb *b, const char *op, int n_in, const char *const *in, const char *out) {
    Onnx__NodeProto *nd = NEW(b, Onnx__NodeProto, onnx__node_proto__init);
    Onnx__NodeProto **p = nd ? grow(b, b->g->node, b->g->n_node, sizeof *p) : NULL;
    if (!p) {
        free(nd);
        return NULL;
    }
    b->g->node = p;
    p[b->g->n_node++] = nd;
    nd->op_type = dup_str(b, op);
    nd->name = dup_str(b, out); /* each tensor has one producer: a unique name */
    for (int i = 0; i < n_in; i++) push_str(b, &nd->input, &nd->n_input, in[i]);
    push_str(b, &nd->output, &nd->n_output, out);
    return b->oom ? NULL : nd;
}

static void op1(gb *b, const char *op, const char *x, const char *y) {
    const char *in[1] = {x};
    add_node(b, op, 1, in, y);
}

static void op2(gb *b, const char *op, const char *x1, const char *x2, const char *y) {
    const char *in[2] = {x1, x2};
    add_node(b, op, 2, in, y);
}

static Onnx__AttributeProto *add_attr(gb *b, Onnx__NodeProto *nd, const char *name) {
    if (!nd) return NULL;
    Onnx__AttributeProto *a = NEW(b, Onnx__AttributeProto, onnx__attribute_proto__init);
    Onnx__AttributeProto **p = a ? grow(b, nd->attribute, nd->n_attribute, sizeof *p) : NULL;
    if (!p) {
        free(a);
        return NULL;
    }
    nd->attribute = p;
    p[nd->n_attribute++] = a;
    a->name = dup_str(b, name);
    return a;
}

static void attr_int(gb *b, Onnx__NodeProto *nd, const char *name, int64_t v) {
    Onnx__AttributeProto *a = add_attr(b, nd, name);
    if (!a) return;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static void attr_ints(gb *b, Onnx__NodeProto *nd, const char *name, const int64_t *v, size_t n) {
    Onnx__AttributeProto *a = add_attr(b, nd, name);
    if (!a) return;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (!(a->ints = malloc(n * sizeof *a->ints))) {
        b->oom = 1;
        return;
    }
    memcpy(a->ints, v, n * sizeof *v);
    a->n_ints = n;
}

/* ---- initializers (constants) ---- */

static Onnx__TensorProto *add_init(gb *b, const char *name, int32_t dtype, const int64_t *dims, size_t nd) {
    Onnx__TensorProto *t = NEW(b, Onnx__TensorProto, onnx__tensor_proto__init);
    Onnx__TensorProto **p = t ? grow(b, b->g->initializer, b->g->n_initializer, sizeof *p) : NULL;
    if (!p) {
        free(t);
        return NULL;
    }
    b->g->initializer = p;
    p[b->g->n_initializer++] = t;
    t->name = dup_str(b, name);
    t->has_data_type = 1;
    t->data_type = dtype;
    if (nd > 0) {
        if (!(t->dims = malloc(nd * sizeof *t->dims))) {
            b->oom = 1;
            return NULL;
        }
        memcpy(t->dims, dims, nd * sizeof *dims);
        t->n_dims = nd;
    }
    return b->oom ? NULL : t;
}

/* float_data / int64_data rather than raw_data: protobuf-c writes them
 * little-endian whatever the host, as the format requires. */
static void init_f32(gb *b, const char *name, const int64_t *dims, size_t nd, const float *v, size_t n) {
    Onnx__TensorProto *t = add_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, nd);
    if (!t) return;
    if (!(t->float_data = malloc(n * sizeof *v))) {
        b->oom = 1;
        return;
    }
    memcpy(t->float_data, v, n * sizeof *v);
    t->n_float_data = n;
}

static void init_i64(gb *b, const char *name, const int64_t *dims, size_t nd, const int64_t *v, size_t n) {
    Onnx__TensorProto *t = add_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, nd);
    if (!t) return;
    if (!(t->int64_data = malloc(n * sizeof *v))) {
        b->oom = 1;
        return;
    }
    memcpy(t->int64_data, v, n * sizeof *v);
    t->n_int64_data = n;
}

static void scalar_f32(gb *b, const char *name, float v) { init_f32(b, name, NULL, 0, &v, 1); }

/* ---- graph inputs and outputs ---- */

/* A tensor type of rank nd: dims[i] >= 0 a fixed size, < 0 the symbolic
 * name params[i]. nd 0 is a scalar (a shape with no dimensions, which is
 * not the same as an unknown shape). */
static void add_io(gb *b, int output, const char *name, int32_t dtype, size_t nd, const int64_t *dims,
                   const char *const *params) {
    Onnx__ValueInfoProto *vi = NEW(b, Onnx__ValueInfoProto, onnx__value_info_proto__init);
    Onnx__ValueInfoProto ***arr = output ? &b->g->output : &b->g->input;
    size_t *n = output ? &b->g->n_output : &b->g->n_input;
    Onnx__ValueInfoProto **p = vi ? grow(b, *arr, *n, sizeof *p) : NULL;
    if (!p) {
        free(vi);
        return;
    }
    *arr = p;
    p[(*n)++] = vi;
    vi->name = dup_str(b, name);
    Onnx__TypeProto *tp = vi->type = NEW(b, Onnx__TypeProto, onnx__type_proto__init);
    if (!tp) return;
    Onnx__TypeProto__Tensor *tt = NEW(b, Onnx__TypeProto__Tensor, onnx__type_proto__tensor__init);
    if (!tt) return;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = dtype;
    Onnx__TensorShapeProto *sh = tt->shape = NEW(b, Onnx__TensorShapeProto, onnx__tensor_shape_proto__init);
    if (!sh || nd == 0) return;
    if (!(sh->dim = calloc(nd, sizeof *sh->dim))) {
        b->oom = 1;
        return;
    }
    for (size_t i = 0; i < nd; i++) {
        Onnx__TensorShapeProto__Dimension *d =
            NEW(b, Onnx__TensorShapeProto__Dimension, onnx__tensor_shape_proto__dimension__init);
        if (!d) return;
        sh->dim[sh->n_dim++] = d;
        if (dims[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = dup_str(b, params[i]);
        }
    }
}

/* ---- the head ---- */

static void emit_conv(gb *b, const hg_op *o, int i, const char *x, const char *y) {
    char w[32], bias[32];
    snprintf(w, sizeof w, "op%d.weight", i);
    snprintf(bias, sizeof bias, "op%d.bias", i);
    int64_t wd[4] = {o->cout, o->cin, o->kh, o->kw};
    init_f32(b, w, wd, 4, o->weight, (size_t)o->cout * (size_t)o->cin * (size_t)o->kh * (size_t)o->kw);
    const char *in[3] = {x, w, bias};
    if (o->bias) {
        int64_t bd[1] = {o->cout};
        init_f32(b, bias, bd, 1, o->bias, (size_t)o->cout);
    }
    Onnx__NodeProto *nd = add_node(b, "Conv", o->bias ? 3 : 2, in, y);
    int64_t k[2] = {o->kh, o->kw}, s[2] = {o->stride, o->stride}, p[4] = {o->pad, o->pad, o->pad, o->pad};
    attr_ints(b, nd, "kernel_shape", k, 2);
    attr_ints(b, nd, "strides", s, 2);
    attr_ints(b, nd, "pads", p, 4);
    attr_int(b, nd, "group", 1);
}

static void emit_maxpool(gb *b, const hg_op *o, const char *x, const char *y) {
    Onnx__NodeProto *nd = add_node(b, "MaxPool", 1, &x, y);
    int64_t k[2] = {o->kh, o->kw}, s[2] = {o->stride, o->stride}, p[4] = {o->pad, o->pad, o->pad, o->pad};
    attr_ints(b, nd, "kernel_shape", k, 2);
    attr_ints(b, nd, "strides", s, 2);
    attr_ints(b, nd, "pads", p, 4);
}

/* The max over all of x [1,C,h,w] as [1,1,1,1]: per-channel maxima, the
 * channels moved to a spatial axis, their maximum (see the file comment). */
static void emit_global_max(gb *b, const char *x, const char *y) {
    char pc[64], pt[64];
    snprintf(pc, sizeof pc, "%s/per_channel", y);
    snprintf(pt, sizeof pt, "%s/channels_as_rows", y);
    op1(b, "GlobalMaxPool", x, pc);
    Onnx__NodeProto *nd = add_node(b, "Transpose", 1, (const char *const[]){pc}, pt);
    attr_ints(b, nd, "perm", (const int64_t[]){0, 2, 1, 3}, 4);
    op1(b, "GlobalMaxPool", pt, y);
}

/* clamp(v, 0, 255) as PyTorch's min(max(v, 0), 255). */
static void emit_clamp255(gb *b, const char *v, const char *y, const char *k255) {
    char r[64], zero[64], hi[64];
    snprintf(r, sizeof r, "%s/relu", y);
    snprintf(zero, sizeof zero, "%s/zeros", y);
    snprintf(hi, sizeof hi, "%s/255", y);
    op1(b, "Relu", v, r);
    op2(b, "Sub", v, v, zero);
    op2(b, "Add", zero, k255, hi);
    op2(b, "Min", r, hi, y);
}

/* [1,1,1,1] s repeated to the shape of x [1,C,h,w]. */
static void emit_broadcast(gb *b, const char *s, const char *x, int C, const char *y) {
    char sc[64], zero[64];
    snprintf(sc, sizeof sc, "%s/per_channel", y);
    snprintf(zero, sizeof zero, "%s/zeros", y);
    const char **in = malloc((size_t)C * sizeof *in);
    if (!in) {
        b->oom = 1;
        return;
    }
    for (int c = 0; c < C; c++) in[c] = s;
    Onnx__NodeProto *nd = add_node(b, "Concat", C, in, sc);
    free(in);
    attr_int(b, nd, "axis", 1);
    op2(b, "Sub", x, x, zero);
    op2(b, "Add", zero, sc, y);
}

/* [1,1,1,1] as a scalar []. */
static void emit_scalar(gb *b, const char *s, const char *y) {
    char flat[64];
    snprintf(flat, sizeof flat, "%s/flat", y);
    op2(b, "Reshape", s, "quant/shape_1", flat);
    Onnx__NodeProto *nd = add_node(b, "Gather", 2, (const char *const[]){flat, "quant/index_0"}, y);
    attr_int(b, nd, "axis", 0);
}

/* bottleneck_quant.h's 8-bit quantizer of x [1,C,h,w]; outputs z, scale,
 * zero_point. */
static void emit_quant8(gb *b, const char *x, int C) {
    scalar_f32(b, "quant/0", 0.0f);
    scalar_f32(b, "quant/1", 1.0f);
    scalar_f32(b, "quant/255", 255.0f);
    init_i64(b, "quant/shape_1", (const int64_t[]){1}, 1, (const int64_t[]){1}, 1);
    init_i64(b, "quant/index_0", NULL, 0, (const int64_t[]){0}, 1);
    /* max, min */
    emit_global_max(b, x, "quant/max");
    op1(b, "Neg", x, "quant/neg_x");
    emit_global_max(b, "quant/neg_x", "quant/neg_min");
    op1(b, "Neg", "quant/neg_min", "quant/min");
    /* scale = (max - min) / 255, or the guard when max == min */
    op2(b, "Sub", "quant/max", "quant/min", "quant/range");
    op2(b, "Div", "quant/range", "quant/255", "quant/range_255");
    op2(b, "Equal", "quant/max", "quant/min", "quant/constant_bool");
    Onnx__NodeProto *cast = add_node(b, "Cast", 1, (const char *const[]){"quant/constant_bool"}, "quant/constant");
    attr_int(b, cast, "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    op1(b, "Abs", "quant/max", "quant/abs_max");
    op1(b, "Sign", "quant/abs_max", "quant/max_nonzero");
    op2(b, "Sub", "quant/1", "quant/max_nonzero", "quant/max_zero");
    op2(b, "Add", "quant/abs_max", "quant/max_zero", "quant/guard");
    op2(b, "Mul", "quant/constant", "quant/guard", "quant/guard_if_constant");
    op2(b, "Add", "quant/range_255", "quant/guard_if_constant", "quant/scale4");
    /* zp = trunc(clamp(0 - min / scale, 0, 255)); Floor is trunc on >= 0 */
    op2(b, "Div", "quant/min", "quant/scale4", "quant/min_scaled");
    op2(b, "Sub", "quant/0", "quant/min_scaled", "quant/zp_initial");
    emit_clamp255(b, "quant/zp_initial", "quant/zp_clamped", "quant/255");
    op1(b, "Floor", "quant/zp_clamped", "quant/zp4");
    /* q = round(clamp(x / scale + zp, 0, 255)), half to even */
    emit_broadcast(b, "quant/scale4", x, C, "quant/scale_full");
    op2(b, "Div", x, "quant/scale_full", "quant/x_scaled");
    emit_broadcast(b, "quant/zp4", x, C, "quant/zp_full");
    op2(b, "Add", "quant/x_scaled", "quant/zp_full", "quant/x_shifted");
    emit_clamp255(b, "quant/x_shifted", "quant/x_clamped", "quant/255");
    op1(b, "Round", "quant/x_clamped", "quant/q_float");
    Onnx__NodeProto *q = add_node(b, "Cast", 1, (const char *const[]){"quant/q_float"}, "z");
    attr_int(b, q, "to", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8);
    /* the two per-image numbers as scalars */
    emit_scalar(b, "quant/scale4", "scale");
    emit_scalar(b, "quant/zp4", "quant/zp_scalar");
    Onnx__NodeProto *zc = add_node(b, "Cast", 1, (const char *const[]){"quant/zp_scalar"}, "zero_point");
    attr_int(b, zc, "to", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8);
}

static void emit_outputs(gb *b, const hg_head *h) {
    const int64_t zd[4] = {1, h->channels, -1, -1};
    const char *zp[4] = {NULL, NULL, "z_height", "z_width"};
    int32_t zt = h->bits == 8    ? ONNX__TENSOR_PROTO__DATA_TYPE__UINT8
                 : h->bits == 16 ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16
                                 : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    add_io(b, 1, "z", zt, 4, zd, zp);
    if (h->bits == 8) {
        add_io(b, 1, "scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, NULL);
        add_io(b, 1, "zero_point", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, NULL);
    }
}

/* The graph of h: convolutions, ReLUs, max-pool, then the quantizer. */
static void emit_graph(gb *b, const hg_head *h) {
    const int64_t id[4] = {1, h->in_channels, -1, -1};
    const char *ip[4] = {NULL, NULL, "height", "width"};
    b->g->name = dup_str(b, "hnd_head");
    add_io(b, 0, "image", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, id, ip);
    char x[32] = "image", y[32];
    for (int i = 0; i < h->n_ops && !b->oom; i++) {
        const hg_op *o = &h->ops[i];
        int last = i == h->n_ops - 1;
        /* the last op's output is the bottleneck: "z" itself at 32 bits */
        if (!last) snprintf(y, sizeof y, "op%d", i);
        else snprintf(y, sizeof y, "%s", h->bits == 32 ? "z" : "features");
        if (o->kind == HG_CONV) emit_conv(b, o, i, x, y);
        else if (o->kind == HG_RELU) op1(b, "Relu", x, y);
        else emit_maxpool(b, o, x, y);
        /* where the op came from, for a reader of the graph */
        if (!b->oom && b->g->n_node > 0) b->g->node[b->g->n_node - 1]->doc_string = dup_str(b, o->name);
        snprintf(x, sizeof x, "%s", y);
    }
    if (h->bits == 16) {
        Onnx__NodeProto *nd = add_node(b, "Cast", 1, (const char *const[]){x}, "z");
        attr_int(b, nd, "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16);
    } else if (h->bits == 8) {
        emit_quant8(b, x, h->channels);
    }
    emit_outputs(b, h);
}

/* ---- model-level documentation ---- */

static void add_meta(gb *b, Onnx__ModelProto *m, const char *key, const char *value) {
    Onnx__StringStringEntryProto *e = NEW(b, Onnx__StringStringEntryProto, onnx__string_string_entry_proto__init);
    Onnx__StringStringEntryProto **p = e ? grow(b, m->metadata_props, m->n_metadata_props, sizeof *p) : NULL;
    if (!p) {
        free(e);
        return;
    }
    m->metadata_props = p;
    p[m->n_metadata_props++] = e;
    e->key = dup_str(b, key);
    e->value = dup_str(b, value);
}

static void add_metadata(gb *b, Onnx__ModelProto *m, const hg_head *h) {
    char v[128];
    snprintf(v, sizeof v, "%.9g,%.9g,%.9g", h->mean[0], h->mean[1], h->mean[2]);
    add_meta(b, m, "mean", v);
    snprintf(v, sizeof v, "%.9g,%.9g,%.9g", h->std[0], h->std[1], h->std[2]);
    add_meta(b, m, "std", v);
    snprintf(v, sizeof v, "%.9g", h->min_size);
    add_meta(b, m, "min_size", v);
    snprintf(v, sizeof v, "%.9g", h->max_size);
    add_meta(b, m, "max_size", v);
    snprintf(v, sizeof v, "%d", h->size_divisible);
    add_meta(b, m, "size_divisible", v);
    snprintf(v, sizeof v, "%d", h->bits);
    add_meta(b, m, "bits", v);
    snprintf(v, sizeof v, "%d", h->channels);
    add_meta(b, m, "C", v);
    add_meta(b, m, "arch", h->arch);
    snprintf(v, sizeof v, "%d", h->num_classes);
    add_meta(b, m, "num_classes", v);
    snprintf(v, sizeof v, "%d", h->mask);
    add_meta(b, m, "mask", v);
}

static void set_doc(gb *b, Onnx__ModelProto *m, const hg_head *h) {
    const char *out = h->bits == 8    ? "\"z\" uint8 [1,C,z_height,z_width] with \"scale\" float32 [] and "
                                        "\"zero_point\" uint8 []: x = scale * (z - zero_point)"
                      : h->bits == 16 ? "\"z\" float16 [1,C,z_height,z_width]"
                                      : "\"z\" float32 [1,C,z_height,z_width]";
    char doc[2048];
    snprintf(doc, sizeof doc,
             "hnd: the head (encoder up to the bottleneck) of the split R-CNN student %s, C=%d, %d-bit link.\n"
             "Input \"image\" float32 [1,3,height,width]: an RGB image scaled to [0,1], resized (bilinear, "
             "align_corners=false) so its shorter side is %.9g unless the longer would exceed %.9g (then the "
             "longer is %.9g), normalised per channel as (x - mean) / std with mean %.9g,%.9g,%.9g and std "
             "%.9g,%.9g,%.9g, zero-padded at the bottom and right to multiples of %d.\n"
             "Output %s; z_height = height/4+4 and z_width = width/4+4 when height and width are multiples of 4.\n"
             "The detector's tail takes the bottleneck (after dequantization) at layer 1's decoder.",
             h->arch, h->channels, h->bits, h->min_size, h->max_size, h->max_size, h->mean[0], h->mean[1],
             h->mean[2], h->std[0], h->std[1], h->std[2], h->size_divisible, out);
    m->doc_string = dup_str(b, doc);
}

static Onnx__ModelProto *build_model(const hg_head *h, gb *b) {
    Onnx__ModelProto *m = NEW(b, Onnx__ModelProto, onnx__model_proto__init);
    if (!m) return NULL;
    m->has_ir_version = 1;
    m->ir_version = OXH_IR_VERSION;
    m->producer_name = dup_str(b, "hnd");
    m->producer_version = dup_str(b, HND_VERSION);
    Onnx__OperatorSetIdProto *ops = NEW(b, Onnx__OperatorSetIdProto, onnx__operator_set_id_proto__init);
    if (ops && (m->opset_import = malloc(sizeof *m->opset_import))) {
        ops->domain = dup_str(b, "");
        ops->has_version = 1;
        ops->version = OXH_OPSET;
        m->opset_import[m->n_opset_import++] = ops;
    } else {
        free(ops);
        b->oom = 1;
    }
    set_doc(b, m, h);
    add_metadata(b, m, h);
    if ((b->g = m->graph = NEW(b, Onnx__GraphProto, onnx__graph_proto__init))) emit_graph(b, h);
    return m;
}

/* ---- checks and the file ---- */

static int check_head(const hg_head *h, const char *path) {
    if (h->bits != 8 && h->bits != 16 && h->bits != 32)
        return hnd_error_set("%s: onnx export: bits must be 8, 16 or 32, got %d", path, h->bits);
    if (h->n_ops <= 0 || h->n_ops > HG_MAX_OPS || h->channels <= 0 || h->in_channels <= 0)
        return hnd_error_set("%s: onnx export: empty or malformed head (%d ops, C=%d)", path, h->n_ops, h->channels);
    for (int i = 0; i < h->n_ops; i++) {
        const hg_op *o = &h->ops[i];
        if (o->kind == HG_CONV && (!o->weight || o->cin <= 0 || o->cout <= 0 || o->kh <= 0 || o->kw <= 0))
            return hnd_error_set("%s: onnx export: op %d (%s) is a convolution without weights", path, i, o->name);
    }
    return 0;
}

static int write_bytes(const char *path, const uint8_t *buf, size_t n) {
    af_file a;
    FILE *f = af_open(&a, path);
    if (!f) return -1; /* af_open named the path */
    int failed = fwrite(buf, 1, n, f) != n;
    return af_commit(&a, failed);
}

int oxh_write(const hg_head *h, const char *path) {
    if (!path || !*path) return hnd_error_set("onnx export: no output path");
    if (!h) return hnd_error_set("%s: onnx export: no head", path);
    if (check_head(h, path) != 0) return -1;
    gb b = {0};
    Onnx__ModelProto *m = build_model(h, &b);
    int rc = -1;
    if (!m || b.oom) {
        hnd_error_set("%s: onnx export: out of memory building the model", path);
    } else {
        size_t n = onnx__model_proto__get_packed_size(m);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf) hnd_error_set("%s: onnx export: out of memory (%zu bytes)", path, n);
        else if (onnx__model_proto__pack(m, buf) != n) hnd_error_set("%s: onnx export: protobuf-c packed a short model", path);
        else rc = write_bytes(path, buf, n);
        free(buf);
    }
    if (m) onnx__model_proto__free_unpacked(m, NULL);
    return rc;
}

#endif /* HND_HAVE_ONNX_PROTO */
