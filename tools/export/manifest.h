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
#include "rcnn_config.h"

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

/* Writes dir/manifest.json (atomically) for head h of the detector rc (its
 * every setting is recorded under "detector", so a server rebuilds exactly
 * this model from the manifest and tail.h5), the files listed (their sha256
 * and bytes are computed here from dir/name), source_name the student file
 * it came from (its base name is recorded). 0 / -1. */
int mf_write(const char *dir, const hg_head *h, const rcnn_config *rc, mf_file *files, int n_files,
             const char *source_name);

#define MF_MAX_FILES 16

/* What a device or a server needs from a bundle's manifest. */
typedef struct {
    char dir[4096];              /* the bundle */
    char digest[65];             /* SHA-256 of manifest.json itself (the HELLO digest) */
    rcnn_config rc;              /* the detector, as exported */
    int channels, bits, kind;    /* C, 8/16/32, stu_kind */
    int n_files;
    mf_file files[MF_MAX_FILES];
} mf_info;

/* Reads and checks dir/manifest.json (format, version, every field the
 * reader uses, types and ranges); 0, or -1 + hnd_error() naming the file
 * and key. */
int mf_read(const char *dir, mf_info *out);
/* The path of the bundle's file with role (e.g. "tail", "head-c-weights")
 * after checking its SHA-256 against the manifest; 0 / -1 + hnd_error()
 * (absent, or changed since the export). */
int mf_file_path(const mf_info *m, const char *role, char *path, size_t n);

#ifdef __cplusplus
}
#endif
#endif
