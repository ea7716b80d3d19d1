/* cmd_eval_model.h: `hnd eval-model CKPT --config CONFIG`. */
#ifndef HND_CMD_EVAL_MODEL_H
#define HND_CMD_EVAL_MODEL_H
int cmd_eval_model(int argc, char **argv);
#endif
