/* pth_ref_names.h: the reference project's (hnd-ghnd-object-detectors)
 * student key names, turned into hnd's at import time. Prefix prn_.
 *
 * Its students wrap the layer-1 encoder in an ExtEncoder (an optional
 * early-exit classifier beside the encoder), so their state dicts say
 *   ...layer1.encoder.encoder.N.*       where hnd says ...layer1.encoder.N.*
 *   ...layer1.encoder.ext_classifier.*  which hnd has no use for (dropped)
 * The decoder (...layer1.decoder.N.*) and everything else already match.
 * Renaming here keeps one naming in the weight files, so models/'s probe
 * tells a student from a teacher by one set of keys. */
#ifndef HND_PTH_REF_NAMES_H
#define HND_PTH_REF_NAMES_H

#include "pth_reader.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int renamed;   /* encoder keys renamed */
    int dropped;   /* ext_classifier tensors dropped */
} prn_report;

/* The hnd name of one key: NULL when the key is dropped, else a malloc'd
 * string (the key itself when nothing applies). *renamed is set to 1 when
 * the name changed. NULL with *renamed -1 and hnd_error() when out of memory. */
char *prn_map_key(const char *key, int *renamed);

/* Rename / drop in place (dropped tensors are freed, the order of the rest
 * is kept). -1 + hnd_error() naming both keys when a renamed key collides
 * with another, or when out of memory; st is then still valid (freeable). */
int prn_apply(pth_state *st, prn_report *rep);

#ifdef __cplusplus
}
#endif
#endif
