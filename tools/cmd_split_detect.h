/* cmd_split_detect.h: `hnd split-detect` — the device side of split
 * computing: the head here, the tail on an `hnd serve` edge server. */
#ifndef HND_CMD_SPLIT_DETECT_H
#define HND_CMD_SPLIT_DETECT_H

int cmd_split_detect(int argc, char **argv);

#endif
