/* model_params.h: a network's named parameters and buffers, loaded from and
 * saved to the weight store by torchvision state_dict key.
 *
 * A model registers each tensor it owns under its torchvision name
 * ("backbone.body.layer1.0.conv1.weight"); loading then checks the file
 * against the registry and reports every missing, unexpected and mis-shaped
 * key by name, like torch's load_state_dict(strict=True). */
#ifndef MODEL_PARAMS_H
#define MODEL_PARAMS_H

#include "ctorch.h"
#include "wstore.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_params mp_params;

enum {
    MP_PARAM = 0,   /* a parameter (weights a training run may update) */
    MP_BUFFER = 1,  /* a buffer (BN running statistics, frozen BN affine) */
};

mp_params *mp_params_new(void);
/* Frees the registry and every tensor it holds. NULL-safe. */
void mp_params_destroy(mp_params *p);

/* Register a new zero-filled float32 tensor on the CPU under `name`; the
 * registry owns it, the returned handle is borrowed (valid until free).
 * NULL and ct_last_error-style message in hnd_error() on a duplicate name. */
ct_tensor *mp_params_add(mp_params *p, const char *name, int kind, const int64_t *shape, int ndim);
/* Borrowed handle of `name`, NULL if absent (no error set). */
ct_tensor *mp_params_get(const mp_params *p, const char *name);
int mp_params_count(const mp_params *p);
const char *mp_params_name(const mp_params *p, int i);
ct_tensor *mp_params_tensor(const mp_params *p, int i);
int mp_params_kind(const mp_params *p, int i);

/* Accepted file keys that do not name a registered tensor:
 * - mp_params_ignore: `name` may be in a file and is then skipped without
 *   counting as unexpected (e.g. BatchNorm2d's num_batches_tracked, which
 *   FrozenBatchNorm2d models do not have);
 * - mp_params_alias: a file key `old_name` loads into the registered
 *   `new_name` (older torchvision layouts, e.g. FPN "inner_blocks.0.weight"
 *   for "inner_blocks.0.0.weight"), unless the file also has `new_name`
 *   (then old_name is unexpected).
 * 0, or -1 + hnd_error() on out of memory. */
int mp_params_ignore(mp_params *p, const char *name);
int mp_params_alias(mp_params *p, const char *old_name, const char *new_name);

/* Load group "weights" of an hnd weight file into the registered tensors
 * (values converted to each tensor's dtype and device).
 * strict != 0: every registered name must be in the file with its shape and
 * no other key may be there; otherwise nothing is changed and -1 returned
 * with a message listing the offending keys by name.
 * strict == 0: matching keys are loaded; missing/unexpected ones are counted
 * in *n_missing / *n_unexpected (may be NULL); a mis-shaped key is still an
 * error. Returns the number of tensors loaded, or -1. */
int mp_params_load(mp_params *p, const char *path, int strict, int *n_missing, int *n_unexpected);

/* Re-lay every 4-d tensor (convolution weights) whose name starts with
 * `prefix` (NULL: all) out in channels-last (NHWC) order, in place
 * (ct_to_channels_last_): values, names and handles are unchanged; saving
 * still writes NCHW. With NHWC inputs, oneDNN convolutions then run without
 * layout reorders. Returns the number of tensors re-laid, or -1 + hnd_error(). */
int mp_params_to_channels_last(mp_params *p, const char *prefix);

/* Write every registered tensor to group "weights" of an open writer. */
int mp_params_save(const mp_params *p, ws_writer *w);
/* Only the tensors for which keep(name, ctx) is non-zero (a part of a model). */
int mp_params_save_if(const mp_params *p, ws_writer *w, int (*keep)(const char *name, void *ctx), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
