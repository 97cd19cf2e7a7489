#!/usr/bin/env bash
# Fine-tuning speed next to PyTorch, in one run, on a folder of 224-px RGB
# photos (Fashion-MNIST's classes 5-9, upscaled and tinted: TRAIN and TEST
# images per class) with torchvision's ResNet-18 (seeded, the same .pth on
# both sides):
#
# 1. A frozen backbone with a new head, EPOCHS epochs, batch 32, SGD at lr
#    0.001 with momentum 0.9, the test split scored after every epoch:
#    cnnzoo-train --freeze backbone (features computed once, cached), timed
#    as a whole process, against the PyTorch tutorial's loop
#    (bench/finetune_peer.py frozen), timed from reading the weights.
# 2. Full fine-tuning (--freeze none, batch norm training), two epochs on
#    the first LIMIT training images, examples/s of the second epoch's steps
#    (warm: the first step builds every kernel), in fp32 and in bf16 with
#    channels-last on both sides; the best of ROUNDS interleaved rounds
#    (default 2).
#
#   bash bench/finetune_speed.sh [TRAIN] [TEST] [EPOCHS] [LIMIT]
#
# PARTS (environment: "frozen full" by default) runs one part alone.
set -euo pipefail
cd "$(dirname "$0")/.."
per_train=${1:-400} per_test=${2:-100} epochs=${3:-10} limit=${4:-256}
source bench/setup.sh
python bench/finetune_peer.py data "$data" "$work/photos" "$per_train" "$per_test"
python bench/finetune_peer.py weights "$work/resnet18.pth"
recipe=(--arch tv_resnet18 --init "$work/resnet18.pth" --data "$work/photos" --device cpu --batch-size 32 --lr 0.001 --momentum 0.9 -q)
field() { python -c "import json,sys; d=json.load(open('$1')); print(eval('d' + sys.argv[1]))" "$2"; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; torch $(python -c 'import torch; print(torch.__version__)'). $((per_train * 5)) training and $((per_test * 5)) test photos, 224 px."
parts=${PARTS:-frozen full} rounds=${ROUNDS:-2}
if [[ $parts == *frozen* ]]; then
echo
echo "Frozen backbone, new head, $epochs epochs:"
echo
echo "| run | seconds | test accuracy | ratio to PyTorch |"
echo "| --- | --- | --- | --- |"
python bench/finetune_peer.py frozen "$work/photos" "$work/resnet18.pth" "$epochs" 32 > "$work/peer.json"
peer_s=$(field "$work/peer.json" "['seconds']")
printf '| PyTorch tutorial loop (fp32) | %.1f | %.4f | 1.00 |\n' "$peer_s" "$(field "$work/peer.json" "['accuracy']")"
for precision in fp32 auto; do
  t0=$(date +%s.%N)
  "$bin/cnnzoo-train" "${recipe[@]}" --freeze backbone --epochs "$epochs" --precision "$precision" -o "$work/frozen-$precision" > /dev/null 2>&1
  t1=$(date +%s.%N)
  s=$(python -c "print($t1 - $t0)")
  used=$(field "$work/frozen-$precision.json" "['hyperparameters']['precision']")
  printf '| cnnzoo-train --freeze backbone (--precision %s: %s) | %.1f | %.4f | %.1fx |\n' "$precision" "$used" "$s" \
    "$(field "$work/frozen-$precision.json" "['metrics'][-1]['test_acc']")" "$(python -c "print($peer_s / $s)")"
done
fi
if [[ $parts == *full* ]]; then
echo
echo "Full fine-tuning on $limit images, examples/s of the second epoch's steps (best of $rounds interleaved rounds):"
echo
echo "| precision | PyTorch eager | cnnzoo-train --freeze none | ratio |"
echo "| --- | --- | --- | --- |"
for precision in fp32 bf16; do
  layout=contiguous
  [ "$precision" = bf16 ] && layout=channels-last
  p=0 c=0
  for _ in $(seq "$rounds"); do
    python bench/finetune_peer.py full "$work/photos" "$work/resnet18.pth" 32 "$limit" "$precision" 2 > "$work/full-peer.json"
    "$bin/cnnzoo-train" "${recipe[@]}" --freeze none --epochs 2 --train-limit "$limit" --test-limit 32 --precision "$precision" --memory-format "$layout" -o "$work/full-$precision" > /dev/null 2>&1
    p=$(python -c "print(max($p, $(field "$work/full-peer.json" "['examples_per_sec']")))")
    c=$(python -c "print(max($c, $(field "$work/full-$precision.json" "['metrics'][-1]['examples_per_sec']")))")
    rm -f "$work/full-$precision".*
  done
  printf '| %s | %.1f | %.1f | %.2fx |\n' "$precision" "$p" "$c" "$(python -c "print($c / $p)")"
done
fi
