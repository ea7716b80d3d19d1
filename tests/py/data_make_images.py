"""Oracle for tests/test_data_img.c: writes images of every kind with PIL and,
for each, what PIL decodes: Image.open(f).convert("RGB").tobytes() in
NAME.rgb, and "NAME W H ok" (or "NAME - - error") in DIR/list.txt.
Also the float references: to_tensor and to_tensor + normalize of one image
(float32 CHW, raw) and its bilinear resize as GeneralizedRCNNTransform does.

usage: data_make_images.py DIR"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rng = np.random.RandomState(7)


def smooth(h, w, c):
    y, x = np.mgrid[0:h, 0:w]
    planes = [(127 + 100 * np.sin(x / (5.0 + k) + y / (7.0 + 2 * k)) + rng.randint(-20, 21, (h, w)))
              for k in range(c)]
    return np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)


files = []


def save(name, img, **kw):
    img.save(os.path.join(d, name), **kw)
    files.append(name)


rgb = Image.fromarray(smooth(61, 83, 3))
save("rgb_q90.jpg", rgb, quality=90)
save("rgb_q75_444.jpg", rgb, quality=75, subsampling=0)
save("rgb_422.jpg", rgb, quality=85, subsampling=1)
save("rgb_prog.jpg", rgb, quality=80, progressive=True)
save("rgb_odd.jpg", Image.fromarray(smooth(17, 9, 3)), quality=95)
save("gray.jpg", Image.fromarray(smooth(40, 50, 1)[:, :, 0], "L"), quality=90)
save("cmyk.jpg", Image.fromarray(smooth(33, 47, 4), "CMYK"), quality=90)
save("rgb.png", rgb)
save("rgba.png", Image.fromarray(smooth(20, 30, 4), "RGBA"))
save("gray.png", Image.fromarray(smooth(20, 30, 1)[:, :, 0], "L"))
save("la.png", Image.fromarray(smooth(20, 30, 2), "LA"))
pal = rgb.convert("P", palette=Image.ADAPTIVE, colors=37)
save("palette.png", pal)
pal4 = rgb.convert("P", palette=Image.ADAPTIVE, colors=16)
save("palette4.png", pal4, bits=4)
palt = pal.copy()
palt.info["transparency"] = 3
save("palette_trns.png", palt, transparency=3)
save("bw.png", rgb.convert("1"))
g16 = (smooth(21, 19, 1)[:, :, 0].astype(np.int32) * 3 - 100).clip(0, 65535)
save("gray16.png", Image.fromarray(g16.astype(np.uint16), "I;16"))
save("rgb_trns.png", rgb, transparency=(10, 20, 30))


def png_chunk(t, data):
    c = t + data
    return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xffffffff)


def write_png(name, arr, color_type, depth):
    """A PNG written by hand (PIL cannot write 16-bit RGB(A) or 2-bit gray)."""
    h, w = arr.shape[:2]
    if depth == 16:
        raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))
    elif depth == 8:
        raw = b"".join(b"\0" + arr[y].astype(np.uint8).tobytes() for y in range(h))
    else:  # packed gray
        per = 8 // depth
        rows = []
        for y in range(h):
            bits = 0
            out = bytearray()
            for x in range(w):
                bits = (bits << depth) | int(arr[y, x])
                if x % per == per - 1:
                    out.append(bits)
                    bits = 0
            if w % per:
                out.append(bits << (depth * (per - w % per)))
            rows.append(b"\0" + bytes(out))
        raw = b"".join(rows)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"gAMA", struct.pack(">I", 45455)) + \
        png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    files.append(name)


write_png("rgb16.png", rng.randint(0, 65536, (9, 11, 3)), 2, 16)
write_png("rgba16.png", rng.randint(0, 65536, (9, 11, 4)), 6, 16)
write_png("la16.png", rng.randint(0, 65536, (9, 11, 2)), 4, 16)
write_png("gray2.png", rng.randint(0, 4, (7, 13)), 0, 2)

# broken files: what PIL makes of them is "error"
with open(os.path.join(d, "rgb_q90.jpg"), "rb") as f:
    jpg = f.read()
with open(os.path.join(d, "rgb.png"), "rb") as f:
    png = f.read()
broken = {"trunc.jpg": jpg[: len(jpg) // 2], "trunc.png": png[: len(png) // 2], "header_only.jpg": jpg[:200],
          "empty.jpg": b"", "text.jpg": b"hello, not an image\n", "trunc_sig.png": png[:8],
          "bad_crc.png": png[:40] + bytes([png[40] ^ 0xFF]) + png[41:]}
for k, v in broken.items():
    with open(os.path.join(d, k), "wb") as f:
        f.write(v)
    files.append(k)

with open(os.path.join(d, "list.txt"), "w") as lst:
    for name in files:
        try:
            im = Image.open(os.path.join(d, name)).convert("RGB")
            data = im.tobytes()
            with open(os.path.join(d, name + ".rgb"), "wb") as f:
                f.write(data)
            lst.write("%s %d %d ok\n" % (name, im.width, im.height))
        except Exception:
            lst.write("%s - - error\n" % name)

# float references on rgb_q90.jpg
import torch  # noqa: E402
import torchvision.transforms.functional as TF  # noqa: E402

im = Image.open(os.path.join(d, "rgb_q90.jpg")).convert("RGB")
t = TF.to_tensor(im)
t.numpy().astype(np.float32).tofile(os.path.join(d, "f_totensor.raw"))
n = TF.normalize(t, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
n.numpy().astype(np.float32).tofile(os.path.join(d, "f_norm.raw"))
for (oh, ow) in [(800, 1091), (30, 41), (61, 83), (100, 57)]:
    r = torch.nn.functional.interpolate(n[None], size=(oh, ow), mode="bilinear", align_corners=False)[0]
    r.numpy().astype(np.float32).tofile(os.path.join(d, "f_resize_%dx%d.raw" % (oh, ow)))
