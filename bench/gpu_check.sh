#!/usr/bin/env bash
# One prepared check for a machine with an NVIDIA GPU: is every CUDA path live?
# For each of the six networks it trains STEPS SGD steps at the recipe's batch
# on libtorch CUDA, exports the checkpoint to ONNX, and evaluates the ONNX file
# through ONNX Runtime's CUDA provider, printing examples/s and the provider
# that ran, then times training per precision and layout (--bench). It ends
# with markdown tables for docs/BENCHMARKS.md.
#
#   bash bench/gpu_check.sh [STEPS]          # default 200 steps per network
#
# Binaries: $BIN (a folder with cnnzoo-train, cnnzoo-export, cnnzoo-infer),
# else the set-up's release build (scripts/env.sh builds it). Data: by the
# set-up's rule ($CNNZOO_DATA, ../shared/data/fashion-mnist, the cache).
# Each step has a time limit; a failed step is reported and the rest go on.
# DEVICE=cpu ARCHS="lenet" bash bench/gpu_check.sh 5 rehearses it without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
steps=${1:-200}
if [ -z "${BIN:-}" ]; then
  source scripts/env.sh
  set +e
  cargo build --release --quiet --workspace --bins
  BIN=$CARGO_TARGET_DIR/release
  data=$(cnnzoo_data release)
else
  data=${CNNZOO_DATA:-../shared/data/fashion-mnist}
fi
out=${OUT:-$(mktemp -d)}
limit=${STEP_TIMEOUT:-300}
device=${DEVICE:-cuda}
archs=${ARCHS:-}

echo "== machine"
nvidia-smi -L 2>&1 || echo "nvidia-smi: not available"
"$BIN/cnnzoo-train" --version
"$BIN/cnnzoo-infer" --version

rows=()
json_field() { python3 -c "import json,sys; v=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)" 2>/dev/null; }
while read -r arch _size _px _b batch _rest; do
  [ -z "$archs" ] || [[ " $archs " == *" $arch "* ]] || continue
  echo "== $arch: $steps steps at batch $batch on $device"
  train=$(timeout "$limit" "$BIN/cnnzoo-train" --arch "$arch" --device "$device" --data "$data" --epochs 1 \
    --train-limit $((steps * batch)) --test-limit 2000 --quiet --json -o "$out/$arch")
  if [ $? -ne 0 ]; then rows+=("| $arch | training failed | | | |"); continue; fi
  train_eps=$(echo "$train" | json_field 'round(v["metrics"][-1]["examples_per_sec"], 1)')
  train_acc=$(echo "$train" | json_field 'round(v["metrics"][-1]["test_acc"], 3)')
  echo "trained: $train_eps examples/s on $device, test acc $train_acc (2000 examples)"
  if ! timeout "$limit" "$BIN/cnnzoo-export" "$out/$arch.ot"; then rows+=("| $arch | $train_eps | export failed | | |"); continue; fi
  eval=$(timeout "$limit" "$BIN/cnnzoo-infer" --model "$out/$arch.onnx" --device "$device" --eval "$data" --json)
  if [ $? -ne 0 ]; then
    # Say why the device was refused, then measure the CPU for the record.
    timeout "$limit" "$BIN/cnnzoo-infer" --model "$out/$arch.onnx" --device "$device" --eval "$data" --json 2>&1 >/dev/null | head -1
    eval=$(timeout "$limit" "$BIN/cnnzoo-infer" --model "$out/$arch.onnx" --device cpu --eval "$data" --json)
  fi
  infer_ips=$(echo "$eval" | json_field 'round(v["images_per_sec"], 1)')
  infer_acc=$(echo "$eval" | json_field 'round(v["accuracy"], 3)')
  provider=$(echo "$eval" | json_field 'v["provider"]')
  echo "inferred: $infer_ips images/s on $provider, accuracy $infer_acc (10000 examples)"
  rows+=("| $arch | $train_eps | $train_acc | $infer_ips | $provider |")
done < <("$BIN/cnnzoo-train" --list)

echo
echo "| network | train examples/s ($device, $steps steps) | test acc (2000) | ONNX Runtime images/s (eval, 10000) | provider |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"

# Training speed per precision and layout (`cnnzoo-train --bench`), the
# figures the CPU table in docs/BENCHMARKS.md has, on this device.
echo
echo "| network | fp32 | fp32 CL | bf16 | bf16 CL | fp16 | fp16 CL | (examples/s, $device, 20 steps) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
while read -r arch _rest; do
  [ -z "$archs" ] || [[ " $archs " == *" $arch "* ]] || continue
  cells=()
  for p in fp32 bf16 fp16; do
    for m in contiguous channels-last; do
      r=$(timeout "$limit" "$BIN/cnnzoo-train" --arch "$arch" --bench 20 --precision $p --memory-format $m --device "$device" --json 2>/dev/null)
      cells+=("$(echo "$r" | json_field 'round(v["examples_per_sec"], 1)' || true)")
    done
  done
  echo "| $arch | $(IFS='|'; echo "${cells[*]}" | sed 's/|/ | /g') | |"
done < <("$BIN/cnnzoo-train" --list)
