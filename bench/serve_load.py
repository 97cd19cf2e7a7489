"""A load generator for cnnzoo-serve built on tritonclient's gRPC client
(one client and one thread per simulated user, each sending one image per
request, back to back), as a Triton user would measure a server.

    python bench/serve_load.py ADDR MODEL CLIENTS SECONDS [grpc|http]

ADDR is the gRPC address, or the HTTP one with `http` (tritonclient.http,
binary tensor data, a keep-alive connection per client).

Each client first sends 5 warm-up requests, then runs for SECONDS. Prints
one JSON line: requests/s, and p50/p99 latency in milliseconds.
"""
import json
import sys
import threading
import time

import numpy as np

addr, model, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
http = (sys.argv[5:] or ["grpc"])[0] == "http"
if http:
    import tritonclient.http as tc
else:
    import tritonclient.grpc as tc
meta = tc.InferenceServerClient(addr).get_model_metadata(model, **({} if http else {"as_json": True}))
shape = [1] + [int(d) for d in next(t for t in meta["inputs"] if t["name"] == "input")["shape"][1:]]
x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)

latencies = [[] for _ in range(clients)]
errors = []
barrier = threading.Barrier(clients + 1)
deadline = [0.0]


def user(k):
    try:
        client = tc.InferenceServerClient(addr)
        inp = tc.InferInput("input", shape, "FP32")
        inp.set_data_from_numpy(x)
        out = [tc.InferRequestedOutput("logits")]
        for _ in range(5):
            client.infer(model, [inp], outputs=out)
    except Exception as e:  # noqa: BLE001 - reported below
        errors.append(repr(e))
        raise
    finally:
        barrier.wait()
    mine = latencies[k]
    while True:
        t = time.perf_counter()
        if t >= deadline[0]:
            break
        client.infer(model, [inp], outputs=out)
        mine.append(time.perf_counter() - t)


threads = [threading.Thread(target=user, args=(k,)) for k in range(clients)]
for t in threads:
    t.start()
deadline[0] = time.perf_counter() + 3600
barrier.wait()
start = time.perf_counter()
deadline[0] = start + seconds
for t in threads:
    t.join()
elapsed = time.perf_counter() - start
if errors:
    sys.exit(f"serve_load: {errors[0]}")
all_ms = np.array([v for l in latencies for v in l]) * 1000
print(json.dumps({
    "clients": clients,
    "requests": int(all_ms.size),
    "rps": all_ms.size / elapsed,
    "p50_ms": float(np.percentile(all_ms, 50)),
    "p99_ms": float(np.percentile(all_ms, 99)),
}))
