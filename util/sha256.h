/* sha256.h: SHA-256 (FIPS 180-4) for the checksums of an export bundle's
 * manifest, so a device and a server can tell they hold the same files.
 * Torch-free. Prefix sha256_. */
#ifndef HND_SHA256_H
#define HND_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t h[8];
    uint64_t bytes;        /* message length so far */
    uint8_t block[64];
    size_t fill;           /* bytes in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t digest[32]);
/* digest as 64 lowercase hex digits + NUL */
void sha256_hex(const uint8_t digest[32], char hex[65]);
/* The hex digest of a file's bytes. 0 / -1 + hnd_error() naming the path. */
int sha256_file(const char *path, char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
