//! The set-up's venv Python (torch, onnx, onnxruntime, PIL, tritonclient),
//! which some tests use to compute references with the peers' own code.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn python() -> PathBuf {
    let venv = std::env::var_os("VIRTUAL_ENV").expect("run the tests through scripts/test.sh (it activates the set-up's venv)");
    PathBuf::from(venv).join("bin/python")
}

/// The workspace's `tests/python` folder, where the shared scripts live.
pub fn scripts() -> PathBuf {
    crate::data::workspace().join("tests/python")
}

/// Runs `tests/python/NAME` with `args`; panics with its stderr if it fails.
pub fn run_script<A: AsRef<std::ffi::OsStr>>(name: &str, args: &[A]) -> String {
    run_script_at(&scripts().join(name), args)
}

/// Runs the script at `path` with `args` and returns its stdout; panics with
/// its stderr if it fails.
pub fn run_script_at<A: AsRef<std::ffi::OsStr>>(path: &Path, args: &[A]) -> String {
    let out = Command::new(python()).arg(path).args(args).output().expect("running the venv's python");
    assert!(out.status.success(), "{} failed:\n{}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
