#!/usr/bin/env bash
# The transfer table, on Fashion-MNIST alone: a torchvision-layout ResNet-18
# (1 channel, 32 px) pretrained on classes 0-4, then trained on classes 5-9
# with 20 and with 100 labelled images per class and tested on all their
# test images: (a) the same network from scratch, (b) the pretrained
# backbone frozen with a new head, (c) fine-tuned with --backbone-lr-scale
# 0.1, and the k-NN and linear-probe accuracies of the pretrained features
# (cnnzoo-infer --probe). Every few-shot run has the same recipe (SGD,
# momentum 0.9, weight decay 5e-4, cosine schedule, batch 32, no
# augmentation) for EPOCHS epochs, except (b), whose head trains on cached
# features for HEAD_EPOCHS epochs (an epoch of it costs milliseconds).
# Markdown out.
#
#   bash bench/transfer_table.sh [PRETRAIN_EPOCHS] [EPOCHS] [HEAD_EPOCHS]
#
# PRE_AUGMENT (environment: none, flip or standard; default standard)
# augments the pretraining.
# The pretrained checkpoint is kept in $CNNZOO_CACHE/transfer (one per epoch
# count and augmentation) and reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
pre_epochs=${1:-10} epochs=${2:-30} head_epochs=${3:-200}
source bench/setup.sh
python bench/transfer_data.py "$data" "$work"
recipe=(--arch tv_resnet18 --in-chans 1 --size 32 --device cpu -q --momentum 0.9 --weight-decay 0.0005 --lr-schedule cosine)
started=$(date +%s)
pre=$CNNZOO_CACHE/transfer/pre-$pre_epochs-${PRE_AUGMENT:-standard}
if [ ! -f "$pre.onnx" ]; then
  mkdir -p "$(dirname "$pre")"
  "$bin/cnnzoo-train" "${recipe[@]}" --data "$work/pre" --epochs "$pre_epochs" --batch-size 128 --lr 0.05 --augment "${PRE_AUGMENT:-standard}" -o "$pre" >/dev/null
  "$bin/cnnzoo-export" "$pre.ot" -o "$pre.onnx" >/dev/null
fi
pre_acc=$(python -c "import json; print(json.load(open('$pre.json'))['metrics'][-1]['test_acc'])")
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores. Pretraining on classes 0-4: $pre_epochs epochs, augmentation ${PRE_AUGMENT:-standard}, test accuracy $pre_acc."
echo
echo "| labelled images per class | (a) from scratch | (b) frozen backbone, new head | (c) fine-tuned, backbone at 0.1x | k-NN probe | linear probe |"
echo "| --- | --- | --- | --- | --- | --- |"
last() { python -c "import json; print(json.load(open('$1'))['metrics'][-1]['test_acc'])"; }
for n in 20 100; do
  few=(--data "$work/few$n" --batch-size 32 --lr 0.05)
  "$bin/cnnzoo-train" "${recipe[@]}" "${few[@]}" --epochs "$epochs" -o "$work/runs/scratch$n" >/dev/null
  "$bin/cnnzoo-train" "${recipe[@]}" "${few[@]}" --epochs "$head_epochs" --init "$pre.ot" --freeze backbone -o "$work/runs/frozen$n" >/dev/null 2>&1
  "$bin/cnnzoo-train" "${recipe[@]}" "${few[@]}" --epochs "$epochs" --init "$pre.ot" --backbone-lr-scale 0.1 -o "$work/runs/tuned$n" >/dev/null 2>&1
  probe=$("$bin/cnnzoo-infer" --model "$pre.onnx" --device cpu --probe "$work/few$n" --json)
  python - "$n" "$(last "$work/runs/scratch$n.json")" "$(last "$work/runs/frozen$n.json")" "$(last "$work/runs/tuned$n.json")" "$probe" <<'PY'
import json, sys
n, a, b, c = sys.argv[1], *map(float, sys.argv[2:5])
p = json.loads(sys.argv[5])
print(f"| {n} | {a:.3f} | {b:.3f} ({b - a:+.3f}) | {c:.3f} ({c - a:+.3f}) | {p['knn_accuracy']:.3f} | {p['linear_accuracy']:.3f} |")
PY
done
echo
echo "Total $(( $(date +%s) - started )) s."
