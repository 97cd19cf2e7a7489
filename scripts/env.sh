#!/usr/bin/env bash
# Sourced by the other scripts: installs (once) and activates the toolchain that
# cnnzoo builds and runs against, in a cache outside the clone.
#
# - libtorch comes from the PyPI wheel torch==2.13.0 (the version tch 0.26 checks for);
# - ONNX Runtime from onnxruntime==1.31.1 (onnxruntime-gpu when nvidia-smi sees a GPU);
# - on x86-64 Linux, OpenVINO's build of ONNX Runtime: onnxruntime-openvino==1.24.1's
#   libraries (its own OpenVINO inside), unpacked into the cache, for --device openvino;
# - onnx and numpy serve the tests that cross-check exported graphs, pillow the benchmarks,
#   tritonclient the tests and benchmarks that drive cnnzoo-serve as Triton's clients would.
# - scikit-learn is the reference of the feature probe (k-NN and logistic regression).
# - torchvision and timm (no weights: seeded models, their transforms and configs) are the
#   references the torchvision-layout networks and their preprocessing are checked against.
# A stamp file records what was installed, so a second run skips pip entirely.
set -euo pipefail

CNNZOO_CACHE=${CNNZOO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cnnzoo}
VENV=$CNNZOO_CACHE/venv
ORT_VERSION=1.31.1
ORT_PKG=onnxruntime==$ORT_VERSION
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  ORT_PKG=onnxruntime-gpu==$ORT_VERSION
fi
PACKAGES="torch==2.13.0 torchvision==0.28.0 timm==1.0.31 $ORT_PKG onnx==1.23.2 numpy pillow tritonclient[http,grpc]==2.73.0 scikit-learn==1.9.1"
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

# OpenVINO's ONNX Runtime (~85 MB download, once): the libraries only, flat in
# $CNNZOO_CACHE/onnxruntime-openvino-VERSION, where the binaries look for it.
OV_ORT_VERSION=1.24.1
if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] && [ ! -f "$CNNZOO_CACHE/onnxruntime-openvino-$OV_ORT_VERSION/.complete" ]; then
  ov_dir=$CNNZOO_CACHE/onnxruntime-openvino-$OV_ORT_VERSION
  echo "cnnzoo: fetching onnxruntime-openvino==$OV_ORT_VERSION's libraries into $ov_dir (once)" >&2
  rm -rf "$ov_dir"
  mkdir -p "$ov_dir/wheel"
  if "$VENV/bin/python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 "onnxruntime-openvino==$OV_ORT_VERSION" -d "$ov_dir/wheel"; then
    "$VENV/bin/python" - "$ov_dir" <<'PY'
import glob, os, sys, zipfile
dest = sys.argv[1]
with zipfile.ZipFile(glob.glob(dest + "/wheel/*.whl")[0]) as wheel:
    for name in wheel.namelist():
        base = os.path.basename(name)
        # ONNX Runtime, its OpenVINO provider, and OpenVINO with its CPU plugin.
        if name.startswith("onnxruntime/capi/lib") and ".so" in base and "gpu_plugin" not in base and "npu_plugin" not in base:
            with open(os.path.join(dest, base), "wb") as out:
                out.write(wheel.read(name))
PY
    touch "$ov_dir/.complete"
  else
    echo "cnnzoo: onnxruntime-openvino could not be fetched; --device openvino will say so" >&2
  fi
  rm -rf "$ov_dir/wheel"
fi

# Fashion-MNIST by the one rule every script and test follows: $CNNZOO_DATA,
# then ../shared/data/fashion-mnist beside the checkout, then the cache, where
# it is downloaded (checksums verified) the first time with cnnzoo-train from
# the build profile named by $1 (release or debug). Prints the folder.
cnnzoo_data() {
  local d
  for d in "${CNNZOO_DATA:-}" ../shared/data/fashion-mnist "$CNNZOO_CACHE/data/fashion-mnist"; do
    if [ -n "$d" ] && [ -f "$d/t10k-images-idx3-ubyte.gz" ]; then
      # Absolute: each package's tests run in their own folder.
      (cd "$d" && pwd)
      return
    fi
  done
  d=$CNNZOO_CACHE/data/fashion-mnist
  local profile=${1:-release} flag=()
  [ "$profile" = release ] && flag=(--release)
  cargo build --quiet "${flag[@]}" -p cnnzoo-train --bin cnnzoo-train >&2
  "$CARGO_TARGET_DIR/$profile/cnnzoo-train" --data "$d" --download-only >&2
  echo "$d"
}

# The CUDA build of ONNX Runtime, for the test that its CUDA provider finds
# every library it needs: the venv's own where it is that build (GPU machines),
# else onnxruntime-gpu's libraries fetched once into the cache (~300 MB).
# Sets CNNZOO_ORT_GPU_LIB.
cnnzoo_ort_gpu() {
  if [ "$ORT_PKG" = "onnxruntime-gpu==$ORT_VERSION" ]; then
    CNNZOO_ORT_GPU_LIB=$CNNZOO_ORT_LIB
  else
    local dir=$CNNZOO_CACHE/ort-gpu-$ORT_VERSION
    if [ ! -f "$dir/.complete" ]; then
      echo "cnnzoo: fetching onnxruntime-gpu==$ORT_VERSION's libraries into $dir (once)" >&2
      rm -rf "$dir"
      mkdir -p "$dir/wheel"
      "$VENV/bin/python" -m pip download --quiet --no-deps "onnxruntime-gpu==$ORT_VERSION" -d "$dir/wheel"
      "$VENV/bin/python" - "$dir" <<'PY'
import glob, sys, zipfile
dest = sys.argv[1]
with zipfile.ZipFile(glob.glob(dest + "/wheel/*.whl")[0]) as wheel:
    for name in wheel.namelist():
        if name.startswith("onnxruntime/capi/lib") and ".so" in name:
            wheel.extract(name, dest)
PY
      rm -rf "$dir/wheel"
      touch "$dir/.complete"
    fi
    CNNZOO_ORT_GPU_LIB=$dir/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION
  fi
  export CNNZOO_ORT_GPU_LIB
}
