"""jpeg_recode_ref.py DIR: the reference's jpeg_quality re-encoding by PIL
(ExtCocoDetection: img.save(buf, 'JPEG', quality=Q); Image.open(buf)) on a
few images, for test_img_jpeg.c. Writes DIR/NAME.png (the source, lossless),
DIR/NAME_qQ.jpg (PIL's bytes) and DIR/NAME_qQ.rgb (PIL's decoded pixels,
HWC uint8), and DIR/list.txt: NAME W H Q per line."""
import io
import os
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(16)
lines = []
# odd sizes exercise the 4:2:0 edge blocks; smooth + noise is photo-like
for name, (w, h) in {"a": (64, 48), "b": (37, 53), "c": (160, 96)}.items():
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255.0 / w, yy * 255.0 / h, (xx + yy) * 127.0 / (w + h) + 64], -1)
    img = np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img, "RGB").save(os.path.join(out, name + ".png"))
    for q in (5, 10, 20, 50, 75, 95):
        buf = io.BytesIO()
        Image.fromarray(img, "RGB").save(buf, "JPEG", quality=q)
        data = buf.getvalue()
        with open(os.path.join(out, "%s_q%d.jpg" % (name, q)), "wb") as f:
            f.write(data)
        dec = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        with open(os.path.join(out, "%s_q%d.rgb" % (name, q)), "wb") as f:
            f.write(dec.tobytes())
        lines.append("%s %d %d %d" % (name, w, h, q))
with open(os.path.join(out, "list.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
