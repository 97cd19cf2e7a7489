#!/usr/bin/env bash
# The main job end to end: train LeNet on Fashion-MNIST with the seed recipe
# (10 epochs, ~2 minutes on 2 CPU cores), writing runs/lenet.{ot,json,svg}.
# ARCH=resnet18 EPOCHS=2 bash scripts/demo.sh trains another network.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --workspace --quiet
bin=$CARGO_TARGET_DIR/release
arch=${ARCH:-lenet}
data=${CNNZOO_DATA:-../shared/data/fashion-mnist}
fetch=()
[ -f "$data/train-images-idx3-ubyte.gz" ] || { data=data/fashion-mnist; fetch=(--download); }
"$bin/cnnzoo-train" --arch "$arch" --data "$data" "${fetch[@]}" ${EPOCHS:+--epochs "$EPOCHS"} --out "runs/$arch"
