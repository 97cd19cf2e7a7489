"""Writes a corpus of real image files the way common tools write them, with
PIL's decoding of each as the reference: photos (JPEG RGB, grayscale, CMYK,
each EXIF orientation), PNGs (RGB, RGBA, palette with and without
transparency, gray, gray+alpha, 16-bit gray), and sizes from 1x1 to
6000x4000 and a 16,384-pixel side.

usage: photos.py DIR   -> DIR/<name> and DIR/<name>.ref (float32 [3, H, W]: RGB
in 8-bit units, upright, alpha composited on black), DIR/corpus.json
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(3)


def scene(w, h):
    """Smooth shading and a few shapes: compresses like a photo, and is
    asymmetric, so a wrong rotation or flip cannot pass."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 100 * np.sin(x / max(w, 1) * 5.0) * np.cos(y / max(h, 1) * 3.0)
    g = 255 * x / max(w - 1, 1)
    b = 255 * (y / max(h - 1, 1)) ** 2
    img = np.stack([r, g, b], -1)
    img[: h // 3, : w // 4] = [250, 30, 30]  # a red block in the top-left corner
    return np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


corpus = []


def save(name, img, **kw):
    img.save(out / name, **kw)
    ref = ImageOps.exif_transpose(Image.open(out / name))
    if ref.mode == "I;16":
        gray = np.asarray(ref, np.float32) / 257.0
        rgb = np.stack([gray] * 3)
    else:
        rgba = np.asarray(ref.convert("RGBA"), np.float32)
        rgb = (rgba[..., :3] * (rgba[..., 3:] / 255.0)).transpose(2, 0, 1)
    np.ascontiguousarray(rgb, np.float32).tofile(out / f"{name}.ref")
    corpus.append({"file": name, "width": rgb.shape[2], "height": rgb.shape[1], "jpeg": name.endswith(".jpg")})


photo = Image.fromarray(scene(640, 480))
save("rgb.jpg", photo, quality=90)
save("rgb444.jpg", photo, quality=95, subsampling=0)
save("gray.jpg", photo.convert("L"), quality=90)
save("cmyk.jpg", photo.convert("CMYK"), quality=95)
for o in range(1, 9):
    exif = Image.Exif()
    exif[0x0112] = o
    save(f"exif{o}.jpg", photo, quality=90, exif=exif.tobytes())
save("large.jpg", Image.fromarray(scene(6000, 4000)), quality=90)
save("wide.jpg", Image.fromarray(scene(16384, 64)), quality=90)
save("rgb.png", photo)
rgba = photo.convert("RGBA")
rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1))))
save("rgba.png", rgba)
save("palette.png", photo.convert("P", palette=Image.ADAPTIVE, colors=64))
pt = photo.convert("P", palette=Image.ADAPTIVE, colors=16)
pt.info["transparency"] = 0
save("palette_alpha.png", pt, transparency=0)
save("gray.png", photo.convert("L"))
save("la.png", rgba.convert("LA"))
g16 = (np.asarray(photo.convert("L"), np.uint16) * 257 + rng.integers(0, 257, (480, 640))).astype(np.uint16)
save("gray16.png", Image.fromarray(g16))
save("tiny.png", Image.fromarray(np.array([[[10, 200, 30]]], np.uint8)))
save("wide.png", Image.fromarray(scene(16384, 48)))
json.dump(corpus, open(out / "corpus.json", "w"))
