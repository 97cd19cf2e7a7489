"""The peer side of bench/pretrained_compare.sh, and the latency of both files.

    python pretrained_peer.py export ARCH WEIGHTS.pth OUT.onnx
        torch.onnx.export of torchvision's ARCH with WEIGHTS loaded (the
        classic exporter, batch dynamic); prints, as JSON, the seconds of the
        export call alone and of the script up to its end (importing torch,
        building the model, loading the weights, exporting).
    python pretrained_peer.py latency A.onnx B.onnx
        onnxruntime's Python API, interleaved rounds, best of three: images/s
        of each file at batch 1 and 64, as JSON.
"""
import time

START = time.perf_counter()  # the whole script, imports included, as a user's process

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

if sys.argv[1] == "export":
    import torch
    import torchvision

    arch, weights, out = sys.argv[2:5]
    kw = {"aux_logits": False, "init_weights": False} if arch == "googlenet" else {}
    model = getattr(torchvision.models, arch)(weights=None, **kw)
    model.load_state_dict(torch.load(weights))
    model.eval()
    start = time.perf_counter()
    torch.onnx.export(model, torch.rand(1, 3, 224, 224), out, dynamo=False, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
    end = time.perf_counter()
    print(json.dumps({"call": end - start, "process": end - START}))
else:
    import onnxruntime as ort

    sessions = [ort.InferenceSession(p, providers=["CPUExecutionProvider"]) for p in sys.argv[2:4]]
    result = {}
    for batch in (1, 64):
        x = np.random.default_rng(0).random((batch, 3, 224, 224), dtype=np.float32)
        best = [0.0, 0.0]
        for _ in range(3):
            for k, s in enumerate(sessions):
                feed = {s.get_inputs()[0].name: x}
                s.run(None, feed)
                runs, start = 0, time.perf_counter()
                while time.perf_counter() - start < (1.0 if batch == 1 else 3.0):
                    s.run(None, feed)
                    runs += 1
                best[k] = max(best[k], runs * batch / (time.perf_counter() - start))
        result[batch] = best
    print(json.dumps(result))
