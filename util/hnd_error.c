#include "hnd_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Fixed per-thread buffer: an error path must not itself fail to allocate. */
static _Thread_local char g_msg[2048];

int hnd_error_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return -1;
}

int hnd_error_prefix(const char *fmt, ...) {
    char prefix[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    /* truncation of a very long message is acceptable */
    size_t n = strlen(prefix);
    if (n > sizeof g_msg - 3) n = sizeof g_msg - 3;
    memcpy(g_msg, prefix, n);
    memcpy(g_msg + n, ": ", 2);
    size_t rest = sizeof g_msg - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(g_msg + n + 2, old, m);
    g_msg[n + 2 + m] = '\0';
    return -1;
}

const char *hnd_error(void) { return g_msg; }

void hnd_error_clear(void) { g_msg[0] = '\0'; }
