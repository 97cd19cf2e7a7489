#!/usr/bin/env bash
# The main job end to end, on a default that works out of the box:
#   1. train LeNet on Fashion-MNIST with the seed recipe (10 epochs, ~2 min on 2 CPU cores;
#      CUDA is used when present) -> runs/lenet.{ot,json,svg}
#   2. export it to ONNX with our own exporter             -> runs/lenet.onnx
#   3. classify sample test images with ONNX Runtime, and evaluate on all 10,000
# and first links the four binaries into ~/.cargo/bin (scripts/install.sh), so
# that the README's commands work as written in a new shell.
# ARCH=resnet18 EPOCHS=2 bash scripts/demo.sh does the same with another network.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --workspace --bins --examples --quiet
bin=$CARGO_TARGET_DIR/release
bash scripts/install.sh "$bin"
arch=${ARCH:-lenet}
data=$(cnnzoo_data release)

"$bin/cnnzoo-train" --arch "$arch" --data "$data" ${EPOCHS:+--epochs "$EPOCHS"} --out "runs/$arch"
"$bin/cnnzoo-export" "runs/$arch.ot"
"$bin/examples/idx_to_png" "$data" runs/samples 8
"$bin/cnnzoo-infer" --backbone "$arch" --model-dir runs --top-k 3 runs/samples
"$bin/cnnzoo-infer" --backbone "$arch" --model-dir runs --eval "$data" | head -1
