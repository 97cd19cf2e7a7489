#!/usr/bin/env bash
# Inference at the CPU ceiling, in one run: cnnzoo-infer on ONNX Runtime's
# CPU provider and on its OpenVINO provider (`--device openvino`, bf16 where
# the CPU has it), against OpenVINO's own runtime (bench/openvino_peer.py:
# fp32 and bf16 inference precision, under the LATENCY hint, one synchronous
# request at a time as cnnzoo-infer --bench runs, and the THROUGHPUT hint,
# asynchronous requests on every stream), on the same files: each network's fp32 export and its
# INT8 export (`cnnzoo-export --int8`). cnnzoo runs one request at a time
# on one session, and also with `--streams N` (N = the cores: one session
# per core, N requests in flight), its counterpart of the THROUGHPUT hint.
# Model-only images/s at batch 1 and 64,
# best of ROUNDS (default 2) interleaved rounds of SECONDS (default 3) each;
# then test accuracy on Fashion-MNIST of every cnnzoo path, and what
# `--device auto` picks.
#
#   bash bench/openvino_table.sh [SECONDS]      (ARCHS="resnet18 densenet googlenet")
#
# The checkpoints are trained here once and kept, with their INT8 exports
# (bench/setup.sh's openvino_models).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
source bench/setup.sh
python -c 'import openvino' 2>/dev/null || python -m pip install --quiet openvino==2026.4.1
ips() { python -c "import json,sys; d=json.load(open(sys.argv[1])); print({r['batch']: r['images_per_sec'] for r in d['results']}[int(sys.argv[2])])" "$1" "$2"; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OpenVINO $(python -c 'import openvino; print(openvino.__version__.split("-")[0])') (Python), onnxruntime-openvino 1.24.1 (cnnzoo); ${seconds} s per case, best of ${ROUNDS:-2} rounds."
echo
streams=$(nproc)
echo "| net, batch | cnnzoo CPU fp32 | cnnzoo CPU INT8 | cnnzoo OpenVINO (fp32 file) | cnnzoo OpenVINO (INT8 file) | cnnzoo OpenVINO, $streams streams (fp32 file) | cnnzoo OpenVINO, $streams streams (INT8 file) | OpenVINO fp32 | OpenVINO bf16 | OpenVINO on the INT8 file | OpenVINO best, THROUGHPUT hint | cnnzoo one stream / OpenVINO LATENCY | cnnzoo best / OpenVINO best (either hint) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
acc_rows=()
for arch in ${ARCHS:-resnet18 densenet googlenet}; do
  openvino_models "$arch"
  for round in $(seq "${ROUNDS:-2}"); do
    for run in cpu-fp32:cpu:onnx:1 cpu-int8:cpu:int8.onnx:1 ov-fp32:openvino:onnx:1 ov-int8:openvino:int8.onnx:1 ov-fp32-s:openvino:onnx:$streams ov-int8-s:openvino:int8.onnx:$streams; do
      IFS=: read -r name device ext n <<< "$run"
      "$bin/cnnzoo-infer" --model "$work/$arch.$ext" --device "$device" --streams "$n" --bench --batch-size 1,64 --duration "$seconds" --json > "$work/$arch.$name.$round.json"
    done
    python bench/openvino_peer.py "$work/$arch.onnx" 1,64 "$seconds" > "$work/$arch.peer.$round.json"
    python bench/openvino_peer.py "$work/$arch.int8.onnx" 1,64 "$seconds" > "$work/$arch.peer8.$round.json"
  done
  for batch in 1 64; do
    python - "$work" "$arch" "$batch" "${ROUNDS:-2}" <<'PY'
import json, sys
work, arch, batch, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def ours(name):
    return max({r["batch"]: r["images_per_sec"] for r in json.load(open(f"{work}/{arch}.{name}.{k}.json"))["results"]}[batch] for k in range(1, rounds + 1))
def peer(kind, precision, hint="LATENCY"):
    return max(json.load(open(f"{work}/{arch}.{kind}.{k}.json"))["results"][f"{precision}-{hint}-{batch}"] for k in range(1, rounds + 1))
c = [ours("cpu-fp32"), ours("cpu-int8"), ours("ov-fp32"), ours("ov-int8")]
s = [ours("ov-fp32-s"), ours("ov-int8-s")]
p = [peer("peer", "f32"), peer("peer", "bf16"), max(peer("peer8", "f32"), peer("peer8", "bf16"))]
t = max(peer(kind, precision, "THROUGHPUT") for kind in ("peer", "peer8") for precision in ("f32", "bf16"))
cells = " | ".join(f"{v:.0f}" for v in c + s + p + [t])
print(f"| {arch}, {batch} | {cells} | {max(c) / max(p):.2f} | {max(c + s) / max(p + [t]):.2f} |")
PY
  done
  row="| $arch"
  for run in cpu:onnx openvino:onnx cpu:int8.onnx openvino:int8.onnx; do
    IFS=: read -r device ext <<< "$run"
    a=$("$bin/cnnzoo-infer" --model "$work/$arch.$ext" --device "$device" --eval "$data" --json | python -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
    row="$row | $(printf '%.4f' "$a")"
  done
  auto=$("$bin/cnnzoo-infer" --model "$work/$arch.onnx" --bench --batch-size 64 --runs 1 --json | python -c 'import json,sys; d=json.load(sys.stdin); print(d["provider"] + (": " + d["provider_choice"] if d.get("provider_choice") else ""))')
  acc_rows+=("$row | $auto |")
done
echo
echo "| net | accuracy, CPU fp32 | OpenVINO (fp32 file) | CPU INT8 | OpenVINO (INT8 file) | --device auto picks |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${acc_rows[@]}"
