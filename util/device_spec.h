/* device_spec.h: the one parser of device names ("cpu", "cuda", "cuda:N"),
 * torch-free so that configs are checked without libtorch. Prefix dspec_.
 * models/device.h adds what needs torch (is CUDA there, how many GPUs). */
#ifndef HND_DEVICE_SPEC_H
#define HND_DEVICE_SPEC_H

/* 0 with *cuda_index = -1 (cpu) or N >= 0; -1 with hnd_error() set
 * ("device 'x': expected cpu, cuda or cuda:N"). */
int dspec_parse(const char *s, int *cuda_index);

#endif
