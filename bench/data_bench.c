/* data_bench.c: the C side of the data benchmarks.
 *   bench_data ann FILE.json           load, print counts, seconds
 *   bench_data gen FILE.json N_IMAGES N_ANNS   a COCO-like instances file at
 *                                      train2017's proportions (deterministic)
 *   bench_data pipeline DIR N THREADS  decode + to float + normalize + resize
 *                                      (R-CNN 800/1333) of N JPEGs in DIR
 *                                      (the files' sorted list, cycled);
 *                                      prints images/s */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coco_ann.h"
#include "hnd_error.h"
#include "img.h"
#include "mono_clock.h"
#include "tf.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct {
    char **files;
    int nfiles, n, next;
    pthread_mutex_t mu;
    int failed;
    double checksum;
} pipe_job;

static const float k_mean[3] = {0.485f, 0.456f, 0.406f}, k_std[3] = {0.229f, 0.224f, 0.225f};

static void *pipe_worker(void *arg) {
    pipe_job *j = arg;
    double cs = 0;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n) break;
        img_u8 im;
        if (img_decode_file(j->files[i % j->nfiles], &im) < 0) {
            fprintf(stderr, "%s\n", hnd_error());
            j->failed = 1;
            break;
        }
        int oh, ow;
        tf_rcnn_size(im.height, im.width, 800, 1333, &oh, &ow);
        float *x = malloc((size_t)3 * im.width * im.height * sizeof(float));
        float *y = malloc((size_t)3 * oh * ow * sizeof(float));
        img_to_chw_f32_norm(&im, k_mean, k_std, x);
        tf_resize_bilinear_chw(x, 3, im.height, im.width, y, oh, ow);
        cs += y[(size_t)oh * ow / 2];
        free(x);
        free(y);
        img_clear(&im);
    }
    pthread_mutex_lock(&j->mu);
    j->checksum += cs;
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static uint64_t g_x = 88172645463325252ULL;
static uint64_t rnd(void) {
    g_x ^= g_x << 13;
    g_x ^= g_x >> 7;
    g_x ^= g_x << 17;
    return g_x;
}
static double urnd(void) { return (double)(rnd() >> 11) * 0x1.0p-53; }

/* ~520 bytes per annotation like instances_train2017.json: polygons of ~20
 * points with 2 decimals, 1% crowd annotations with uncompressed RLE. */
static int gen_file(const char *path, long n_img, long n_ann) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    static const int cat_ids[80] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                    22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
                                    46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
                                    67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};
    fprintf(f, "{\"info\": {\"description\": \"COCO-like benchmark file\", \"year\": 2017}, \"licenses\": "
               "[{\"url\": \"http://x\", \"id\": 1, \"name\": \"l\"}], \"images\": [");
    int *w = malloc(sizeof(int) * (size_t)n_img), *h = malloc(sizeof(int) * (size_t)n_img);
    for (long i = 0; i < n_img; i++) {
        w[i] = 320 + (int)(rnd() % 320);
        h[i] = 240 + (int)(rnd() % 240);
        fprintf(f, "%s{\"license\": 1, \"file_name\": \"%012ld.jpg\", \"coco_url\": "
                   "\"http://images.cocodataset.org/train2017/%012ld.jpg\", \"height\": %d, \"width\": %d, "
                   "\"date_captured\": \"2013-11-14 17:02:52\", \"id\": %ld}",
                i ? ", " : "", 9 + 3 * i, 9 + 3 * i, h[i], w[i], 9 + 3 * i);
    }
    fprintf(f, "], \"annotations\": [");
    for (long a = 0; a < n_ann; a++) {
        long im = (long)(rnd() % (uint64_t)n_img);
        double bw = 5 + urnd() * (w[im] / 2), bh = 5 + urnd() * (h[im] / 2);
        double bx = urnd() * (w[im] - bw), by = urnd() * (h[im] - bh);
        int crowd = rnd() % 100 == 0;
        fprintf(f, "%s{\"segmentation\": ", a ? ", " : "");
        if (crowd) {
            fprintf(f, "{\"counts\": [");
            long total = (long)w[im] * h[im], left = total;
            int first = 1;
            while (left > 0) {
                long c = 1 + (long)(rnd() % 400);
                if (c > left) c = left;
                fprintf(f, "%s%ld", first ? "" : ", ", c);
                first = 0;
                left -= c;
            }
            fprintf(f, "], \"size\": [%d, %d]}", h[im], w[im]);
        } else {
            int np = 8 + (int)(rnd() % 25);
            fprintf(f, "[[");
            for (int k = 0; k < np; k++)
                fprintf(f, "%s%.2f, %.2f", k ? ", " : "", bx + urnd() * bw, by + urnd() * bh);
            fprintf(f, "]]");
        }
        fprintf(f, ", \"area\": %.4f, \"iscrowd\": %d, \"image_id\": %ld, \"bbox\": [%.2f, %.2f, %.2f, %.2f], "
                   "\"category_id\": %d, \"id\": %ld}",
                bw * bh * 0.6, crowd, 9 + 3 * im, bx, by, bw, bh, cat_ids[rnd() % 80], 100000 + a);
    }
    fprintf(f, "], \"categories\": [");
    for (int c = 0; c < 80; c++)
        fprintf(f, "%s{\"supercategory\": \"s%d\", \"id\": %d, \"name\": \"c%d\"}", c ? ", " : "", c / 10, cat_ids[c],
                cat_ids[c]);
    fprintf(f, "]}");
    free(w);
    free(h);
    return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "gen") == 0) return gen_file(argv[2], atol(argv[3]), atol(argv[4]));
    if (argc >= 3 && strcmp(argv[1], "ann") == 0) {
        double t0 = mono_now_s();
        coco_load_opts o = {.progress = 1};
        coco_dataset *ds = coco_load(argv[2], &o);
        if (!ds) {
            fprintf(stderr, "%s\n", hnd_error());
            return 1;
        }
        double t = mono_now_s() - t0;
        printf("images %lld annotations %lld categories %d polygons %zu coords %zu seconds %.3f\n",
               (long long)ds->n_images, (long long)ds->n_anns, ds->n_cats, ds->n_polys, ds->n_coords, t);
        coco_destroy(ds);
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "pipeline") == 0) {
        DIR *d = opendir(argv[2]);
        if (!d) {
            perror(argv[2]);
            return 1;
        }
        pipe_job j;
        memset(&j, 0, sizeof j);
        int cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l < 5 || strcmp(e->d_name + l - 4, ".jpg") != 0) continue;
            if (j.nfiles == cap) j.files = realloc(j.files, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *j.files);
            if (asprintf(&j.files[j.nfiles], "%s/%s", argv[2], e->d_name) < 0) return 1;
            j.nfiles++;
        }
        closedir(d);
        if (!j.nfiles) {
            fprintf(stderr, "no .jpg in %s\n", argv[2]);
            return 1;
        }
        qsort(j.files, (size_t)j.nfiles, sizeof *j.files, cmp_str);
        j.n = atoi(argv[3]);
        int nt = atoi(argv[4]);
        if (nt < 1) nt = 1;
        pthread_mutex_init(&j.mu, NULL);
        pthread_t th[64];
        double t0 = mono_now_s();
        for (int t = 0; t < nt && t < 64; t++) pthread_create(&th[t], NULL, pipe_worker, &j);
        for (int t = 0; t < nt && t < 64; t++) pthread_join(th[t], NULL);
        double t = mono_now_s() - t0;
        if (j.failed) return 1;
        printf("%.3f\n", (double)j.n / t);
        fprintf(stderr, "hnd pipeline: %d images, %d threads, %.3f s (checksum %.4f)\n", j.n, nt, t, j.checksum);
        for (int i = 0; i < j.nfiles; i++) free(j.files[i]);
        free(j.files);
        return 0;
    }
    fprintf(stderr, "usage: bench_data ann FILE.json | gen FILE.json N_IMAGES N_ANNS | pipeline DIR N THREADS\n");
    return 2;
}
