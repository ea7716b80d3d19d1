/* config_diff.h: which keys of two configs differ in what training depends
 * on. Prefix cdiff_.
 *
 * A checkpoint keeps the config it was trained with (attribute "config",
 * ckpt.h) and its digest ("train_digest"). Reusing a finished run or
 * resuming one under a changed config would silently mix two experiments
 * (another dataset, lr, bottleneck...), so the trainers and the sweep
 * compare the two and name the keys that differ. Keys that do not change
 * the weights a run produces are left out: description, output_dir,
 * device, threads, dataset.num_workers, dataset.name, dataset.splits.test,
 * train.log_freq, test, student_model.ckpt, model.ckpt (where the result
 * goes) and every *.experiment (a label). */
#ifndef HND_CONFIG_DIFF_H
#define HND_CONFIG_DIFF_H

#include <stddef.h>
#include <stdint.h>

/* The differing training-relevant keys of old_json and new_json, written
 * to out as "train.optimizer.params.lr (0.001 -> 0.01), dataset.root (a ->
 * b)" (cut at cap with "..."). Returns their count, or -1 with hnd_error()
 * set when either text is not JSON. */
int cdiff_keys(const char *old_json, const char *new_json, char *out, size_t cap);

/* FNV-1a 64 over the training-relevant keys and values in key order: equal
 * configs give equal digests whatever their formatting. 0 on bad JSON. */
uint64_t cdiff_digest(const char *json);

#endif
