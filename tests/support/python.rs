//! The set-up's venv Python (torch, onnx, onnxruntime, PIL), which some tests
//! use to compute references with the peers' own code.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn python() -> PathBuf {
    let venv = std::env::var_os("VIRTUAL_ENV").expect("run the tests through scripts/test.sh (it activates the set-up's venv)");
    PathBuf::from(venv).join("bin/python")
}

/// Runs `tests/python/NAME` with `args`; panics with its stderr if it fails.
pub fn run_script<A: AsRef<std::ffi::OsStr>>(name: &str, args: &[A]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python").join(name);
    let out = Command::new(python()).arg(&script).args(args).output().expect("running the venv's python");
    assert!(out.status.success(), "{name} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}
