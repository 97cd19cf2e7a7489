#!/usr/bin/env bash
# Sourced by the other scripts: installs (once) and activates the toolchain that
# cnnzoo builds and runs against, in a cache outside the clone.
#
# - libtorch comes from the PyPI wheel torch==2.13.0 (the version tch 0.26 checks for);
# - ONNX Runtime from onnxruntime==1.31.1 (onnxruntime-gpu when nvidia-smi sees a GPU);
# - onnx and numpy serve the tests that cross-check exported graphs, pillow the benchmarks.
# A stamp file records what was installed, so a second run skips pip entirely.
set -euo pipefail

CNNZOO_CACHE=${CNNZOO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cnnzoo}
VENV=$CNNZOO_CACHE/venv
ORT_PKG=onnxruntime==1.31.1
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  ORT_PKG=onnxruntime-gpu==1.31.1
fi
PACKAGES="torch==2.13.0 $ORT_PKG onnx==1.23.2 numpy pillow"
STAMP=$VENV/.cnnzoo-packages

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$PACKAGES" ]; then
  echo "cnnzoo: installing $PACKAGES into $VENV (first run only; ~3 GB)" >&2
  mkdir -p "$CNNZOO_CACHE"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install --quiet $PACKAGES
  echo "$PACKAGES" >"$STAMP"
fi

# torch-sys finds libtorch through the active venv's python.
export VIRTUAL_ENV=$VENV
export PATH=$VENV/bin:$PATH
export LIBTORCH_USE_PYTORCH=1
# One target dir for every build on this machine: torch-sys's C++ wrapper is built once.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CNNZOO_CACHE/target}
# Where the binaries find ONNX Runtime unless ORT_DYLIB_PATH says otherwise.
CNNZOO_ORT_LIB=$("$VENV/bin/python" -c 'import onnxruntime, os, glob; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[-1])')
export CNNZOO_ORT_LIB
