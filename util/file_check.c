/* file_check.c: see file_check.h. */
#include "file_check.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "hnd_error.h"

int fchk_regular(const char *path, uint64_t max_bytes) {
    struct stat st;
    if (!path || !*path) return hnd_error_set("empty file name");
    if (stat(path, &st) != 0) return hnd_error_set("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return hnd_error_set("%s: is a directory", path);
    if (!S_ISREG(st.st_mode)) return hnd_error_set("%s: not a regular file", path);
    if ((uint64_t)st.st_size > max_bytes)
        return hnd_error_set("%s: %.1f GiB, more than the %.1f GiB accepted", path,
                             (double)st.st_size / (1 << 30), (double)max_bytes / (1 << 30));
    return 0;
}
