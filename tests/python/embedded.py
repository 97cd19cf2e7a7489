"""Models that carry their preprocessing (cnnzoo-export --embed-preprocessing),
seen from ONNX Runtime's Python API, as a user of another runtime meets them.

usage: embedded.py photos DIR     -> photo-like JPEGs and PNGs of several sizes in DIR
       embedded.py check CASES    -> for each case of CASES (JSON, written by
       the Rust test): onnx.checker full_check on the embedded model, then
       the embedded model fed pixels against the plain model fed cnnzoo's
       preprocessing of the same photo (the network input the graph makes,
       which the test's embedded model also outputs, and the outputs); for
       PNGs also fed the pixels PIL decodes. Prints one JSON object: per
       case, the network input's largest difference and how many of its
       values differ by more than 1e-4, and the outputs' largest difference.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image


def photos(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    # (name, width, height): larger and smaller than the models' sides, odd
    # aspect ratios, and exactly a model's side (the resize is then the identity).
    for name, w, h in [("street.jpg", 640, 480), ("portrait.png", 333, 517), ("large.jpg", 1500, 1000),
                       ("thumb.png", 20, 15), ("exact.png", 28, 28), ("gray.jpg", 400, 300)]:
        y, x = np.mgrid[0:h, 0:w] / np.array([h, w]).reshape(2, 1, 1)
        rgb = np.stack([200 * x, 255 * y * y, 128 + 90 * np.sin(9 * x) * np.cos(6 * y)], -1)
        rgb[: h // 4, : w // 3] = [240, 40, 20]
        img = Image.fromarray(np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8))
        if name.startswith("gray"):
            img = img.convert("L")
        img.save(out / name, quality=90) if name.endswith(".jpg") else img.save(out / name)


def check(cases_path: Path) -> None:
    cases = json.loads(cases_path.read_text())
    sessions, result = {}, {}

    def session(path):
        if path not in sessions:
            sessions[path] = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return sessions[path]

    for path in sorted({c["embedded"] for c in cases}):
        onnx.checker.check_model(onnx.load(path), full_check=True)
        (inp,) = session(path).get_inputs()
        assert (inp.name, inp.type) == ("image", "tensor(uint8)"), (inp.name, inp.type)
    for c in cases:
        plain, embedded = session(c["plain"]), session(c["embedded"])
        names = [o.name for o in plain.get_outputs()]
        x = np.fromfile(c["input"], "<f4").reshape(c["input_shape"])
        want = plain.run(names, {"input": x})
        feeds = {"cnnzoo": np.fromfile(c["pixels"], np.uint8).reshape(c["pixels_shape"])}
        if c["photo"].endswith(".png"):
            feeds["PIL"] = np.asarray(Image.open(c["photo"]).convert("RGB"))[None]
        for decoder, pixels in feeds.items():
            *got, made = embedded.run(names + ["input"], {"image": pixels})
            case = f'{c["name"]} ({decoder} pixels {list(pixels.shape)})'
            d = np.abs(made - x)
            result[case] = {"input_max": float(d.max()), "input_off": int((d > 1e-4).sum()), "input_values": int(d.size),
                            "outputs": max(float(np.abs(a - b).max()) for a, b in zip(want, got))}
    print(json.dumps(result))


if __name__ == "__main__":
    {"photos": photos, "check": check}[sys.argv[1]](Path(sys.argv[2]))
