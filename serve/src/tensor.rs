//! Inference requests and responses as the Open Inference Protocol defines
//! them, whichever protocol carried them: HTTP's JSON (with or without
//! binary data) and gRPC's messages both become an [`InferRequest`], and an
//! [`InferResponse`] becomes either.

use crate::error::ServeError;

/// The datatype of the network input tensor.
pub const FP32: &str = "FP32";
/// The datatype of encoded image files.
pub const BYTES: &str = "BYTES";

/// A tensor's elements, by datatype.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Fp32(Vec<f32>),
    /// One byte string per element (an encoded image file each).
    Bytes(Vec<Vec<u8>>),
}

impl Data {
    /// Decodes a tensor's raw bytes (HTTP's binary data, gRPC's
    /// `raw_input_contents`): little-endian FP32, or BYTES elements each
    /// prefixed by its length as a little-endian u32.
    pub fn from_raw(datatype: &str, raw: &[u8], input: &str) -> Result<Data, ServeError> {
        match datatype {
            FP32 => {
                if !raw.len().is_multiple_of(4) {
                    return Err(ServeError::bad_request(format!(
                        "input '{input}': {} bytes of FP32 data is not a whole number of 4-byte elements",
                        raw.len()
                    )));
                }
                Ok(Data::Fp32(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
            }
            BYTES => {
                let mut items = vec![];
                let mut rest = raw;
                while !rest.is_empty() {
                    let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                        return Err(ServeError::bad_request(format!(
                            "input '{input}': BYTES element {} is cut inside its 4-byte length",
                            items.len()
                        )));
                    };
                    let len = u32::from_le_bytes(*len) as usize;
                    if len > tail.len() {
                        return Err(ServeError::bad_request(format!(
                            "input '{input}': BYTES element {} says {len} bytes but {} remain",
                            items.len(),
                            tail.len()
                        )));
                    }
                    items.push(tail[..len].to_vec());
                    rest = &tail[len..];
                }
                Ok(Data::Bytes(items))
            }
            other => Err(unsupported_datatype(input, other)),
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::Fp32(v) => v.len(),
            Data::Bytes(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The error for a datatype the served models never take.
pub fn unsupported_datatype(input: &str, datatype: &str) -> ServeError {
    ServeError::bad_request(format!("input '{input}': datatype {datatype} is not supported (FP32 for 'input', BYTES for 'image')"))
}

/// One input tensor of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestInput {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
    pub data: Data,
}

/// A request, protocol aside.
#[derive(Debug, Clone, PartialEq)]
pub struct InferRequest {
    /// Echoed in the response.
    pub id: String,
    pub inputs: Vec<RequestInput>,
    /// The outputs asked for, in order; empty asks for every output.
    pub outputs: Vec<String>,
}

/// One FP32 output tensor, `[rows, width]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: &'static str,
    pub shape: [usize; 2],
    pub data: Vec<f32>,
}

impl Output {
    /// The little-endian bytes of the data, as binary responses carry it.
    pub fn raw(&self) -> Vec<u8> {
        self.data.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
}

/// A response, protocol aside.
#[derive(Debug, Clone, PartialEq)]
pub struct InferResponse {
    pub model: String,
    pub id: String,
    pub outputs: Vec<Output>,
}

/// The one version every served model has.
pub const VERSION: &str = "1";

/// Checks a version named in a request: empty (the server's choice) or `1`.
pub fn check_version(model: &str, version: &str) -> Result<(), ServeError> {
    if version.is_empty() || version == VERSION {
        Ok(())
    } else {
        Err(ServeError::not_found(format!("model '{model}' has no version '{version}' (it has version {VERSION})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_elements_are_length_prefixed() {
        let mut raw = vec![];
        for item in [&b"abc"[..], b"", b"\x00\xff"] {
            raw.extend((item.len() as u32).to_le_bytes());
            raw.extend(item);
        }
        assert_eq!(Data::from_raw(BYTES, &raw, "image").expect("valid"), Data::Bytes(vec![b"abc".to_vec(), vec![], vec![0, 255]]));
        let cut = Data::from_raw(BYTES, &raw[..raw.len() - 1], "image").expect_err("cut");
        assert!(cut.message.contains("element 2 says 2 bytes but 1 remain"), "{}", cut.message);
        let cut = Data::from_raw(BYTES, &raw[..2], "image").expect_err("cut");
        assert!(cut.message.contains("element 0 is cut inside its 4-byte length"), "{}", cut.message);
    }

    #[test]
    fn raw_fp32_is_little_endian_and_whole() {
        let raw: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(Data::from_raw(FP32, &raw, "input").expect("valid"), Data::Fp32(vec![1.5, -2.0]));
        assert!(Data::from_raw(FP32, &raw[..7], "input").is_err());
        assert!(Data::from_raw("INT8", &raw, "input").expect_err("INT8").message.contains("INT8 is not supported"));
    }
}
