"""cnnzoo's state dicts in torchvision, strictly.

    python state_dict_check.py same ORIGINAL.pth OURS.safetensors ARCH
        loads OURS into torchvision's ARCH with strict=True and prints, as
        JSON, whether every tensor equals ORIGINAL's.
    python state_dict_check.py forward OURS.safetensors MODEL.onnx ARCH CHANNELS SIZE CLASSES
        loads OURS into torchvision's ARCH (a CHANNELS-channel stem, CLASSES
        classes) with strict=True and prints whether its logits equal the
        ONNX model's on 8 inputs (allclose, atol 1e-4, rtol 1e-5).
"""
import json
import sys

import numpy as np
import onnxruntime as ort
import torch
import torchvision
from safetensors.torch import load_file


def model_of(arch, channels=3, classes=1000):
    m = getattr(torchvision.models, arch)(weights=None, num_classes=classes)
    if channels != 3:
        c = m.conv1
        m.conv1 = torch.nn.Conv2d(channels, c.out_channels, c.kernel_size, c.stride, c.padding, bias=False)
    return m


if sys.argv[1] == "same":
    original, ours, arch = torch.load(sys.argv[2]), load_file(sys.argv[3]), sys.argv[4]
    model_of(arch).load_state_dict(ours, strict=True)
    equal = set(original) == set(ours) and all(torch.equal(original[k].float(), ours[k].float()) for k in original if "num_batches" not in k)
    print(json.dumps({"strict": True, "equal": equal, "keys": len(ours)}))
else:
    ours, onnx_path, arch = load_file(sys.argv[2]), sys.argv[3], sys.argv[4]
    channels, size, classes = (int(v) for v in sys.argv[5:8])
    model = model_of(arch, channels, classes)
    model.load_state_dict(ours, strict=True)
    model.eval()
    x = torch.rand(8, channels, size, size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        theirs = model(x).numpy()
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {session.get_inputs()[0].name: x.numpy()})[0]
    print(json.dumps({"strict": True, "allclose": bool(np.allclose(logits, theirs, atol=1e-4, rtol=1e-5)),
                      "max_abs_diff": float(np.abs(logits - theirs).max())}))
