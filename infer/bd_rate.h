/* bd_rate.h: the Bjontegaard delta rate (G. Bjontegaard, "Calculation of
 * average PSNR differences between RD-curves", VCEG-M33, 2001): how many
 * percent more (or, negative, fewer) bytes curve B needs than reference
 * curve A for the same quality, averaged over the qualities both reach.
 * Each curve's log(rate) is fitted as a polynomial of the quality (least
 * squares, degree 3 with 4 or more points, else n - 1: exact through 2 or
 * 3 points), both are integrated over the overlap of their quality ranges,
 * and BD-rate = exp(mean difference) - 1, in percent. Here rate = bytes
 * per image and quality = bbox mAP. Torch-free, prefix bd_. */
#ifndef HND_BD_RATE_H
#define HND_BD_RATE_H

#ifdef __cplusplus
extern "C" {
#endif

/* rate_*: > 0; q_*: finite, not all equal; n >= 2 each. 0 with *pct, or -1
 * with a message in err (errlen bytes): too few points, a bad value, or
 * quality ranges that do not overlap. */
int bd_rate(const double *rate_a, const double *q_a, int na, const double *rate_b, const double *q_b, int nb,
            double *pct, char *err, int errlen);

#ifdef __cplusplus
}
#endif
#endif
