/* sweep.h: one student per bottleneck size C (train if needed, evaluate),
 * the teacher, and the table of the paper's Figure 5 (mAP against the
 * normalized bottleneck size). Prefix sw_. The picture is drawn by the CLI
 * (tools/plot_png.h). */
#ifndef HND_SWEEP_H
#define HND_SWEEP_H

#include <signal.h>

#include "config.h"
#include "evaluate.h"
#include "split_rcnn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SW_MAX 64

/* The paper's normalisation: sizes over COCO val2017's mean resized input,
 * 3 x 874 x 1044 values (its Figure 5). */
#define SW_PAPER_INPUT_NUMEL (3.0 * 874.0 * 1044.0)

typedef struct {
    int is_teacher;
    int channels;              /* C (0 for the teacher) */
    char run_dir[1100];
    char ckpt[1100];
    int trained_here;          /* 0: an existing finished run was reused */
    ev_result ev;              /* bbox/segm stats at `bits` and, for students, bottleneck sizes */
    int bits;                  /* students: the quantized curve (the transformer's bits, else 8) */
    int has_float;             /* students: ev_float holds the float32 bottleneck's stats */
    ev_result ev_float;
    int jpeg_quality;          /* teacher rows: inputs re-encoded as JPEG at this quality (0: as read);
                                  ev.mean_jpeg_bytes is what a device would send */
    int entropy;               /* a student with a learned entropy bottleneck (--beta): ev.mean_bytes_eb */
    double beta;               /* its student_model.entropy_bottleneck.beta */
} sw_row;

typedef struct {
    const char *out_dir;       /* where b<C>ch/, results.* go */
    int teacher;               /* evaluate the teacher too */
    int quiet;
    int progress;
    volatile sig_atomic_t *stop;
    const int *jpeg;           /* the teacher on JPEG inputs at these qualities (the edge baseline) */
    int n_jpeg;
    const double *beta;        /* entropy-bottleneck students at these rate weights (issue 18) */
    int n_beta;
    int eb_channels;           /* their C (0: the largest of channels) */
    double density_lr;         /* their density's learning rate (0: the config's, else SW_DENSITY_LR) */
    const char *students_from; /* non-NULL: no training; each C's student is <dir>/b<C>ch/best.h5 of
                                  an earlier sweep (e.g. Mask R-CNN students for a Faster R-CNN
                                  config), loaded by sw_load_student_from */
} sw_opts;

/* The entropy-bottleneck students' density learning rate when neither
 * --density-lr nor the config gives one (bench/eb_bench.sh: the demo's
 * best, bbox AP 0.500 at 0.12x the 8-bit bytes with beta 0.32). */
#define SW_DENSITY_LR 0.01

/* Bytes per image a row sends on the link: the 8-bit bottleneck (with scale
 * and zero point; bit-packed below 8 bits), the entropy-coded symbols, a
 * JPEG, or the 8-bit input (the teacher). */
double sw_sent_bytes(const sw_row *r);
/* The same in bits per pixel of the resized input image (H x W). */
double sw_bits_per_pixel(const sw_row *r);

/* BD-rates (infer/bd_rate.h) against the 8-bit HND curve (the students
 * without entropy bottleneck: bbox mAP vs their 8-bit bytes) of
 * [SW_BD_RANS] the same students coded with rANS, [SW_BD_EB] the
 * entropy-bottleneck students, [SW_BD_JPEG] the teacher on JPEG inputs;
 * ok[k] = 0 where a curve has fewer than 2 points or no overlap; then, if
 * why is not NULL, why[k] says which (empty when the sweep has no such
 * curve at all). */
enum { SW_BD_RANS, SW_BD_EB, SW_BD_JPEG, SW_BD_COUNT };
#define SW_BD_WHY 160
void sw_bd_rates(const sw_row *rows, int n, double pct[SW_BD_COUNT], int ok[SW_BD_COUNT],
                 char (*why)[SW_BD_WHY]);
/* out_dir/rate.csv and rate.json: every row's bytes sent per image, bits per
 * input pixel and mAP, and the BD-rates (train/sweep_rate.c; sw_write_results
 * writes them too). 0 / -1. */
int sw_write_rate(const char *out_dir, const sw_row *rows, int n);

/* Runs the sweep; rows: n + n_beta + 1 + n_jpeg entries (students in the
 * order of channels, each evaluated on the float32 and on the quantized
 * bottleneck, then a student with an entropy bottleneck per beta (C =
 * eb_channels, in <out_dir>/b<C>ch_beta<B>, evaluated on its coded symbols),
 * then the teacher when asked, then the teacher at each JPEG quality).
 * *n_rows: rows filled. Writes
 * out_dir/results.csv and results.json after every row (so a stopped sweep
 * leaves what it has). 0, 1 when stopped (Ctrl-C), -1 + hnd_error(). */
int sw_run(const char *config_path, const char *const *sets, int n_sets, const int *channels, int n,
           const sw_opts *o, sw_row *rows, int *n_rows);

/* sweep_from.c: the student of cfg's detector from the file of another
 * detector's student of the same backbone (a superset: a Mask R-CNN
 * student's file for a Faster R-CNN config; the other head's keys are
 * skipped). Every tensor under cfg's student_model.frozen_modules must be
 * bit-equal to cfg's teacher file's, else an error names the first that is
 * not (a student distilled from another teacher). 0 / -1 + hnd_error(). */
int sw_load_student_from(sr_model *m, const tc_config *cfg, const char *path);
/* out = dir/b<C>ch/best.h5; -1 + hnd_error() when it does not exist. */
int sw_students_from_ckpt(const char *dir, int channels, char *out, size_t n);

int sw_write_results(const char *out_dir, const sw_row *rows, int n, const char *split);

/* Parses "3,6,9" into out (at most max); returns the count or -1. */
int sw_parse_channels(const char *s, int *out, int max);
/* Parses "10,20,95" (JPEG qualities 1..95, the reference's range). */
int sw_parse_jpeg(const char *s, int *out, int max);
/* Parses "0.08,0.32,1.28,5.12" (rate weights >= 0). */
int sw_parse_beta(const char *s, double *out, int max);

#ifdef __cplusplus
}
#endif
#endif
