#!/usr/bin/env bash
# Runs every test of the workspace (and rustfmt, and clippy with -D warnings),
# after installing the toolchain into the cache on the first run, and finding
# Fashion-MNIST by the set-up's rule (downloading it into the cache if need be).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
CNNZOO_DATA=$(cnnzoo_data debug)
export CNNZOO_DATA
cnnzoo_ort_gpu
# Every test, each package's binaries built by Cargo for its own CLI tests.
cargo test --workspace "$@"
