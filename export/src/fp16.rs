//! Float16 export for GPU deployment: every float initializer is stored as
//! float16 and the graph computes in float16, while the model's interface
//! stays float32 (a Cast after the input and one before each output), so
//! callers, the card and the preprocessing are unchanged. Runtimes without
//! a float16 kernel for an op (ONNX Runtime's CPU provider, for several)
//! insert casts around it themselves.

use std::collections::HashSet;

use cnnzoo_proto::{tensor_proto::DataType, ModelProto, TensorProto};

use crate::onnx_build::{int, node};
use crate::ExportError;

/// A float32 initializer as float16 (round to nearest even; values past
/// float16's range become infinities, which the caller's check reports).
fn to_fp16(t: &TensorProto) -> Result<TensorProto, ExportError> {
    let values: Vec<f32> = if !t.raw_data.is_empty() {
        t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    } else {
        t.float_data.clone()
    };
    let raw: Vec<u8> = values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
    if let Some(v) = values.iter().find(|v| v.is_finite() && !half::f16::from_f32(**v).is_finite()) {
        return Err(ExportError::Fp16(format!("initializer '{}' holds {v}, beyond float16's range", t.name)));
    }
    Ok(TensorProto { name: t.name.clone(), dims: t.dims.clone(), data_type: DataType::Float16 as i32, raw_data: raw, ..Default::default() })
}

/// `model` computing in float16 behind a float32 interface.
pub fn convert(model: &ModelProto) -> Result<ModelProto, ExportError> {
    let mut m = model.clone();
    let g = m.graph.as_mut().ok_or_else(|| ExportError::Fp16("the model has no graph".into()))?;
    for t in g.initializer.iter_mut().filter(|t| t.data_type == DataType::Float as i32) {
        *t = to_fp16(t)?;
    }
    let inputs: HashSet<String> = g.input.iter().map(|v| v.name.clone()).collect();
    let outputs: HashSet<String> = g.output.iter().map(|v| v.name.clone()).collect();
    let inner = |name: &str| format!("{name}.fp16");
    let mut nodes = vec![];
    for name in g.input.iter().map(|v| v.name.clone()) {
        nodes.push(node("Cast", &format!("{name}.to_fp16"), &[&name], &inner(&name), vec![int("to", DataType::Float16 as i64)]));
    }
    for n in &g.node {
        let mut n = n.clone();
        for i in n.input.iter_mut().chain(n.output.iter_mut()) {
            if inputs.contains(i.as_str()) || outputs.contains(i.as_str()) {
                *i = inner(i);
            }
        }
        nodes.push(n);
    }
    for name in g.output.iter().map(|v| v.name.clone()) {
        nodes.push(node("Cast", &format!("{name}.to_fp32"), &[&inner(&name)], &name, vec![int("to", DataType::Float as i64)]));
    }
    g.node = nodes;
    Ok(m)
}
