/* str_util.h: small string predicates (torch-free), prefix su_. */
#ifndef HND_STR_UTIL_H
#define HND_STR_UTIL_H

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if s begins with prefix (every s begins with ""), else 0. */
int su_starts_with(const char *s, const char *prefix);
/* 1 if s ends with suffix (every s ends with ""), else 0. */
int su_ends_with(const char *s, const char *suffix);

#ifdef __cplusplus
}
#endif
#endif
