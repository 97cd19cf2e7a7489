#!/usr/bin/env bash
# Runs every test of the workspace (and clippy with -D warnings), after
# installing the toolchain into the cache on the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace "$@"
