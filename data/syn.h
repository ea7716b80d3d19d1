/* syn.h: the synthetic COCO-format dataset (hnd synth). Torch-free, prefix syn_.
 *
 * DIR/annotations/instances_{train,val}.json, JPEGs in DIR/train and DIR/val:
 * textured backgrounds with 0..6 filled shapes each (six classes with sparse
 * category ids), polygon segmentations, area = the pycocotools RLE area of
 * the polygon, bbox = the RLE's bbox, the pixels painted are exactly the
 * RLE's. Everything follows from the seed (each image from its own
 * generator, so the same seed gives byte-identical files). */
#ifndef HND_SYN_H
#define HND_SYN_H

#include <stdint.h>

typedef struct {
    const char *out_dir;
    int n_train, n_val;
    int width, height; /* default 320x240 */
    uint64_t seed;
    int quality;   /* JPEG quality, default 90 */
    int progress;  /* progress bar on a TTY */
    int threads;   /* image writers (default 1); output independent of it */
    int class_colors; /* 1: each class has its own colour (jittered per object),
                         0 (default): any colour; shapes and layout are the same */
} syn_opts;

void syn_opts_default(syn_opts *o);

/* Write the dataset. 0 / -1 with hnd_error(). *n_anns (may be NULL) gets the
 * number of annotations written for each split. */
int syn_generate(const syn_opts *o, int64_t n_anns[2]);

#endif
