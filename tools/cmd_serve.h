/* cmd_serve.h: `hnd serve` (cmd_serve.c). */
#ifndef HND_CMD_SERVE_H
#define HND_CMD_SERVE_H
int cmd_serve(int argc, char **argv);
#endif
