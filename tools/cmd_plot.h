/* cmd_plot.h: `hnd plot R1.json[:LABEL] ... --out FIG.png`: several sweeps'
 * results.json as labelled curves on one figure, and their rows in one
 * table. Torch-free (runs in hnd itself). */
#ifndef HND_CMD_PLOT_H
#define HND_CMD_PLOT_H
int cmd_plot(int argc, char **argv);
#endif
