//! `cnnzoo-export --inspect`: what an ONNX file holds, read through our own
//! protobuf types (so it also works on files that other exporters wrote).

use std::collections::BTreeMap;

use cnnzoo_proto::{tensor_proto::DataType, ModelProto, ValueInfoProto};
use serde_json::{json, Value};

use crate::ExportError;

/// A decoded model, refusing bytes that are not an ONNX model (a truncated file
/// fails to decode; a foreign file that happens to decode has no graph).
pub fn decode(bytes: &[u8], path: &str) -> Result<ModelProto, ExportError> {
    let bad = |problem: String| ExportError::NotOnnx { path: path.into(), problem };
    let model = cnnzoo_proto::decode_model(bytes).map_err(|e| bad(format!("{e} (truncated or not protobuf)")))?;
    let g = match &model.graph {
        Some(g) if model.ir_version > 0 && !g.node.is_empty() && !model.opset_import.is_empty() => g,
        _ => return Err(bad("no graph, IR version or opset (not an ONNX model)".into())),
    };
    // Element counts are summed into the parameter count: each must be a count.
    if let Some(t) = g.initializer.iter().find(|t| elements(&t.dims).is_none()) {
        return Err(bad(format!(
            "initializer `{}` has dims {:?}, which are not a tensor's (negative, or more than 2^64 elements)",
            t.name, t.dims
        )));
    }
    Ok(model)
}

/// The elements of a tensor of `dims`, if they are a count that fits.
fn elements(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |n, &d| u64::try_from(d).ok().and_then(|d| n.checked_mul(d)))
}

/// The element type's ONNX name, lower case (`float`, `uint8`).
fn elem_type(v: &ValueInfoProto) -> String {
    match v.tensor() {
        Some(t) => DataType::try_from(t.elem_type)
            .map(|d| d.as_str_name().to_ascii_lowercase())
            .unwrap_or_else(|_| format!("type {}", t.elem_type)),
        None => "not a tensor".into(),
    }
}

fn shape(v: &ValueInfoProto) -> Vec<String> {
    v.tensor().map(|t| t.dims.iter().map(ToString::to_string).collect()).unwrap_or_default()
}

/// The report as JSON: inputs and outputs with shapes, opset, node counts by
/// op type, parameter count (elements of all initializers) and metadata.
pub fn report(model: &ModelProto) -> Value {
    let g = model.graph.clone().unwrap_or_default();
    let io =
        |vs: &[ValueInfoProto]| vs.iter().map(|v| json!({"name": v.name, "type": elem_type(v), "shape": shape(v)})).collect::<Vec<_>>();
    let mut ops: BTreeMap<String, usize> = BTreeMap::new();
    for n in &g.node {
        *ops.entry(n.op_type.clone()).or_default() += 1;
    }
    // Checked by `decode`; a sum past 2^64 saturates rather than wraps.
    let parameters: u64 = g.initializer.iter().map(|t| elements(&t.dims).unwrap_or(u64::MAX)).fold(0, u64::saturating_add);
    let metadata: BTreeMap<&str, &str> = model.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect();
    json!({
        "producer": format!("{} {}", model.producer_name, model.producer_version),
        "ir_version": model.ir_version,
        "opset": model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version),
        "inputs": io(&g.input),
        "outputs": io(&g.output),
        "nodes": g.node.len(),
        "ops": ops,
        "parameters": parameters,
        "metadata": metadata,
    })
}

/// The report for people.
pub fn render(r: &Value) -> String {
    let mut s = String::new();
    let line = |s: &mut String, t: String| {
        s.push_str(&t);
        s.push('\n');
    };
    line(&mut s, format!("producer   {}", r["producer"].as_str().unwrap_or("")));
    line(&mut s, format!("opset      {} (IR version {})", r["opset"], r["ir_version"]));
    for (kind, key) in [("input ", "inputs"), ("output", "outputs")] {
        for v in r[key].as_array().into_iter().flatten() {
            let dims: Vec<&str> = v["shape"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let (name, ty) = (v["name"].as_str().unwrap_or(""), v["type"].as_str().unwrap_or(""));
            line(&mut s, format!("{kind}     {name} {ty} [{}]", dims.join(", ")));
        }
    }
    line(&mut s, format!("parameters {}", r["parameters"]));
    let ops: Vec<String> = r["ops"].as_object().into_iter().flatten().map(|(k, v)| format!("{k} {v}")).collect();
    line(&mut s, format!("nodes      {}: {}", r["nodes"], ops.join(", ")));
    for (k, v) in r["metadata"].as_object().into_iter().flatten() {
        line(&mut s, format!("metadata   {k} = {}", v.as_str().unwrap_or("")));
    }
    s
}
