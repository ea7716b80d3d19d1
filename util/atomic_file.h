/* atomic_file.h: write a file so that readers see either the old file or
 * the complete new one, never a half-written one (torch-free).
 *
 *     af_file a;
 *     FILE *f = af_open(&a, "out/results.json");
 *     if (!f) return -1;                      // hnd_error() says why
 *     int failed = fputs(text, f) == EOF;
 *     return af_commit(&a, failed);           // rename into place, or remove
 *
 * The data goes to "<path>.tmp.<pid>" in the same directory (so the rename
 * cannot cross file systems) and is renamed over <path> on success. */
#ifndef ATOMIC_FILE_H
#define ATOMIC_FILE_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    FILE *f;
    char path[4096];
    char tmp[4128];
} af_file;

/* Opens the temporary file for writing (binary). NULL + hnd_error() naming
 * the path when the directory is missing or not writable. */
FILE *af_open(af_file *a, const char *path);
/* Closes and renames into place when `failed` is 0 and every write went
 * through (ferror, fclose checked); otherwise removes the temporary. Returns
 * 0, or -1 with a message naming the final path. */
int af_commit(af_file *a, int failed);
/* Drops the temporary file (an error path that has its own message). */
void af_abort(af_file *a);
/* The whole text (plus a trailing newline if it lacks one) in one go. */
int af_write_text(const char *path, const char *text);

#ifdef __cplusplus
}
#endif
#endif
