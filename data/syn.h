/* syn.h: the synthetic COCO-format dataset (hnd synth). Torch-free, prefix syn_.
 *
 * DIR/annotations/instances_{train,val}.json, JPEGs in DIR/train and DIR/val:
 * textured backgrounds with 0..6 filled shapes each (six classes with sparse
 * category ids), polygon segmentations, area = the pycocotools RLE area of
 * the polygon, bbox = the RLE's bbox, the pixels painted are exactly the
 * RLE's. Everything follows from the seed (each image from its own
 * generator, so the same seed gives byte-identical files).
 *
 * keypoints = 1: one class with keypoints of its own, like COCO's person
 * keypoints file: every shape is a five-pointed star (category 1, "star",
 * up to 30 degrees off upright so that its top is well defined), whose five
 * tips are the keypoints in the order "top", "right_upper", "right_lower",
 * "left_lower", "left_upper" (clockwise on screen from the top; the names
 * give the horizontal flip map [0, 4, 3, 2, 1]), with a "skeleton" along the
 * outline. A tip is (x, y, 2) where its pixel shows the star, (0, 0, 0)
 * where a later shape covers it (COCO's convention for unlabelled points);
 * num_keypoints counts the visible ones. The files keep their names
 * (annotations/instances_{train,val}.json). */
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
    int keypoints;    /* 1: stars with five keypoints (see above) */
} syn_opts;

void syn_opts_default(syn_opts *o);

/* Write the dataset. 0 / -1 with hnd_error(). *n_anns (may be NULL) gets the
 * number of annotations written for each split. */
int syn_generate(const syn_opts *o, int64_t n_anns[2]);

#endif
