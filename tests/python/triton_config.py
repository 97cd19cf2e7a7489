"""Checks a Triton model repository entry written by `cnnzoo-export
--triton-repo`: config.pbtxt parses as tritonclient's ModelConfig, and its
inputs, outputs and dims match the ONNX file beside it, as onnxruntime loads it.

    python triton_config.py ENTRY_DIR MAX_BATCH
"""
import json
import os
import sys

import onnxruntime as ort
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

entry, max_batch = sys.argv[1], int(sys.argv[2])
with open(os.path.join(entry, "config.pbtxt")) as f:
    config = text_format.Parse(f.read(), model_config_pb2.ModelConfig())
session = ort.InferenceSession(os.path.join(entry, "1", "model.onnx"), providers=["CPUExecutionProvider"])

assert config.name == os.path.basename(entry), config.name
assert config.backend == "onnxruntime", config.backend
assert config.max_batch_size == max_batch, config.max_batch_size
assert config.HasField("dynamic_batching")
for declared, actual in ((config.input, session.get_inputs()), (config.output, session.get_outputs())):
    assert [t.name for t in declared] == [t.name for t in actual], (declared, actual)
    for t, a in zip(declared, actual):
        assert t.data_type == model_config_pb2.TYPE_FP32, t
        assert list(t.dims) == list(a.shape[1:]), (t.name, list(t.dims), a.shape)
assert json.loads(config.parameters["cnnzoo.classes"].string_value)[0] == "T-shirt/top"
assert config.parameters["cnnzoo.arch"].string_value == "lenet"
print(json.dumps({"inputs": [list(t.dims) for t in config.input], "outputs": [list(t.dims) for t in config.output]}))
