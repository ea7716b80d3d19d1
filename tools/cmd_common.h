/* cmd_common.h: what the torch commands share on their command line beyond
 * cli_opt.h: the thread count (capped, thread_cap.h) and the device
 * (models/device.h). Prefix cc_. */
#ifndef HND_CMD_COMMON_H
#define HND_CMD_COMMON_H

#include "cli_opt.h"
#include "ctorch.h"

/* --threads N when given: checked against the cap and set. 0, or 2 after
 * "hnd CMD: --threads ..." on stderr. */
int cc_threads(const co_args *a);
/* The device named by s (NULL: cpu). 0; 2 after a message for a bad name;
 * 1 after a message when the device is not there (no CUDA, no such GPU). */
int cc_device(const co_command *cmd, const char *s, ct_device *out);
/* HND_THREADS (hnd-torch's default thread count; 0 = all cores). 0, or 2
 * after a message when it is not a number within the cap. */
int cc_env_threads(void);

#endif
