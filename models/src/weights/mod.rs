//! Named float tensors detached from any framework, checked against a graph,
//! and the one loader that reads them from every format weights come in:
//! `torch.save` state dicts (`.pth`, `.pt`, `.bin`), `.safetensors`, and
//! Hugging Face model folders (timm's `config.json` + `model.safetensors`).
//! The exporter and the trainer take the [`Weights`] it returns and never
//! learn where they came from.

mod hub;
mod import;
pub mod pickle;
mod pth;
pub mod safetensors;
mod source;

use std::collections::BTreeMap;

use crate::{Graph, ModelError};

pub use hub::{weights_file as hub_weights_file, HubConfig, PretrainedCfg};
pub use import::{fit, import, preprocessing_of, published_preprocessing, ImportOptions, Imported, IMAGENET1K_CLASSES};
pub use source::{adapt, adapt_new_head, read_state_dict, StateDict, WeightsSource, MAX_WEIGHTS_BYTES};

/// IEEE half precision to single, exactly (every f16 is an f32).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: shift the fraction up until its leading one is the implicit bit.
            let shift = f.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((f << shift) & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// A dense float32 tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor32 {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A network's parameters and buffers by their graph names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weights(pub BTreeMap<String, Tensor32>);

impl Weights {
    pub fn get(&self, name: &str) -> Option<&Tensor32> {
        self.0.get(name)
    }

    /// Checks that the weights are exactly the graph's parameters with their
    /// shapes, naming the first one missing or mis-shaped (graph order).
    pub fn check(&self, graph: &Graph) -> Result<(), ModelError> {
        for p in graph.params() {
            let t = self.0.get(&p.name).ok_or_else(|| ModelError::MissingParam { name: p.name.clone() })?;
            if t.shape != p.shape {
                return Err(ModelError::ParamShape { name: p.name.clone(), expected: p.shape.clone(), found: t.shape.clone() });
            }
        }
        if self.0.len() != graph.params().count() {
            let known: std::collections::HashSet<&str> = graph.params().map(|p| p.name.as_str()).collect();
            if let Some(extra) = self.0.keys().find(|k| !known.contains(k.as_str())) {
                return Err(ModelError::UnexpectedParam { name: extra.clone(), arch: graph.arch.clone() });
            }
        }
        Ok(())
    }

    /// The weights as a PyTorch state dict in safetensors, keyed by the
    /// graph's names in its order, with a `num_batches_tracked` buffer (0)
    /// after each batch norm's statistics, as `torch.nn.BatchNorm2d` has one:
    /// for a torchvision layout, what `load_state_dict(..., strict=True)` takes.
    pub fn to_state_dict(&self, graph: &Graph) -> Result<Vec<u8>, ModelError> {
        self.check(graph)?;
        let counters: Vec<String> = graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, crate::Op::BatchNorm2d { .. }))
            .map(|n| format!("{}.num_batches_tracked", n.name))
            .collect();
        let mut entries = vec![];
        let mut counter = counters.iter();
        for node in &graph.nodes {
            for p in &node.params {
                entries.push((p.name.as_str(), safetensors::Entry::F32(&self.0[&p.name])));
            }
            if matches!(node.op, crate::Op::BatchNorm2d { .. }) {
                entries.push((counter.next().expect("one per batch norm").as_str(), safetensors::Entry::I64(0)));
            }
        }
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string()), ("arch".to_string(), graph.arch.clone())]);
        Ok(safetensors::write_entries(entries, &meta))
    }

    /// PyTorch's strict `load_state_dict`: every problem at once, the keys
    /// missing, the keys unexpected and the tensors mis-shaped, in one error.
    pub fn check_strict(&self, graph: &Graph) -> Result<(), ModelError> {
        let known: std::collections::HashSet<&str> = graph.params().map(|p| p.name.as_str()).collect();
        let missing: Vec<String> = graph.params().filter(|p| !self.0.contains_key(&p.name)).map(|p| p.name.clone()).collect();
        let unexpected: Vec<String> = self.0.keys().filter(|k| !known.contains(k.as_str())).cloned().collect();
        let mis_shaped: Vec<String> = graph
            .params()
            .filter_map(|p| {
                let t = self.0.get(&p.name)?;
                (t.shape != p.shape).then(|| format!("{} {:?} (the network's is {:?})", p.name, t.shape, p.shape))
            })
            .collect();
        if missing.is_empty() && unexpected.is_empty() && mis_shaped.is_empty() {
            return Ok(());
        }
        Err(ModelError::StateDict(Box::new(crate::error::Mismatch { arch: graph.arch.clone(), missing, unexpected, mis_shaped })))
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_precision_converts_exactly() {
        let cases =
            [(0x3c00, 1.0), (0xc000, -2.0), (0x7bff, 65504.0), (0x0001, 5.960_464_5e-8), (0x0400, 6.103_515_6e-5), (0x3555, 0.333_251_95)];
        for (h, f) in cases {
            assert_eq!(f16_to_f32(h), f, "{h:#06x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan() && f16_to_f32(0xfc00) == f32::NEG_INFINITY);
    }
}
