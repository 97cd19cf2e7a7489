"""The plain Python pipeline a user would write, as the peer of
`cnnzoo-infer --top-k 1 DIR`: PIL open -> convert to the model's mode ->
resize((size, size), BILINEAR) -> numpy -> onnxruntime, one process, batches of 64.

usage: photo_peer.py MODEL.onnx DIR
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

t = time.perf_counter()
model, folder = sys.argv[1], Path(sys.argv[2])
meta = {p.key: p.value for p in onnx.load(model, load_external_data=False).metadata_props}
p = json.loads(meta["cnnzoo.preprocessing"])
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in {".jpg", ".jpeg", ".png"})
mode = "L" if p["channels"] == 1 else "RGB"


def load(path):
    img = Image.open(path).convert(mode).resize((p["size"], p["size"]), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32) * p["scale"]
    return x[None] if mode == "L" else x.transpose(2, 0, 1)


n = 0
for i in range(0, len(files), 64):
    logits = sess.run(["logits"], {"input": np.stack([load(f) for f in files[i:i + 64]])})[0]
    for f, row in zip(files[i:i + 64], logits):
        print(f"{f}: {int(row.argmax())}")
    n += len(logits)
print(json.dumps({"images": n, "seconds": time.perf_counter() - t}), file=sys.stderr)
