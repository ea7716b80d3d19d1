/* device.c: see device.h. */
#include "device.h"

#include "device_spec.h"
#include "hnd_error.h"

int md_device_parse(const char *s, ct_device *out) {
    int idx;
    if (!s) s = "cpu";
    if (dspec_parse(s, &idx) != 0) return -1;
    if (idx < 0) {
        *out = ct_cpu();
        return 0;
    }
    if (!ct_cuda_available())
        return hnd_error_set("device '%s': CUDA is not available in this libtorch build / machine", s);
    if (idx >= ct_cuda_device_count())
        return hnd_error_set("device '%s': only %d CUDA device(s)", s, ct_cuda_device_count());
    *out = ct_cuda(idx);
    return 0;
}
