"""Writes a folder of large photo-like images: JPEGs as a camera writes them
(quality 90, 4:2:0 chroma) and large PNGs. Content has structure at every
scale (smooth shading, edges, fine texture and sensor noise), so the files
compress, and decode, like photographs rather than flat colour or white noise.

usage: photos.py DIR [JPEGS=16] [PNGS=4] [JPEG_SIZE=4000x3000] [PNG_SIZE=2000x1500]
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def scene(rng, w, h):
    """Octaves of smooth noise (each a small random image upscaled), a few
    hard-edged shapes, then fine grain: a float RGB image in [0, 255]."""
    acc = np.zeros((h, w, 3), np.float32)
    for cells, weight in [(4, 90), (16, 50), (64, 25), (256, 12)]:
        small = rng.random((max(2, cells * h // w), cells, 3), dtype=np.float32)
        layer = Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        acc += (np.asarray(layer, np.float32) - 127.5) * (weight / 127.5)
    img = Image.fromarray(np.clip(acc + 128, 0, 255).astype(np.uint8))
    from PIL import ImageDraw
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.integers(0, w), rng.integers(0, h)
        r = int(rng.integers(w // 80, w // 8))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x - r, y - r // 2, x + r, y + r // 2], fill=fill)
    grain = rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    return np.clip(np.asarray(img, np.float32) + grain, 0, 255).astype(np.uint8)


def main():
    out = Path(sys.argv[1])
    jpegs = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    pngs = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    jw, jh = map(int, (sys.argv[4] if len(sys.argv) > 4 else "4000x3000").split("x"))
    pw, ph = map(int, (sys.argv[5] if len(sys.argv) > 5 else "2000x1500").split("x"))
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for i in range(jpegs):
        Image.fromarray(scene(rng, jw, jh)).save(out / f"photo{i:02d}.jpg", quality=90, subsampling="4:2:0")
    for i in range(pngs):
        Image.fromarray(scene(rng, pw, ph)).save(out / f"scan{i:02d}.png")


if __name__ == "__main__":
    main()
