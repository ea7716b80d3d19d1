/* cmd_bench_latency.h: `hnd bench-latency`, head/tail/whole timing of an
 * original or student R-CNN and the mobile / edge / split total-time model
 * over link rates (needs libtorch: runs in hnd-torch). */
#ifndef HND_CMD_BENCH_LATENCY_H
#define HND_CMD_BENCH_LATENCY_H

int cmd_bench_latency(int argc, char **argv);

#endif
