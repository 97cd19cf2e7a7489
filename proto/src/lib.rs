//! The ONNX messages (ModelProto and the messages it is made of), generated
//! by prost from `onnx.proto`, plus the two conversions every user needs.

#[allow(clippy::all, missing_debug_implementations)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use generated::*;
pub use prost::Message;

/// Decodes an ONNX file's bytes.
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto, prost::DecodeError> {
    ModelProto::decode(bytes)
}

/// Encodes a model to the bytes of an `.onnx` file.
pub fn encode_model(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
