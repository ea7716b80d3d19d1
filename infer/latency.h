/* latency.h: timing of the head (on the mobile device) and the tail (on the
 * edge server) of a split R-CNN, the data each image puts on the link, and
 * the total-inference-time model of mobile, edge and split computing.
 * Prefix lat_.
 *
 * Parts timed per image (the device synchronised around each, so GPU times
 * are real; ct_device_synchronize is a no-op on the CPU), as the split
 * detector's sr_head and sr_tail run them (models/split_rcnn.h):
 *   head: transform (normalise, resize, pad), stem (conv1..maxpool),
 *         encoder (a student's encoder; the original model's layer1),
 *         quantizer (students: 8-bit quantization; the copy of the link's
 *         tensor to host memory for both)
 *   tail: dequantizer (the link back to the device + dequantization),
 *         decoder (a student's decoder), rest (layer2..4, FPN, RPN, RoI
 *         heads, postprocess)
 *   whole: the model end to end as it would run on one machine (students
 *         without the quantization round trip), timed separately.
 *
 * The total time of a strategy at link rate R (Mbit/s):
 *   T = device_ms + [bytes > 0] (overhead_ms + 8 * bytes / (R * 1000)) + server_ms
 * with the strategies
 *   mobile        everything on the device:   device = whole'
 *   edge-jpeg95   the image as JPEG (q 95):   bytes = JPEG, server = whole
 *   edge-rgb      the image as 8-bit RGB:     bytes = 3 H W, server = whole
 *   split-8bit    students: device = head', bytes = C h w + 5 (uint8 + float32
 *                 scale + 1-byte zero point), server = tail
 *   split-fp16    device = head' - quantizer, bytes = 2 C h w, server = tail - dequantizer
 *   split-fp32    likewise with 4 C h w
 * where x' is the device's time for x: the time measured here times a
 * slowdown factor, or a time measured on the real device when given. */
#ifndef HND_LATENCY_H
#define HND_LATENCY_H

#include <stdint.h>
#include <stdio.h>

#include "analysis.h"
#include "img.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n;
    double mean, std, p50, p95, min, max;   /* std: population (divide by n) */
} lat_stats;

/* Statistics of v[0..n-1] (not modified). Percentiles by linear
 * interpolation between order statistics (numpy's default): p at position
 * (n-1) p. n = 0 gives all zeros. */
void lat_stats_compute(const double *v, int n, lat_stats *out);

enum {
    LAT_TRANSFORM, LAT_STEM, LAT_ENCODER, LAT_QUANTIZE, LAT_HEAD,
    LAT_DEQUANTIZE, LAT_DECODER, LAT_REST, LAT_TAIL, LAT_WHOLE, LAT_NPARTS
};

typedef struct {
    int warmup;          /* untimed passes first (default 2 when 0) */
    int runs;            /* timed passes, cycling over the images (default: max(10, n images)) */
    int quiet;
    /* progress to stderr when !quiet */
} lat_bench_options;

typedef struct {
    char label[128];                 /* spa_label of the model */
    int is_student;
    int runs, n_images;
    lat_stats parts[LAT_NPARTS];     /* milliseconds */
    /* per image, averaged over the images */
    double input_rgb_bytes;          /* 3 H W of the image given to the model */
    double input_jpeg_bytes;         /* the same image as a quality-95 JPEG */
    double bottleneck_elements;      /* C h w (students; 0 otherwise) */
    double bottleneck_f32_bytes, bottleneck_f16_bytes, bottleneck_q8_bytes;
    int64_t bottleneck_shape[3];     /* of the last image */
    float last_scale;                /* 8-bit scale / zero point of the last image */
    int last_zero_point;
    double resized_hw[2];            /* mean size after the transform's resize */
} lat_report;

/* Times the model on n images (RGB, any sizes; converted to tensors on the
 * model's device before timing): the split as sr_head (8-bit link) then
 * sr_tail, the whole as sr_detect (models/split_rcnn.h). Open the model
 * without a transformer (spa_model_open does) so that the whole pass has no
 * quantization round trip. 0 / -1 + hnd_error(). */
int lat_bench(sr_model *m, const img_u8 *images, int n, const lat_bench_options *o, lat_report *out);

/* ---- the total-inference-time model (pure arithmetic) ---- */

typedef struct {
    char name[24];
    double device_ms;   /* on the mobile device */
    double bytes;       /* on the link; 0 = no transfer */
    double server_ms;   /* on the edge server */
} lat_strategy;

/* Total milliseconds of s at rate_mbps (> 0) with a per-message overhead. */
double lat_total_ms(const lat_strategy *s, double rate_mbps, double overhead_ms);
/* Index of the fastest strategy at that rate (the first on ties), -1 if n <= 0. */
int lat_best(const lat_strategy *s, int n, double rate_mbps, double overhead_ms);

typedef struct {
    double slowdown;          /* device time = slowdown x time measured here (> 0) */
    double device_head_ms;    /* > 0: the head's time measured on the real device */
    double device_whole_ms;   /* > 0: the whole model's time on the real device */
} lat_device;

/* The strategies of the report (see the top of this file) into s[0..max-1];
 * returns the count (3 for an original model, 6 for a student), -1 if max
 * is too small. Uses the mean times. */
int lat_strategies(const lat_report *r, const lat_device *d, lat_strategy *s, int max);

#define LAT_MAX_RATES 32
/* "0.5,1,2,5,10,50" -> rates; returns the count, -1 (+ hnd_error) on a bad list. */
int lat_parse_rates(const char *s, double *rates, int max);

/* CSV of the model: rate_mbps,<strategy>_ms...,best. 0 / -1. */
int lat_write_model_csv(FILE *f, const lat_strategy *s, int n, const double *rates, int nr,
                        double overhead_ms);
/* CSV of the timing: part,n,mean_ms,std_ms,p50_ms,p95_ms,min_ms,max_ms. 0 / -1. */
int lat_write_report_csv(FILE *f, const lat_report *r);
/* CSV of the sizes: quantity,bytes_per_image (input, bottleneck). 0 / -1. */
int lat_write_sizes_csv(FILE *f, const lat_report *r);
void lat_print(FILE *f, const lat_report *r);

#ifdef __cplusplus
}
#endif
#endif
