/* sweep_rate.c: the rate-accuracy side of a sweep (issue 18, part 4): what
 * each row sends per image, in bytes and bits per input pixel, its mAP, and
 * the BD-rate of each curve against the 8-bit HND students. See sweep.h. */
#include "sweep.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "bd_rate.h"
#include "hnd_error.h"

int sw_parse_beta(const char *s, double *out, int max) {
    int n = 0;
    const char *p = s;
    while (p && *p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !(v >= 0) || !isfinite(v) || (*end && *end != ','))
            return hnd_error_set("--beta '%s': expected a comma-separated list of numbers >= 0", s);
        if (n >= max) return hnd_error_set("--beta: at most %d values", max);
        for (int i = 0; i < n; i++)
            if (out[i] == v) return hnd_error_set("--beta: %g twice", v);
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) return hnd_error_set("--beta: empty list");
    return n;
}

double sw_sent_bytes(const sw_row *r) {
    if (r->jpeg_quality) return r->ev.mean_jpeg_bytes;
    if (r->entropy) return r->ev.mean_bytes_eb;
    return r->ev.mean_bytes_q8;   /* a student's quantized bottleneck; the teacher's 8-bit input */
}

double sw_bits_per_pixel(const sw_row *r) {
    return r->ev.mean_input_numel > 0 ? 8.0 * sw_sent_bytes(r) / (r->ev.mean_input_numel / 3.0) : 0.0;
}

void sw_bd_rates(const sw_row *rows, int n, double pct[SW_BD_COUNT], int ok[SW_BD_COUNT],
                 char (*why)[SW_BD_WHY]) {
    static double ra[SW_MAX], qa[SW_MAX], rb[SW_BD_COUNT][SW_MAX], qb[SW_BD_COUNT][SW_MAX];
    int na = 0, nb[SW_BD_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        const sw_row *r = &rows[i];
        int k = r->jpeg_quality ? SW_BD_JPEG : r->entropy ? SW_BD_EB : r->is_teacher ? -1 : SW_BD_RANS;
        if (k < 0 || nb[k] >= SW_MAX) continue;
        rb[k][nb[k]] = k == SW_BD_RANS ? r->ev.mean_bytes_rans : sw_sent_bytes(r);
        qb[k][nb[k]++] = r->ev.bbox[0];
        if (k == SW_BD_RANS) {   /* the reference: the same students at their 8-bit bytes */
            ra[na] = r->ev.mean_bytes_q8;
            qa[na++] = r->ev.bbox[0];
        }
    }
    for (int k = 0; k < SW_BD_COUNT; k++) {
        char err[SW_BD_WHY] = "";
        if (nb[k] == 0) ok[k] = 0;   /* no such curve: nothing to say */
        else if (na < 2 || nb[k] < 2)
            ok[k] = 0, snprintf(err, sizeof err, "%d point(s) on this curve and %d on the 8-bit one: 2 each needed",
                                nb[k], na);
        else ok[k] = bd_rate(ra, qa, na, rb[k], qb[k], nb[k], &pct[k], err, (int)sizeof err) == 0;
        if (!ok[k]) pct[k] = NAN;
        if (why) snprintf(why[k], SW_BD_WHY, "%s", ok[k] ? "" : err);
    }
}

static const char *row_kind(const sw_row *r) {
    return r->jpeg_quality ? "teacher_jpeg" : r->is_teacher ? "teacher" : r->entropy ? "student_eb" : "student_8bit";
}

int sw_write_rate(const char *out_dir, const sw_row *rows, int n) {
    size_t cap = 1024 + (size_t)n * 1024;
    char *csv = malloc(cap), *js = malloc(cap + 1024);
    if (!csv || !js) {
        free(csv);
        free(js);
        return hnd_error_set("out of memory");
    }
    size_t c = 0, j = 0;
    c += (size_t)snprintf(csv + c, cap - c,
                          "curve,channels,beta,jpeg_quality,bytes_per_image,bits_per_pixel,bbox_ap,segm_ap\n");
    double bd[SW_BD_COUNT];
    int ok[SW_BD_COUNT];
    sw_bd_rates(rows, n, bd, ok, NULL);
    static const char *const names[SW_BD_COUNT] = {"student_8bit_rans", "student_eb", "teacher_jpeg"};
    j += (size_t)snprintf(js + j, cap + 1024 - j,
                          "{\n  \"note\": \"bytes_per_image: what the device sends per image (student_8bit: the "
                          "8-bit bottleneck + scale and zero point; student_8bit_rans: the same coded losslessly; "
                          "student_eb: the entropy bottleneck's rANS stream; teacher_jpeg: the JPEG; teacher: the "
                          "8-bit input); bits_per_pixel = 8 x bytes / (H x W of the resized input); bd_rate_vs_8bit: "
                          "Bjontegaard delta rate, percent bytes at equal bbox mAP against student_8bit\",\n"
                          "  \"bd_rate_vs_8bit\": {");
    for (int k = 0; k < SW_BD_COUNT; k++) {
        if (ok[k]) j += (size_t)snprintf(js + j, cap + 1024 - j, "%s\"%s\": %.4f", k ? ", " : "", names[k], bd[k]);
        else j += (size_t)snprintf(js + j, cap + 1024 - j, "%s\"%s\": null", k ? ", " : "", names[k]);
    }
    j += (size_t)snprintf(js + j, cap + 1024 - j, "},\n  \"rows\": [\n");
    for (int i = 0; i < n; i++) {
        const sw_row *r = &rows[i];
        /* an 8-bit student is two points: raw and rANS-coded */
        for (int coded = 0; coded <= (!r->is_teacher && !r->entropy); coded++) {
            const char *kind = coded ? "student_8bit_rans" : row_kind(r);
            double bytes = coded ? r->ev.mean_bytes_rans : sw_sent_bytes(r);
            double bpp = r->ev.mean_input_numel > 0 ? 8.0 * bytes / (r->ev.mean_input_numel / 3.0) : 0.0;
            char beta[32] = "", jq[16] = "", segm[32] = "";
            if (r->entropy) snprintf(beta, sizeof beta, "%.9g", r->beta);
            if (r->jpeg_quality) snprintf(jq, sizeof jq, "%d", r->jpeg_quality);
            if (r->ev.has_segm) snprintf(segm, sizeof segm, "%.6f", r->ev.segm[0]);
            c += (size_t)snprintf(csv + c, cap - c, "%s,%d,%s,%s,%.1f,%.6g,%.6f,%s\n", kind, r->channels, beta, jq,
                                  bytes, bpp, r->ev.bbox[0], segm);
            j += (size_t)snprintf(js + j, cap + 1024 - j,
                                  "%s    {\"curve\": \"%s\", \"channels\": %d, \"beta\": %s, \"jpeg_quality\": %s, "
                                  "\"bytes_per_image\": %.1f, \"bits_per_pixel\": %.6g, \"bbox_ap\": %.6f, "
                                  "\"segm_ap\": %s}",
                                  i || coded ? ",\n" : "", kind, r->channels, beta[0] ? beta : "null",
                                  jq[0] ? jq : "null", bytes, bpp, r->ev.bbox[0], segm[0] ? segm : "null");
        }
    }
    j += (size_t)snprintf(js + j, cap + 1024 - j, "\n  ]\n}\n");
    char p[1100];
    snprintf(p, sizeof p, "%s/rate.csv", out_dir);
    int rc = af_write_text(p, csv);
    snprintf(p, sizeof p, "%s/rate.json", out_dir);
    if (rc == 0) rc = af_write_text(p, js);
    free(csv);
    free(js);
    return rc;
}
