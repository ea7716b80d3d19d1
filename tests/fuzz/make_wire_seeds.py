#!/usr/bin/env python3
"""Seed corpus for the wire fuzzer (tests/fuzz/run_fuzz_wire.sh): one valid
frame of each message type, and a whole conversation as one stream, so that
the mutator starts from frames that pass every CRC.

Written from wire.h's tables with struct and zlib alone, apart from
infer/wire.c: test_wire (test_seed_frames) decodes every seed-* file here
with wire.c, so the two implementations of the format must agree.

usage: make_wire_seeds.py DIR
"""
import os
import struct
import sys
import zlib


def frame(typ, rid, payload):
    head = b"HNDL" + struct.pack("<HHQII", 1, typ, rid, 0, len(payload))
    head += struct.pack("<I", zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def hello(typ):
    return frame(typ, 1, bytes(range(32)) + struct.pack("<II", 8, 12))


def bottleneck(dtype, c=2, h=3, w=4):
    size = {1: 1, 2: 2, 3: 4}[dtype]
    scale, zp = (0.125, 17) if dtype == 1 else (0.0, 0)
    fixed = struct.pack("<qBBHf", -42, dtype, zp, 0, scale)
    fixed += struct.pack("<9I", c, h, w, 480, 640, 600, 800, 608, 800)
    data = bytes((i * 13 + 5) & 0xFF for i in range(c * h * w * size))
    return frame(3, 2, fixed + data)


def image():
    jpeg = bytes([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9])
    return frame(4, 3, struct.pack("<qI", 77, 1) + jpeg)


def detections(masks):
    dets = [(1.5, 2.5, 30.0, 40.0, 0.9, 1), (0.0, 0.0, 639.0, 479.0, 0.5, 90)]
    p = struct.pack("<qIIfII", 397133, len(dets), 1 if masks else 0, 12.5, 480, 640)
    for d in dets:
        p += struct.pack("<5fi", *d)
    if masks:
        for s in (b"0o1", b"PQ5o"):
            p += struct.pack("<I", len(s)) + s
    return frame(5, 4, p)


def error():
    msg = b"manifest differs"
    return frame(6, 5, struct.pack("<II", 3, len(msg)) + msg)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "seed-hello": hello(1),
        "seed-hello-ok": hello(2),
        "seed-bottleneck-u8": bottleneck(1),
        "seed-bottleneck-f16": bottleneck(2),
        "seed-bottleneck-f32": bottleneck(3, 1, 2, 2),
        "seed-image": image(),
        "seed-detections": detections(False),
        "seed-detections-masks": detections(True),
        "seed-error": error(),
        "seed-bye": frame(7, 6, b""),
    }
    seeds["seed-stream"] = seeds["seed-hello"] + seeds["seed-bottleneck-u8"] + seeds["seed-detections-masks"] + seeds["seed-bye"]
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
