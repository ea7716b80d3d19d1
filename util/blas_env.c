/* blas_env.c: see blas_env.h. */
#include "blas_env.h"

#include <stdlib.h>

const char *blas_env_coretype(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

const char *blas_env_setup(void) {
    const char *have = getenv("OPENBLAS_CORETYPE");
    if (have) return *have ? have : NULL;
    const char *want = blas_env_coretype();
    if (want && setenv("OPENBLAS_CORETYPE", want, 0) != 0) return NULL;
    return want;
}
