#!/usr/bin/env bash
# Large photos through cnnzoo-infer next to the plain Python pipeline
# (bench/photo_peer.py: PIL open -> convert -> resize BILINEAR -> numpy ->
# onnxruntime), whole process, best of 3, for ResNet-18 and LeNet; and
# Backbone::embed on the same files next to the CLI. Markdown out.
# The folder (bench/photos.py: 16 JPEGs of 4000x3000 at quality 90, 4 PNGs of
# 2000x1500) is cached in $CNNZOO_CACHE/bench-photos. The models are trained
# for one short epoch: speed does not depend on the weights.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --workspace --bins --examples --quiet
bin=$CARGO_TARGET_DIR/release
data=$(cnnzoo_data release)
photos=$CNNZOO_CACHE/bench-photos
[ -f "$photos/.done" ] || { rm -rf "$photos"; python bench/photos.py "$photos"; touch "$photos/.done"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
best() { python -c "import json,sys; r=[json.loads(l) for l in sys.stdin]; assert all(x['rc'] == 0 for x in r), r; print(min(x['seconds'] for x in r), max(x['peak_mb'] for x in r))"; }
ratio() { python -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }

n=$(find "$photos" -type f \( -name '*.jpg' -o -name '*.png' \) | wc -l)
echo "Folder: $n files ($(du -sh "$photos" | cut -f1)), CPU, $(nproc) cores. Times: whole process, best of 3; memory: peak RSS."
echo
echo "| model | cnnzoo-infer (s) | Python pipeline (s) | speed-up | cnnzoo peak (MB) | Python peak (MB) | memory ratio | CLI images/s | Backbone::embed images/s | embed / CLI |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for arch in resnet18 lenet; do
  "$bin/cnnzoo-train" --arch "$arch" --epochs 1 --train-limit 512 --test-limit 256 --data "$data" -o "$work/$arch" -q >/dev/null 2>&1
  "$bin/cnnzoo-export" "$work/$arch.ot" >/dev/null
  model=$work/$arch.onnx
  read -r os om < <(for _ in 1 2 3; do python bench/measure.py "$bin/cnnzoo-infer" --model "$model" --device cpu --top-k 1 "$photos"; done | best)
  read -r ps pm < <(for _ in 1 2 3; do python bench/measure.py python bench/photo_peer.py "$model" "$photos"; done | best)
  cli=$(for _ in 1 2 3; do "$bin/cnnzoo-infer" --model "$model" --device cpu --top-k 1 "$photos" 2>&1 >/dev/null | sed -n 's/.*(\([0-9.]*\) images\/sec).*/\1/p'; done | sort -g | tail -1)
  emb=$(for _ in 1 2 3; do "$bin/examples/embed_files" "$model" "$photos" | python -c "import json,sys; print(json.load(sys.stdin)['images_per_sec'])"; done | sort -g | tail -1)
  printf "| %s | %.2f | %.2f | %sx | %.0f | %.0f | %s | %.1f | %.1f | %s |\n" "$arch" "$os" "$ps" "$(ratio "$ps" "$os")" "$om" "$pm" "$(ratio "$om" "$pm")" "$cli" "$emb" "$(ratio "$emb" "$cli")"
done
