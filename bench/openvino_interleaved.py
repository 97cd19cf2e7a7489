"""cnnzoo-infer on ONNX Runtime's OpenVINO provider against OpenVINO's own
runtime, interleaved round by round so that the machine's drift (on a shared
2-core virtual machine, 2x over minutes) falls on both sides alike.

Each round times, back to back, every configuration of both sides for
SECONDS each: cnnzoo with 1 stream and with one stream per core (the
requests in flight as many as the streams), and OpenVINO (Python API) under
the LATENCY hint (one synchronous request) and the THROUGHPUT hint (as many
asynchronous requests as it asks for), each in fp32 and bf16 inference
precision. Each side's figure for a round is its best configuration; the
report gives the best round of each side, their ratio, and the median over
rounds of the ratio within a round (one side's best against the other's,
timed seconds apart).

    python bench/openvino_interleaved.py CNNZOO_INFER MODEL.onnx BATCH ROUNDS SECONDS
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import openvino as ov

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openvino_peer import images_per_sec as peer_speed  # noqa: E402


def ours_speed(infer, model, batch, streams, seconds):
    """Images/s that `cnnzoo-infer --bench` reports on the OpenVINO provider."""
    out = subprocess.run(
        [infer, "--model", model, "--device", "openvino", "--streams", str(streams), "--bench",
         "--batch-size", str(batch), "--duration", str(seconds), "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)["results"][0]["images_per_sec"]


def main(infer, model, batch, rounds, seconds):
    core = ov.Core()
    net = core.read_model(model)
    shape = net.input(0).get_partial_shape()
    c, h, w = (shape[i].get_length() for i in (1, 2, 3))
    x = np.random.default_rng(0).random((batch, c, h, w), dtype=np.float32)
    compiled = {
        f"{precision}-{hint}": core.compile_model(net, "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": hint})
        for precision in ("f32", "bf16")
        for hint in ("LATENCY", "THROUGHPUT")
    }
    cores = os.cpu_count() or 1
    per_round = []
    for _ in range(rounds):
        ours = {f"{n} stream(s)": ours_speed(infer, model, batch, n, seconds) for n in sorted({1, cores})}
        peer = {k: peer_speed(m, x, seconds, k.endswith("THROUGHPUT")) for k, m in compiled.items()}
        per_round.append({"cnnzoo": ours, "openvino": peer})
    best = lambda side: max(max(r[side].values()) for r in per_round)
    ratios = [max(r["cnnzoo"].values()) / max(r["openvino"].values()) for r in per_round]
    print(json.dumps({
        "model": os.path.basename(model), "batch": batch, "rounds": rounds, "seconds": seconds,
        "openvino": ov.__version__.split("-")[0],
        "cnnzoo_best": best("cnnzoo"), "openvino_best": best("openvino"),
        "best_ratio": best("cnnzoo") / best("openvino"),
        "median_round_ratio": statistics.median(ratios),
        "round_ratios": ratios,
        "rounds_detail": per_round,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
