#ifndef HND_CMD_INFO_H
#define HND_CMD_INFO_H
/* hnd info: what the torch side was built with (needs libtorch). */
int cmd_info(int argc, char **argv);
#endif
