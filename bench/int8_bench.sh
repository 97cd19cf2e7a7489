#!/usr/bin/env bash
# INT8 export, ours next to onnxruntime's quantize_static (bench/int8_peer.py:
# QDQ, per-channel weights, the same 256 calibration images), for every
# network: test accuracy of the fp32, our INT8 and the peer's INT8 file
# (cnnzoo-infer --eval on the 10,000 test images), and model-only
# throughput at batch 1 and 64 through cnnzoo-infer's library
# (`cnnzoo-infer --bench`): three rounds, each timing the three files one
# after the other for 3 s per batch size, and the best round of each file,
# so that a slow moment of a shared machine does not decide a ratio.
# Markdown out.
#
#   bash bench/int8_bench.sh [CHECKPOINT_DIR] [ARCHS]
#
# CHECKPOINT_DIR holds ARCH.ot (default: $CNNZOO_CACHE/seed-table, which
# bench/seed_table.sh fills); a missing checkpoint is trained for one epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --workspace --bins --quiet
bin=$CARGO_TARGET_DIR/release
data=$(cnnzoo_data release)
ckpts=${1:-$CNNZOO_CACHE/seed-table}
archs=${2:-lenet alexnet nin googlenet resnet18 densenet}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
field() { python -c "import json,sys; d=json.loads(sys.argv[1]); [d := d[k] for k in sys.argv[2:]]; print(d)" "$@"; }
ratio() { python -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
acc() { field "$("$bin/cnnzoo-infer" --model "$1" --eval "$data" --device cpu --json)" accuracy; }
# Images/s at batch 1 and 64 of model $1, as "b1 b64".
speed() {
  "$bin/cnnzoo-infer" --model "$1" --bench --batch-size 1,64 --duration 3 --warmup 2 --device cpu --json |
    python -c "import json,sys; print(*(r['images_per_sec'] for r in json.load(sys.stdin)['results']))"
}

echo "CPU ($(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores). Checkpoints: $ckpts. Calibration: 256 training images for both."
echo
echo "| net | test acc fp32 / ours / onnxruntime | batch 1 images/s fp32 / ours / onnxruntime | batch 64 images/s fp32 / ours / onnxruntime | ours / fp32 (b1, b64) | ours / onnxruntime (b1, b64) |"
echo "| --- | --- | --- | --- | --- | --- |"
for arch in $archs; do
  ot=$ckpts/$arch.ot
  if [ ! -f "$ot" ]; then
    "$bin/cnnzoo-train" --arch "$arch" --epochs 1 --data "$data" -o "$work/$arch" -q >/dev/null 2>&1
    ot=$work/$arch.ot
  fi
  "$bin/cnnzoo-export" "$ot" -o "$work/$arch.onnx" >/dev/null
  "$bin/cnnzoo-export" "$ot" --int8 --calibrate "$data" --force -o "$work/$arch.ours.onnx" --json > "$work/$arch.ours.json"
  python bench/int8_peer.py "$work/$arch.onnx" "$data" "$work/$arch.peer.onnx" 256 2>/dev/null
  fa=$(field "$(cat "$work/$arch.ours.json")" quantization fp32_test_acc)
  oa=$(field "$(cat "$work/$arch.ours.json")" quantization int8_test_acc)
  pa=$(acc "$work/$arch.peer.onnx")
  declare -A s=()
  for round in 1 2 3; do
    for v in onnx ours.onnx peer.onnx; do
      read -r b1 b64 <<< "$(speed "$work/$arch.$v")"
      s[$v,1]=$(python -c "print(max(float('$b1'), float('${s[$v,1]:-0}')))")
      s[$v,64]=$(python -c "print(max(float('$b64'), float('${s[$v,64]:-0}')))")
    done
  done
  printf "| %s | %.4f / %.4f / %.4f | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %s, %s | %s, %s |\n" "$arch" "$fa" "$oa" "$pa" \
    "${s[onnx,1]}" "${s[ours.onnx,1]}" "${s[peer.onnx,1]}" "${s[onnx,64]}" "${s[ours.onnx,64]}" "${s[peer.onnx,64]}" \
    "$(ratio "${s[ours.onnx,1]}" "${s[onnx,1]}")" "$(ratio "${s[ours.onnx,64]}" "${s[onnx,64]}")" \
    "$(ratio "${s[ours.onnx,1]}" "${s[peer.onnx,1]}")" "$(ratio "${s[ours.onnx,64]}" "${s[peer.onnx,64]}")"
done
