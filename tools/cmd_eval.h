/* cmd_eval.h: `hnd eval --gt GT.json --dt RESULTS.json --iou bbox|segm`
 * (torch-free; COCO mAP as pycocotools, see infer/coco_eval.h). */
#ifndef HND_CMD_EVAL_H
#define HND_CMD_EVAL_H

/* argv[0] is "eval". Returns 0 on success, 1 on failure (message on
 * stderr as "hnd eval: ..."), 2 on bad usage. */
int cmd_eval(int argc, char **argv);

#endif
