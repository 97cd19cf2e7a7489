//! A model held in memory, run on the CPU with every output returned by
//! name: for work on a graph before it is a file, such as measuring the
//! activations of a model for INT8 calibration, where the outputs are
//! whatever inner tensors the caller exposed.

use ndarray::ArrayView4;
use ort::session::Session;
use ort::value::{PrimitiveTensorElementType, TensorRef};

use crate::runtime::environment;
use crate::InferError;

/// An ONNX model loaded from bytes, on ONNX Runtime's CPU provider.
#[derive(Debug)]
pub struct Probe {
    session: Session,
    input: String,
    outputs: Vec<String>,
}

impl Probe {
    pub fn new(model: &[u8]) -> Result<Probe, InferError> {
        let rt = InferError::ort::<ort::Error>("loading the model in memory");
        let session = Session::builder(environment(cnnzoo_models::Device::Cpu)?).map_err(&rt)?.commit_from_memory(model).map_err(&rt)?;
        let input =
            session.inputs().first().map(|i| i.name().to_string()).ok_or_else(|| InferError::Runtime("the model has no input".into()))?;
        let outputs = session.outputs().iter().map(|o| o.name().to_string()).collect();
        Ok(Probe { session, input, outputs })
    }

    /// The outputs' names, in the order [`Probe::run`] returns them.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }

    /// Every output's values for input `x`, flattened.
    pub fn run(&mut self, x: ArrayView4<f32>) -> Result<Vec<Vec<f32>>, InferError> {
        self.run_any(x)
    }

    /// [`Probe::run`] for a model that takes 8-bit pixels (`--embed-preprocessing`).
    pub fn run_pixels(&mut self, x: ArrayView4<u8>) -> Result<Vec<Vec<f32>>, InferError> {
        self.run_any(x)
    }

    fn run_any<T: PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
        &mut self,
        x: ArrayView4<T>,
    ) -> Result<Vec<Vec<f32>>, InferError> {
        let rt = InferError::ort::<ort::Error>("running the model");
        let x = x.as_standard_layout();
        let tensor = TensorRef::from_array_view(x.view()).map_err(&rt)?;
        let outputs = self.session.run(ort::inputs![self.input.as_str() => tensor]).map_err(&rt)?;
        self.outputs
            .iter()
            .map(|name| outputs[name.as_str()].try_extract_array::<f32>().map(|a| a.iter().copied().collect()).map_err(&rt))
            .collect()
    }
}
