/* cmd_info.c: `hnd info`, the libtorch build and runtime as hnd sees it. */
#include "cmd_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctorch.h"

int cmd_info(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 0) {
                fprintf(stderr, "hnd info: --threads expects a non-negative integer, got '%s'\n", argv[i]);
                return 2;
            }
            ct_set_num_threads((int)n);
        } else {
            fprintf(stderr, "hnd info: unknown argument '%s' (see 'hnd info --help')\n", argv[i]);
            return 2;
        }
    }
    printf("%s\n", ct_build_info());
    printf("threads: %d\n", ct_get_num_threads());
    printf("cuda: %s (%d devices)\n", ct_cuda_available() ? "available" : "not available",
           ct_cuda_available() ? ct_cuda_device_count() : 0);
    return 0;
}
