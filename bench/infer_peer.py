"""The Python side of the inference benchmarks. Prints one JSON object.

  throughput ORT|TORCH MODEL.onnx ARCH BATCH RUNS   model-only, preprocessed input
  e2e ORT|TORCH MODEL.onnx ARCH DIR                 every PNG under DIR: PIL decode,
                                                    numpy preprocessing, batches of 64
  one MODEL.onnx IMAGE                              what `cnnzoo-infer` does for one
                                                    image (cold start is timed outside)
The torch backend loads the model's weights from MODEL.onnx's initializers
(export with --no-fold-bn for BN networks) into bench/torch_zoo.py's network.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np


def ort_session(path):
    import onnxruntime as ort
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def card(path):
    import onnx
    meta = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
    return json.loads(meta["cnnzoo.preprocessing"])


def torch_runner(path, arch):
    import onnx
    import torch
    from onnx import numpy_helper
    sys.path.insert(0, str(Path(__file__).parent))
    import torch_zoo
    net = torch_zoo.build(arch).eval()
    state = net.state_dict()
    for t in onnx.load(path).graph.initializer:
        if t.name in state:
            state[t.name] = torch.from_numpy(numpy_helper.to_array(t).copy())
    net.load_state_dict(state)

    def run(x):
        with torch.no_grad():
            return net(torch.from_numpy(x))[0].numpy()
    return run


def runner(backend, path, arch):
    if backend == "torch":
        return torch_runner(path, arch)
    sess = ort_session(path)
    return lambda x: sess.run(["logits"], {"input": x})[0]


def preprocess(path, p):
    from PIL import Image
    img = Image.open(path).convert("L")
    if img.size != (p["size"], p["size"]):
        img = img.resize((p["size"], p["size"]), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) * p["scale"]


def throughput(backend, path, arch, batch, runs):
    p = card(path)
    run = runner(backend, path, arch)
    x = np.random.default_rng(0).random((batch, 1, p["size"], p["size"]), dtype=np.float32)
    run(x)
    t = time.perf_counter()
    for _ in range(runs):
        run(x)
    secs = time.perf_counter() - t
    return {"backend": backend, "batch": batch, "ms_per_batch": secs * 1000 / runs, "images_per_sec": batch * runs / secs}


def e2e(backend, path, arch, folder):
    t = time.perf_counter()
    p = card(path)
    run = runner(backend, path, arch)
    files = sorted(Path(folder).rglob("*.png"))
    n = 0
    for i in range(0, len(files), 64):
        x = np.stack([preprocess(f, p) for f in files[i:i + 64]])[:, None]
        logits = run(x)
        n += len(logits)
    secs = time.perf_counter() - t
    return {"backend": backend, "images": n, "seconds": secs, "images_per_sec": n / secs}


def one(path, image):
    p = card(path)
    sess = ort_session(path)
    logits = sess.run(["logits"], {"input": preprocess(image, p)[None, None]})[0][0]
    e = np.exp(logits - logits.max())
    return {"class": int(np.argmax(logits)), "probability": float(e.max() / e.sum())}


if __name__ == "__main__":
    cmd, *a = sys.argv[1:]
    if cmd == "throughput":
        out = throughput(a[0], a[1], a[2], int(a[3]), int(a[4]))
    elif cmd == "e2e":
        out = e2e(a[0], a[1], a[2], a[3])
    else:
        out = one(a[0], a[1])
    print(json.dumps(out))
