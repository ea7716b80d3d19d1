/* hnd_head_run: the exported head on one image, from the command line.
 *
 *   hnd_head_run head.bin IN OUTPREFIX [--threads N] [--repeat N] [--save-input X.npy]
 *                [--eb-tables eb_tables.bin]
 *
 * IN: a float32 .npy [1,3,H,W] or [3,H,W] (an image already through the
 * R-CNN transform), or a binary PPM (P6, 8-bit RGB), which hnd_head_prepare
 * transforms first (--save-input writes that transformed input as .npy).
 * Writes OUTPREFIX.npy — the bottleneck [1,C,h,w]: uint8 (8 bits), float16
 * (16) or float32 (32) — and OUTPREFIX.json with its shape, the scale and
 * zero point (8 bits) and the time per run in milliseconds (--repeat runs;
 * the first one included). With --eb-tables (an entropy-bottleneck
 * student's bundle, 32 bits) the head also codes its output as the split
 * link sends it: the symbols round(y - median) rANS-coded with the 16-bit
 * tables (eb_codec.h), written to OUTPREFIX.eb, their size as "eb_bytes" in
 * the JSON. Exit status 0, or 1 with a message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eb_codec.h"
#include "hnd_head.h"

static void usage(void) {
    fprintf(stderr,
            "usage: hnd_head_run head.bin IN.npy|IN.ppm OUTPREFIX [--threads N] [--repeat N] [--save-input X.npy]\n"
            "                    [--eb-tables eb_tables.bin]\n");
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = (unsigned char *)malloc(cap);
    while (buf) {
        if (len == cap) {
            unsigned char *nb = (unsigned char *)realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = len;
    return buf;
}

/* A float32 little-endian C-order .npy of shape [1,3,H,W] or [3,H,W]. */
static float *read_npy(const char *path, int *H, int *W) {
    size_t n;
    unsigned char *b = read_all(path, &n);
    if (!b) {
        fprintf(stderr, "hnd_head_run: %s: cannot read\n", path);
        return NULL;
    }
    float *x = NULL;
    size_t hl = 0, off = 0;
    if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "hnd_head_run: %s: not a .npy file\n", path);
        goto done;
    }
    if (b[6] == 1) {
        hl = (size_t)b[8] | (size_t)b[9] << 8;
        off = 10;
    } else if (n >= 12) {
        hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        off = 12;
    }
    if (off == 0 || hl > n - off || hl > 65536) {
        fprintf(stderr, "hnd_head_run: %s: bad .npy header\n", path);
        goto done;
    }
    char hdr[65537];
    memcpy(hdr, b + off, hl);
    hdr[hl] = '\0';
    if (!strstr(hdr, "'<f4'") || !strstr(hdr, "'fortran_order': False")) {
        fprintf(stderr, "hnd_head_run: %s: expected float32 ('<f4') in C order, header %s\n", path, hdr);
        goto done;
    }
    const char *sp = strstr(hdr, "'shape': (");
    long dims[8];
    int nd = 0;
    if (sp) {
        const char *q = sp + 10;
        while (*q && *q != ')' && nd < 8) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q) break;
            dims[nd++] = v;
            q = end;
            while (*q == ',' || *q == ' ') q++;
        }
    }
    int base = nd == 4 ? 1 : 0;
    if (!((nd == 4 && dims[0] == 1 && dims[1] == 3) || (nd == 3 && dims[0] == 3)) || dims[base + 1] < 1 ||
        dims[base + 2] < 1 || dims[base + 1] > HND_HEAD_MAX_SIDE || dims[base + 2] > HND_HEAD_MAX_SIDE) {
        fprintf(stderr, "hnd_head_run: %s: expected shape [1,3,H,W] or [3,H,W], header %s\n", path, hdr);
        goto done;
    }
    *H = (int)dims[base + 1];
    *W = (int)dims[base + 2];
    size_t count = (size_t)3 * (size_t)*H * (size_t)*W;
    off += hl;
    if (n - off != 4 * count) {
        fprintf(stderr, "hnd_head_run: %s: %zu data bytes, expected %zu\n", path, n - off, 4 * count);
        goto done;
    }
    x = (float *)malloc(4 * count);
    if (!x) {
        fprintf(stderr, "hnd_head_run: %s: out of memory\n", path);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = b + off + 4 * i;
        unsigned long u = (unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 |
                          (unsigned long)p[3] << 24;
        unsigned int u32 = (unsigned int)u;
        memcpy(&x[i], &u32, 4);
    }
done:
    free(b);
    return x;
}

/* A binary PPM (P6, maxval 255) as RGB bytes. */
static unsigned char *read_ppm(const char *path, int *h, int *w) {
    size_t n;
    unsigned char *b = read_all(path, &n);
    if (!b) {
        fprintf(stderr, "hnd_head_run: %s: cannot read\n", path);
        return NULL;
    }
    long v[3];
    size_t p = 2;
    int ok = n > 2 && b[0] == 'P' && b[1] == '6';
    for (int k = 0; k < 3 && ok; k++) {
        for (;;) {   /* whitespace and comments */
            while (p < n && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r')) p++;
            if (p < n && b[p] == '#')
                while (p < n && b[p] != '\n') p++;
            else break;
        }
        v[k] = 0;
        size_t s = p;
        while (p < n && b[p] >= '0' && b[p] <= '9' && v[k] < 1000000) v[k] = v[k] * 10 + (b[p++] - '0');
        if (p == s) ok = 0;
    }
    ok = ok && p < n && v[0] >= 1 && v[1] >= 1 && v[0] <= 65536 && v[1] <= 65536 && v[2] == 255;
    p++;   /* one whitespace byte */
    if (!ok || n - p < (size_t)v[0] * (size_t)v[1] * 3) {
        fprintf(stderr, "hnd_head_run: %s: not a binary 8-bit PPM (P6, maxval 255) or truncated\n", path);
        free(b);
        return NULL;
    }
    size_t bytes = (size_t)v[0] * (size_t)v[1] * 3;
    unsigned char *rgb = (unsigned char *)malloc(bytes);
    if (rgb) memcpy(rgb, b + p, bytes);
    free(b);
    *w = (int)v[0];
    *h = (int)v[1];
    return rgb;
}

static int write_npy(const char *path, const char *descr, const int *shape, int nd, const void *data,
                     size_t bytes) {
    char hdr[256], dims[128] = "";
    for (int i = 0; i < nd; i++) {
        size_t l = strlen(dims);
        snprintf(dims + l, sizeof dims - l, "%d,%s", shape[i], i + 1 < nd ? " " : "");
    }
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    int pad = (64 - (10 + hl + 1) % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned hlen = (unsigned)(hl + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((int)(hlen & 0xff), f);
    fputc((int)(hlen >> 8), f);
    fwrite(hdr, 1, (size_t)hl, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(data, 1, bytes, f);   /* little-endian hosts (x86-64, aarch64) */
    int bad = ferror(f);
    return fclose(f) != 0 || bad ? -1 : 0;
}

/* The entropy bottleneck's stream of the head's float32 output f [c][n]
 * with the tables file at path, into path_out. 0, or -1 + message. */
static int write_eb(const char *tables_path, const float *f, int c, size_t h, size_t w, const char *path_out,
                    size_t *bytes) {
    char err[256];
    const size_t n = h * w;
    size_t tl = 0, cap = ebc_bound((size_t)c * n), len = 0;
    unsigned char *tb = read_all(tables_path, &tl);
    ebc_tables t;
    memset(&t, 0, sizeof t);
    int32_t *sym = (int32_t *)malloc(sizeof *sym * (size_t)c * n + 1);
    uint8_t *out = (uint8_t *)malloc(cap);
    int rc = -1;
    if (!tb) fprintf(stderr, "hnd_head_run: %s: cannot read\n", tables_path);
    else if (!sym || !out) fprintf(stderr, "hnd_head_run: out of memory\n");
    else if (ebc_tables_read(tb, tl, &t, err, sizeof err) != 0) fprintf(stderr, "hnd_head_run: %s: %s\n", tables_path, err);
    else if ((int)t.channels != c)
        fprintf(stderr, "hnd_head_run: %s: tables of %u channels for a head of C=%d\n", tables_path, t.channels, c);
    else if (ebc_symbols(&t, f, (uint32_t)n, sym, err, sizeof err) != 0 ||
             ebc_encode_best(&t, sym, (uint32_t)h, (uint32_t)w, out, cap, &len, err, sizeof err) != 0)
        fprintf(stderr, "hnd_head_run: entropy coding: %s\n", err);
    else {
        FILE *fo = fopen(path_out, "wb");
        int bad = !fo || fwrite(out, 1, len, fo) != len;
        if (fo && fclose(fo) != 0) bad = 1;
        if (bad) fprintf(stderr, "hnd_head_run: %s: cannot write\n", path_out);
        else rc = 0, *bytes = len;
    }
    ebc_tables_clear(&t);
    free(tb);
    free(sym);
    free(out);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        usage();
        return 2;
    }
    const char *head_path = argv[1], *in_path = argv[2], *prefix = argv[3], *save_input = NULL, *eb_tables = NULL;
    int threads = 0, repeat = 1;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--save-input") == 0 && i + 1 < argc) save_input = argv[++i];
        else if (strcmp(argv[i], "--eb-tables") == 0 && i + 1 < argc) eb_tables = argv[++i];
        else {
            fprintf(stderr, "hnd_head_run: unknown or incomplete option %s\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (repeat < 1 || repeat > 100000) {
        fprintf(stderr, "hnd_head_run: --repeat %d out of 1..100000\n", repeat);
        return 2;
    }
    char err[512];
    hnd_head *h;
    if (hnd_head_load(head_path, &h, err, sizeof err) != 0) {
        fprintf(stderr, "hnd_head_run: %s\n", err);
        return 1;
    }
    hnd_head_set_threads(threads);
    int H = 0, W = 0, rc = 1;
    float *x = NULL;
    size_t il = strlen(in_path);
    if (il > 4 && (strcmp(in_path + il - 4, ".ppm") == 0 || strcmp(in_path + il - 4, ".PPM") == 0)) {
        int ih, iw;
        unsigned char *rgb = read_ppm(in_path, &ih, &iw);
        if (rgb && hnd_head_prepare(h, rgb, ih, iw, &x, &H, &W, err, sizeof err) != 0)
            fprintf(stderr, "hnd_head_run: %s: %s\n", in_path, err);
        free(rgb);
        if (x && save_input) {
            int shp[4] = {1, 3, H, W};
            if (write_npy(save_input, "<f4", shp, 4, x, (size_t)12 * (size_t)H * (size_t)W) != 0)
                fprintf(stderr, "hnd_head_run: %s: cannot write\n", save_input);
        }
    } else {
        x = read_npy(in_path, &H, &W);
    }
    int c, oh, ow;
    if (!x) goto out;
    if (hnd_head_output_shape(h, H, W, &c, &oh, &ow, err, sizeof err) != 0) {
        fprintf(stderr, "hnd_head_run: %s\n", err);
        goto out;
    }
    int bits = hnd_head_bits(h);
    if (eb_tables && bits != 32) {
        fprintf(stderr, "hnd_head_run: --eb-tables codes a 32-bit head's output (an entropy-bottleneck student's "
                        "bundle); %s is %d bits\n", head_path, bits);
        goto out;
    }
    size_t n = (size_t)c * (size_t)oh * (size_t)ow, esz = bits == 8 ? 1 : bits == 16 ? 2 : 4, eb_bytes = 0;
    void *buf = malloc(n * esz);
    double *ms = (double *)malloc(sizeof(double) * (size_t)repeat);
    if (!buf || !ms) {
        fprintf(stderr, "hnd_head_run: out of memory\n");
        free(buf);
        free(ms);
        goto out;
    }
    hnd_head_output o;
    memset(&o, 0, sizeof o);
    if (bits == 8) o.q = (uint8_t *)buf;
    else if (bits == 16) o.half = (uint16_t *)buf;
    else o.f = (float *)buf;
    int ok = 1;
    for (int r = 0; r < repeat && ok; r++) {
        if (hnd_head_run(h, x, H, W, &o, err, sizeof err) != 0) {
            fprintf(stderr, "hnd_head_run: %s\n", err);
            ok = 0;
        }
        ms[r] = o.ms;
    }
    char path[4096];
    int shp[4] = {1, c, oh, ow};
    snprintf(path, sizeof path, "%s.npy", prefix);
    if (ok && write_npy(path, bits == 8 ? "|u1" : bits == 16 ? "<f2" : "<f4", shp, 4, buf, n * esz) != 0) {
        fprintf(stderr, "hnd_head_run: %s: cannot write\n", path);
        ok = 0;
    }
    snprintf(path, sizeof path, "%s.eb", prefix);
    if (ok && eb_tables && write_eb(eb_tables, (const float *)buf, c, (size_t)oh, (size_t)ow, path, &eb_bytes) != 0)
        ok = 0;
    if (ok) {
        double *sorted = (double *)malloc(sizeof(double) * (size_t)repeat);
        if (sorted) {
            memcpy(sorted, ms, sizeof(double) * (size_t)repeat);
            qsort(sorted, (size_t)repeat, sizeof(double), cmp_double);
        }
        double med = !sorted ? ms[0]
                     : repeat % 2 ? sorted[repeat / 2]
                                  : 0.5 * (sorted[repeat / 2 - 1] + sorted[repeat / 2]);
        snprintf(path, sizeof path, "%s.json", prefix);
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "{\"bits\": %d, \"input\": [1, 3, %d, %d], \"shape\": [1, %d, %d, %d], ", bits, H, W, c, oh, ow);
            if (bits == 8) fprintf(f, "\"scale\": %.9g, \"zero_point\": %d, ", (double)o.scale, o.zero_point);
            if (eb_tables) fprintf(f, "\"eb_bytes\": %zu, ", eb_bytes);
            fprintf(f, "\"threads\": %d, \"repeat\": %d, \"ms_median\": %.4f, \"ms_min\": %.4f, \"ms\": [",
                    hnd_head_get_threads(), repeat, med, sorted ? sorted[0] : ms[0]);
            for (int r = 0; r < repeat; r++) fprintf(f, "%s%.4f", r ? ", " : "", ms[r]);
            fprintf(f, "]}\n");
        }
        free(sorted);
        if (!f || ferror(f) || fclose(f) != 0) {
            fprintf(stderr, "hnd_head_run: %s: cannot write\n", path);
            ok = 0;
        }
    }
    free(buf);
    free(ms);
    rc = ok ? 0 : 1;
out:
    free(x);
    hnd_head_free(h);
    return rc;
}
