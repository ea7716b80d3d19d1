/* coco_ann_int.h: the loader state shared by coco_ann.c (files, top level,
 * images, categories, index) and coco_ann_read.c (the annotation reader).
 * Not a public header. */
#ifndef HND_COCO_ANN_INT_H
#define HND_COCO_ANN_INT_H

#include "coco_ann.h"
#include "json_scan.h"
#include "progress.h"

typedef struct {
    js_doc doc; /* the file: name, bytes, position */
    coco_dataset *ds;
    int for_eval; /* coco_load_opts.for_eval */
    size_t cap_images, cap_cats, cap_anns, cap_coords, cap_polys, cap_polys2, cap_counts, cap_strings;
    size_t cap_kps, cap_kp_names, cap_kp_sigmas, cap_skeleton;
    prg_bar *bar;
} coco_loader;

/* Make room for need elements of elem bytes in *p (capacity *cap). */
int coco_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Append n bytes and a NUL to the string pool; *off gets their offset. */
int coco_pool_add(coco_loader *L, const char *s, size_t n, uint32_t *off);

/* The same for a raw JSON string (js_string's bytes, esc as it said):
 * escapes decoded; *len gets the decoded length. */
int coco_pool_add_json(coco_loader *L, const char *s, size_t n, int esc, uint32_t *off, uint32_t *len);

/* Element i of "annotations", text [s, e): appended to L->ds->anns. */
int coco_read_annotation(coco_loader *L, const char *s, const char *e, int64_t i);

#endif
