/* image_ids.h: the images a detection command names and the COCO image_id
 * of each: `hnd detect` and `hnd split-detect` take the same arguments and
 * must give the same ids. Torch-free. Prefix ii_. */
#ifndef HND_IMAGE_IDS_H
#define HND_IMAGE_IDS_H

#include <stdint.h>

#include "coco_ann.h"

typedef struct {
    char *path;
    int64_t image_id;   /* -1 until ii_assign_ids */
} ii_input;

typedef struct {
    ii_input *v;
    int n, cap;
} ii_inputs;

/* A file, or the JPEG/PNG files of a directory in name order (img_list_files),
 * appended. 0 / -1 + hnd_error(). */
int ii_add_path(ii_inputs *in, const char *path);
/* image_id of every input: the image of ds (--ann) whose file_name has the
 * same base name, or, without ds, the numeric file stem (000000139.jpg ->
 * 139). 0 / -1 + hnd_error() naming the file. */
int ii_assign_ids(ii_inputs *in, const coco_dataset *ds);
void ii_inputs_clear(ii_inputs *in);   /* frees; zeroes */

#endif
