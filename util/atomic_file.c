/* atomic_file.c: see atomic_file.h. */
#include "atomic_file.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hnd_error.h"

FILE *af_open(af_file *a, const char *path) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) {
        hnd_error_set("empty output path");
        return NULL;
    }
    if (strlen(path) >= sizeof a->path) {
        hnd_error_set("%.64s...: output path too long", path);
        return NULL;
    }
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) hnd_error_set("%s: cannot create (%s)", a->tmp, strerror(errno));
    return a->f;
}

int af_commit(af_file *a, int failed) {
    if (!a->f) return hnd_error_set("%s: not open", a->path);
    int e = 0;
    if (ferror(a->f)) failed = 1;
    if (fflush(a->f) != 0) {
        failed = 1;
        e = errno;
    }
    if (fclose(a->f) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    a->f = NULL;
    if (!failed && rename(a->tmp, a->path) != 0) {
        failed = 1;
        e = errno;
    }
    if (failed) {
        remove(a->tmp);
        return hnd_error_set("%s: cannot write%s%s", a->path, e ? ": " : "", e ? strerror(e) : "");
    }
    return 0;
}

void af_abort(af_file *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) remove(a->tmp);
}

int af_write_text(const char *path, const char *text) {
    af_file a;
    FILE *f = af_open(&a, path);
    if (!f) return -1;
    size_t n = strlen(text);
    int failed = fwrite(text, 1, n, f) != n;
    if (!failed && (n == 0 || text[n - 1] != '\n')) failed = fputc('\n', f) == EOF;
    return af_commit(&a, failed);
}
