//! Records where the set-up installed ONNX Runtime (`CNNZOO_ORT_LIB`, exported
//! by scripts/env.sh), as the binaries' default place to load it from.
fn main() {
    println!("cargo:rerun-if-env-changed=CNNZOO_ORT_LIB");
    if let Ok(path) = std::env::var("CNNZOO_ORT_LIB") {
        println!("cargo:rustc-env=CNNZOO_ORT_LIB_DEFAULT={path}");
    }
}
