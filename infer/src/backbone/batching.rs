//! How a backbone runs: inputs split into runs of at most `max_batch` rows
//! (pixels also by size), each run on a session lent by the pool, outputs
//! checked against the signature and joined back in order; and
//! `for_each_batch`, the one batching layer that `embed`, `classify`,
//! `--eval` and the CLI feed.

use ndarray::{s, Array2, Array4, ArrayView3, ArrayView4, Axis, Ix2};
use ort::value::{PrimitiveTensorElementType, TensorRef};

use super::{unloadable, Backbone, Batch, Input, Outputs};
use crate::source::ImageSource;
use crate::InferError;

impl Backbone {
    /// Runs preprocessed inputs `[N, C, H, W]`, split into batches of at most
    /// `max_batch`.
    pub fn run(&self, x: ArrayView4<f32>) -> Result<Outputs, InferError> {
        if self.signature.takes_pixels {
            return Err(InferError::Usage(format!(
                "{}: this model does its own preprocessing and takes uint8 `{}` [N, H, W, C] pixels, not float32 network input",
                self.path.display(),
                self.signature.input
            )));
        }
        self.run_split(x)
    }

    /// Runs decoded pixels `[N, H, W, C]` through a model that preprocesses
    /// them in its graph, split into batches of at most `max_batch`.
    pub fn run_pixels(&self, x: ArrayView4<u8>) -> Result<Outputs, InferError> {
        if !self.signature.takes_pixels {
            return Err(InferError::Usage(format!(
                "{}: this model takes preprocessed float32 `{}` [N, C, H, W], not pixels",
                self.path.display(),
                self.signature.input
            )));
        }
        self.run_split(x)
    }

    /// Runs images made by [`Backbone::input`], in order: planes `max_batch`
    /// at a time; pixels in runs of consecutive images of one size.
    pub fn run_inputs(&self, inputs: &[Input]) -> Result<Outputs, InferError> {
        let mut parts = vec![];
        let mut rest = inputs;
        while let Some(first) = rest.first() {
            let same = rest
                .iter()
                .take(self.max_batch)
                .take_while(|i| match (i, first) {
                    (Input::Planes(_), Input::Planes(_)) => true,
                    (Input::Pixels(a), Input::Pixels(b)) => a.shape() == b.shape(),
                    _ => false,
                })
                .count();
            let (group, after) = rest.split_at(same);
            parts.push(match first {
                Input::Planes(_) => self.run(stack(group, Input::planes)?.view())?,
                Input::Pixels(_) => self.run_pixels(stack(group, Input::pixels)?.view())?,
            });
            rest = after;
        }
        self.concat(parts)
    }

    /// Outputs of consecutive runs, as one.
    fn concat(&self, parts: Vec<Outputs>) -> Result<Outputs, InferError> {
        let cat = |views: Vec<ndarray::ArrayView2<f32>>, width: usize| match views.is_empty() {
            true => Ok(Array2::zeros((0, width))),
            false => ndarray::concatenate(Axis(0), &views).map_err(|e| InferError::Runtime(e.to_string())),
        };
        let features = cat(parts.iter().map(|p| p.features.view()).collect(), self.signature.feature_dim)?;
        let logits = match self.signature.logits {
            Some(_) => Some(cat(
                parts.iter().filter_map(|p| p.logits.as_ref().map(|l| l.view())).collect(),
                self.signature.logits_dim.unwrap_or(0),
            )?),
            None => None,
        };
        Ok(Outputs { logits, features })
    }

    fn run_split<T: PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
        &self,
        x: ArrayView4<T>,
    ) -> Result<Outputs, InferError> {
        let n = x.len_of(Axis(0));
        let parts = (0..n)
            .step_by(self.max_batch)
            .map(|start| self.run_one(x.slice(s![start..(start + self.max_batch).min(n), .., .., ..])))
            .collect::<Result<Vec<_>, _>>()?;
        self.concat(parts)
    }

    fn run_one<T: PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(&self, x: ArrayView4<T>) -> Result<Outputs, InferError> {
        let rt = InferError::ort::<ort::Error>(self.path.display().to_string());
        let x = x.as_standard_layout();
        let tensor = TensorRef::from_array_view(x.view()).map_err(&rt)?;
        let mut session = self.sessions.lend().map_err(|e| unloadable(&self.path, e))?;
        let outputs = session.run(ort::inputs![self.signature.input.as_str() => tensor]).map_err(&rt)?;
        let take = |name: &str| -> Result<Array2<f32>, InferError> {
            let v = outputs[name].try_extract_array::<f32>().map_err(&rt)?;
            v.into_dimensionality::<Ix2>().map(|a| a.to_owned()).map_err(|e| InferError::Runtime(format!("output {name}: {e}")))
        };
        let rows = x.len_of(Axis(0));
        let sig = &self.signature;
        let broken = |e: String| InferError::Runtime(format!("{}: {e}", self.path.display()));
        let features = take(&sig.features)?;
        sig.check_output(&sig.features, &features, rows, self.card.classes.len()).map_err(broken)?;
        let logits = sig.logits.as_deref().map(take).transpose()?;
        if let (Some(name), Some(l)) = (&sig.logits, &logits) {
            sig.check_output(name, l, rows, self.card.classes.len()).map_err(broken)?;
        }
        Ok(Outputs { logits, features })
    }

    /// The one batching layer: turns each source into an input with `input`
    /// (decoding and preprocessing it), runs the inputs `max_batch` at a time,
    /// and hands `each` the batch's outputs with the indices of the sources
    /// they belong to, and the sources that failed with their errors.
    ///
    /// Inputs are made on `decode_threads` worker threads while ONNX Runtime
    /// runs the batch before; at most a few batches of inputs and one decoded
    /// image per worker are in memory, whatever the number of sources.
    /// Results come in source order.
    pub fn for_each_batch<S: Sync>(
        &self,
        sources: &[S],
        input: impl Fn(&S) -> Result<Input, InferError> + Sync,
        mut each: impl FnMut(Batch) -> Result<(), InferError>,
    ) -> Result<(), InferError> {
        crate::pipeline::stream(sources, self.decode_threads, self.max_batch, &input, |first, made| {
            let (mut inputs, mut indices, mut failures) = (Vec::with_capacity(made.len()), vec![], vec![]);
            for (i, result) in made.into_iter().enumerate() {
                match result {
                    Ok(one) => {
                        inputs.push(one);
                        indices.push(first + i);
                    }
                    Err(e) => failures.push((first + i, e)),
                }
            }
            let outputs = self.run_inputs(&inputs)?;
            each(Batch { indices, outputs, failures })
        })
    }

    /// [`Backbone::for_each_batch`] of images, where the first image that
    /// cannot be read is the error: `each` gets every batch's outputs.
    pub(super) fn for_each_whole_batch<S: ImageSource>(
        &self,
        images: &[S],
        mut each: impl FnMut(&Outputs) -> Result<(), InferError>,
    ) -> Result<(), InferError> {
        self.for_each_batch(
            images,
            |img| self.input(img),
            |batch| match batch.failures.into_iter().next() {
                Some((_, e)) => Err(e),
                None => each(&batch.outputs),
            },
        )
    }
}

/// The images of `group` (all of one shape) as one `[N, ...]` array.
fn stack<'a, T: Clone + 'a>(group: &'a [Input], view: impl Fn(&'a Input) -> Option<ArrayView3<'a, T>>) -> Result<Array4<T>, InferError> {
    let views: Vec<_> = group.iter().filter_map(view).map(|v| v.insert_axis(Axis(0))).collect();
    ndarray::concatenate(Axis(0), &views).map_err(|e| InferError::Runtime(format!("batching inputs: {e}")))
}
