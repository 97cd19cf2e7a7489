//! Named float tensors detached from any framework, checked against a graph.

use std::collections::BTreeMap;

use crate::{Graph, ModelError};

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
}
