/* mono_clock.h: elapsed time (torch-free), prefix mono_. */
#ifndef HND_MONO_CLOCK_H
#define HND_MONO_CLOCK_H

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on CLOCK_MONOTONIC: only differences mean anything. Immune to
 * wall-clock steps (NTP, the user), which is why timings use it and never
 * time()/gettimeofday(). */
double mono_now_s(void);

#ifdef __cplusplus
}
#endif
#endif
