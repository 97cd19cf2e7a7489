#!/usr/bin/env bash
# Puts the built binaries where a shell finds them: links named
# cnnzoo-{train,export,infer,serve} in $CNNZOO_INSTALL_DIR, default
# ${CARGO_HOME:-~/.cargo}/bin, which rustup puts on PATH. Links, not copies:
# they follow every rebuild, and the binaries keep their rpath to libtorch.
#
#   bash scripts/install.sh BIN_DIR     (scripts/demo.sh calls it)
set -euo pipefail
src=${1:?usage: install.sh BIN_DIR (the folder the release binaries are in)}
dest=${CNNZOO_INSTALL_DIR:-${CARGO_HOME:-$HOME/.cargo}/bin}
mkdir -p "$dest"
for b in cnnzoo-train cnnzoo-export cnnzoo-infer cnnzoo-serve; do
  if [ ! -x "$src/$b" ]; then
    echo "install.sh: $src/$b is missing: build first (cargo build --release --workspace --bins)" >&2
    exit 1
  fi
  ln -sfn "$(cd "$src" && pwd)/$b" "$dest/$b"
done
echo "installed cnnzoo-train, cnnzoo-export, cnnzoo-infer, cnnzoo-serve in $dest"
case ":$PATH:" in
  *":$dest:"*) ;;
  *) echo "note: $dest is not on this shell's PATH; rustup's ~/.profile adds ~/.cargo/bin for new login shells" ;;
esac
