/* cmd_info.c: `hnd info`, the libtorch build and runtime as hnd sees it. */
#include "cmd_info.h"

#define _GNU_SOURCE   /* RTLD_DEFAULT */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_common.h"
#include "commands.h"
#include "ctorch.h"

/* The BLAS actually mapped into this process: Debian's libtorch reports
 * "generic" at build time but runs on whatever libblas.so.3 the
 * alternatives system points to (OpenBLAS is ~9x faster than the reference). */
static void print_blas(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024], found[512] = "";
    while (f && fgets(line, sizeof line, f)) {
        char *p = strchr(line, '/');
        if (p && strstr(p, "blas")) {
            p[strcspn(p, "\n")] = '\0';
            snprintf(found, sizeof found, "%s", p);
            break;
        }
    }
    if (f) fclose(f);
    printf("blas: %s%s\n", found[0] ? found : "(none mapped)",
           strstr(found, "openblas") ? "" : "  <- install libopenblas0-pthread for ~9x faster convolutions");
    /* OpenBLAS's kernel choice (util/blas_env.h: `hnd` sets OPENBLAS_CORETYPE
     * from the CPU's features; "Prescott" on an AVX2 machine is 3-4x slower) */
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    if (corename) {
        const char *env = getenv("OPENBLAS_CORETYPE");
        printf("blas kernels: %s (OPENBLAS_CORETYPE=%s)\n", corename(), env ? env : "unset");
    }
}

int cmd_info(int argc, char **argv) {
    co_args args;
    if (hnd_parse("info", argc, argv, &args) != 0) return 2;
    int rc = cc_threads(&args);
    co_args_clear(&args);
    if (rc != 0) return rc;
    printf("%s\n", ct_build_info());
    printf("threads: %d\n", ct_get_num_threads());
    print_blas();
    printf("cuda: %s (%d devices)\n", ct_cuda_available() ? "available" : "not available",
           ct_cuda_available() ? ct_cuda_device_count() : 0);
    return 0;
}
