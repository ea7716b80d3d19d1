/* cmd_launch.h: `hnd launch` (torch-free): start this node's ranks of a
 * data-parallel run with the torchrun variables set. */
#ifndef HND_CMD_LAUNCH_H
#define HND_CMD_LAUNCH_H

/* argv[0] is "launch". 0 when every rank succeeded, 130 when stopped by
 * Ctrl-C, 1 when a rank failed (named on stderr), 2 on bad usage. */
int cmd_launch(int argc, char **argv);

#endif
