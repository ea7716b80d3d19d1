/* hnd_error.h: the last error of the torch-free modules, per thread.
 * Functions that fail return NULL/-1 and leave a message here; callers print
 * it (tools/) or add context and pass it up. Never exits the process. */
#ifndef HND_ERROR_H
#define HND_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Replace the message (printf format). Always returns -1 so that
 * `return hnd_error_set(...)` reads naturally. */
int hnd_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the current message: "ctx: old message". Returns -1. */
int hnd_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The current message ("" when none); valid until the next set on this thread. */
const char *hnd_error(void);

void hnd_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
