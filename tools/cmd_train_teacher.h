/* cmd_train_teacher.h: `hnd train-teacher CONFIG.json [--set k=v ...] [--resume]`. */
#ifndef HND_CMD_TRAIN_TEACHER_H
#define HND_CMD_TRAIN_TEACHER_H
int cmd_train_teacher(int argc, char **argv);
#endif
