#!/usr/bin/env bash
# The seed's table: trains every network with its recipe, exports it with our
# exporter, evaluates the ONNX file with `cnnzoo-infer --eval` on the 10,000
# test images, and prints test accuracy and training examples/s per network
# next to the seed's figures (10 epochs on a GTX 1080 Ti), as markdown.
#
#   bash bench/seed_table.sh [--epochs N] [--precision P] [--train-limit N] [--archs "lenet resnet18"]
#
# With fewer than 10 epochs the accuracies are not comparable to the seed's;
# the table says how many epochs it ran. Runs land in $CNNZOO_CACHE/seed-table.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=10 precision=auto limit="" archs="lenet alexnet nin googlenet resnet18 densenet" device=auto
while [ $# -gt 0 ]; do
  case $1 in
    --epochs) epochs=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --train-limit) limit=$2; shift 2 ;;
    --archs) archs=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    *) echo "seed_table.sh: unknown argument $1 (--epochs N, --precision P, --train-limit N, --archs LIST, --device D)" >&2; exit 2 ;;
  esac
done
source scripts/env.sh
cargo build --release --workspace --bins --quiet
bin=$CARGO_TARGET_DIR/release
data=$(cnnzoo_data release)
out=$CNNZOO_CACHE/seed-table
mkdir -p "$out"
declare -A seed=([lenet]="0.791 48381" [alexnet]="0.884 1503" [nin]="0.804 1374" [googlenet]="0.896 1669" [resnet18]="0.906 2215" [densenet]="0.910 2562")
echo "Epochs: $epochs${limit:+, first $limit training examples}; precision $precision; device $device; $(nproc) CPU cores."
echo
echo "| net | test acc (cnnzoo-infer --eval on the ONNX export) | test acc reported by training | examples/s | precision | seed test acc (10 epochs) | seed examples/s |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for arch in $archs; do
  "$bin/cnnzoo-train" --arch "$arch" --epochs "$epochs" --precision "$precision" --device "$device" --data "$data" \
    ${limit:+--train-limit "$limit"} -o "$out/$arch" -q --json > "$out/$arch.train.json" 2> "$out/$arch.train.log"
  "$bin/cnnzoo-export" "$out/$arch.ot" > /dev/null
  "$bin/cnnzoo-infer" --model "$out/$arch.onnx" --eval "$data" --json > "$out/$arch.eval.json"
  read -r s_acc s_eps <<< "${seed[$arch]}"
  python - "$out/$arch.train.json" "$out/$arch.eval.json" "$out/$arch.json" "$arch" "$s_acc" "$s_eps" <<'PY'
import json, sys
train, ev, manifest = (json.load(open(p)) for p in sys.argv[1:4])
arch, s_acc, s_eps = sys.argv[4:7]
m = train["metrics"]
eps = sum(x["examples_per_sec"] * x["seconds"] for x in m) / sum(x["seconds"] for x in m)
prec = manifest["hyperparameters"].get("precision", "fp32")
print(f"| {arch} | {ev['accuracy']:.4f} | {m[-1]['test_acc']:.4f} | {eps:.1f} | {prec} | {s_acc} | {s_eps} |")
PY
done
