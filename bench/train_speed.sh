#!/usr/bin/env bash
# Training speed of every network at its default batch and size, cnnzoo (tch)
# next to PyTorch eager on the same machine, same run, same libtorch build.
# Prints a markdown table; docs/BENCHMARKS.md quotes it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release -p cnnzoo-train --example train_speed --quiet
ours=$CARGO_TARGET_DIR/release/examples/train_speed
echo "| net | batch x size | cnnzoo examples/s | PyTorch eager examples/s | cnnzoo / PyTorch |"
echo "| --- | --- | --- | --- | --- |"
for arch in lenet alexnet nin googlenet resnet18 densenet; do
  steps=3; [ "$arch" = lenet ] && steps=40
  a=$("$ours" "$arch" "$steps")
  b=$(cd bench && python torch_peer.py train-speed "$arch" "$steps")
  python - "$a" "$b" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"| {a['arch']} | {a['batch']} x {a['size']} | {a['examples_per_sec']:.1f} | {b['examples_per_sec']:.1f} | {a['examples_per_sec'] / b['examples_per_sec']:.2f} |")
PY
done
