"""The reference for cnnzoo's preprocessing: PyTorch's interpolate on the same
decoded pixels. Reads a JSON list of cases from argv[1]; each names a raw
float32 file of [C, H, W] planes (8-bit units), the card and where to write
interpolate(...) * scale, normalized, as raw float32 [C, size, size]."""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

for case in json.load(open(sys.argv[1])):
    c, h, w = case["shape"]
    p = case["card"]
    x = torch.from_numpy(np.fromfile(case["planes"], dtype=np.float32).reshape(1, c, h, w))
    y = F.interpolate(x, size=(p["size"], p["size"]), mode="bilinear", align_corners=False,
                      antialias=p["resize"] == "bilinear_antialias")[0] * p["scale"]
    if "mean" in p:
        mean = torch.tensor(p["mean"]).view(-1, 1, 1)
        std = torch.tensor(p["std"]).view(-1, 1, 1)
        y = (y - mean) / std
    y.numpy().astype(np.float32).tofile(case["out"])
