"""Second opinion on exported models, for the Rust tests.

For each model: the reference checker (onnx.checker, full_check) and
onnxruntime's Python API on the given input. Writes the outputs as raw
little-endian float32 files next to the input (MODEL.logits.f32,
MODEL.features.f32) and prints one JSON line per model.

usage: check_onnx.py INPUT.f32 N C H W MODEL.onnx [MODEL.onnx ...]
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main() -> None:
    input_path, n, c, h, w, *models = sys.argv[1:]
    x = np.fromfile(input_path, dtype="<f4").reshape(int(n), int(c), int(h), int(w))
    for path in models:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        outputs = session.run(names, {session.get_inputs()[0].name: x})
        for name, value in zip(names, outputs):
            value.astype("<f4").tofile(f"{path}.{name}.f32")
        print(json.dumps({"model": path, "checked": True, "outputs": {k: list(v.shape) for k, v in zip(names, outputs)}}))


if __name__ == "__main__":
    main()
