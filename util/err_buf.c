/* err_buf.c: see err_buf.h. */
#include "err_buf.h"

#include <stdarg.h>
#include <stdio.h>

int eb_fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
