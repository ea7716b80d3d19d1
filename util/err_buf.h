/* err_buf.h: a message into a caller's buffer, for parsers of outside data
 * whose API takes (char *err, size_t errlen) — the wire format, the link
 * codec, rANS — so they report without touching thread state. Torch-free.
 * Prefix eb_. */
#ifndef HND_ERR_BUF_H
#define HND_ERR_BUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* printf into err (errlen bytes, NUL-terminated; nothing when err is NULL
 * or errlen 0). Returns -1, so a parser can `return eb_fail(...)`. */
int eb_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
