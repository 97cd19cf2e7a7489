# Sourced by the benchmarks after their arguments: the set-up's environment,
# release binaries built, and
#   bin   the folder of cnnzoo's release binaries
#   data  Fashion-MNIST, by the tests' rule
#   work  a scratch folder, removed when the benchmark exits
source scripts/env.sh
cargo build --release --workspace --bins --quiet
bin=$CARGO_TARGET_DIR/release
data=$(cnnzoo_data release)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# serve_start SERVER [FLAGS]: runs a cnnzoo-serve binary on $work/models
# with FLAGS (ports 0 pick free ones) until it says where it listens; sets
# $server (its pid), $http and $grpc. serve_stop ends it.
serve_start() {
  local exe=$1; shift
  "$exe" --model-dir "$work/models" --device cpu "$@" 2> "$work/serve.log" &
  server=$!
  for _ in $(seq 600); do
    http=$(sed -n 's/.*HTTP on http:\/\/\([0-9.:]*\).*/\1/p' "$work/serve.log")
    grpc=$(sed -n 's/.*gRPC on \([0-9.:]*\).*/\1/p' "$work/serve.log")
    [ -n "$grpc" ] && return
    sleep 0.1
  done
  cat "$work/serve.log" >&2
  exit 1
}
serve_stop() { kill -TERM "$server"; wait "$server" || true; server=; }

# openvino_models ARCH: $work/ARCH.onnx and $work/ARCH.int8.onnx, the files
# the OpenVINO benchmarks compare on. The checkpoint is trained once and
# kept, with its INT8 export, in $CNNZOO_CACHE/openvino-bench: one epoch of
# AdamW (lr 0.001, batch 64) on the first 12,000 training images, which takes
# each network past chance (d2l's one-epoch SGD at batch 128-256 leaves
# GoogLeNet and DenseNet at chance, where an accuracy comparison says nothing).
openvino_models() {
  local arch=$1 kept=$CNNZOO_CACHE/openvino-bench
  mkdir -p "$kept"
  if [ ! -f "$kept/$arch.ot" ]; then
    "$bin/cnnzoo-train" --arch "$arch" --data "$data" --epochs 1 --train-limit 12000 --batch-size 64 --optimizer adamw --lr 0.001 -q -o "$kept/$arch" > /dev/null
  fi
  "$bin/cnnzoo-export" "$kept/$arch.ot" -o "$work/$arch.onnx" > /dev/null
  if [ ! -f "$kept/$arch.int8.onnx" ]; then
    "$bin/cnnzoo-export" "$kept/$arch.ot" --int8 --calibrate "$data" -o "$kept/$arch.int8.onnx" --force > /dev/null
  fi
  cp "$kept/$arch.int8.onnx" "$work/$arch.int8.onnx"
}
