#!/usr/bin/env bash
# Published weights in and out, next to torch.onnx.export of the same
# torchvision model: export time (cnnzoo-export with and without its
# validation against libtorch), and ONNX Runtime throughput of both files at
# batch 1 and 64. Seeded weights saved as torch.save(state_dict) (no download).
#   bash bench/pretrained_compare.sh [ARCH...]   (default: all six)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --quiet --release -p cnnzoo-export
EXPORT=$CARGO_TARGET_DIR/release/cnnzoo-export
archs=${*:-alexnet googlenet resnet18 resnet34 resnet50 densenet121}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# shellcheck disable=SC2086
python tests/python/torchvision_zoo.py make "$dir" 224 $archs >/dev/null
echo "| net | cnnzoo-export (s) | cnnzoo-export --no-validate (s) | torch.onnx.export (s) | ratio (no-validate) | ORT img/s b1 ours / torch's | ORT img/s b64 ours / torch's |"
echo "|---|---|---|---|---|---|---|"
for a in $archs; do
  t0=$(date +%s.%N); "$EXPORT" "$dir/$a.pth" --arch "tv_$a" -o "$dir/$a.ours.onnx" >/dev/null 2>&1; t1=$(date +%s.%N)
  "$EXPORT" "$dir/$a.pth" --arch "tv_$a" -o "$dir/$a.ours.onnx" --no-validate >/dev/null 2>&1; t2=$(date +%s.%N)
  peer=$(python bench/pretrained_peer.py export "$a" "$dir/$a.pth" "$dir/$a.torch.onnx" 2>/dev/null)
  lat=$(python bench/pretrained_peer.py latency "$dir/$a.ours.onnx" "$dir/$a.torch.onnx")
  python - "$a" "$t0" "$t1" "$t2" "$peer" "$lat" <<'PY'
import json, sys
a, t0, t1, t2, peer, lat = sys.argv[1], *map(float, sys.argv[2:6]), json.loads(sys.argv[6])
v, nv = t1 - t0, t2 - t1
b1, b64 = lat["1"], lat["64"]
print(f"| {a} | {v:.2f} | {nv:.2f} | {peer:.2f} | {peer / nv:.1f}x | {b1[0]:.0f} / {b1[1]:.0f} ({b1[0] / b1[1]:.2f}) | {b64[0]:.0f} / {b64[1]:.0f} ({b64[0] / b64[1]:.2f}) |")
PY
done
