/* manifest.h: an export bundle's manifest.json — the contract between the
 * device that runs the head and the server that runs the tail: what model,
 * what the head takes (input rule, normalisation), what it sends (shape,
 * bits, quantizer), the wire format, and the SHA-256 of every file. A
 * server compares the digest of a client's manifest with its own.
 * Prefix mf_. */
#ifndef HND_MANIFEST_H
#define HND_MANIFEST_H

#include <stdint.h>

#include "head_graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MF_FORMAT "hnd-export"
#define MF_VERSION 1
#define MF_WIRE_VERSION 1   /* the split link's frames (hnd serve / split-detect) */

typedef struct {
    char name[64];          /* path inside the bundle: "head.onnx", "head_c/head.bin" */
    char role[32];          /* "head-onnx", "head-torchscript", "head-c-weights", "head-c-source", "tail" */
    char sha256[65];
    int64_t bytes;
} mf_file;

/* Writes dir/manifest.json (atomically) for head h, the files listed
 * (their sha256 and bytes are computed here from dir/name), source_name the
 * student file it came from (its base name is recorded). 0 / -1. */
int mf_write(const char *dir, const hg_head *h, mf_file *files, int n_files, const char *source_name);

#ifdef __cplusplus
}
#endif
#endif
