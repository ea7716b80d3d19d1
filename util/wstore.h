/* wstore.h: the weight store, named tensors in an HDF5 file (torch-free).
 *
 * Layout: one dataset per tensor under /weights/<torchvision key> (for
 * example /weights/backbone.body.layer1.0.conv1.weight), optimizer and
 * scheduler state under /train/<name>, and string attributes on the root
 * group (the run's config as JSON under "config"). 0-dim tensors are scalar
 * datasets; float16 is an IEEE half type h5py reads as numpy float16.
 *
 * Writes go to "<path>.tmp.<pid>" and are renamed into place by
 * ws_writer_commit(): a crash or an error never leaves a half-written file
 * at <path>. */
#ifndef WSTORE_H
#define WSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "ct_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A tensor held in plain memory: contiguous, row-major, little-endian. */
typedef struct {
    char *name;                  /* key without the group ("conv1.weight") */
    ct_dtype dtype;
    int ndim;                    /* 0 for a scalar */
    int64_t shape[CT_MAX_DIMS];
    void *data;                  /* numel * ct_dtype_size(dtype) bytes */
    size_t nbytes;
} ws_tensor;

/* Number of elements (1 for ndim 0). */
int64_t ws_numel(int ndim, const int64_t *shape);
/* Free name and data of one tensor (not the struct itself). */
void ws_tensor_clear(ws_tensor *t);

/* ---- writing ---- */
typedef struct ws_writer ws_writer;

/* Start a new file; nothing appears at `path` until commit. NULL on error. */
ws_writer *ws_writer_open(const char *path);
/* Add a tensor under group ("weights" or "train"). The data is copied out
 * immediately. Names must be unique within a group and contain no '/'. */
int ws_writer_put(ws_writer *w, const char *group, const char *name, ct_dtype dtype,
                  int ndim, const int64_t *shape, const void *data);
/* Set a string attribute on the root group (for example "config"). */
int ws_writer_set_attr(ws_writer *w, const char *name, const char *value);
/* Close, flush and rename into place. Frees w whatever the result. */
int ws_writer_commit(ws_writer *w);
/* Drop the temporary file. Frees w. */
void ws_writer_abort(ws_writer *w);

/* ---- reading ---- */
typedef struct ws_reader ws_reader;

ws_reader *ws_reader_open(const char *path);
void ws_reader_close(ws_reader *r);
/* Names in a group, in file order; count is 0 (and names NULL) if the group
 * is absent. The array and its strings belong to the reader. */
int ws_reader_list(ws_reader *r, const char *group, const char *const **names, int *count);
/* Read one tensor into *out (caller frees with ws_tensor_clear). -1 and a
 * message naming file and key when absent or of an unsupported type. */
int ws_reader_get(ws_reader *r, const char *group, const char *name, ws_tensor *out);
/* Shape and dtype only, without reading data (out->data stays NULL). */
int ws_reader_info(ws_reader *r, const char *group, const char *name, ws_tensor *out);
/* A root string attribute, malloc'ed (caller frees); NULL if absent (no error set). */
char *ws_reader_attr(ws_reader *r, const char *name);

#ifdef __cplusplus
}
#endif
#endif
