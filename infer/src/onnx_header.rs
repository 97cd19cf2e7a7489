//! What a backbone needs to know of an ONNX file before ONNX Runtime has
//! loaded it: the card in its metadata, its inputs and outputs with their
//! shapes. Read by walking the protobuf's fields and seeking over the
//! weights, so it costs a few small reads whatever the model's size, and
//! decoding and preprocessing images can start while the session is built.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::Path;

use cnnzoo_proto::{Message, StringStringEntryProto, ValueInfoProto};

/// A graph input or output: its name, dimensions (-1 where not fixed) and
/// ONNX element type (1 float, 2 uint8, ...; 0 if not a tensor).
#[derive(Debug, Clone, PartialEq)]
pub struct Io {
    pub name: String,
    pub dims: Vec<i64>,
    pub elem_type: i32,
}

/// The parts of a model the card and the checks need.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub metadata: Vec<(String, String)>,
    /// Graph inputs that are not initializers (what a session's inputs are).
    pub inputs: Vec<Io>,
    pub outputs: Vec<Io>,
}

/// A protobuf reader over a file that can skip what it does not need.
struct Fields<R> {
    r: R,
    pos: u64,
}

impl<R: BufRead + Seek> Fields<R> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let mut b = [0u8];
            self.r.read_exact(&mut b).map_err(|_| "ends inside a field (truncated)".to_string())?;
            self.pos += 1;
            v |= u64::from(b[0] & 0x7f) << shift;
            if b[0] & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint longer than 10 bytes (not protobuf)".into())
    }

    /// The next field's number and, for length-delimited fields, its length
    /// (other wire types are skipped and reported with length 0).
    fn next(&mut self, end: u64) -> Result<Option<(u64, u64, bool)>, String> {
        if self.pos >= end {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let (field, wire) = (key >> 3, key & 7);
        // Field 0 does not exist in protobuf: a file of zeros stops here, at
        // its first byte, not after being read to its end.
        if field == 0 {
            return Err(format!("field number 0 at byte {at} (not an ONNX protobuf)"));
        }
        match wire {
            0 => {
                self.varint()?;
                Ok(Some((field, 0, false)))
            }
            1 => self.skip(8, end).map(|()| Some((field, 0, false))),
            5 => self.skip(4, end).map(|()| Some((field, 0, false))),
            2 => {
                let len = self.varint()?;
                if self.pos + len > end {
                    return Err(format!("field {field} runs {} bytes past its end (truncated)", self.pos + len - end));
                }
                Ok(Some((field, len, true)))
            }
            w => Err(format!("wire type {w} (not an ONNX protobuf)")),
        }
    }

    fn skip(&mut self, len: u64, end: u64) -> Result<(), String> {
        if self.pos + len > end {
            return Err("ends inside a field (truncated)".into());
        }
        self.r.seek_relative(len as i64).map_err(|e| e.to_string())?;
        self.pos += len;
        Ok(())
    }

    fn bytes(&mut self, len: u64) -> Result<Vec<u8>, String> {
        let mut buf = vec![0; len as usize];
        self.r.read_exact(&mut buf).map_err(|_| "ends inside a field (truncated)".to_string())?;
        self.pos += len;
        Ok(buf)
    }
}

fn io(v: ValueInfoProto) -> Io {
    let (dims, elem_type) = match v.tensor() {
        Some(t) => (t.dims.iter().map(|d| d.fixed().unwrap_or(-1)).collect(), t.elem_type),
        None => (vec![], 0),
    };
    Io { name: v.name, dims, elem_type }
}

/// Reads the header of the ONNX file at `path`; an error says why it is not
/// a whole ONNX model.
pub fn read(path: &Path) -> Result<Header, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let end = file.metadata().map_err(|e| e.to_string())?.len();
    let mut f = Fields { r: BufReader::with_capacity(64 * 1024, file), pos: 0 };
    let (mut header, mut inputs, mut initializers) = (Header::default(), vec![], vec![]);
    let (mut ir_version, mut opsets, mut nodes, mut graphs) = (false, 0, 0, 0);
    while let Some((field, len, delimited)) = f.next(end)? {
        match (field, delimited) {
            (1, false) => ir_version = true,
            (8, true) => {
                opsets += 1;
                f.skip(len, end)?;
            }
            (14, true) => {
                let e = StringStringEntryProto::decode(f.bytes(len)?.as_slice()).map_err(|e| format!("metadata: {e}"))?;
                header.metadata.push((e.key, e.value));
            }
            (7, true) => {
                graphs += 1;
                let graph_end = f.pos + len;
                while let Some((field, len, delimited)) = f.next(graph_end)? {
                    match (field, delimited) {
                        (1, true) => {
                            nodes += 1;
                            f.skip(len, graph_end)?;
                        }
                        (11 | 12, true) => {
                            let v = ValueInfoProto::decode(f.bytes(len)?.as_slice()).map_err(|e| format!("graph io: {e}"))?;
                            if field == 11 {
                                inputs.push(io(v))
                            } else {
                                header.outputs.push(io(v))
                            }
                        }
                        (5, true) => {
                            // An initializer: only its name (field 8), the weights are skipped.
                            let tensor_end = f.pos + len;
                            while let Some((field, len, delimited)) = f.next(tensor_end)? {
                                if (field, delimited) == (8, true) {
                                    initializers.push(String::from_utf8_lossy(&f.bytes(len)?).into_owned());
                                } else if delimited {
                                    f.skip(len, tensor_end)?;
                                }
                            }
                        }
                        (_, true) => f.skip(len, graph_end)?,
                        _ => {}
                    }
                }
            }
            (_, true) => f.skip(len, end)?,
            _ => {}
        }
    }
    if !(ir_version && opsets > 0 && graphs == 1 && nodes > 0) {
        return Err("no graph, IR version or opset (not an ONNX model)".into());
    }
    header.inputs = inputs.into_iter().filter(|i| !initializers.contains(&i.name)).collect();
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnnzoo_proto::*;
    use cnnzoo_proto::{tensor_shape_proto::dimension, type_proto};

    fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
        let dim = dims
            .iter()
            .map(|&d| tensor_shape_proto::Dimension {
                value: Some(if d < 0 { dimension::Value::DimParam("batch".into()) } else { dimension::Value::DimValue(d) }),
                ..Default::default()
            })
            .collect();
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor { elem_type: 1, shape: Some(TensorShapeProto { dim }) })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn reads_io_and_metadata_and_refuses_cut_files() {
        let model = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
            graph: Some(GraphProto {
                node: vec![NodeProto { op_type: "Relu".into(), input: vec!["x".into()], output: vec!["y".into()], ..Default::default() }],
                initializer: vec![TensorProto { name: "w".into(), raw_data: vec![7; 5000], ..Default::default() }],
                input: vec![value("x", &[-1, 1, 28, 28]), value("w", &[5000])],
                output: vec![value("y", &[-1, 10])],
                ..Default::default()
            }),
            metadata_props: vec![StringStringEntryProto { key: "cnnzoo.arch".into(), value: "lenet".into() }],
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.onnx");
        let bytes = encode_model(&model);
        std::fs::write(&path, &bytes).unwrap();
        let h = read(&path).unwrap();
        assert_eq!(h.inputs, [Io { name: "x".into(), dims: vec![-1, 1, 28, 28], elem_type: 1 }]);
        assert_eq!(h.outputs, [Io { name: "y".into(), dims: vec![-1, 10], elem_type: 1 }]);
        assert_eq!(h.metadata, [("cnnzoo.arch".to_string(), "lenet".to_string())]);
        for cut in [bytes.len() / 2, bytes.len() - 1, 3] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(read(&path).is_err(), "cut at {cut}");
        }
        std::fs::write(&path, b"\x89PNG\r\n\x1a\n not a model").unwrap();
        assert!(read(&path).is_err());
    }
}
