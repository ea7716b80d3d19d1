/* path.c: see path.h. */
#define _GNU_SOURCE   /* nftw */
#include "path.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hnd_error.h"

/* One level. mkdir's error is only reported when the path is not already a
 * directory: mkdir may fail with EACCES/EROFS on a directory that exists
 * (a read-only mount point), which is no reason to stop. */
static int make_one(const char *d) {
    if (mkdir(d, 0777) == 0) return 0;
    int e = errno;
    struct stat st;
    if (stat(d, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    if (e == EEXIST) return hnd_error_set("%s: exists and is not a directory", d);
    return hnd_error_set("%s: cannot create directory: %s", d, strerror(e));
}

int path_mkdirs(const char *dir) {
    if (!dir || !*dir) return hnd_error_set("mkdir: empty path");
    char buf[4096];
    size_t n = strlen(dir);
    if (n >= sizeof buf) return hnd_error_set("%.64s...: path too long", dir);
    memcpy(buf, dir, n + 1);
    /* From buf + 1: the root of an absolute path is never created. */
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        /* p[-1] == '/': an empty part ("a//b", "a/"), already made */
        if (p[-1] != '/' && make_one(buf) != 0) return -1;
        if (c == '\0') return 0;
        *p = c;
    }
}

int path_join(char *out, size_t n, const char *dir, const char *name) {
    if (!name) name = "";
    int k;
    if (!dir || !*dir) k = snprintf(out, n, "%s", name);
    else k = snprintf(out, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    if (k < 0 || (size_t)k >= n) {
        if (n) out[0] = '\0';
        return hnd_error_set("%.64s/%.64s...: path too long (%zu bytes at most)", dir ? dir : "", name,
                             n ? n - 1 : 0);
    }
    return 0;
}

const char *path_base(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (remove(p) == 0) return 0;
    hnd_error_set("%s: %s", p, strerror(errno));
    (void)flag;
    return -1;
}

int path_remove_tree(const char *dir) {
    struct stat st;
    if (!dir || lstat(dir, &st) != 0) return 0;
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
