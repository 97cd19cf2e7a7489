//! The one build script of the workspace's packages. It bakes in what the
//! binaries need to find at run time, so that they run with no environment:
//!
//! - where libtorch lives (packages that depend on torch-sys directly receive
//!   `DEP_TCH_LIBTORCH_LIB`): an rpath, and `libtorch_cuda.so` kept NEEDED.
//!   The linker's `--as-needed` drops it otherwise (nothing references its
//!   symbols; its CUDA hooks register from static constructors), and libtorch
//!   then reports no CUDA even on a GPU machine (LaurentMazare/tch-rs#980);
//! - the PyTorch version that libtorch came from, for provenance;
//! - where the set-up installed ONNX Runtime (`CNNZOO_ORT_LIB`, exported by
//!   scripts/env.sh), the default place to load it from;
//! - the git revision, for `--version`.
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=CNNZOO_ORT_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:rustc-env=CNNZOO_LIBTORCH_LIB={dir}");
        if Path::new(&dir).join("libtorch_cuda.so").is_file() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
            println!("cargo:rustc-env=CNNZOO_LIBTORCH_CUDA=1");
        }
        let python = if std::env::var_os("VIRTUAL_ENV").is_some() { "python" } else { "python3" };
        if let Some(version) = output(python, &["-c", "import torch; print(torch.__version__)"]) {
            println!("cargo:rustc-env=CNNZOO_TORCH_VERSION={version}");
        }
    }
    if let Ok(path) = std::env::var("CNNZOO_ORT_LIB") {
        println!("cargo:rustc-env=CNNZOO_ORT_LIB_DEFAULT={path}");
    }
    let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("..");
    if let Some(rev) = output("git", &["-C", &root.display().to_string(), "rev-parse", "--short=10", "HEAD"]) {
        println!("cargo:rustc-env=CNNZOO_GIT_REV={rev}");
    }
    // The script's outputs depend on the variables above, the commit and itself alone.
    for git in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if root.join(git).exists() {
            println!("cargo:rerun-if-changed={}", root.join(git).display());
        }
    }
    println!("cargo:rerun-if-changed=../build/build.rs");
}

/// A command's trimmed stdout, when it ran and printed something.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
