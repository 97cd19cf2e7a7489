//! Lowers a model graph and its weights to an ONNX `ModelProto`: one pass in
//! topological order, one exhaustive `match` over the ops, no network names.
//!
//! Eval-mode semantics: Dropout disappears (its output is its input), and a
//! BatchNorm whose input is a convolution used by nothing else is folded into
//! that convolution's weights. Other BatchNorms (DenseNet's BN-ReLU-conv
//! order) stay BatchNormalization nodes.

use std::ops::RangeInclusive;

use cnnzoo_models::card::{FEATURES, INPUT, LOGITS};
use cnnzoo_models::{Graph, Op, ValueId, Weights};
use cnnzoo_proto::{ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto};

use crate::onnx_build::{float, int, ints, node, tensor, value_info};
use crate::ExportError;

/// Opsets whose definitions of every op we emit match what we write.
pub const OPSETS: RangeInclusive<i64> = 11..=21;
pub const DEFAULT_OPSET: i64 = 17;

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub opset: i64,
    /// Fold BatchNorm into the preceding convolution where possible.
    pub fold_bn: bool,
    /// Only the backbone: `features` is the one output and the head is dropped.
    pub features_only: bool,
    /// Written to `metadata_props` in this order.
    pub metadata: Vec<(String, String)>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { opset: DEFAULT_OPSET, fold_bn: true, features_only: false, metadata: vec![] }
    }
}

/// The IR version that the ONNX release introducing `opset` wrote.
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=11 => 6,
        12..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

fn pair(v: usize) -> [i64; 2] {
    [v as i64, v as i64]
}

/// Per node, the conv-then-BN folds the export performs: `fold[bn] = true`
/// when node `bn` is a BatchNorm folded into its input convolution.
fn folds(graph: &Graph, needed: &[bool], outputs: &[ValueId]) -> Vec<bool> {
    let mut consumers = vec![0usize; graph.nodes.len()];
    for n in graph.nodes.iter().zip(needed).filter(|(_, &k)| k).map(|(n, _)| n) {
        for &j in &n.inputs {
            consumers[j] += 1;
        }
    }
    graph
        .nodes
        .iter()
        .map(|n| {
            let Op::BatchNorm2d { .. } = n.op else {
                return false;
            };
            let conv = n.inputs[0];
            matches!(graph.nodes[conv].op, Op::Conv2d { .. }) && consumers[conv] == 1 && !outputs.contains(&conv)
        })
        .collect()
}

/// Scales a convolution's weight and bias so that it also applies the
/// batch norm `bn` (eval mode): `w' = w * g / sqrt(v + eps)`, `b' = (b - m) * g / sqrt(v + eps) + beta`.
fn fold_into_conv(w: &[f32], b: &[f32], bn: [&[f32]; 4], eps: f64) -> (Vec<f32>, Vec<f32>) {
    let [gamma, beta, mean, var] = bn;
    let per_out = w.len() / b.len();
    let scale: Vec<f64> = (0..b.len()).map(|o| gamma[o] as f64 / (var[o] as f64 + eps).sqrt()).collect();
    let w2 = w.iter().enumerate().map(|(i, &v)| (v as f64 * scale[i / per_out]) as f32).collect();
    let b2 = (0..b.len()).map(|o| ((b[o] as f64 - mean[o] as f64) * scale[o] + beta[o] as f64) as f32).collect();
    (w2, b2)
}

/// The weights of PyTorch's adaptive average pooling from `len` inputs to
/// `out` outputs along one axis, `[out, len]`: row `i` averages inputs
/// `floor(i * len / out) .. ceil((i + 1) * len / out)`.
fn adaptive_weights(len: usize, out: usize) -> Vec<f32> {
    let mut m = vec![0.0f32; out * len];
    for i in 0..out {
        let (lo, hi) = (i * len / out, ((i + 1) * len).div_ceil(out));
        for j in lo..hi {
            m[i * len + j] = 1.0 / (hi - lo) as f32;
        }
    }
    m
}

/// `AdaptiveAvgPool2d(side)` on an `[h, w]` map: nothing when the map is
/// already that size, an `AveragePool` when the windows tile it evenly, and
/// otherwise (windows of unequal sizes, which no ONNX pooling op expresses)
/// the two matrix products `rows @ x @ cols` with the pooling weights.
fn adaptive_avg_pool(
    nodes: &mut Vec<NodeProto>,
    inits: &mut Vec<TensorProto>,
    name: &str,
    input: &str,
    out: &str,
    [h, w]: [usize; 2],
    side: usize,
) {
    if h == side && w == side {
        nodes.push(node("Identity", name, &[input], out, vec![]));
    } else if h % side == 0 && w % side == 0 {
        let attrs = vec![
            ints("kernel_shape", &[(h / side) as i64, (w / side) as i64]),
            ints("strides", &[(h / side) as i64, (w / side) as i64]),
            ints("pads", &[0; 4]),
        ];
        nodes.push(node("AveragePool", name, &[input], out, attrs));
    } else {
        let (rows, cols, tmp) = (format!("{name}.row_weights"), format!("{name}.column_weights"), format!("{out}.columns_pooled"));
        let cw = adaptive_weights(w, side);
        // cols is [w, side]: the transpose of the per-axis weights.
        let cols_t: Vec<f32> = (0..w * side).map(|k| cw[(k % side) * w + k / side]).collect();
        inits.push(tensor(&rows, &[side, h], &adaptive_weights(h, side)));
        inits.push(tensor(&cols, &[w, side], &cols_t));
        nodes.push(node("MatMul", &format!("{name}.columns"), &[input, &cols], &tmp, vec![]));
        nodes.push(node("MatMul", name, &[&rows, &tmp], out, vec![]));
    }
}

/// The ONNX model of `graph` with `weights` (checked against the graph first).
pub fn lower(graph: &Graph, weights: &Weights, opts: &ExportOptions) -> Result<ModelProto, ExportError> {
    if !OPSETS.contains(&opts.opset) {
        return Err(ExportError::Opset(opts.opset));
    }
    weights.check(graph)?;
    let outputs: Vec<ValueId> = if opts.features_only { vec![graph.features] } else { vec![graph.logits, graph.features] };
    let needed = graph.needed(&outputs);
    let folded = if opts.fold_bn { folds(graph, &needed, &outputs) } else { vec![false; graph.nodes.len()] };

    // The node whose ONNX output carries each value (Dropout and folded BN are pass-throughs).
    let mut source: Vec<ValueId> = (0..graph.nodes.len()).collect();
    for (i, n) in graph.nodes.iter().enumerate() {
        if matches!(n.op, Op::Dropout { .. }) || folded[i] {
            source[i] = source[n.inputs[0]];
        }
    }
    // For each convolution, the batch norm folded into it, if any.
    let mut folded_into: Vec<Option<ValueId>> = vec![None; graph.nodes.len()];
    for (k, n) in graph.nodes.iter().enumerate().filter(|(k, _)| folded[*k]) {
        folded_into[n.inputs[0]] = Some(k);
    }
    let mut names: Vec<String> = graph.nodes.iter().map(|n| n.name.clone()).collect();
    names[0] = INPUT.into();
    names[source[graph.features]] = FEATURES.into();
    if !opts.features_only {
        names[source[graph.logits]] = LOGITS.into();
    }
    let name = |v: ValueId| names[source[v]].as_str();
    let param = |i: ValueId, k: usize| &weights.0[&graph.nodes[i].params[k].name];

    let mut nodes: Vec<NodeProto> = vec![];
    let mut inits: Vec<TensorProto> = vec![];
    for (i, n) in graph.nodes.iter().enumerate() {
        if !needed[i] || source[i] != i {
            continue;
        }
        let out = name(i);
        let ins: Vec<&str> = n.inputs.iter().map(|&j| name(j)).collect();
        let pnames: Vec<&str> = n.params.iter().map(|p| p.name.as_str()).collect();
        match n.op {
            Op::Input => {}
            Op::Conv2d { out: channels, kernel, stride, pad, bias } => {
                let w = param(i, 0);
                let zeros = vec![0.0; channels];
                let b = if bias { param(i, 1).data.as_slice() } else { &zeros };
                // A bias-less convolution gets one when a batch norm folds into it.
                let (wd, bd) = match folded_into[i] {
                    Some(k) => {
                        let Op::BatchNorm2d { eps, .. } = graph.nodes[k].op else { unreachable!("folds() only marks batch norms") };
                        let (wd, bd) = fold_into_conv(&w.data, b, [0, 1, 2, 3].map(|p| param(k, p).data.as_slice()), eps);
                        (wd, Some(bd))
                    }
                    None => (w.data.clone(), bias.then(|| b.to_vec())),
                };
                let bias_name = pnames.get(1).map(|s| s.to_string()).unwrap_or_else(|| format!("{}.bias", n.name));
                inits.push(tensor(pnames[0], &w.shape, &wd));
                let mut conv_inputs = vec![ins[0], pnames[0]];
                if let Some(bd) = &bd {
                    inits.push(tensor(&bias_name, &[channels], bd));
                    conv_inputs.push(&bias_name);
                }
                let attrs = vec![
                    ints("kernel_shape", &pair(kernel)),
                    ints("strides", &pair(stride)),
                    ints("pads", &[pad as i64; 4]),
                    ints("dilations", &[1, 1]),
                    int("group", 1),
                ];
                nodes.push(node("Conv", &n.name, &conv_inputs, out, attrs));
            }
            Op::BatchNorm2d { eps, .. } => {
                for (k, p) in n.params.iter().enumerate() {
                    inits.push(tensor(&p.name, &p.shape, &param(i, k).data));
                }
                nodes.push(node(
                    "BatchNormalization",
                    &n.name,
                    &[ins[0], pnames[0], pnames[1], pnames[2], pnames[3]],
                    out,
                    vec![float("epsilon", eps as f32)],
                ));
            }
            Op::Linear { .. } => {
                for (k, p) in n.params.iter().enumerate() {
                    inits.push(tensor(&p.name, &p.shape, &param(i, k).data));
                }
                // PyTorch stores linear weights as [out, in]: Gemm must transpose B.
                nodes.push(node("Gemm", &n.name, &[ins[0], pnames[0], pnames[1]], out, vec![int("transB", 1)]));
            }
            Op::Relu => nodes.push(node("Relu", &n.name, &ins, out, vec![])),
            Op::Sigmoid => nodes.push(node("Sigmoid", &n.name, &ins, out, vec![])),
            Op::MaxPool2d { kernel, stride, pad, ceil } => {
                let attrs = vec![
                    ints("kernel_shape", &pair(kernel)),
                    ints("strides", &pair(stride)),
                    ints("pads", &[pad as i64; 4]),
                    int("ceil_mode", ceil as i64),
                ];
                nodes.push(node("MaxPool", &n.name, &ins, out, attrs));
            }
            Op::AvgPool2d { kernel, stride } => {
                let attrs = vec![
                    ints("kernel_shape", &pair(kernel)),
                    ints("strides", &pair(stride)),
                    ints("pads", &[0; 4]),
                    int("ceil_mode", 0),
                    int("count_include_pad", 1),
                ];
                nodes.push(node("AveragePool", &n.name, &ins, out, attrs));
            }
            Op::AdaptiveAvgPool2d { out: side } => {
                let shape = &graph.nodes[n.inputs[0]].shape;
                adaptive_avg_pool(&mut nodes, &mut inits, &n.name, ins[0], out, [shape[1], shape[2]], side);
            }
            Op::GlobalAvgPool => nodes.push(node("GlobalAveragePool", &n.name, &ins, out, vec![])),
            Op::GlobalMaxPool => nodes.push(node("GlobalMaxPool", &n.name, &ins, out, vec![])),
            Op::Flatten => nodes.push(node("Flatten", &n.name, &ins, out, vec![int("axis", 1)])),
            Op::Dropout { .. } => unreachable!("dropout is a pass-through at inference"),
            Op::Concat => nodes.push(node("Concat", &n.name, &ins, out, vec![int("axis", 1)])),
            Op::Add => nodes.push(node("Add", &n.name, &ins, out, vec![])),
        }
    }

    let [c, h, w] = graph.input_shape();
    let mut graph_outputs = vec![];
    if !opts.features_only {
        graph_outputs.push(value_info(LOGITS, &[None, Some(graph.classes())]));
    }
    graph_outputs.push(value_info(FEATURES, &[None, Some(graph.feature_dim())]));
    let onnx_graph = cnnzoo_proto::GraphProto {
        name: graph.arch.clone(),
        node: nodes,
        initializer: inits,
        input: vec![value_info(INPUT, &[None, Some(c), Some(h), Some(w)])],
        output: graph_outputs,
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: ir_version(opts.opset),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opts.opset }],
        producer_name: "cnnzoo-export".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "{} exported by cnnzoo-export: outputs {}",
            graph.arch,
            if opts.features_only { "features" } else { "logits, features" }
        ),
        graph: Some(onnx_graph),
        metadata_props: opts.metadata.iter().map(|(k, v)| StringStringEntryProto { key: k.clone(), value: v.clone() }).collect(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::{adaptive_weights, fold_into_conv, ir_version};

    #[test]
    fn adaptive_pooling_weights_are_pytorchs_windows() {
        // 5 -> 3: windows [0, 2), [1, 4), [3, 5), as PyTorch's start/end indices give.
        let m = adaptive_weights(5, 3);
        let third = 1.0 / 3.0;
        assert_eq!(m, vec![0.5, 0.5, 0.0, 0.0, 0.0, 0.0, third, third, third, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]);
        // 1 -> 6 repeats the one input.
        assert_eq!(adaptive_weights(1, 6), vec![1.0; 6]);
    }

    #[test]
    fn the_ir_version_is_the_one_each_opset_shipped_with() {
        let cases = [(11, 6), (12, 7), (14, 7), (15, 8), (17, 8), (18, 8), (19, 9), (20, 9), (21, 10)];
        for (opset, ir) in cases {
            assert_eq!(ir_version(opset), ir, "opset {opset}");
        }
    }

    #[test]
    fn folding_a_batch_norm_gives_the_same_outputs() {
        // Two output channels, three weights each; BN with distinct statistics per channel.
        let (w, b) = ([1.0f32, -2.0, 0.5, 3.0, 0.25, -1.0], [0.5f32, -1.5]);
        let (gamma, beta, mean, var) = ([2.0f32, 0.5], [0.1f32, -0.2], [0.3f32, -0.4], [4.0f32, 0.25]);
        let eps = 1e-5;
        let (w2, b2) = fold_into_conv(&w, &b, [&gamma, &beta, &mean, &var], eps);
        // For any input x, BN(conv(x)) == conv'(x), channel by channel.
        let x = [0.7f32, -1.1, 2.0];
        for o in 0..2 {
            let conv: f32 = (0..3).map(|i| w[o * 3 + i] * x[i]).sum::<f32>() + b[o];
            let bn = (conv - mean[o]) / (var[o] + eps as f32).sqrt() * gamma[o] + beta[o];
            let folded: f32 = (0..3).map(|i| w2[o * 3 + i] * x[i]).sum::<f32>() + b2[o];
            assert!((bn - folded).abs() < 1e-5, "channel {o}: {bn} vs {folded}");
        }
    }
}
