#!/usr/bin/env bash
# How good the d2l networks' features are: each of the six, trained with its
# d2l recipe for EPOCHS epochs on the first LIMIT Fashion-MNIST training
# images (bench/seed_table.sh's checkpoints), exported, and probed with
# `cnnzoo-infer --probe` on a folder of Fashion-MNIST: the first PER_CLASS
# training images of each class to fit on, the first PER_CLASS test images
# of each class to score. Markdown out.
#
#   bash bench/probe_table.sh [EPOCHS] [LIMIT] [PER_CLASS]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1} limit=${2:-60000} per_class=${3:-200}
source bench/setup.sh
python bench/transfer_data.py "$data" "$work/probe" "$per_class" "$per_class"
started=$(date +%s)
bash bench/seed_table.sh --epochs "$epochs" --train-limit "$limit" > "$work/seed.md"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores. Each network: $epochs epoch(s) of its d2l recipe on the first $limit training images; probed on $per_class training and $per_class test images per class."
echo
echo "| net | test acc of its own head (10,000 images) | k-NN probe (k = 20) | linear probe | feature width |"
echo "| --- | --- | --- | --- | --- |"
for arch in lenet alexnet nin googlenet resnet18 densenet; do
  onnx=$CNNZOO_CACHE/seed-table/$arch.onnx
  "$bin/cnnzoo-infer" --model "$onnx" --device cpu --probe "$work/probe" --json > "$work/$arch.probe.json"
  python - "$arch" "$CNNZOO_CACHE/seed-table/$arch.eval.json" "$work/$arch.probe.json" <<'PY'
import json, sys
arch, ev, p = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
print(f"| {arch} | {ev['accuracy']:.3f} | {p['knn_accuracy']:.3f} | {p['linear_accuracy']:.3f} | {p.get('feature_dim', '')} |")
PY
done
echo
echo "Total $(( $(date +%s) - started )) s."
