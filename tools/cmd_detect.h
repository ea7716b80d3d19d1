/* cmd_detect.h: `hnd detect`, Faster/Mask R-CNN inference on image files to
 * COCO results JSON (needs libtorch: runs in hnd-torch). */
#ifndef HND_CMD_DETECT_H
#define HND_CMD_DETECT_H

int cmd_detect(int argc, char **argv);

#endif
