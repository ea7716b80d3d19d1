/* cmd_train.h: `hnd train CONFIG.json [--set k=v ...] [--resume]`. */
#ifndef HND_CMD_TRAIN_H
#define HND_CMD_TRAIN_H
int cmd_train(int argc, char **argv);
#endif
