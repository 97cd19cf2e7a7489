"""Drives a running cnnzoo-serve with tritonclient, over HTTP and gRPC, and
checks its answers against onnxruntime's on the same ONNX file.

    python triton_client.py HTTP_ADDR GRPC_ADDR MODEL ONNX_FILE PNG...

FP32 input goes as JSON data, as HTTP binary data and as gRPC raw contents;
the PNGs go as BYTES (binary over HTTP, raw over gRPC). The reference for
the PNGs is the 28x28 grayscale image scaled to [0, 1], which is what the
seeded LeNet's card asks for. Prints one JSON summary line.
"""
import json
import sys

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from PIL import Image

http_addr, grpc_addr, model, onnx_file, *pngs = sys.argv[1:]
session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
x = rng.standard_normal((5, 1, 28, 28)).astype(np.float32)
ref_logits, ref_features = session.run(["logits", "features"], {"input": x})
images = np.stack([np.asarray(Image.open(p).convert("L"), dtype=np.float32)[None] / 255.0 for p in pngs])
img_logits, img_features = session.run(["logits", "features"], {"input": images})
files = np.array([open(p, "rb").read() for p in pngs], dtype=np.object_)

worst = {}


def check(label, got, want):
    assert got.shape == want.shape, f"{label}: shape {got.shape} != {want.shape}"
    worst[label] = float(np.abs(got - want).max())
    assert worst[label] < 1e-4, f"{label}: max abs diff {worst[label]}"


http = httpclient.InferenceServerClient(http_addr)
grpc = grpcclient.InferenceServerClient(grpc_addr)
for client in (http, grpc):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(model)
    assert not client.is_model_ready("no-such-model")

meta = http.get_model_metadata(model)
assert meta["name"] == model and meta["versions"] == ["1"], meta
shapes = {t["name"]: t["shape"] for t in meta["inputs"] + meta["outputs"]}
assert shapes == {"input": [-1, 1, 28, 28], "image": [-1], "logits": [-1, 10], "features": [-1, 84]}, shapes
gmeta = grpc.get_model_metadata(model, as_json=True)
assert {t["name"]: [int(d) for d in t["shape"]] for t in gmeta["inputs"] + gmeta["outputs"]} == shapes, gmeta
assert http.get_server_metadata()["name"] == "cnnzoo-serve"

# FP32 over HTTP: JSON data, then binary data (tritonclient's default).
for binary in (False, True):
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("logits", "features")]
    r = http.infer(model, [inp], outputs=outs, request_id="req-7")
    assert r.get_response()["id"] == "req-7"
    check(f"http fp32 {'binary' if binary else 'json'} logits", r.as_numpy("logits"), ref_logits)
    check(f"http fp32 {'binary' if binary else 'json'} features", r.as_numpy("features"), ref_features)
# No outputs named: every output, in binary.
inp = httpclient.InferInput("input", list(x.shape), "FP32")
inp.set_data_from_numpy(x)
check("http fp32 all outputs", http.infer(model, [inp]).as_numpy("logits"), ref_logits)

# FP32 over gRPC (raw_input_contents).
inp = grpcclient.InferInput("input", list(x.shape), "FP32")
inp.set_data_from_numpy(x)
r = grpc.infer(model, [inp], outputs=[grpcclient.InferRequestedOutput("features")])
check("grpc fp32 features", r.as_numpy("features"), ref_features)
assert r.as_numpy("logits") is None, "only features were asked for"

# Encoded images as BYTES, decoded and preprocessed by the server.
inp = httpclient.InferInput("image", [len(files)], "BYTES")
inp.set_data_from_numpy(files)
r = http.infer(model, [inp])
check("http image logits", r.as_numpy("logits"), img_logits)
check("http image features", r.as_numpy("features"), img_features)
inp = grpcclient.InferInput("image", [len(files)], "BYTES")
inp.set_data_from_numpy(files)
check("grpc image logits", grpc.infer(model, [inp]).as_numpy("logits"), img_logits)

# Errors reach the client as the server worded them.
bad = httpclient.InferInput("input", [1, 3, 28, 28], "FP32")
bad.set_data_from_numpy(np.zeros((1, 3, 28, 28), np.float32))
try:
    http.infer(model, [bad])
    raise AssertionError("a 3-channel input was accepted")
except httpclient.InferenceServerException as e:
    assert "does not match the model's [-1, 1, 28, 28]" in str(e), e
bad = grpcclient.InferInput("image", [1], "BYTES")
bad.set_data_from_numpy(np.array([b"not an image"], dtype=np.object_))
try:
    grpc.infer(model, [bad])
    raise AssertionError("an undecodable image was accepted")
except grpcclient.InferenceServerException as e:
    assert e.status() == "StatusCode.INVALID_ARGUMENT" and "image[0]" in e.message(), (e.status(), e.message())

print(json.dumps({"max_abs_diff": worst}))
