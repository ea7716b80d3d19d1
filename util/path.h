/* path.h: file-system paths (torch-free), prefix path_.
 *
 * One mkdir -p and one join for every module that writes outputs, so that
 * they agree on what an existing file in the way or a too-long path means. */
#ifndef HND_PATH_H
#define HND_PATH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* mkdir -p: creates dir and its missing parents (mode 0777 & ~umask).
 * Directories already there are fine; "a//b" and a trailing '/' too.
 * 0, or -1 + hnd_error() naming the part that failed (a file in the way,
 * no permission, a path longer than 4095 bytes). */
int path_mkdirs(const char *dir);

/* out = dir + "/" + name (no second '/' when dir ends with one; name alone
 * when dir is NULL or ""). 0, or -1 + hnd_error() when it does not fit in
 * n bytes (out then holds "" rather than a truncated path). */
int path_join(char *out, size_t n, const char *dir, const char *name);

/* The part after the last '/' ("a/b.jpg" -> "b.jpg"); a pointer into path. */
const char *path_base(const char *path);

/* rm -r: removes dir and everything under it, never following symbolic
 * links. 0 (also when dir does not exist), or -1 + hnd_error() naming the
 * entry that could not be removed. */
int path_remove_tree(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
