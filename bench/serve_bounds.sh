#!/usr/bin/env bash
# What the server's bounds cost and what they hold, next to the server
# before them (BEFORE, a commit; default cd3f8f7, the last one without
# them), both release builds, on the same machine in the same run:
#  1. throughput at 32 tritonclient clients (bench/serve_load.py, gRPC and
#     HTTP, LeNet and ResNet-18, one image per request, back to back),
#     ROUNDS interleaved rounds of SECONDS each, best round of each;
#  2. peak resident memory (VmHWM) under 6 concurrent requests each holding
#     one 1 MiB PNG that decodes to 1 GiB (11585 x 11585 RGBA, 16 bits),
#     and under 6 holding a 16384 x 16384 RGBA 8-bit one, with the answers.
#
#   bash bench/serve_bounds.sh [BEFORE] [SECONDS] [ROUNDS]
#
# MODELS and PROTOCOLS (environment) narrow the throughput table; BOMBS=0
# skips the memory table.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:-cd3f8f7} seconds=${2:-6} rounds=${3:-3}
source scripts/env.sh
set +e
cargo build --release --workspace --bins --quiet || exit 1
set -e
bin=$CARGO_TARGET_DIR/release
data=$(cnnzoo_data release)
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; git worktree remove --force "$work/before" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# The server before the bounds, built in its own target folder (sharing one
# between two checkouts of the same packages mixes their builds).
git worktree add -q --detach "$work/before" "$before"
(cd "$work/before" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR/../before-target" cargo build --release -p cnnzoo-serve --quiet)
old="$CARGO_TARGET_DIR/../before-target/release/cnnzoo-serve"
mkdir -p "$work/models"
for arch in ${MODELS:-lenet resnet18}; do
  "$bin/cnnzoo-train" --arch "$arch" --epochs 1 --train-limit 256 --test-limit 128 --data "$data" -o "$work/$arch" -q >/dev/null 2>&1
  "$bin/cnnzoo-export" "$work/$arch.ot" -o "$work/models/$arch.onnx" >/dev/null
done
python bench/serve_bombs.py "$work/bomb16.png" 11585 16 >/dev/null
python bench/serve_bombs.py "$work/bomb8.png" 16384 8 >/dev/null

# start SERVER [FLAGS]: both protocols on free ports (bench/setup.sh).
start() { serve_start "$1" --http 127.0.0.1:0 --grpc 127.0.0.1:0 "${@:2}"; }
stop() { serve_stop; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; server and clients on the same machine."
echo
echo "Throughput at 32 clients, requests/s, best of $rounds interleaved rounds of ${seconds}s:"
echo
echo "| model | protocol | before | after | after / before |"
echo "| --- | --- | --- | --- | --- |"
for model in ${MODELS:-lenet resnet18}; do
  for proto in ${PROTOCOLS:-grpc http}; do
    best_old=0 best_new=0
    for _ in $(seq "$rounds"); do
      for which in old new; do
        if [ $which = old ]; then start "$old"; else start "$bin/cnnzoo-serve"; fi
        addr=$grpc; [ $proto = http ] && addr=$http
        rps=$(python bench/serve_load.py "$addr" "$model" 32 "$seconds" "$proto" | python -c "import json,sys; print(json.load(sys.stdin)['rps'])")
        stop
        if [ $which = old ]; then best_old=$(python -c "print(max($best_old, $rps))"); else best_new=$(python -c "print(max($best_new, $rps))"); fi
      done
    done
    python -c "print(f'| $model | $proto | {$best_old:.1f} | {$best_new:.1f} | {$best_new / $best_old:.3f} |')"
  done
done
[ "${BOMBS:-1}" = 0 ] && exit 0
echo
echo "Peak resident memory (VmHWM) under 6 concurrent decompression bombs, defaults:"
echo
echo "| image | server | peak memory | answers | wall (s) |"
echo "| --- | --- | --- | --- | --- |"
for bomb in bomb16 bomb8; do
  for which in old new; do
    if [ $which = old ]; then start "$old"; else start "$bin/cnnzoo-serve"; fi
    python bench/serve_bombs.py --send "$http" "$work/$bomb.png" 6 "$server" | python -c "
import json, sys
r = json.load(sys.stdin)
name = {'bomb16': '11585x11585 RGBA16 (1 GiB)', 'bomb8': '16384x16384 RGBA8 (1 GiB)'}['$bomb']
print(f\"| {name} | {'before' if '$which' == 'old' else 'after'} | {r['peak_mib']:.0f} MiB | {r['answers']} | {r['wall_s']:.1f} |\")"
    stop
  done
done
