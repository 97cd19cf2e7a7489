//! Batch norms that cannot be folded (DenseNet's BN-ReLU-conv order puts
//! them before a convolution, with a Relu between) rewritten as what they
//! compute in eval mode: a per-channel scale and shift, i.e. a 1x1 depthwise
//! convolution with weight `gamma / sqrt(var + eps)` and bias
//! `beta - mean * weight`. For INT8 this matters: ONNX Runtime has no 8-bit
//! batch norm, so a `DQ -> BatchNormalization -> Q` runs in float, in NCHW
//! between 8-bit kernels that work in NHWC, with a layout transpose on each
//! side; a depthwise convolution is one more 8-bit kernel (QLinearConv) whose
//! Relu the quantization absorbs like any other.

use std::collections::{HashMap, HashSet};

use cnnzoo_proto::{attribute_proto::AttributeType, ModelProto, TensorProto};

use crate::onnx_build::{int, ints, node, tensor};
use crate::ExportError;

/// `model` with every BatchNormalization as a 1x1 depthwise Conv (same
/// input, output and name). Returns the model and how many were rewritten.
pub fn batch_norms_as_depthwise(model: &ModelProto) -> Result<(ModelProto, usize), ExportError> {
    let mut m = model.clone();
    let g = m.graph.as_mut().ok_or_else(|| ExportError::Quantize("the model has no graph".into()))?;
    let values: HashMap<String, Vec<f32>> =
        g.initializer.iter().map(|t| Ok((t.name.clone(), crate::quantize::floats(t)?))).collect::<Result<_, ExportError>>()?;
    let (mut inits, mut replaced, mut count) = (vec![], HashSet::new(), 0);
    for n in g.node.iter_mut().filter(|n| n.op_type == "BatchNormalization") {
        let param = |k: usize| {
            n.input
                .get(k)
                .and_then(|name| values.get(name))
                .ok_or_else(|| ExportError::Quantize(format!("{}: parameter {k} is not a constant", n.name)))
        };
        let (gamma, beta, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
        let eps = n.attribute.iter().find(|a| a.name == "epsilon" && a.r#type == AttributeType::Float as i32).map_or(1e-5, |a| a.f);
        let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| (*g as f64 / (*v as f64 + eps as f64).sqrt()) as f32).collect();
        let shift: Vec<f32> = beta.iter().zip(mean).zip(&scale).map(|((b, m), s)| (*b as f64 - *m as f64 * *s as f64) as f32).collect();
        let c = scale.len();
        let (w, b) = (format!("{}.depthwise.weight", n.name), format!("{}.depthwise.bias", n.name));
        inits.push(tensor(&w, &[c, 1, 1, 1], &scale));
        inits.push(tensor(&b, &[c], &shift));
        replaced.extend(n.input[1..].iter().cloned());
        let attrs = vec![ints("kernel_shape", &[1, 1]), ints("strides", &[1, 1]), ints("pads", &[0; 4]), int("group", c as i64)];
        *n = node("Conv", &n.name, &[&n.input[0], &w, &b], &n.output[0], attrs);
        count += 1;
    }
    // The batch norms' own parameters are left only if something else reads them.
    let still_read: HashSet<&String> = g.node.iter().flat_map(|n| &n.input).collect();
    g.initializer.retain(|t: &TensorProto| !replaced.contains(&t.name) || still_read.contains(&t.name));
    g.initializer.extend(inits);
    Ok((m, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx_build::float;
    use cnnzoo_proto::GraphProto;

    #[test]
    fn a_batch_norm_becomes_the_same_scale_and_shift() {
        let (gamma, beta, mean, var, eps) = ([2.0f32, 0.5], [0.1f32, -0.2], [0.3f32, -0.4], [4.0f32, 0.25], 1e-3f32);
        let bn = node("BatchNormalization", "bn", &["x", "g", "b", "m", "v"], "y", vec![float("epsilon", eps)]);
        let graph = GraphProto {
            node: vec![bn, node("Relu", "relu", &["y"], "z", vec![])],
            initializer: vec![tensor("g", &[2], &gamma), tensor("b", &[2], &beta), tensor("m", &[2], &mean), tensor("v", &[2], &var)],
            ..Default::default()
        };
        let (m, count) = batch_norms_as_depthwise(&ModelProto { graph: Some(graph), ..Default::default() }).unwrap();
        let g = m.graph.unwrap();
        assert_eq!(count, 1);
        let conv = &g.node[0];
        assert_eq!((conv.op_type.as_str(), conv.name.as_str(), conv.input[0].as_str(), conv.output[0].as_str()), ("Conv", "bn", "x", "y"));
        assert!(conv.attribute.iter().any(|a| a.name == "group" && a.i == 2));
        assert_eq!(g.initializer.len(), 2, "the batch norm's parameters are gone");
        let (w, b) = (crate::quantize::floats(&g.initializer[0]).unwrap(), crate::quantize::floats(&g.initializer[1]).unwrap());
        assert_eq!(g.initializer[0].dims, [2, 1, 1, 1]);
        for c in 0..2 {
            for x in [-1.5f32, 0.0, 2.25] {
                let want = (x - mean[c]) / (var[c] + eps).sqrt() * gamma[c] + beta[c];
                assert!((x * w[c] + b[c] - want).abs() < 1e-6, "channel {c}, x {x}");
            }
        }
    }
}
