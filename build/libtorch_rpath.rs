//! Build script shared by the crates whose binaries link libtorch: bakes the
//! libtorch folder that torch-sys found into the binaries' RUNPATH, so they run
//! without LD_LIBRARY_PATH. (torch-sys's own rpath flag does not reach them.)
//! It also records the PyTorch version for provenance.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    // The PyTorch version libtorch came from, for the manifests' provenance.
    let python = if std::env::var_os("VIRTUAL_ENV").is_some() { "python" } else { "python3" };
    if let Ok(out) = std::process::Command::new(python).args(["-c", "import torch; print(torch.__version__)"]).output() {
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !version.is_empty() {
            println!("cargo:rustc-env=CNNZOO_TORCH_VERSION={version}");
        }
    }
}
