"""Checks an INT8 export with the reference tools: onnx.checker (full_check)
and onnxruntime's Python API, which must load and run it. Prints the INT8
kernels ONNX Runtime fused the QDQ graph into.

    python check_int8.py MODEL.onnx
"""
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

path = sys.argv[1]
onnx.checker.check_model(onnx.load(path), full_check=True)
with tempfile.TemporaryDirectory() as scratch:
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = os.path.join(scratch, "optimized.onnx")
    opts.log_severity_level = 3
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    shape = [2] + list(session.get_inputs()[0].shape[1:])
    outs = session.run(None, {"input": np.random.default_rng(0).random(shape, dtype=np.float32)})
    assert all(np.isfinite(o).all() for o in outs)
    fused = sorted({n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node if n.op_type.startswith(("QLinear", "QGemm"))})
print(" ".join(fused))
