//! One served backbone: what it says of itself (metadata) and how a request
//! becomes its input. A model takes exactly one of two inputs:
//! - `input`, FP32 `[N, C, H, W]`: network input, preprocessed by the client;
//! - `image`, BYTES `[N]`: encoded image files (PNG, JPEG, ...), decoded and
//!   preprocessed here by the model's card, exactly as `cnnzoo-infer` does.
//!
//! and answers `logits` (FP32 `[N, classes]`, when it has a head) and
//! `features` (FP32 `[N, D]`, the pooled embedding).

use std::path::PathBuf;
use std::sync::Arc;

use ndarray::{Array4, Axis};

use cnnzoo_infer::{Backbone, Encoded};
use cnnzoo_models::card::{FEATURES, INPUT, LOGITS};

use crate::batcher::{Arrival, BatchConfig, Batcher};
use crate::error::ServeError;
use crate::metrics::ModelMetrics;
use crate::tensor::{self, Data, InferRequest, InferResponse, Output, BYTES, FP32};

/// The name of the encoded-image input.
pub const IMAGE: &str = "image";

/// An input or output as model metadata describes it; `-1` is the free batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

/// A model being served.
#[derive(Debug)]
pub struct Model {
    pub name: String,
    backbone: Arc<Backbone>,
    batcher: Batcher,
    pub metrics: Arc<ModelMetrics>,
}

impl Model {
    pub fn new(name: String, backbone: Backbone, config: BatchConfig) -> std::io::Result<Model> {
        let backbone = Arc::new(backbone);
        let metrics = Arc::new(ModelMetrics::default());
        let batcher = Batcher::start(&name, Arc::clone(&backbone), config, Arc::clone(&metrics))?;
        Ok(Model { name, backbone, batcher, metrics })
    }

    /// Counts a request for this model as arriving (see [`Batcher`]): take it
    /// as soon as the model is known, and hand it to [`Model::infer`].
    pub fn arrival(&self) -> Arrival {
        self.batcher.arrival()
    }

    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    /// `platform` in model metadata: what runs the model.
    pub fn platform(&self) -> &'static str {
        "onnxruntime_onnx"
    }

    /// The two inputs a request may use (exactly one per request).
    pub fn inputs(&self) -> Vec<TensorMetadata> {
        let p = &self.backbone.card().preprocessing;
        vec![
            TensorMetadata { name: INPUT.into(), datatype: FP32.into(), shape: vec![-1, p.channels as i64, p.size as i64, p.size as i64] },
            TensorMetadata { name: IMAGE.into(), datatype: BYTES.into(), shape: vec![-1] },
        ]
    }

    pub fn outputs(&self) -> Vec<TensorMetadata> {
        let mut out = vec![];
        if self.backbone.has_logits() {
            let classes = self.backbone.card().classes.len() as i64;
            out.push(TensorMetadata { name: LOGITS.into(), datatype: FP32.into(), shape: vec![-1, classes] });
        }
        out.push(TensorMetadata { name: FEATURES.into(), datatype: FP32.into(), shape: vec![-1, self.backbone.feature_dim() as i64] });
        out
    }

    /// Checks a request, decodes its images if it has any, queues it for
    /// the next batch and answers with the outputs asked for. Returns the
    /// rows the request had along with the result, for the log.
    pub async fn infer(&self, request: InferRequest, arrival: Arrival) -> (usize, Result<InferResponse, ServeError>) {
        let wanted = match self.requested_outputs(&request.outputs) {
            Ok(w) => w,
            Err(e) => return (0, Err(e)),
        };
        let x = match self.input(request.inputs).await {
            Ok(x) => x,
            Err(e) => return (0, Err(e)),
        };
        let rows = x.len_of(Axis(0));
        let result = self.batcher.run(x, arrival).await.map(|out| {
            let outputs = wanted
                .into_iter()
                .map(|name| {
                    let a = if name == LOGITS { out.logits.as_ref().expect("checked: the model has logits") } else { &out.features };
                    Output { name, shape: [a.nrows(), a.ncols()], data: a.iter().copied().collect() }
                })
                .collect();
            InferResponse { model: self.name.clone(), id: request.id, outputs }
        });
        (rows, result)
    }

    /// The outputs to answer with, in the order asked; all when none were named.
    fn requested_outputs(&self, names: &[String]) -> Result<Vec<&'static str>, ServeError> {
        let available: Vec<&'static str> = if self.backbone.has_logits() { vec![LOGITS, FEATURES] } else { vec![FEATURES] };
        if names.is_empty() {
            return Ok(available);
        }
        names
            .iter()
            .map(|n| {
                available.iter().copied().find(|a| a == n).ok_or_else(|| {
                    ServeError::bad_request(format!("model '{}' has no output '{n}' (it has {})", self.name, available.join(", ")))
                })
            })
            .collect()
    }

    /// The network input `[N, C, H, W]` of a request's one input tensor.
    async fn input(&self, mut inputs: Vec<tensor::Input>) -> Result<Array4<f32>, ServeError> {
        if inputs.len() != 1 {
            return Err(ServeError::bad_request(format!(
                "model '{}' takes exactly one input ('{INPUT}' FP32 [-1,C,H,W] or '{IMAGE}' BYTES [-1]); the request has {}",
                self.name,
                inputs.len()
            )));
        }
        let input = inputs.remove(0);
        let max = self.batcher.config().max_batch;
        let rows = match input.shape.first() {
            Some(&n) if n >= 1 && n as usize <= max => n as usize,
            Some(&n) if n > max as i64 => {
                return Err(ServeError::bad_request(format!(
                    "input '{}': batch {n} is over the server's --max-batch {max}; split the request",
                    input.name
                )))
            }
            _ => {
                return Err(ServeError::bad_request(format!("input '{}': shape {:?} has no batch of at least 1", input.name, input.shape)))
            }
        };
        match (input.name.as_str(), input.data) {
            (INPUT, Data::Fp32(data)) => {
                let p = &self.backbone.card().preprocessing;
                let want = [rows as i64, p.channels as i64, p.size as i64, p.size as i64];
                if input.shape != want {
                    return Err(ServeError::bad_request(format!(
                        "input '{INPUT}': shape {:?} does not match the model's [-1, {}, {}, {}]",
                        input.shape, p.channels, p.size, p.size
                    )));
                }
                let shape = (rows, p.channels, p.size, p.size);
                let expected = rows * p.channels * p.size * p.size;
                if data.len() != expected {
                    return Err(ServeError::bad_request(format!(
                        "input '{INPUT}': {} values for shape {:?}, which needs {expected}",
                        data.len(),
                        input.shape
                    )));
                }
                Array4::from_shape_vec(shape, data).map_err(|e| ServeError::internal(e.to_string()))
            }
            (IMAGE, Data::Bytes(files)) => {
                if input.shape.len() != 1 || files.len() != rows {
                    return Err(ServeError::bad_request(format!(
                        "input '{IMAGE}': shape {:?} with {} elements; it takes shape [N] with N encoded images",
                        input.shape,
                        files.len()
                    )));
                }
                let backbone = Arc::clone(&self.backbone);
                tokio::task::spawn_blocking(move || decode(&backbone, files))
                    .await
                    .map_err(|_| ServeError::internal("decoding the images panicked"))?
            }
            (INPUT | IMAGE, _) => Err(tensor::unsupported_datatype(&input.name, &input.datatype)),
            (other, _) => Err(ServeError::bad_request(format!(
                "model '{}' has no input '{other}' (it takes '{INPUT}' FP32 [-1,C,H,W] or '{IMAGE}' BYTES [-1])",
                self.name
            ))),
        }
    }
}

/// Decodes and preprocesses encoded images by the model's card.
fn decode(backbone: &Backbone, files: Vec<Vec<u8>>) -> Result<Array4<f32>, ServeError> {
    let p = &backbone.card().preprocessing;
    let mut x = Array4::zeros((files.len(), p.channels, p.size, p.size));
    for (i, bytes) in files.into_iter().enumerate() {
        let name = PathBuf::from(format!("{IMAGE}[{i}]"));
        let one = backbone.input(&Encoded { name, bytes }).map_err(|e| ServeError::bad_request(e.to_string()))?;
        x.index_axis_mut(Axis(0), i).assign(&one);
    }
    Ok(x)
}
