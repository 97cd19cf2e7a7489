#!/usr/bin/env bash
# `--precision auto --memory-format auto` against every explicit choice and
# PyTorch eager, in one run: `cnnzoo-train --bench STEPS --json` times every
# candidate auto chooses from (fp32/bf16 x contiguous/channels-last, bf16 only
# where the CPU has bf16 instructions) at the recipe's batch and size, and says
# which one auto picks (measured by its probe, or remembered from an earlier
# run on this machine); PyTorch eager fp32 and bf16 autocast + channels_last
# (bench/torch_peer.py) run the same networks. ROUNDS (default 2) interleaved
# rounds, best of each column. Prints a markdown table.
#
#   bash bench/train_auto.sh [STEPS]      (ARCHS="resnet18 googlenet" by default)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-3}
source scripts/env.sh
cargo build --release -p cnnzoo-train --bin cnnzoo-train --quiet
ours=$CARGO_TARGET_DIR/release/cnnzoo-train
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; torch $(python -c 'import torch; print(torch.__version__)'); $steps steps, best of ${ROUNDS:-2} rounds."
echo
echo "| net | batch x size | cnnzoo fp32 | cnnzoo fp32 CL | cnnzoo bf16 | cnnzoo bf16 CL | cnnzoo auto (its choice) | auto / best explicit | PyTorch fp32 | PyTorch bf16 CL | best cnnzoo / PyTorch fp32 | cnnzoo bf16 / PyTorch bf16 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for arch in ${ARCHS:-resnet18 googlenet}; do
  runs=()
  for _ in $(seq "${ROUNDS:-2}"); do
    runs+=("$("$ours" --arch "$arch" --bench "$steps" --device cpu --json)")
    runs+=("$(cd bench && python torch_peer.py train-speed "$arch" "$steps" fp32)")
    runs+=("$(cd bench && python torch_peer.py train-speed "$arch" "$steps" bf16 cl)")
  done
  python - "${runs[@]}" <<'PY'
import json, sys
r = [json.loads(a) for a in sys.argv[1:]]
ours, t32, t16 = r[0::3], r[1::3], r[2::3]
def key(c):
    return (c["precision"], c["channels_last"])
best = {}
for run in ours:
    for c in run["candidates"]:
        best[key(c)] = max(best.get(key(c), 0.0), c["examples_per_sec"])
chosen = (ours[-1]["precision"], ours[-1]["channels_last"])
cols = [best.get(k) for k in [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]]
explicit = max(v for v in cols if v)
auto = best[chosen]
p32 = max(x["examples_per_sec"] for x in t32)
p16 = max(x["examples_per_sec"] for x in t16)
cells = " | ".join("-" if v is None else f"{v:.1f}" for v in cols)
name = f"{chosen[0]}{', CL' if chosen[1] else ''}"
b16 = max((v for v in cols[2:] if v), default=None)
same = f"{b16 / p16:.2f}" if b16 else "-"
print(f"| {ours[0]['arch']} | {ours[0]['batch']} x {ours[0]['size']} | {cells} | {auto:.1f} ({name}) | {auto / explicit:.2f} | {p32:.1f} | {p16:.1f} | {explicit / p32:.2f} | {same} |")
print("auto: " + ours[-1]["auto"], file=sys.stderr)
PY
done
