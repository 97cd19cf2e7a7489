"""The peer for INT8 export: onnxruntime's own quantizer, `quantize_static`
in QDQ format with per-channel weights (what an onnxruntime user writes),
calibrated on the same training images cnnzoo-export --int8 uses (the first
N of Fashion-MNIST's training split, spread evenly, through the model card's
preprocessing, computed with torch's interpolate exactly as the card says).

    python bench/int8_peer.py FP32.onnx DATA OUT.onnx [N]
"""
import gzip
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

fp32, data, out = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 256
model = onnx.load(fp32)
meta = {p.key: p.value for p in model.metadata_props}
card = json.loads(meta["cnnzoo.preprocessing"])

with gzip.open(os.path.join(data, "train-images-idx3-ubyte.gz")) as f:
    raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
idx = [i * len(raw) // n for i in range(n)]
x = torch.from_numpy(raw[idx].astype(np.float32))[:, None] * card.get("scale", 1 / 255)
if card["size"] != 28:
    x = F.interpolate(x, size=(card["size"], card["size"]), mode="bilinear", align_corners=False, antialias=card["resize"] == "bilinear_antialias")
mean = torch.tensor(card.get("mean", [0.0] * card["channels"]))[None, :, None, None]
std = torch.tensor(card.get("std", [1.0] * card["channels"]))[None, :, None, None]
x = ((x - mean) / std).numpy().astype(np.float32)


class Reader(CalibrationDataReader):
    def __init__(self):
        self.batches = iter([{"input": x[i:i + 32]} for i in range(0, n, 32)])

    def get_next(self):
        return next(self.batches, None)


quantize_static(fp32, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
# Keep the card, so cnnzoo-infer --eval reads the peer's file as it reads ours.
q = onnx.load(out)
if not any(p.key.startswith("cnnzoo.") for p in q.metadata_props):
    q.metadata_props.extend(model.metadata_props)
    onnx.save(q, out)
