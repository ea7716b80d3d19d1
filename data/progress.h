/* progress.h: a one-line progress bar on stderr, drawn only when stderr is a
 * TTY (and HND_NO_PROGRESS is unset). Torch-free, prefix prg_.
 * Updates are cheap: the bar is redrawn at most ~10 times a second. */
#ifndef HND_PROGRESS_H
#define HND_PROGRESS_H

#include <stdint.h>

typedef struct prg_bar prg_bar;

/* label: what is being done ("loading instances_train2017.json");
 * total: units of work (bytes, images); 0 = unknown. unit: "B" formats as
 * MiB, anything else is printed after the counts. Returns NULL (and draws
 * nothing, costs nothing) when stderr is not a TTY or enabled is 0. All prg_
 * functions accept NULL. */
prg_bar *prg_begin(const char *label, uint64_t total, const char *unit, int enabled);
/* Set the amount done so far. */
void prg_update(prg_bar *b, uint64_t done);
/* Final draw, newline, free. */
void prg_end(prg_bar *b);

#endif
