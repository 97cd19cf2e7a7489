#!/usr/bin/env bash
# cnnzoo-infer next to onnxruntime's Python API (PIL/numpy preprocessing) and
# PyTorch eager on the same model: model-only throughput at batch 1 and 64,
# end to end on 10,000 PNG files, cold start on one image, peak memory.
# MODEL defaults to runs/lenet.onnx (bash scripts/demo.sh writes it). Markdown out.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --workspace --bins --examples --quiet
bin=$CARGO_TARGET_DIR/release
model=${MODEL:-runs/lenet.onnx}
arch=${ARCH:-lenet}
data=${CNNZOO_DATA:-../shared/data/fashion-mnist}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
peer() { (cd bench && python infer_peer.py "$@"); }
field() { python -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
ratio() { python -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }

echo "Model: $model ($arch), CPU, $(nproc) cores."
echo
echo "| measure | cnnzoo | onnxruntime (Python) | PyTorch eager | cnnzoo / onnxruntime | cnnzoo / PyTorch |"
echo "| --- | --- | --- | --- | --- | --- |"
for b in 1 64; do
  runs=$(( b == 1 ? 5000 : 1000 ))
  o=$(field "$("$bin/examples/throughput" "$model" $b $runs)" images_per_sec)
  r=$(field "$(peer throughput ort "$PWD/$model" "$arch" $b $runs)" images_per_sec)
  t=$(field "$(peer throughput torch "$PWD/$model" "$arch" $b $runs)" images_per_sec)
  printf "| model only, batch %s (images/s) | %.0f | %.0f | %.0f | %s | %s |\n" $b "$o" "$r" "$t" "$(ratio "$o" "$r")" "$(ratio "$o" "$t")"
done

"$bin/examples/idx_to_png" "$data" "$work/pngs" 10000 2>/dev/null
o=$(python bench/measure.py "$bin/cnnzoo-infer" --model "$model" "$work/pngs" --top-k 1 --json --device cpu)
r=$(python bench/measure.py python bench/infer_peer.py e2e ort "$model" "$arch" "$work/pngs")
t=$(python bench/measure.py python bench/infer_peer.py e2e torch "$model" "$arch" "$work/pngs")
ips() { python -c "import json,sys; print(10000 / json.loads(sys.argv[1])['seconds'])" "$1"; }
printf "| 10,000 PNG files end to end (images/s) | %.0f | %.0f | %.0f | %s | %s |\n" "$(ips "$o")" "$(ips "$r")" "$(ips "$t")" "$(ratio "$(ips "$o")" "$(ips "$r")")" "$(ratio "$(ips "$o")" "$(ips "$t")")"
printf "| peak memory, 10,000 files (MB) | %.0f | %.0f | %.0f | %s | %s |\n" "$(field "$o" peak_mb)" "$(field "$r" peak_mb)" "$(field "$t" peak_mb)" "$(ratio "$(field "$o" peak_mb)" "$(field "$r" peak_mb)")" "$(ratio "$(field "$o" peak_mb)" "$(field "$t" peak_mb)")"

one=00000-sandal.png  # the first file idx_to_png writes
best() { python -c "import json,sys; r=[json.loads(l) for l in sys.stdin]; print(sorted(x['seconds'] for x in r)[len(r)//2], max(x['peak_mb'] for x in r))"; }
read -r oc om < <(for _ in 1 2 3 4 5; do python bench/measure.py "$bin/cnnzoo-infer" --model "$model" "$work/pngs/$one" --device cpu; done | best)
read -r rc rm < <(for _ in 1 2 3 4 5; do python bench/measure.py python bench/infer_peer.py one "$model" "$work/pngs/$one"; done | best)
printf "| cold start, one image (s, median of 5) | %.3f | %.3f | | %s | |\n" "$oc" "$rc" "$(ratio "$oc" "$rc")"
printf "| peak memory, one image (MB) | %.0f | %.0f | | %s | |\n" "$om" "$rm" "$(ratio "$om" "$rm")"
