"""OpenVINO's own runtime on a cnnzoo ONNX file: the peer of
`cnnzoo-infer --device openvino` in bench/openvino_table.sh. Prints one JSON
object: images/s at each batch for OpenVINO's fp32 and bf16 inference
precision, under the LATENCY hint (one synchronous request at a time, as
`cnnzoo-infer --bench` runs) and under the THROUGHPUT hint (as many
asynchronous requests as OpenVINO's streams take), on a fixed preprocessed
input.

    python openvino_peer.py MODEL.onnx BATCHES SECONDS
        BATCHES comma-separated (1,64); SECONDS of timed runs per case.
"""
import json
import sys
import time

import numpy as np
import openvino as ov


def images_per_sec(compiled, x, seconds, asynchronous):
    if not asynchronous:
        request = compiled.create_infer_request()
        request.infer({0: x})
        runs, start = 0, time.perf_counter()
        while runs < 3 or time.perf_counter() - start < seconds:
            request.infer({0: x})
            runs += 1
        return runs * x.shape[0] / (time.perf_counter() - start)
    queue = ov.AsyncInferQueue(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    for _ in range(len(queue)):
        queue.start_async({0: x})
    queue.wait_all()
    runs, start = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - start < seconds:
        queue.start_async({0: x})
        runs += 1
    queue.wait_all()
    return runs * x.shape[0] / (time.perf_counter() - start)


def main(path, batches, seconds):
    core = ov.Core()
    model = core.read_model(path)
    shape = model.input(0).get_partial_shape()
    c, h, w = (shape[i].get_length() for i in (1, 2, 3))
    out = {"openvino": ov.__version__, "results": {}}
    for precision in ("f32", "bf16"):
        for batch in batches:
            x = np.random.default_rng(0).random((batch, c, h, w), dtype=np.float32)
            for hint, asynchronous in (("LATENCY", False), ("THROUGHPUT", True)):
                compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": hint})
                out["results"][f"{precision}-{hint}-{batch}"] = images_per_sec(compiled, x, seconds, asynchronous)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], [int(b) for b in sys.argv[2].split(",")], float(sys.argv[3]))
