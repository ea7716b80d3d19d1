/* thread_cap.c: see thread_cap.h. */
#include "thread_cap.h"

#include <unistd.h>

#include "hnd_error.h"

static long cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

int tcap_max(void) {
    long m = 4 * cores();
    return (int)(m < 4 ? 4 : m);
}

int tcap_check(long long n, const char *what) {
    if (n < 0) return hnd_error_set("%s %lld: must be >= 0 (0 = all cores)", what, n);
    if (n > tcap_max())
        return hnd_error_set("%s %lld: at most %d threads (4 per core, %ld cores)", what, n, tcap_max(), cores());
    return 0;
}
