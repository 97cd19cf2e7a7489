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
