/* split_rcnn_int.h: the split detector's struct, shared by split_rcnn*.c
 * only (callers use the accessors of split_rcnn.h). */
#ifndef HND_SPLIT_RCNN_INT_H
#define HND_SPLIT_RCNN_INT_H

#include "split_rcnn.h"

/* The registry prefix of the layer replaced by the bottleneck. */
#define SR_LAYER1 SR_LAYER1_PREFIX

struct sr_model {
    rcnn_model *det;
    stu_bottleneck *stu;   /* NULL for a teacher */
    ebm_model *eb;         /* a student's entropy bottleneck, or NULL */
    ct_device dev;
};

#endif
