#!/usr/bin/env bash
# Training speed of every network at its recipe's batch and size, one SGD step
# at a time on a fixed batch: cnnzoo (`cnnzoo-train --bench`) in fp32 and bf16,
# contiguous and channels-last, next to PyTorch eager in fp32 and in bf16
# autocast (contiguous and channels-last), same machine, same run, same
# libtorch. Prints a markdown table; docs/BENCHMARKS.md quotes it.
# STEPS (default 3; LeNet 40) steps are timed after one warm-up step.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release -p cnnzoo-train --bin cnnzoo-train --quiet
ours=$CARGO_TARGET_DIR/release/cnnzoo-train
eps() { python -c "import json,sys; print(round(json.loads(sys.argv[1])['examples_per_sec'], 1))" "$1"; }
echo "| net | batch x size | cnnzoo fp32 | cnnzoo fp32 CL | cnnzoo bf16 | cnnzoo bf16 CL | PyTorch fp32 | PyTorch bf16 | PyTorch bf16 CL | best cnnzoo / PyTorch fp32 | cnnzoo / PyTorch, same precision (best layout each) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for arch in ${ARCHS:-lenet alexnet nin googlenet resnet18 densenet}; do
  steps=${STEPS:-3}; [ "$arch" = lenet ] && steps=40
  row=()
  for p in fp32 bf16; do
    for m in contiguous channels-last; do
      row+=("$("$ours" --arch "$arch" --bench "$steps" --precision $p --memory-format $m --device cpu --json)")
    done
  done
  row+=("$(cd bench && python torch_peer.py train-speed "$arch" "$steps" fp32)")
  row+=("$(cd bench && python torch_peer.py train-speed "$arch" "$steps" bf16)")
  row+=("$(cd bench && python torch_peer.py train-speed "$arch" "$steps" bf16 cl)")
  python - "${row[@]}" <<'PY'
import json, sys
r = [json.loads(a) for a in sys.argv[1:]]
e = [x["examples_per_sec"] for x in r]
o32, o32cl, o16, o16cl, t32, t16, t16cl = e
best = max(e[:4])
same = min(max(o32, o32cl) / t32, max(o16, o16cl) / max(t16, t16cl))
cells = " | ".join(f"{v:.1f}" for v in e)
print(f"| {r[0]['arch']} | {r[0]['batch']} x {r[0]['size']} | {cells} | {best / t32:.2f} | {same:.2f} |")
PY
done
