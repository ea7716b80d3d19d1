#!/usr/bin/env python3
"""An independent decoder of the entropy bottleneck's context stream
(infer/eb_codec.h, version 2), written from the format's description in
plain Python: header, the two in-stream frequency tables, rANS decoding
(16-bit precision, 32-bit state in [2^23, 2^31), byte-wise renormalisation),
the escape's nibbles, the MED prediction from the left / upper / upper-left
neighbours with the two contexts, the zigzag. Reads the output of
tests/eb_codec_vectors (lines "stream_ctx LEN HEX" and "symbols_ctx V...")
on stdin and checks that the C encoder's stream decodes to the printed
symbols. Exit 0 / 1.

usage: eb_codec_vectors | python3 tests/py/ref_eb_ctx.py C N"""
import struct
import sys

PREC, LOW = 16, 1 << 23


def decode(buf, channels, n):
    assert buf[0] == 2, "version %d" % buf[0]
    count, w = struct.unpack_from("<II", buf, 1)
    assert count == channels * n and w > 0 and n % w == 0, (count, w)
    lens = [buf[9], buf[10]]
    at, cdfs = 11, []
    for ln in lens:
        freqs = struct.unpack_from("<%dH" % (ln + 1), buf, at)
        at += 2 * (ln + 1)
        cdf = [0]
        for f in freqs:
            cdf.append(cdf[-1] + f)
        assert cdf[-1] == 1 << PREC and min(freqs) >= 1
        cdfs.append(cdf)
    x = struct.unpack_from("<I", buf, at)[0]
    pos = at + 4

    def get(cdf):
        nonlocal x, pos
        slot = x & ((1 << PREC) - 1)
        s = max(i for i in range(len(cdf) - 1) if cdf[i] <= slot)
        x = (cdf[s + 1] - cdf[s]) * (x >> PREC) + slot - cdf[s]
        while x < LOW:
            x = (x << 8) | buf[pos]
            pos += 1
        return s

    flat = [i * 4096 for i in range(17)]
    out = []
    for c in range(channels):
        plane = []
        for i in range(n):
            y, xx = divmod(i, w)
            if y == 0 and xx == 0:
                a = b = cc = 0
            elif y == 0:
                a = b = cc = plane[xx - 1]
            elif xx == 0:
                a = b = cc = plane[(y - 1) * w]
            else:
                a, b, cc = plane[i - 1], plane[i - w], plane[i - w - 1]
            ctx = 0 if a == b == cc else 1
            mx, mn = max(a, b), min(a, b)
            p = mn if cc >= mx else mx if cc <= mn else a + b - cc
            z = get(cdfs[ctx])
            if z == lens[ctx]:   # the escape: nibble count, nibbles low first
                k = get(flat) + 1
                r = 0
                for j in range(k):
                    r |= get(flat) << (4 * j)
                z = lens[ctx] + r
            res = -((z + 1) // 2) if z & 1 else z // 2
            plane.append(p + res)
        out += plane
    assert x == LOW and pos == len(buf), "final state %d, %d of %d bytes read" % (x, pos, len(buf))
    return out


def main():
    channels, n = int(sys.argv[1]), int(sys.argv[2])
    stream = want = None
    for line in sys.stdin:
        f = line.split()
        if f and f[0] == "stream_ctx":
            stream = bytes.fromhex(f[2])
            assert len(stream) == int(f[1])
        elif f and f[0] == "symbols_ctx":
            want = [int(v) for v in f[1:]]
    if stream is None or want is None:
        print("ref_eb_ctx: no stream_ctx / symbols_ctx lines")
        return 1
    got = decode(stream, channels, n)
    if got != want:
        bad = next(i for i in range(len(want)) if got[i] != want[i])
        print("ref_eb_ctx: symbol %d decodes to %d, %d expected" % (bad, got[bad], want[bad]))
        return 1
    print("ref_eb_ctx: the %d-byte context stream decodes to the %d symbols (independent Python decoder)"
          % (len(stream), len(want)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
