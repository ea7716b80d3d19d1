/* test_util.h: small helpers shared by the cmocka tests. */
#ifndef HND_TEST_UTIL_H
#define HND_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Path in the test scratch directory (HND_TEST_TMP, else the cwd). */
static inline const char *tu_tmp(char *buf, size_t n, const char *name) {
    const char *d = getenv("HND_TEST_TMP");
    snprintf(buf, n, "%s/%s", d && *d ? d : ".", name);
    return buf;
}

/* Run a Python oracle script from tests/py with the Debian interpreter
 * (the one with torch/torchvision/h5py). Returns the exit status. */
static inline int tu_python(const char *script_and_args) {
    const char *py = getenv("HND_PYTHON");
    const char *src = getenv("HND_SRC_DIR");
    char cmd[4096];
    if (snprintf(cmd, sizeof cmd, "%s %s/tests/py/%s", py && *py ? py : "/usr/bin/python3",
                 src && *src ? src : "..", script_and_args) >= (int)sizeof cmd)
        return 127;   /* a command line this long would run something else */
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static inline int tu_file_exists(const char *p) {
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* HND_TEST_SCOPE=short (the sanitizer pass of `make test SANITIZE=1`): the
 * slowest parity tests check their smaller cases only. */
static inline int tu_short_scope(void) {
    const char *s = getenv("HND_TEST_SCOPE");
    return s && strcmp(s, "short") == 0;
}

/* Large reference files (weights, features) are removed when a test group
 * ends, so a full run does not leave gigabytes behind; set
 * HND_KEEP_TEST_FILES=1 to keep them for debugging. */
static inline void tu_cleanup(const char *dir) {
    const char *keep = getenv("HND_KEEP_TEST_FILES");
    if ((keep && *keep) || !dir || !*dir) return;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

#endif
