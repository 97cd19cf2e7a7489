//! INT8 quantization of an exported model, in QDQ form: the fp32 graph stays
//! as it is, and `QuantizeLinear`/`DequantizeLinear` pairs say where values
//! are 8-bit, so ONNX Runtime fuses each `DQ -> op -> Q` into its INT8 kernel
//! (QLinearConv, QGemm, QLinearAdd, QLinearConcat, ...) and any runtime
//! without those kernels still computes the same numbers in float.
//!
//! - Weights of Conv and Gemm: symmetric INT8, one scale per output channel;
//!   biases INT32 with scale `input scale x weight scale` per channel, as the
//!   INT8 kernels take them.
//! - Activations: UINT8, one scale and zero point per tensor, from ranges
//!   measured on calibration images (min-max, or a percentile that clips the
//!   outliers of long-tailed tensors).
//! - A Relu whose input is used by nothing else disappears: its input is
//!   quantized with the Relu's own range, which starts at 0, so the
//!   quantization clamps the negatives as the Relu did, and the producing op
//!   (a convolution, an addition, a batch norm) writes 8-bit values directly.
//! - Ops that only move values (MaxPool, GlobalMaxPool, Flatten) keep their
//!   input's scale, so ONNX Runtime runs them on the 8-bit values themselves.
//!
//! The calibration itself (running the fp32 model on images) is the caller's:
//! [`Plan::calibration_model`] is the fp32 model with every tensor to measure
//! as an output, and [`Observer`] turns what it outputs into ranges.

use std::collections::{BTreeMap, HashMap, HashSet};

use cnnzoo_proto::{tensor_proto::DataType, type_proto, ModelProto, NodeProto, TensorProto, TypeProto, ValueInfoProto};

use crate::onnx_build::{int, tensor};
use crate::ExportError;

/// How activation ranges are chosen from the calibration values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The smallest and largest value seen.
    MinMax,
    /// The range holding this percentage of the values (e.g. 99.99), the
    /// rest split evenly between the two tails.
    Percentile(f64),
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Method::MinMax => write!(f, "minmax"),
            Method::Percentile(p) => write!(f, "percentile {p}"),
        }
    }
}

/// The lowest opset whose DequantizeLinear takes per-channel scales (`axis`).
pub const MIN_OPSET: i64 = 13;

/// Ops that only move values: their output keeps the input's quantization.
const MOVES_VALUES: &[&str] = &["MaxPool", "GlobalMaxPool", "Flatten"];
/// Ops whose weights (input 1) and bias (input 2) are quantized.
const WEIGHTED: &[&str] = &["Conv", "Gemm"];

/// Where the Q/DQ pairs go, worked out from the fp32 model alone.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Each activation to quantize, with the fp32 tensor whose range it takes.
    sites: Vec<(String, Source)>,
    /// Relu nodes (by index) that the quantization replaces.
    removed: HashSet<usize>,
    /// A removed Relu's output name -> its input's name.
    renamed: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// Measured on this tensor of the fp32 model.
    Measured(String),
    /// The same parameters as this (earlier) site.
    SameAs(String),
}

fn float_type() -> TypeProto {
    let t = type_proto::Tensor { elem_type: DataType::Float as i32, shape: None };
    TypeProto { value: Some(type_proto::Value::TensorType(t)), ..Default::default() }
}

impl Plan {
    pub fn new(model: &ModelProto) -> Result<Plan, ExportError> {
        let g = model.graph.as_ref().ok_or_else(|| ExportError::Quantize("the model has no graph".into()))?;
        let initializers: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
        let outputs: HashSet<&str> = g.output.iter().map(|v| v.name.as_str()).collect();
        let mut consumers: HashMap<&str, usize> = HashMap::new();
        for n in &g.node {
            for i in &n.input {
                *consumers.entry(i.as_str()).or_default() += 1;
            }
        }
        let graph_inputs: HashSet<&str> = g.input.iter().map(|v| v.name.as_str()).collect();
        // Relus whose input is a node output that feeds nothing else, neither
        // of them a graph output: `absorbed` maps that input to the Relu's output.
        let mut removed = HashSet::new();
        let mut renamed = HashMap::new();
        let mut absorbed: HashMap<&str, &str> = HashMap::new();
        for (k, n) in g.node.iter().enumerate() {
            let (i, o) = (n.input[0].as_str(), n.output[0].as_str());
            let alone = consumers.get(i) == Some(&1) && ![&outputs, &initializers, &graph_inputs].iter().any(|set| set.contains(i));
            if n.op_type == "Relu" && alone && !outputs.contains(o) {
                removed.insert(k);
                renamed.insert(o.to_string(), i.to_string());
                absorbed.insert(i, o);
            }
        }
        let mut sites: Vec<(String, Source)> = g.input.iter().map(|v| (v.name.clone(), Source::Measured(v.name.clone()))).collect();
        for (k, n) in g.node.iter().enumerate() {
            let out = n.output[0].as_str();
            // Quantized where something reads it (a removed Relu reads its
            // input); a graph output alone stays float.
            if removed.contains(&k) || !consumers.contains_key(out) {
                continue;
            }
            let source = if MOVES_VALUES.contains(&n.op_type.as_str()) {
                Source::SameAs(renamed.get(&n.input[0]).unwrap_or(&n.input[0]).clone())
            } else {
                // A removed Relu's input takes the Relu's range.
                Source::Measured(absorbed.get(out).copied().unwrap_or(out).to_string())
            };
            sites.push((out.to_string(), source));
        }
        Ok(Plan { sites, removed, renamed })
    }

    /// The fp32 tensors whose values calibration must see, once each.
    pub fn measured(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.sites
            .iter()
            .filter_map(|(_, s)| match s {
                Source::Measured(t) if seen.insert(t.clone()) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    /// The fp32 model with the measured tensors as its outputs (and no others).
    pub fn calibration_model(&self, model: &ModelProto) -> ModelProto {
        let mut m = model.clone();
        if let Some(g) = m.graph.as_mut() {
            g.output =
                self.measured().into_iter().map(|name| ValueInfoProto { name, r#type: Some(float_type()), ..Default::default() }).collect();
        }
        m
    }

    /// The INT8 (QDQ) model: `model` with the Relus replaced, Q/DQ pairs on
    /// every site with the ranges measured, and Conv/Gemm weights and biases
    /// quantized per output channel.
    pub fn quantize(&self, model: &ModelProto, ranges: &BTreeMap<String, (f32, f32)>) -> Result<ModelProto, ExportError> {
        let opset = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(0, |o| o.version);
        if opset < MIN_OPSET {
            return Err(ExportError::Quantize(format!(
                "INT8 export needs opset {MIN_OPSET} or later (per-channel scales); this model has {opset}"
            )));
        }
        let mut m = model.clone();
        let g = m.graph.as_mut().ok_or_else(|| ExportError::Quantize("the model has no graph".into()))?;
        // Each site's scale and zero point.
        let mut params: HashMap<String, (f32, u8)> = HashMap::new();
        for (tensor_name, source) in &self.sites {
            let p = match source {
                Source::Measured(t) => {
                    let &(lo, hi) = ranges.get(t).ok_or_else(|| ExportError::Quantize(format!("no calibration range for '{t}'")))?;
                    uint8_params(lo, hi)
                }
                Source::SameAs(t) => *params
                    .get(t)
                    .ok_or_else(|| ExportError::Quantize(format!("'{tensor_name}' follows '{t}', which has no parameters")))?,
            };
            params.insert(tensor_name.clone(), p);
        }
        let weights: HashMap<String, TensorProto> = g.initializer.iter().map(|t| (t.name.clone(), t.clone())).collect();
        let mut nodes: Vec<NodeProto> = vec![];
        let mut inits: Vec<TensorProto> = vec![];
        // The graph's inputs are quantized before any node reads them.
        for v in &g.input {
            if let Some(&(s, zp)) = params.get(&v.name) {
                push_qdq(&mut nodes, &mut inits, &v.name, s, zp);
            }
        }
        let dq = |name: &str| -> String {
            let name = self.renamed.get(name).map(String::as_str).unwrap_or(name);
            if params.contains_key(name) {
                format!("{name}.dq")
            } else {
                name.to_string()
            }
        };
        let mut quantized_weights = HashSet::new();
        for (k, n) in g.node.iter().enumerate() {
            if self.removed.contains(&k) {
                continue;
            }
            let mut n = n.clone();
            if WEIGHTED.contains(&n.op_type.as_str()) && n.input.len() >= 2 && weights.contains_key(&n.input[1]) {
                let x = self.renamed.get(&n.input[0]).unwrap_or(&n.input[0]);
                let &(sx, _) =
                    params.get(x).ok_or_else(|| ExportError::Quantize(format!("{}: its input '{x}' is not quantized", n.name)))?;
                let w = &weights[&n.input[1]];
                let scales = push_weight(&mut nodes, &mut inits, w)?;
                if n.input.len() >= 3 {
                    if let Some(b) = weights.get(&n.input[2]) {
                        push_bias(&mut nodes, &mut inits, b, sx, &scales)?;
                        n.input[2] = format!("{}.dq", b.name);
                        quantized_weights.insert(b.name.clone());
                    }
                }
                n.input[1] = format!("{}.dq", w.name);
                quantized_weights.insert(w.name.clone());
                n.input[0] = dq(&n.input[0]);
            } else {
                for i in n.input.iter_mut() {
                    if !weights.contains_key(i.as_str()) {
                        *i = dq(i);
                    }
                }
            }
            let out = n.output[0].clone();
            nodes.push(n);
            if let Some(&(s, zp)) = params.get(&out) {
                push_qdq(&mut nodes, &mut inits, &out, s, zp);
            }
        }
        g.node = nodes;
        g.initializer.retain(|t| !quantized_weights.contains(&t.name));
        g.initializer.extend(inits);
        Ok(m)
    }
}

/// UINT8 scale and zero point for values in `[lo, hi]`, a range widened to
/// hold 0 so that 0 (padding, a Relu's floor) is exact.
pub fn uint8_params(lo: f32, hi: f32) -> (f32, u8) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zp = (-lo / scale).round().clamp(0.0, 255.0) as u8;
    (scale, zp)
}

fn scalar(name: String, data_type: DataType, raw: Vec<u8>) -> TensorProto {
    TensorProto { name, dims: vec![], data_type: data_type as i32, raw_data: raw, ..Default::default() }
}

/// `name -> QuantizeLinear -> name.q -> DequantizeLinear -> name.dq`.
fn push_qdq(nodes: &mut Vec<NodeProto>, inits: &mut Vec<TensorProto>, name: &str, scale: f32, zp: u8) {
    let (s, z) = (format!("{name}.scale"), format!("{name}.zero_point"));
    inits.push(scalar(s.clone(), DataType::Float, scale.to_le_bytes().to_vec()));
    inits.push(scalar(z.clone(), DataType::Uint8, vec![zp]));
    let q = format!("{name}.q");
    nodes.push(crate::onnx_build::node("QuantizeLinear", &format!("{name}.quantize"), &[name, &s, &z], &q, vec![]));
    nodes.push(crate::onnx_build::node("DequantizeLinear", &format!("{name}.dequantize"), &[&q, &s, &z], &format!("{name}.dq"), vec![]));
}

/// The weight as INT8 per output channel (axis 0), dequantized for its op;
/// returns the channel scales.
fn push_weight(nodes: &mut Vec<NodeProto>, inits: &mut Vec<TensorProto>, w: &TensorProto) -> Result<Vec<f32>, ExportError> {
    let values = floats(w)?;
    let channels = *w.dims.first().ok_or_else(|| ExportError::Quantize(format!("weight '{}' has no dimensions", w.name)))? as usize;
    let per = values.len() / channels.max(1);
    let mut scales = Vec::with_capacity(channels);
    let mut q = Vec::with_capacity(values.len());
    for c in values.chunks(per.max(1)) {
        let amax = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(c.iter().map(|v| (v / s).round().clamp(-127.0, 127.0) as i8 as u8));
    }
    push_per_channel(nodes, inits, w, DataType::Int8, q, &scales);
    Ok(scales)
}

/// The bias as INT32 with scale `sx * sw[c]` per channel, as the INT8 kernels take it.
fn push_bias(nodes: &mut Vec<NodeProto>, inits: &mut Vec<TensorProto>, b: &TensorProto, sx: f32, sw: &[f32]) -> Result<(), ExportError> {
    let values = floats(b)?;
    if values.len() != sw.len() {
        return Err(ExportError::Quantize(format!("bias '{}' has {} values for {} channels", b.name, values.len(), sw.len())));
    }
    let scales: Vec<f32> = sw.iter().map(|s| s * sx).collect();
    let q: Vec<u8> = values
        .iter()
        .zip(&scales)
        .flat_map(|(v, s)| ((v / s).round().clamp(i32::MIN as f32, i32::MAX as f32) as i32).to_le_bytes())
        .collect();
    push_per_channel(nodes, inits, b, DataType::Int32, q, &scales);
    Ok(())
}

/// Replaces initializer `t` by its quantized values `raw` (of `data_type`),
/// one scale per channel of axis 0 and zero points of 0, and the
/// DequantizeLinear that gives `t.dq` back in float.
fn push_per_channel(
    nodes: &mut Vec<NodeProto>,
    inits: &mut Vec<TensorProto>,
    t: &TensorProto,
    data_type: DataType,
    raw: Vec<u8>,
    scales: &[f32],
) {
    let name = &t.name;
    let (qn, sn, zn) = (format!("{name}.q"), format!("{name}.scale"), format!("{name}.zero_point"));
    let width = if data_type == DataType::Int32 { 4 } else { 1 };
    inits.push(TensorProto { name: qn.clone(), dims: t.dims.clone(), data_type: data_type as i32, raw_data: raw, ..Default::default() });
    inits.push(tensor(&sn, &[scales.len()], scales));
    inits.push(TensorProto {
        name: zn.clone(),
        dims: vec![scales.len() as i64],
        data_type: data_type as i32,
        raw_data: vec![0; width * scales.len()],
        ..Default::default()
    });
    nodes.push(crate::onnx_build::node(
        "DequantizeLinear",
        &format!("{name}.dequantize"),
        &[&qn, &sn, &zn],
        &format!("{name}.dq"),
        vec![int("axis", 0)],
    ));
}

/// An fp32 initializer's values (our exporter writes raw data; others may use float_data).
pub(crate) fn floats(t: &TensorProto) -> Result<Vec<f32>, ExportError> {
    if t.data_type != DataType::Float as i32 {
        return Err(ExportError::Quantize(format!("initializer '{}' is not float32", t.name)));
    }
    if !t.raw_data.is_empty() {
        Ok(t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    } else {
        Ok(t.float_data.clone())
    }
}

/// Ranges of the calibration tensors, gathered batch by batch: one pass for
/// min-max; a second, over histograms within those extremes, for percentiles.
#[derive(Debug, Clone)]
pub struct Observer {
    method: Method,
    names: Vec<String>,
    lo: Vec<f32>,
    hi: Vec<f32>,
    histograms: Option<Vec<Vec<u64>>>,
}

const BINS: usize = 2048;

impl Observer {
    pub fn new(method: Method, names: Vec<String>) -> Observer {
        let n = names.len();
        Observer { method, names, lo: vec![f32::INFINITY; n], hi: vec![f32::NEG_INFINITY; n], histograms: None }
    }

    /// How many times the calibration images must be run.
    pub fn passes(&self) -> usize {
        match self.method {
            Method::MinMax => 1,
            Method::Percentile(_) => 2,
        }
    }

    /// Records tensor `k`'s values from one batch, in pass `pass`.
    pub fn observe(&mut self, pass: usize, k: usize, values: &[f32]) {
        if pass == 0 {
            for &v in values.iter().filter(|v| v.is_finite()) {
                self.lo[k] = self.lo[k].min(v);
                self.hi[k] = self.hi[k].max(v);
            }
            return;
        }
        let n = self.names.len();
        let hists = self.histograms.get_or_insert_with(|| vec![vec![0; BINS]; n]);
        let (lo, hi) = (self.lo[k], self.hi[k]);
        if hi <= lo {
            return;
        }
        let per = BINS as f32 / (hi - lo);
        for &v in values.iter().filter(|v| v.is_finite()) {
            let b = (((v - lo) * per) as usize).min(BINS - 1);
            hists[k][b] += 1;
        }
    }

    /// Each tensor's range.
    pub fn ranges(&self) -> BTreeMap<String, (f32, f32)> {
        self.names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let (lo, hi) = if self.lo[k].is_finite() { (self.lo[k], self.hi[k]) } else { (0.0, 0.0) };
                let range = match (self.method, &self.histograms) {
                    (Method::Percentile(p), Some(h)) if hi > lo => clip(&h[k], lo, hi, p),
                    _ => (lo, hi),
                };
                (name.clone(), range)
            })
            .collect()
    }
}

/// The range `[lo, hi]` narrowed to hold `percent` of the histogram's values.
fn clip(hist: &[u64], lo: f32, hi: f32, percent: f64) -> (f32, f32) {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return (lo, hi);
    }
    let tail = ((1.0 - percent / 100.0) / 2.0 * total as f64) as u64;
    let width = (hi - lo) / hist.len() as f32;
    let mut seen = 0;
    let first = hist.iter().position(|&c| {
        seen += c;
        seen > tail
    });
    seen = 0;
    let last = hist.iter().rposition(|&c| {
        seen += c;
        seen > tail
    });
    match (first, last) {
        // A bound the data reaches at 0 or beyond keeps the exact extreme.
        (Some(f), Some(l)) => {
            (if f == 0 { lo } else { lo + f as f32 * width }, if l + 1 == hist.len() { hi } else { lo + (l + 1) as f32 * width })
        }
        _ => (lo, hi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_exact_and_the_range_is_covered() {
        let (s, zp) = uint8_params(-1.0, 3.0);
        assert_eq!(zp, 64);
        assert!((s - 4.0 / 255.0).abs() < 1e-7);
        assert_eq!(uint8_params(0.5, 2.0).1, 0, "a positive range starts at 0");
        assert_eq!(uint8_params(-2.0, -0.5).1, 255, "a negative one ends at 0");
        assert_eq!(uint8_params(0.0, 0.0), (1.0, 0), "a constant 0 tensor");
    }

    #[test]
    fn percentiles_clip_outliers_and_minmax_keeps_them() {
        let mut values: Vec<f32> = (0..100_000).map(|i| (i % 1000) as f32 / 1000.0).collect();
        values.push(50.0);
        for (method, want_hi) in [(Method::MinMax, 50.0), (Method::Percentile(99.9), 1.0)] {
            let mut o = Observer::new(method, vec!["t".into()]);
            for pass in 0..o.passes() {
                for chunk in values.chunks(7_000) {
                    o.observe(pass, 0, chunk);
                }
            }
            let (lo, hi) = o.ranges()["t"];
            assert_eq!(lo, 0.0, "{method}");
            assert!((hi - want_hi).abs() < 0.05, "{method}: hi {hi}");
        }
    }
}
