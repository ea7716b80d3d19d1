/* cmd_synth.h: `hnd synth` (torch-free): write the synthetic COCO-format set. */
#ifndef HND_CMD_SYNTH_H
#define HND_CMD_SYNTH_H

/* argv[0] is "synth". 0 on success, 1 on failure (message on stderr), 2 on
 * bad usage. */
int cmd_synth(int argc, char **argv);

#endif
