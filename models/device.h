/* device.h: a device name ("cpu", "cuda", "cuda:N") to a ct_device, with
 * the checks that need libtorch: CUDA present, the index in range. The
 * syntax is util/device_spec.h's, shared with the config checker.
 * Prefix md_. */
#ifndef HND_MODELS_DEVICE_H
#define HND_MODELS_DEVICE_H

#include "ctorch.h"

/* NULL means cpu. 0, or -1 with hnd_error() set, e.g.
 * "device 'cuda:1': CUDA is not available in this libtorch build / machine". */
int md_device_parse(const char *s, ct_device *out);

#endif
