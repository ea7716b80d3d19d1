/* cmd_export.h: `hnd export` (cmd_export.c). */
#ifndef HND_CMD_EXPORT_H
#define HND_CMD_EXPORT_H
int cmd_export(int argc, char **argv);
#endif
