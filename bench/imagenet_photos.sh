#!/usr/bin/env bash
# Large photos through an ImageNet classifier: cnnzoo-infer with the card of
# torchvision's weights (shorter side 256, crop 224, antialiased, rounded to
# 8 bits, ImageNet mean/std) next to the torchvision pipeline a user writes
# (bench/imagenet_photo_peer.py: PIL, weights.transforms(), onnxruntime), on
# the same ONNX file (a seeded tv_resnet18 .pth exported by cnnzoo-export).
# Whole process, best of 3, wall time and peak RSS; and how many top-1
# classes the two agree on. The folder is bench/photos.py's (16 JPEGs of
# 4000x3000, 4 PNGs of 2000x1500), cached in $CNNZOO_CACHE/bench-photos.
#   bash bench/imagenet_photos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --quiet -p cnnzoo-export-cli -p cnnzoo-infer
bin=$CARGO_TARGET_DIR/release
photos=$CNNZOO_CACHE/bench-photos
[ -f "$photos/.done" ] || { rm -rf "$photos"; python bench/photos.py "$photos"; touch "$photos/.done"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python tests/python/torchvision_zoo.py make "$work" 224 resnet18 >/dev/null
"$bin/cnnzoo-export" "$work/resnet18.pth" --arch tv_resnet18 -o "$work/resnet18.onnx" >/dev/null 2>&1
model=$work/resnet18.onnx
best() { python -c "import json,sys; r=[json.loads(l) for l in sys.stdin]; assert all(x['rc'] == 0 for x in r), r; print(min(x['seconds'] for x in r), max(x['peak_mb'] for x in r))"; }
ratio() { python -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
read -r os om < <(for _ in 1 2 3; do python bench/measure.py "$bin/cnnzoo-infer" --model "$model" --device cpu --top-k 1 "$photos"; done | best)
read -r ps pm < <(for _ in 1 2 3; do python bench/measure.py python bench/imagenet_photo_peer.py "$model" "$photos"; done | best)
"$bin/cnnzoo-infer" --model "$model" --device cpu --top-k 1 --json "$photos" | python -c "import json,sys; [print(r['path'] + ': ' + str(r['top'][0]['class'])) for r in map(json.loads, sys.stdin)]" >"$work/ours.txt"
python bench/imagenet_photo_peer.py "$model" "$photos" 2>/dev/null >"$work/theirs.txt"
agree=$(paste -d' ' "$work/ours.txt" "$work/theirs.txt" | awk '$2 == $4' | wc -l)
n=$(wc -l <"$work/ours.txt")
echo "Folder: $n files ($(du -sh "$photos" | cut -f1)), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')."
echo
echo "| model | cnnzoo-infer (s) | torchvision pipeline (s) | speed-up | cnnzoo peak (MB) | Python peak (MB) | memory ratio | top-1 agree |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf "| tv_resnet18, 256/224 | %.2f | %.2f | %sx | %.0f | %.0f | %s | %s of %s |\n" "$os" "$ps" "$(ratio "$ps" "$os")" "$om" "$pm" "$(ratio "$om" "$pm")" "$agree" "$n"
