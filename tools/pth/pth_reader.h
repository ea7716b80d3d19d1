/* pth_reader.h: read the tensors of a torch.save()d state dict, without torch.
 *
 * Both on-disk formats are understood:
 *  - zip (torch >= 1.6): <prefix>/data.pkl plus one record per storage,
 *    <prefix>/data/<key>, for whatever single top-level folder <prefix> is;
 *  - legacy (torch < 1.6, or _use_new_zipfile_serialization=False): magic,
 *    protocol and sys_info pickles, the object pickle, a pickle listing the
 *    storage keys, then each storage as int64 element count + raw bytes.
 * The object must be a dict of name -> tensor, or a checkpoint dict whose
 * "model" (else "state_dict") entry is one. Non-tensor entries are skipped
 * and counted. Tensors come back contiguous, row-major, in file order.
 *
 * Assumes a little-endian host (as torch does for these files). */
#ifndef HND_PTH_READER_H
#define HND_PTH_READER_H

#include <stddef.h>
#include <stdint.h>

#include "wstore.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    ws_tensor *tensors;    /* count tensors; names and data malloc'ed */
    int count;
    int skipped;           /* entries of the state dict that are not tensors */
    const char *format;    /* "zip" or "legacy" (static string) */
    const char *container; /* "model", "state_dict" or NULL (top level) */
    size_t total_bytes;    /* sum of tensor nbytes */
} pth_state;

/* Limits; 0 in a field means the default. */
typedef struct {
    size_t max_total_bytes; /* all tensor data together (default 64 GiB) */
    size_t max_pickle_memory; /* unpickler arena (default 1 GiB) */
} pth_options;

/* Load a .pth file. 0 on success (free with pth_state_clear); -1 with
 * hnd_error() naming the file otherwise, *out left empty. opts may be NULL. */
int pth_load(const char *path, const pth_options *opts, pth_state *out);

/* The same from bytes in memory (zip or legacy); `name` is used in messages.
 * The buffer is only read and may be freed after the call. */
int pth_load_from_memory(const void *buf, size_t len, const char *name, const pth_options *opts,
                         pth_state *out);

/* Free the tensors and zero the struct. NULL-safe; safe on an empty state. */
void pth_state_clear(pth_state *st);

#ifdef __cplusplus
}
#endif
#endif
