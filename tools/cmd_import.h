/* cmd_import.h: `hnd import-torchvision IN.pth OUT.h5` (torch-free). */
#ifndef HND_CMD_IMPORT_H
#define HND_CMD_IMPORT_H

/* argv[0] is "import-torchvision". Returns 0 on success, 1 on failure
 * (message on stderr), 2 on bad usage. */
int cmd_import_torchvision(int argc, char **argv);

#endif
