#!/usr/bin/env bash
# For every network (initialized weights): cnnzoo-export's time, then node
# counts and ONNX Runtime CPU latency (batch 1 and 64) of our graph next to
# torch.onnx.export of the same network with the same weights. Markdown out.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/setup.sh
echo "| net | export s (ours) | torch.onnx.export s | nodes ours / torch | ORT ms b1 ours / torch | ORT ms b64 ours / torch | latency ratio b1 / b64 |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for arch in lenet alexnet nin googlenet resnet18 densenet; do
  "$bin/cnnzoo-train" --arch "$arch" --epochs 0 --data "$data" --device cpu --quiet --out "$work/$arch" >/dev/null 2>&1
  secs=$("$bin/cnnzoo-export" "$work/$arch.ot" -o "$work/$arch.onnx" --no-validate --json | python -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
  "$bin/cnnzoo-export" "$work/$arch.ot" --no-fold-bn -o "$work/$arch.bn.onnx" >/dev/null
  peer=$(cd bench && python torch_peer.py onnx "$arch" "$work/$arch.bn.onnx" "$work/$arch.onnx" "$work" 2>/dev/null)
  python - "$secs" "$peer" <<'PY'
import json, sys
s, p = float(sys.argv[1]), json.loads(sys.argv[2])
assert p["max_abs_diff_logits"] < 1e-3, p
print(f"| {p['arch']} | {s:.2f} | {p['torch_export_s']:.2f} | {p['nodes_ours']} / {p['nodes_torch']} | "
      f"{p['ms_ours_b1']:.2f} / {p['ms_torch_b1']:.2f} | {p['ms_ours_b64']:.1f} / {p['ms_torch_b64']:.1f} | "
      f"{p['ms_ours_b1'] / p['ms_torch_b1']:.2f} / {p['ms_ours_b64'] / p['ms_torch_b64']:.2f} |")
PY
done
