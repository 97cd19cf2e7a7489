#!/usr/bin/env bash
# Published weights in and out, next to torch.onnx.export of the same
# torchvision model: export time (cnnzoo-export, a whole process, with and
# without its validation against libtorch; the Python script a user runs,
# whole, and its torch.onnx.export call alone; best of three each), and ONNX
# Runtime throughput of both files at batch 1 and 64. Seeded weights saved
# as torch.save(state_dict) (no download).
#   bash bench/pretrained_compare.sh [ARCH...]   (default: all six)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --quiet --release -p cnnzoo-export-cli
EXPORT=$CARGO_TARGET_DIR/release/cnnzoo-export
archs=${*:-alexnet googlenet resnet18 resnet34 resnet50 densenet121}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# shellcheck disable=SC2086
python tests/python/torchvision_zoo.py make "$dir" 224 $archs >/dev/null
echo "| net | cnnzoo-export (s) | cnnzoo-export --no-validate (s) | Python script: import, load, export (s) | torch.onnx.export call alone (s) | ratio to the script (validated / no-validate) | ratio to the call alone (no-validate) | ORT img/s b1 ours / torch's | ORT img/s b64 ours / torch's |"
echo "|---|---|---|---|---|---|---|---|---|"
for a in $archs; do
  # Best of three for every time: the first run of each pays the page cache.
  v=9e9 nv=9e9 call=9e9 proc=9e9
  for _ in 1 2 3; do
    t0=$(date +%s.%N); "$EXPORT" "$dir/$a.pth" --arch "tv_$a" -o "$dir/$a.ours.onnx" >/dev/null 2>&1; t1=$(date +%s.%N)
    "$EXPORT" "$dir/$a.pth" --arch "tv_$a" -o "$dir/$a.ours.onnx" --no-validate >/dev/null 2>&1; t2=$(date +%s.%N)
    peer=$(python bench/pretrained_peer.py export "$a" "$dir/$a.pth" "$dir/$a.torch.onnx" 2>/dev/null)
    read -r v nv call proc < <(python -c "import json,sys; p=json.loads(sys.argv[5]); print(min(float(sys.argv[1]), float(sys.argv[6]) - float(sys.argv[7])), min(float(sys.argv[2]), float(sys.argv[8]) - float(sys.argv[6])), min(float(sys.argv[3]), p['call']), min(float(sys.argv[4]), p['process']))" "$v" "$nv" "$call" "$proc" "$peer" "$t1" "$t0" "$t2")
  done
  lat=$(python bench/pretrained_peer.py latency "$dir/$a.ours.onnx" "$dir/$a.torch.onnx")
  python - "$a" "$v" "$nv" "$proc" "$call" "$lat" <<'PY'
import json, sys
a, v, nv, proc, call, lat = sys.argv[1], *map(float, sys.argv[2:6]), json.loads(sys.argv[6])
b1, b64 = lat["1"], lat["64"]
print(f"| {a} | {v:.2f} | {nv:.2f} | {proc:.2f} | {call:.2f} | {proc / v:.1f}x / {proc / nv:.1f}x | {call / nv:.2f}x | {b1[0]:.0f} / {b1[1]:.0f} ({b1[0] / b1[1]:.2f}) | {b64[0]:.0f} / {b64[1]:.0f} ({b64[0] / b64[1]:.2f}) |")
PY
done
