//! One served backbone: what it says of itself (metadata) and how a request
//! becomes its input. A model takes exactly one of two inputs:
//! - `input`, FP32 `[N, C, H, W]`: network input, preprocessed by the client;
//! - `image`, BYTES `[N]`: encoded image files (PNG, JPEG, ...), decoded and
//!   preprocessed here by the model's card, exactly as `cnnzoo-infer` does.
//!
//! A model exported with `--embed-preprocessing` takes `image` only: its
//! images are decoded here and preprocessed by its own graph.
//!
//! and answers `logits` (FP32 `[N, classes]`, when it has a head) and
//! `features` (FP32 `[N, D]`, the pooled embedding).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::Array4;

use cnnzoo_infer::{Backbone, Encoded, Input};
use cnnzoo_models::card::{FEATURES, IMAGE, INPUT, LOGITS};
use cnnzoo_models::data::probe_image;

use crate::batcher::{Arrival, BatchConfig, Batcher};
use crate::budget::{DecodeBudget, Reservation};
use crate::error::ServeError;
use crate::metrics::ModelMetrics;
use crate::tensor::{self, Data, InferRequest, InferResponse, Output, BYTES, FP32};

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
    budget: Arc<DecodeBudget>,
    pub metrics: Arc<ModelMetrics>,
}

impl Model {
    /// A model whose images decode within the server's `budget`.
    pub fn new(name: String, backbone: Backbone, config: BatchConfig, budget: Arc<DecodeBudget>) -> std::io::Result<Model> {
        let backbone = Arc::new(backbone);
        let metrics = Arc::new(ModelMetrics::default());
        let batcher = Batcher::start(&name, Arc::clone(&backbone), config, Arc::clone(&metrics))?;
        Ok(Model { name, backbone, batcher, budget, metrics })
    }

    /// Counts a request for this model as arriving (see [`Batcher`]): take it
    /// as soon as the model is known, and hand it to [`Model::infer`].
    pub fn arrival(&self) -> Arrival {
        self.batcher.arrival()
    }

    /// Whether requests for the model can be answered (its batching thread runs).
    pub fn ready(&self) -> bool {
        self.batcher.alive()
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
        let (ph, pw) = p.input_hw();
        let image = TensorMetadata { name: IMAGE.into(), datatype: BYTES.into(), shape: vec![-1] };
        if self.backbone.signature().takes_pixels {
            return vec![image];
        }
        vec![TensorMetadata { name: INPUT.into(), datatype: FP32.into(), shape: vec![-1, p.channels as i64, ph as i64, pw as i64] }, image]
    }

    /// The outputs a request may ask for, from the model's signature.
    pub fn outputs(&self) -> Vec<TensorMetadata> {
        let sig = self.backbone.signature();
        let mut out = vec![];
        if sig.logits.is_some() {
            let classes = sig.logits_dim.map_or(-1, |w| w as i64);
            out.push(TensorMetadata { name: LOGITS.into(), datatype: FP32.into(), shape: vec![-1, classes] });
        }
        if sig.has_features {
            out.push(TensorMetadata { name: FEATURES.into(), datatype: FP32.into(), shape: vec![-1, sig.feature_dim as i64] });
        }
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
        // Decoded pixels a model takes as they are stay reserved until the run.
        let (x, _held) = match self.input(request.inputs).await {
            Ok(x) => x,
            Err(e) => return (0, Err(e)),
        };
        let rows = x.len();
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
        let available: Vec<&'static str> = [(LOGITS, self.backbone.has_logits()), (FEATURES, self.backbone.has_features())]
            .into_iter()
            .filter(|o| o.1)
            .map(|o| o.0)
            .collect();
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

    /// The images of a request's one input tensor, as the model takes them,
    /// and the decoding memory they still hold.
    async fn input(&self, mut inputs: Vec<tensor::RequestInput>) -> Result<(Vec<Input>, Vec<Reservation>), ServeError> {
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
            (INPUT, Data::Fp32(_)) if self.backbone.takes_pixels() => Err(ServeError::bad_request(format!(
                "model '{}' does its own preprocessing: send encoded images as '{IMAGE}' BYTES [-1], not '{INPUT}'",
                self.name
            ))),
            (INPUT, Data::Fp32(data)) => {
                let p = &self.backbone.card().preprocessing;
                let (ph, pw) = p.input_hw();
                let want = [rows as i64, p.channels as i64, ph as i64, pw as i64];
                if input.shape != want {
                    return Err(ServeError::bad_request(format!(
                        "input '{INPUT}': shape {:?} does not match the model's [-1, {}, {ph}, {pw}]",
                        input.shape, p.channels
                    )));
                }
                let shape = (rows, p.channels, ph, pw);
                let expected = rows * p.channels * ph * pw;
                if data.len() != expected {
                    return Err(ServeError::bad_request(format!(
                        "input '{INPUT}': {} values for shape {:?}, which needs {expected}",
                        data.len(),
                        input.shape
                    )));
                }
                let x = Array4::from_shape_vec(shape, data).map_err(|e| ServeError::internal(e.to_string()))?;
                Ok((x.outer_iter().map(|one| Input::Planes(one.to_owned())).collect(), vec![]))
            }
            (IMAGE, Data::Bytes(files)) => {
                if input.shape.len() != 1 || files.len() != rows {
                    return Err(ServeError::bad_request(format!(
                        "input '{IMAGE}': shape {:?} with {} elements; it takes shape [N] with N encoded images",
                        input.shape,
                        files.len()
                    )));
                }
                self.decode(files).await
            }
            (INPUT | IMAGE, _) => Err(tensor::unsupported_datatype(&input.name, &input.datatype)),
            (other, _) => Err(ServeError::bad_request(format!(
                "model '{}' has no input '{other}' (it takes '{INPUT}' FP32 [-1,C,H,W] or '{IMAGE}' BYTES [-1])",
                self.name
            ))),
        }
    }
}

impl Model {
    /// Decodes encoded images (and preprocesses them, unless the model does)
    /// by the model's card, one at a time, each within the decoding budget.
    async fn decode(&self, files: Vec<Vec<u8>>) -> Result<(Vec<Input>, Vec<Reservation>), ServeError> {
        let card = self.backbone.card();
        let decoding = card.preprocessing.decoding();
        let (mut inputs, mut held) = (Vec::with_capacity(files.len()), vec![]);
        for (i, bytes) in files.into_iter().enumerate() {
            let name = format!("{IMAGE}[{i}]");
            let probe = probe_image(&bytes, Path::new(&name), &decoding).map_err(|e| ServeError::bad_request(e.to_string()))?;
            // A model that preprocesses itself is handed the pixels at full size.
            let handed = if self.backbone.takes_pixels() { probe.pixels() * card.preprocessing.channels as u64 } else { 0 };
            let reservation = self.budget.reserve(&probe, probe.peak_bytes() + handed, &name).await?;
            let backbone = Arc::clone(&self.backbone);
            let input = tokio::task::spawn_blocking(move || backbone.input(&Encoded { name: PathBuf::from(name), bytes }))
                .await
                .map_err(|_| ServeError::internal("decoding the images panicked"))?
                .map_err(|e| ServeError::bad_request(e.to_string()))?;
            if let Input::Pixels(p) = &input {
                held.push(reservation.keep(p.len() as u64));
            }
            inputs.push(input);
        }
        Ok((inputs, held))
    }
}
