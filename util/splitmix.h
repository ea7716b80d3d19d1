/* splitmix.h: SplitMix64 (Steele, Lea and Flood 2014; the constants of
 * Vigna's reference splitmix64.c), torch-free, prefix sm64_.
 *
 * Used to expand one 64-bit seed into generator states and to derive
 * per-step or per-item seeds: its outputs of nearby inputs (seed, seed+1)
 * are unrelated, unlike those of a plain multiply or xor. */
#ifndef HND_SPLITMIX_H
#define HND_SPLITMIX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Advances *state and returns the next output. */
uint64_t sm64_next(uint64_t *state);
/* The output the generator gives first from state x (a stateless hash):
 * sm64_mix(x) == sm64_next(&(uint64_t){x}). */
uint64_t sm64_mix(uint64_t x);

#ifdef __cplusplus
}
#endif
#endif
