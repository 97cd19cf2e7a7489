#!/usr/bin/env bash
# Fine-tuning speed next to PyTorch, in one run, on a folder of 224-px RGB
# photos (Fashion-MNIST's classes 5-9, upscaled and tinted: TRAIN and TEST
# images per class) with torchvision's ResNet-18, the same weights on both
# sides. The weights are pretrained here (no downloads): PRE_EPOCHS epochs
# (default 4) of cnnzoo-train on photos of classes 0-4 made the same way,
# kept in $CNNZOO_CACHE/finetune, written out by cnnzoo-export --state-dict.
# Pretrained features matter: a seeded network's are so badly conditioned
# that the tutorial's recipe on them ends anywhere from 0.51 to 0.81 by the
# head's seed alone, and no two runs can be compared for accuracy.
#
# 1. A frozen backbone with a new head, EPOCHS epochs, batch 32, SGD at lr
#    0.001 with momentum 0.9 following half a cosine to 0 over the steps (at
#    a constant rate the head's accuracy swings by ten points between epochs
#    on both sides), the test split scored after every epoch:
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
pre=$CNNZOO_CACHE/finetune/pre-${PRE_EPOCHS:-4}
if [ ! -f "$pre.safetensors" ]; then
  mkdir -p "$(dirname "$pre")"
  python bench/finetune_peer.py data "$data" "$work/pre-photos" 400 100 0-4
  "$bin/cnnzoo-train" --arch tv_resnet18 --data "$work/pre-photos" --device cpu --epochs "${PRE_EPOCHS:-4}" --batch-size 32 \
    --lr 0.01 --momentum 0.9 --weight-decay 0.0005 --lr-schedule cosine -q -o "$work/pre"
  echo "Pretrained on classes 0-4: test accuracy $(python -c "import json; print(json.load(open('$work/pre.json'))['metrics'][-1]['test_acc'])")"
  "$bin/cnnzoo-export" "$work/pre.ot" --state-dict "$work/pre.safetensors"
  mv "$work/pre.safetensors" "$pre.safetensors"
fi
cp "$pre.safetensors" "$work/resnet18.safetensors"
recipe=(--arch tv_resnet18 --init "$work/resnet18.safetensors" --data "$work/photos" --device cpu --batch-size 32 --lr 0.001 --momentum 0.9 -q)
field() { python -c "import json,sys; d=json.load(open('$1')); print(eval('d' + sys.argv[1]))" "$2"; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; torch $(python -c 'import torch; print(torch.__version__)'). $((per_train * 5)) training and $((per_test * 5)) test photos, 224 px."
parts=${PARTS:-frozen full} rounds=${ROUNDS:-2}
if [[ $parts == *frozen* ]]; then
echo
echo "Frozen backbone, new head, $epochs epochs:"
echo
echo "| run | seconds | test accuracy | ratio to PyTorch |"
echo "| --- | --- | --- | --- |"
python bench/finetune_peer.py frozen "$work/photos" "$work/resnet18.safetensors" "$epochs" 32 > "$work/peer.json"
peer_s=$(field "$work/peer.json" "['seconds']")
printf '| PyTorch tutorial loop (fp32) | %.1f | %.4f | 1.00 |\n' "$peer_s" "$(field "$work/peer.json" "['accuracy']")"
for precision in fp32 auto; do
  t0=$(date +%s.%N)
  "$bin/cnnzoo-train" "${recipe[@]}" --freeze backbone --lr-schedule cosine --epochs "$epochs" --precision "$precision" -o "$work/frozen-$precision" > /dev/null 2>&1
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
    python bench/finetune_peer.py full "$work/photos" "$work/resnet18.safetensors" 32 "$limit" "$precision" 2 > "$work/full-peer.json"
    "$bin/cnnzoo-train" "${recipe[@]}" --freeze none --epochs 2 --train-limit "$limit" --test-limit 32 --precision "$precision" --memory-format "$layout" -o "$work/full-$precision" > /dev/null 2>&1
    p=$(python -c "print(max($p, $(field "$work/full-peer.json" "['examples_per_sec']")))")
    c=$(python -c "print(max($c, $(field "$work/full-$precision.json" "['metrics'][-1]['examples_per_sec']")))")
    rm -f "$work/full-$precision".*
  done
  printf '| %s | %.1f | %.1f | %.2fx |\n' "$precision" "$p" "$c" "$(python -c "print($c / $p)")"
done
fi
