/* eb_codec_vectors.c: fixed inputs through infer/eb_codec.c, printed as hex
 * (tables file, stream, decoded checksum), so that test_eb_codec_arch.sh
 * can compare a native build with an aarch64 one under qemu-user byte for
 * byte. Probabilities are ratios of integers (one IEEE division each), the
 * symbols come from an xorshift generator: no libm call whose last bit
 * could differ between platforms feeds the tables.
 * usage: eb_codec_vectors [--seeds DIR]   (DIR: fuzz seeds for fuzz_eb.c) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eb_codec.h"

enum { C = 5, MAXL = 40, N = 300 };

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}

static void hex(const char *label, const uint8_t *b, size_t n) {
    printf("%s %zu ", label, n);
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

static void write_seed(const char *dir, const char *name, const uint8_t *tab, size_t tl, uint8_t nsel,
                       const uint8_t *s, size_t sl) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(1);
    }
    uint8_t h[2] = {(uint8_t)tl, (uint8_t)(tl >> 8)};
    fwrite(h, 1, 2, f);
    fwrite(tab, 1, tl, f);
    fwrite(&nsel, 1, 1, f);
    fwrite(s, 1, sl, f);
    fclose(f);
}

int main(int argc, char **argv) {
    const char *seeds = argc == 3 && strcmp(argv[1], "--seeds") == 0 ? argv[2] : NULL;
    static double pmf[C * MAXL];
    int32_t off[C], len[C];
    float med[C];
    double tail[C];
    char err[256];
    for (int c = 0; c < C; c++) {
        len[c] = 1 + (c * 9) % MAXL + (c == C - 1 ? 30 : 0);
        if (len[c] > MAXL) len[c] = MAXL;
        off[c] = -(len[c] / 2) - c;
        med[c] = (float)c * 0.375f - 0.6f;
        /* a discrete triangle w_i = 1 + min(i, len-1-i) (times c+1), tail weight 1 */
        double sum = 1;
        for (int i = 0; i < len[c]; i++) sum += (double)((1 + (i < len[c] - 1 - i ? i : len[c] - 1 - i)) * (c + 1));
        for (int i = 0; i < len[c]; i++)
            pmf[c * MAXL + i] = (double)((1 + (i < len[c] - 1 - i ? i : len[c] - 1 - i)) * (c + 1)) / sum;
        tail[c] = 1.0 / sum;
    }
    ebc_tables t;
    if (ebc_tables_build(C, off, len, med, pmf, MAXL, tail, &t, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    uint8_t *tab;
    size_t tl;
    if (ebc_tables_write(&t, &tab, &tl, err, sizeof err) != 0) return 1;
    hex("tables", tab, tl);
    /* float inputs around the medians (symbols via ebc_symbols), some far out */
    static float z[C * N];
    static int32_t sym[C * N], back[C * N];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < N; i++) {
            int32_t v = (int32_t)(rnd() % (uint32_t)(len[c] + 2)) + off[c] - 1;
            if (rnd() % 50 == 0) v = (int32_t)(rnd() % 200000) - 100000;
            z[c * N + i] = (float)v + med[c] + (float)((int)(rnd() % 999) - 499) / 1000.0f;
        }
    if (ebc_symbols(&t, z, N, sym, err, sizeof err) != 0) return 1;
    uint8_t *s = malloc(ebc_bound(C * N));
    size_t sl;
    if (ebc_encode(&t, sym, N, s, ebc_bound(C * N), &sl, err, sizeof err) != 0 ||
        ebc_decode(&t, s, sl, back, N, err, sizeof err) != 0 || memcmp(sym, back, sizeof sym) != 0) {
        fprintf(stderr, "round trip: %s\n", err);
        return 1;
    }
    hex("stream", s, sl);
    uint64_t h = 1469598103934665603ull;   /* FNV-1a of the symbols */
    for (int k = 0; k < C * N; k++) h = (h ^ (uint32_t)sym[k]) * 1099511628211ull;
    printf("symbols %016llx\n", (unsigned long long)h);
    /* the context stream (version 2) of structured planes 15 x 20: blocks,
     * a ramp, spikes and one far value (its tables come from the counts) */
    static int32_t sc[C * N], sb[C * N];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < N; i++) {
            const int y = i / 20, x = i % 20;
            int32_t v = (y < 7 && x < 9) ? c : (x > 12 ? x / 3 - c : -1);
            if (rnd() % 40 == 0) v += (int32_t)(rnd() % 7) - 3;
            sc[c * N + i] = v;
        }
    sc[3 * N + 77] = -123456;
    uint8_t *sx = malloc(ebc_bound_ctx(C * N));
    size_t sxl;
    if (ebc_encode_ctx(&t, sc, 15, 20, sx, ebc_bound_ctx(C * N), &sxl, err, sizeof err) != 0 ||
        ebc_decode(&t, sx, sxl, sb, N, err, sizeof err) != 0 || memcmp(sc, sb, sizeof sc) != 0) {
        fprintf(stderr, "context round trip: %s\n", err);
        return 1;
    }
    hex("stream_ctx", sx, sxl);
    /* the symbols themselves, for tests/py/ref_eb_ctx.py's own decoder */
    printf("symbols_ctx");
    for (int k = 0; k < C * N; k++) printf(" %d", (int)sc[k]);
    printf("\n");
    if (seeds) {
        write_seed(seeds, "seed-5x300", tab, tl, (uint8_t)(N - 1), s, sl);   /* n = 1 + 299 % 64 = 44: mismatch */
        size_t sl2;
        if (ebc_encode(&t, sym, 44, s, ebc_bound(C * N), &sl2, err, sizeof err) != 0) return 1;
        write_seed(seeds, "seed-5x44", tab, tl, 43, s, sl2);
        if (ebc_encode(&t, sym, 1, s, ebc_bound(C * N), &sl2, err, sizeof err) != 0) return 1;
        write_seed(seeds, "seed-5x1", tab, tl, 0, s, sl2);
        /* a context stream of 5 x 40 symbols (8 x 5 planes) */
        if (ebc_encode_ctx(&t, sc, 8, 5, sx, ebc_bound_ctx(C * N), &sl2, err, sizeof err) != 0) return 1;
        write_seed(seeds, "seed-ctx-5x40", tab, tl, 39, sx, sl2);
    }
    free(sx);
    free(s);
    free(tab);
    ebc_tables_clear(&t);
    return 0;
}
