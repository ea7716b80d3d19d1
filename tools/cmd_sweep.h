/* cmd_sweep.h: `hnd sweep CONFIG.json --channels 3,6,9,12,15`. */
#ifndef HND_CMD_SWEEP_H
#define HND_CMD_SWEEP_H
int cmd_sweep(int argc, char **argv);
#endif
