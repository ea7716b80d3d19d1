#!/usr/bin/env python3
"""Reference BD-rates for tests/test_bd_rate.c, with numpy.

Usage: ref_bd_rate.py OUT.json

Bjontegaard's calculation as VCEG-M33 and its common numpy transcription:
np.polyfit of log(rate) against quality (degree 3, or n-1 below 4 points),
np.polyint, the integral over the overlap of the quality ranges, and
(exp(mean difference) - 1) * 100. Writes a list of cases
{"ra", "qa", "rb", "qb", "bd"} (rates in bytes, quality in mAP), curves
drawn at random but monotone, like rate-accuracy curves.
"""
import json
import sys

import numpy as np


def bd_rate(ra, qa, rb, qb):
    da, db = min(3, len(ra) - 1), min(3, len(rb) - 1)
    pa = np.polyfit(qa, np.log(ra), da)
    pb = np.polyfit(qb, np.log(rb), db)
    lo, hi = max(min(qa), min(qb)), min(max(qa), max(qb))
    ia, ib = np.polyint(pa), np.polyint(pb)
    int_a = np.polyval(ia, hi) - np.polyval(ia, lo)
    int_b = np.polyval(ib, hi) - np.polyval(ib, lo)
    return (np.exp((int_b - int_a) / (hi - lo)) - 1) * 100


def main():
    rng = np.random.default_rng(18)
    cases = []
    for n_a, n_b in [(4, 4), (5, 4), (6, 6), (3, 4), (2, 5), (4, 3), (8, 5)]:
        ra = np.sort(rng.uniform(500, 20000, n_a))
        qa = np.sort(rng.uniform(0.25, 0.42, n_a))
        rb = np.sort(rng.uniform(300, 9000, n_b))
        qb = np.sort(rng.uniform(0.28, 0.43, n_b))
        cases.append({"ra": ra.tolist(), "qa": qa.tolist(), "rb": rb.tolist(), "qb": qb.tolist(),
                      "bd": float(bd_rate(ra, qa, rb, qb))})
    json.dump(cases, open(sys.argv[1], "w"), indent=1)


if __name__ == "__main__":
    main()
