//! A Triton model repository entry for an exported model:
//! `REPO/NAME/config.pbtxt` and `REPO/NAME/1/model.onnx`. The configuration
//! (protobuf text format, `inference.ModelConfig`) says what Triton would
//! otherwise guess: the ONNX Runtime backend, the largest batch, dynamic
//! batching, every input and output with its dims (the batch left out, as
//! Triton wants with `max_batch_size` > 0) and the model card as parameters.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cnnzoo_models::fsio::write_atomic;
use cnnzoo_proto::{tensor_proto::DataType, ModelProto, ValueInfoProto};

use crate::ExportError;

/// What writing the Triton repository cannot do.
fn refused(problem: String) -> ExportError {
    cnnzoo_models::ChoiceError::refused(cnnzoo_models::Choice::TritonRepo, problem).into()
}

/// How Triton should batch the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TritonBatching {
    pub max_batch_size: usize,
    pub max_queue_delay_us: u64,
}

/// A string in protobuf text format: quoted, with C escapes.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Triton's name for an ONNX element type.
fn data_type(elem_type: i32) -> Result<&'static str, String> {
    Ok(match DataType::try_from(elem_type) {
        Ok(DataType::Float) => "TYPE_FP32",
        Ok(DataType::Float16) => "TYPE_FP16",
        Ok(DataType::Double) => "TYPE_FP64",
        Ok(DataType::Int8) => "TYPE_INT8",
        Ok(DataType::Uint8) => "TYPE_UINT8",
        Ok(DataType::Int32) => "TYPE_INT32",
        Ok(DataType::Int64) => "TYPE_INT64",
        Ok(DataType::Bool) => "TYPE_BOOL",
        Ok(DataType::String) => "TYPE_STRING",
        _ => return Err(format!("element type {elem_type} has no Triton equivalent here")),
    })
}

/// One `input`/`output` entry: name, data type, and the dims after the batch
/// (-1 where the graph leaves a dimension free).
fn tensor_entry(v: &ValueInfoProto) -> Result<String, String> {
    let t = v.tensor().ok_or_else(|| format!("'{}' is not a tensor", v.name))?;
    let dims: Vec<String> = t.dims.iter().skip(1).map(|d| d.fixed().map_or("-1".into(), |n| n.to_string())).collect();
    Ok(format!("  {{\n    name: {}\n    data_type: {}\n    dims: [ {} ]\n  }}", quoted(&v.name), data_type(t.elem_type)?, dims.join(", ")))
}

/// The text of `config.pbtxt` for `model`, served as `name`.
pub fn config_pbtxt(name: &str, model: &ModelProto, batching: TritonBatching, source: &str) -> Result<String, ExportError> {
    let g = model.graph.as_ref().ok_or_else(|| refused("the model has no graph".into()))?;
    let entries = |vs: &[ValueInfoProto]| -> Result<String, ExportError> {
        let parts: Result<Vec<String>, String> = vs.iter().map(tensor_entry).collect();
        Ok(parts.map_err(refused)?.join(",\n"))
    };
    let mut s = String::new();
    let _ = writeln!(s, "# Triton's configuration for {name}, written by cnnzoo-export {} from {source}.", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(s, "name: {}", quoted(name));
    let _ = writeln!(s, "backend: \"onnxruntime\"");
    let _ = writeln!(s, "max_batch_size: {}", batching.max_batch_size);
    let _ = writeln!(s, "input [\n{}\n]", entries(&g.input)?);
    let _ = writeln!(s, "output [\n{}\n]", entries(&g.output)?);
    let _ = writeln!(s, "dynamic_batching {{\n  max_queue_delay_microseconds: {}\n}}", batching.max_queue_delay_us);
    for p in &model.metadata_props {
        let _ = writeln!(s, "parameters {{\n  key: {}\n  value {{ string_value: {} }}\n}}", quoted(&p.key), quoted(&p.value));
    }
    Ok(s)
}

/// Writes `repo/name/1/model.onnx` and `repo/name/config.pbtxt`, each whole
/// (temporary file, then rename). An existing model entry keeps everything
/// else it holds: its other versions, `labels.txt`, files of its own.
pub fn write_repository(repo: &Path, name: &str, onnx: &[u8], config: &str) -> Result<PathBuf, ExportError> {
    let io = |path: &Path, e: std::io::Error| {
        ExportError::from(cnnzoo_models::ChoiceError::refused(cnnzoo_models::Choice::TritonRepo, path.display()).caused_by(e))
    };
    for (dir, what) in [(repo, "a model repository"), (&repo.join(name), "a model entry")] {
        if dir.exists() && !dir.is_dir() {
            return Err(refused(format!("{}: is a file, not {what} folder", dir.display())));
        }
    }
    let target = repo.join(name);
    let version = target.join("1");
    std::fs::create_dir_all(&version).map_err(|e| io(&version, e))?;
    let write = |path: PathBuf, bytes: &[u8]| write_atomic(&path, bytes).map_err(|(p, e)| io(&p, e));
    write(version.join("model.onnx"), onnx)?;
    write(target.join("config.pbtxt"), config.as_bytes())?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_for_text_format() {
        assert_eq!(quoted(r#"{"a": "b\c"}"#), r#""{\"a\": \"b\\c\"}""#);
        assert_eq!(quoted("x\ny\u{1}"), "\"x\\ny\\001\"");
        assert_eq!(quoted("Ümlaut"), "\"Ümlaut\"");
    }
}
