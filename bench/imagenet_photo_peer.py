"""The torchvision pipeline a user runs for an ImageNet classifier, as the
peer of `cnnzoo-infer --top-k 1 DIR` on the same ONNX file: PIL open ->
convert("RGB") -> the weights' own `weights.transforms()` (shorter side to
256, antialiased, centre crop 224, ImageNet mean/std) -> onnxruntime, one
process, batches of 64. Prints each file's top-1 index.

usage: imagenet_photo_peer.py MODEL.onnx DIR
"""
import json
import sys
import time
from pathlib import Path

t = time.perf_counter()
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision.models import ResNet18_Weights  # noqa: E402

model, folder = sys.argv[1], Path(sys.argv[2])
transform = ResNet18_Weights.IMAGENET1K_V1.transforms()
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in {".jpg", ".jpeg", ".png"})
n = 0
with torch.no_grad():
    for i in range(0, len(files), 64):
        batch = torch.stack([transform(Image.open(f).convert("RGB")) for f in files[i:i + 64]]).numpy()
        logits = sess.run(None, {name: batch})[0]
        for f, row in zip(files[i:i + 64], logits):
            print(f"{f}: {int(np.argmax(row))}")
        n += len(logits)
print(json.dumps({"images": n, "seconds": time.perf_counter() - t}), file=sys.stderr)
