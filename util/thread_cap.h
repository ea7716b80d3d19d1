/* thread_cap.h: the largest thread count hnd accepts. Prefix tcap_.
 * libtorch happily creates 100000 threads and then hangs the machine; a
 * few threads per core is all that ever helps, so more is a usage error. */
#ifndef HND_THREAD_CAP_H
#define HND_THREAD_CAP_H

/* 4 per online core (at least 4). */
int tcap_max(void);
/* 0 when 0 <= n <= tcap_max(); else -1 with hnd_error() set:
 * "<what> 100000: at most 8 threads (4 per core, 2 cores)". */
int tcap_check(long long n, const char *what);

#endif
