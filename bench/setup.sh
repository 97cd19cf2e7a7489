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
