#!/usr/bin/env bash
# cnnzoo-serve under load from tritonclient (bench/serve_load.py: gRPC, one
# thread per client, one image per request, back to back), for ResNet-18 and
# LeNet at 1, 8 and 32 concurrent clients, with dynamic batching (the
# defaults: --max-batch 64 --max-delay-us 2000) and without it
# (--no-dynamic-batching). All traffic on 127.0.0.1; each cell runs SECONDS
# (default 8) after a warm-up. Markdown out, with each configuration's
# throughput over one sequential client's and p99 over that client's p50.
#
#   bash bench/serve_bench.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}
source scripts/env.sh
cargo build --release --workspace --bins --quiet
bin=$CARGO_TARGET_DIR/release
data=$(cnnzoo_data release)
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/models"
for arch in lenet resnet18; do
  # Speed does not depend on the weights: one short epoch.
  "$bin/cnnzoo-train" --arch "$arch" --epochs 1 --train-limit 256 --test-limit 128 --data "$data" -o "$work/$arch" -q >/dev/null 2>&1
  "$bin/cnnzoo-export" "$work/$arch.ot" -o "$work/models/$arch.onnx" >/dev/null
done

# The server with gRPC alone and the given flags (bench/setup.sh).
start() { serve_start "$bin/cnnzoo-serve" --http off --grpc 127.0.0.1:0 "$@"; }

echo "CPU, $(nproc) cores, server and clients on the same machine; ${seconds}s per cell; one 1-image request at a time per client."
echo
echo "| model | batching | clients | requests/s | p50 (ms) | p99 (ms) | throughput / 1 client | p99 / 1-client p50 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for model in resnet18 lenet; do
  base_rps= base_p50=
  for mode in off on; do
    if [ $mode = on ]; then start; else start --no-dynamic-batching; fi
    for clients in 1 8 32; do
      read -r rps p50 p99 < <(python bench/serve_load.py "$grpc" "$model" "$clients" "$seconds" | python -c "import json,sys; r=json.load(sys.stdin); print(r['rps'], r['p50_ms'], r['p99_ms'])")
      if [ -z "$base_rps" ]; then base_rps=$rps base_p50=$p50; fi
      python - "$model" "$mode" "$clients" "$rps" "$p50" "$p99" "$base_rps" "$base_p50" <<'PY'
import sys
model, mode, clients = sys.argv[1:4]
rps, p50, p99, base_rps, base_p50 = map(float, sys.argv[4:9])
print(f"| {model} | {mode} | {clients} | {rps:.1f} | {p50:.2f} | {p99:.2f} | {rps / base_rps:.2f}x | {p99 / base_p50:.1f}x |")
PY
    done
    serve_stop
  done
done
