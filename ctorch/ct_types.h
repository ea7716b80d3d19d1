/* ct_types.h: dtypes and limits shared by ctorch and the torch-free modules
 * (weight store, pth import). Plain C, no libtorch: including it costs nothing. */
#ifndef CT_TYPES_H
#define CT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Our own numbering, stable on disk and across libtorch versions. */
typedef enum {
    CT_F32 = 0,
    CT_F16 = 1,
    CT_F64 = 2,
    CT_I64 = 3,
    CT_I32 = 4,
    CT_U8 = 5,
    CT_BOOL = 6,
    CT_I8 = 7,
    CT_I16 = 8,
    CT_DTYPE_COUNT
} ct_dtype;

#define CT_MAX_DIMS 8

/* Size in bytes of one element; 0 for an invalid dtype. */
static inline size_t ct_dtype_size(ct_dtype t) {
    switch (t) {
    case CT_F32: return 4;
    case CT_F16: return 2;
    case CT_F64: return 8;
    case CT_I64: return 8;
    case CT_I32: return 4;
    case CT_U8: return 1;
    case CT_BOOL: return 1;
    case CT_I8: return 1;
    case CT_I16: return 2;
    default: return 0;
    }
}

/* Short lowercase name ("float32", "int64", ...); "invalid" otherwise. */
static inline const char *ct_dtype_name(ct_dtype t) {
    switch (t) {
    case CT_F32: return "float32";
    case CT_F16: return "float16";
    case CT_F64: return "float64";
    case CT_I64: return "int64";
    case CT_I32: return "int32";
    case CT_U8: return "uint8";
    case CT_BOOL: return "bool";
    case CT_I8: return "int8";
    case CT_I16: return "int16";
    default: return "invalid";
    }
}

#ifdef __cplusplus
}
#endif
#endif
