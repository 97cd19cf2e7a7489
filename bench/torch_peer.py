"""The peers' side of the benchmarks (PyTorch eager, torch.onnx, onnxruntime's
Python API). Each subcommand prints one JSON object.

  train-speed ARCH STEPS [fp32|bf16] [cl]
                                  SGD steps at the recipe's batch and size; bf16 is
                                  torch.autocast("cpu", bfloat16), cl channels_last
  onnx ARCH OURS_BN.onnx OURS.onnx OUT_DIR
                                  torch.onnx.export of the same weights, then
                                  node counts and ORT CPU latency of both graphs
"""
import json
import sys
import time

import numpy as np
import torch

import torch_zoo


def train_speed(arch: str, steps: int, precision: str = "fp32", layout: str = "") -> dict:
    _, batch, lr, size = torch_zoo.ZOO[arch]
    torch.manual_seed(0)
    net = torch_zoo.build(arch).train()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    x, y = torch.rand(batch, 1, size, size), torch.randint(0, 10, (batch,))
    if layout == "cl":
        net, x = net.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)

    def step():
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = net(x)[0]
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        loss.backward()
        opt.step()
        return loss.item()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    secs = time.perf_counter() - t
    return {"arch": arch, "precision": precision, "channels_last": layout == "cl", "examples_per_sec": steps * batch / secs,
            "seconds": secs, "torch": torch.__version__}


def latency(path: str, batch: int, size: int, runs: int) -> float:
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((batch, 1, size, size), dtype=np.float32)
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})
    t = time.perf_counter()
    for _ in range(runs):
        sess.run(None, {name: x})
    return (time.perf_counter() - t) / runs * 1000


def onnx_compare(arch: str, ours_bn: str, ours: str, out_dir: str) -> dict:
    import onnx
    from onnx import numpy_helper
    size = torch_zoo.ZOO[arch][3]
    net = torch_zoo.build(arch).eval()
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(ours_bn).graph.initializer}
    state = net.state_dict()
    state.update({k: v for k, v in weights.items() if k in state})
    net.load_state_dict(state, strict=True)
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    assert not missing, f"weights missing from {ours_bn}: {missing[:3]}"
    path = f"{out_dir}/{arch}.torch.onnx"
    x = torch.rand(1, 1, size, size)
    t = time.perf_counter()
    try:
        torch.onnx.export(net, (x,), path, input_names=["input"], output_names=["logits", "features"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
                          opset_version=17, dynamo=False)
        exporter = "torchscript"
    except Exception as e:  # the legacy exporter may be gone: fall back to the dynamo one
        torch.onnx.export(net, (x,), path, input_names=["input"], output_names=["logits", "features"],
                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, opset_version=17, dynamo=True)
        exporter = f"dynamo ({type(e).__name__} from the legacy one)"
    export_s = time.perf_counter() - t
    runs = 50 if arch == "lenet" else 5
    result = {"arch": arch, "torch_exporter": exporter, "torch_export_s": export_s,
              "nodes_ours": len(onnx.load(ours).graph.node), "nodes_torch": len(onnx.load(path).graph.node)}
    for b in (1, 64):
        result[f"ms_ours_b{b}"] = latency(ours, b, size, runs if b == 1 else max(2, runs // 2))
        result[f"ms_torch_b{b}"] = latency(path, b, size, runs if b == 1 else max(2, runs // 2))
    with torch.no_grad():
        xb = torch.rand(4, 1, size, size)
        import onnxruntime as ort
        ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": xb.numpy()})[0]
        mine = ort.InferenceSession(ours, providers=["CPUExecutionProvider"]).run(None, {"input": xb.numpy()})[0]
        result["max_abs_diff_logits"] = float(np.abs(ref - mine).max())
    return result


if __name__ == "__main__":
    torch.set_num_threads(int(__import__("os").environ.get("BENCH_THREADS", torch.get_num_threads())))
    cmd, *args = sys.argv[1:]
    if cmd == "train-speed":
        print(json.dumps(train_speed(args[0], int(args[1]), *args[2:])))
    elif cmd == "onnx":
        print(json.dumps(onnx_compare(*args)))
    else:
        sys.exit(f"unknown command {cmd}")
