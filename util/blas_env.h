/* blas_env.h: pick OpenBLAS's kernels for this CPU before libtorch loads.
 * Torch-free, prefix blas_env_.
 *
 * OpenBLAS (Debian's DYNAMIC_ARCH build, libtorch's BLAS here) chooses its
 * kernels from the CPU's family/model when it is loaded. On virtual machines
 * that report a generic "Intel Xeon Processor" it falls back to the SSE3
 * "Prescott" kernels even when the CPU has AVX2 or AVX-512: measured on this
 * project's 2-core VMs, a 1024^2 float GEMM runs at 27 GFLOP/s with
 * Prescott, 73 with Haswell and 109 with SkylakeX kernels. OpenBLAS reads
 * OPENBLAS_CORETYPE only at load time, so the torch-free `hnd` sets it from
 * the CPU's feature flags before it execs hnd-torch. */
#ifndef HND_BLAS_ENV_H
#define HND_BLAS_ENV_H

/* The OPENBLAS_CORETYPE this CPU's features support best: "SkylakeX"
 * (AVX-512 F/CD/BW/DQ/VL), "Haswell" (AVX2 + FMA), or NULL (leave OpenBLAS's
 * own choice). */
const char *blas_env_coretype(void);

/* Sets OPENBLAS_CORETYPE to blas_env_coretype() unless the user set it
 * (an empty value also counts as set: then OpenBLAS detects). Returns the
 * value in effect (NULL when none). */
const char *blas_env_setup(void);

#endif
