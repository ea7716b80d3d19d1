/* device_spec.c: see device_spec.h. */
#include "device_spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hnd_error.h"

int dspec_parse(const char *s, int *cuda_index) {
    if (!s) return hnd_error_set("device: missing");
    if (strcmp(s, "cpu") == 0) {
        *cuda_index = -1;
        return 0;
    }
    if (strcmp(s, "cuda") == 0) {
        *cuda_index = 0;
        return 0;
    }
    if (strncmp(s, "cuda:", 5) == 0 && s[5] >= '0' && s[5] <= '9') {
        char *end;
        errno = 0;
        long v = strtol(s + 5, &end, 10);
        if (!errno && !*end && v <= 1024) {
            *cuda_index = (int)v;
            return 0;
        }
    }
    return hnd_error_set("device '%s': expected cpu, cuda or cuda:N", s);
}
