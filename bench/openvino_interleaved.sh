#!/usr/bin/env bash
# cnnzoo-infer on ONNX Runtime's OpenVINO provider against OpenVINO's own
# runtime, the two interleaved round by round (bench/openvino_interleaved.py):
# each network of bench/openvino_table.sh, its fp32 and INT8 exports, at
# batch 1 and 64. Each side's figure is its best over configurations (1 or
# one-per-core streams for cnnzoo; fp32 or bf16 precision under the LATENCY
# or THROUGHPUT hint for OpenVINO), files and rounds; beside it, the median
# over rounds of the ratio within a round, on the file where cnnzoo is best.
#
#   ROUNDS=6 bash bench/openvino_interleaved.sh [SECONDS]   (ARCHS, BATCHES)
#
# Reuses the checkpoints and INT8 exports bench/openvino_table.sh keeps in
# $CNNZOO_CACHE/openvino-bench (and trains them the same way if absent).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-2}
source bench/setup.sh
python -c 'import openvino' 2>/dev/null || python -m pip install --quiet openvino==2026.4.1
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OpenVINO $(python -c 'import openvino; print(openvino.__version__.split("-")[0])') (Python); ${ROUNDS:-6} interleaved rounds of ${seconds} s per configuration."
echo
echo "| net, batch | cnnzoo best, images/s | OpenVINO best, images/s | best / best | median of per-round ratios |"
echo "| --- | --- | --- | --- | --- |"
for arch in ${ARCHS:-resnet18 densenet googlenet}; do
  openvino_models "$arch"
  for batch in ${BATCHES:-1 64}; do
    for ext in onnx int8.onnx; do
      python bench/openvino_interleaved.py "$bin/cnnzoo-infer" "$work/$arch.$ext" "$batch" "${ROUNDS:-6}" "$seconds" > "$work/$arch.$batch.$ext.json"
    done
    python - "$work" "$arch" "$batch" <<'PY'
import json, sys
work, arch, batch = sys.argv[1], sys.argv[2], sys.argv[3]
runs = [json.load(open(f"{work}/{arch}.{batch}.{ext}.json")) for ext in ("onnx", "int8.onnx")]
ours = max(r["cnnzoo_best"] for r in runs)
peer = max(r["openvino_best"] for r in runs)
mine = max(runs, key=lambda r: r["cnnzoo_best"])
print(f"| {arch}, {batch} | {ours:.0f} ({mine['model']}) | {peer:.0f} | **{ours / peer:.2f}** | {mine['median_round_ratio']:.2f} |")
PY
  done
done
