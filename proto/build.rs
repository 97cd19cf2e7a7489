//! Compiles onnx.proto with prost and, with the `grpc` feature, the Open
//! Inference Protocol's service with tonic. protoc comes from the
//! protoc-bin-vendored crate unless PROTOC names one, so nobody installs protoc.
fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=onnx.proto");
    println!("cargo:rerun-if-changed=inference.proto");
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path().map_err(std::io::Error::other)?;
        // SAFETY of set_var is not a concern in a single-threaded build script.
        std::env::set_var("PROTOC", protoc);
    }
    prost_build::compile_protos(&["onnx.proto"], &["."])?;
    #[cfg(feature = "grpc")]
    tonic_prost_build::configure().codec_path("crate::codec::ClientFaultCodec").compile_protos(&["inference.proto"], &["."])?;
    Ok(())
}
