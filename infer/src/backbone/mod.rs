//! `Backbone`: one ONNX model opened on one device, shared by any number of
//! threads, that classifies images or turns them into feature vectors.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, ArrayView3, Axis};

use cnnzoo_models::card::Card;
use cnnzoo_models::{CardError, CardOverrides, Choice, ChoiceError, Device};

use crate::fastest::ProbeInput;
use crate::runtime::{Precision, Provider};
use crate::sessions::{Plan, Sessions};

mod batching;
use crate::signature::{Misfit, OutputNames, Signature};
use crate::source::ImageSource;
use crate::{InferError, LoadError};

/// How to open a backbone. `card` overrides the model's card field by field;
/// for ONNX files that cnnzoo did not write it is the card (channels and size
/// at least).
#[derive(Debug, Clone)]
pub struct BackboneOptions {
    pub device: Device,
    /// The number format OpenVINO computes in (other providers compute in
    /// the model's own) [default: auto: with `Device::OpenVino` bf16 where
    /// the CPU has it; OpenVINO chosen by `Device::Auto` computes in fp32].
    pub precision: Precision,
    /// ONNX Runtime intra-op threads, in all [default: ONNX Runtime's choice, all cores].
    pub threads: Option<usize>,
    /// Sessions that run requests side by side, each on its share of the
    /// threads [default: 1]. More streams serve many small concurrent
    /// requests faster (OpenVINO's THROUGHPUT mode, Triton's instances);
    /// one stream gives each request every core.
    pub streams: usize,
    /// Threads that decode and preprocess images [default: all cores].
    pub decode_threads: Option<usize>,
    /// Largest batch per run: bigger inputs are split, bounding memory.
    pub max_batch: usize,
    pub card: CardOverrides,
    /// The output that holds the class scores, for a model that does not name
    /// it `logits` [default: `logits`, or a foreign model's only output].
    pub logits_output: Option<String>,
    /// The output that holds the feature vector [default: `features`].
    pub features_output: Option<String>,
}

impl Default for BackboneOptions {
    fn default() -> Self {
        BackboneOptions {
            device: Device::Auto,
            precision: Precision::Auto,
            threads: None,
            streams: 1,
            max_batch: 64,
            decode_threads: None,
            card: CardOverrides::default(),
            logits_output: None,
            features_output: None,
        }
    }
}

/// One of the top-k classes of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub class: usize,
    pub label: String,
    pub probability: f32,
}

/// What [`Backbone::for_each_batch`] hands over for each batch: row `r` of
/// the outputs belongs to source `indices[r]`; `failures` are the sources whose
/// input could not be made.
#[derive(Debug)]
pub struct Batch {
    pub indices: Vec<usize>,
    pub outputs: Outputs,
    pub failures: Vec<(usize, InferError)>,
}

/// One image as the model takes it (see [`Backbone::input`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The network input `[C, size, size]`, made by cnnzoo's preprocessing.
    Planes(Array3<f32>),
    /// Decoded pixels `[H, W, C]` (C = 1 or 3), for a model that carries its
    /// preprocessing in its graph (`cnnzoo-export --embed-preprocessing`).
    Pixels(Array3<u8>),
}

impl Input {
    fn planes(&self) -> Option<ArrayView3<'_, f32>> {
        if let Input::Planes(x) = self {
            Some(x.view())
        } else {
            None
        }
    }

    fn pixels(&self) -> Option<ArrayView3<'_, u8>> {
        if let Input::Pixels(x) = self {
            Some(x.view())
        } else {
            None
        }
    }
}

/// The two outputs for a batch: class scores (absent for a features-only
/// backbone) and the pooled features.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub logits: Option<Array2<f32>>,
    pub features: Array2<f32>,
}

/// A frozen backbone on ONNX Runtime. `Send + Sync`: share one per process.
#[derive(Debug)]
pub struct Backbone {
    path: PathBuf,
    /// One session per stream, lent to one run at a time.
    sessions: Sessions,
    streams: usize,
    card: Card,
    provider: Provider,
    /// Why `auto` chose the provider, where it measured.
    provider_note: Option<String>,
    max_batch: usize,
    decode_threads: usize,
    signature: Signature,
}

/// The error for a file that is not an ONNX model ONNX Runtime can load,
/// whether its header (read at open) or its graph (loaded after) says so.
fn unloadable(path: &Path, source: LoadError) -> InferError {
    InferError::Unloadable { path: path.to_path_buf(), source }
}

/// Why a classifier without a feature output cannot embed.
pub fn no_features(path: &Path, logits: &str) -> ChoiceError {
    ChoiceError::new(
        Choice::FeaturesOutput,
        format!("{}: its output `{logits}` is the class logits and it has no feature output: name one ({{choice}})", path.display()),
    )
}

/// A model name as `--backbone` takes it: letters, digits, `-`, `_`, `.`;
/// never a path.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Backbone {
    /// Opens `NAME.onnx` in `model_dir`.
    pub fn open_named(name: &str, model_dir: &Path, opts: &BackboneOptions) -> Result<Backbone, InferError> {
        if !valid_name(name) {
            return Err(InferError::Usage(format!("backbone name {name:?}: use letters, digits, '-', '_' or '.' (no paths)")));
        }
        let path = model_dir.join(format!("{name}.onnx"));
        if !path.is_file() {
            let known: Vec<String> = std::fs::read_dir(model_dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".onnx").map(String::from))
                .collect();
            return Err(InferError::Model {
                path,
                problem: format!(
                    "no such backbone (found in {}: {})",
                    model_dir.display(),
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                ),
            });
        }
        Backbone::open(&path, opts)
    }

    /// Opens an ONNX file on the device the options ask for.
    pub fn open(path: impl AsRef<Path>, opts: &BackboneOptions) -> Result<Backbone, InferError> {
        let path = path.as_ref().to_path_buf();
        let bad = |problem: String| InferError::Model { path: path.clone(), problem };
        let len = cnnzoo_models::fsio::check_regular(&path).map_err(|e| bad(e.to_string()))?;
        if len == 0 {
            return Err(bad("empty file (not an ONNX model)".into()));
        }
        let header = crate::onnx_header::read(&path).map_err(|e| unloadable(&path, LoadError::said(&e)))?;
        let from_file = Card::from_metadata(&header.metadata).map_err(|e| bad(format!("invalid model card: {e}")))?;
        let has_card = from_file.is_some();
        let card = Card::merge(from_file, &opts.card).map_err(|e| match e {
            CardError::Missing => InferError::NoCard { path: path.clone() },
            e => bad(e.to_string()),
        })?;

        let names = OutputNames { logits: opts.logits_output.clone(), features: opts.features_output.clone() };
        let signature = Signature::read(&header, &card, &names, has_card).map_err(|e| match e {
            Misfit::Model(problem) => bad(problem),
            Misfit::Outputs(e) => InferError::Choice(e.within(path.display())),
        })?;
        let p = &card.preprocessing;
        let input = signature.input.clone();
        let takes_pixels = signature.takes_pixels;

        // ONNX Runtime builds the sessions (a fifth of a second each for
        // ResNet-18) on their own thread while the first images are decoded;
        // the first run waits for them. `auto` on a CPU where OpenVINO is
        // offered builds and times both providers first (once per model and
        // machine: crate::fastest).
        let max_batch = opts.max_batch.clamp(1, signature.fixed_batch.unwrap_or(usize::MAX));
        let (ph, pw) = p.input_hw();
        let probe_batch = max_batch.min(8);
        let probe = ProbeInput {
            name: input.clone(),
            pixels: takes_pixels,
            shape: if takes_pixels { [probe_batch, ph, pw, p.channels] } else { [probe_batch, p.channels, ph, pw] },
        };
        let plan = Plan {
            file: path.clone(),
            device: opts.device,
            precision: opts.precision,
            threads: opts.threads,
            streams: opts.streams.max(1),
            probe,
        };
        let streams = plan.streams;
        let (sessions, provider, provider_note) = Sessions::load(plan)?;
        Ok(Backbone {
            path,
            sessions,
            streams,
            card,
            provider,
            provider_note,
            max_batch,
            decode_threads: opts.decode_threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1),
            signature,
        })
    }

    /// Waits until ONNX Runtime has loaded the model, which [`Backbone::open`]
    /// starts on its own thread: a service calls this at start-up to fail
    /// there, not on its first request, if the graph cannot be loaded.
    pub fn ready(&self) -> Result<(), InferError> {
        self.sessions.ready().map_err(|e| unloadable(&self.path, e))
    }

    pub fn card(&self) -> &Card {
        &self.card
    }

    /// What the model takes and gives.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The execution provider the session runs on.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Why `--device auto` chose [`Backbone::provider`], where it measured
    /// (the CPU provider against OpenVINO's).
    pub fn provider_note(&self) -> Option<&str> {
        self.provider_note.as_deref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the graph takes decoded pixels and preprocesses them itself.
    pub fn takes_pixels(&self) -> bool {
        self.signature.takes_pixels
    }

    /// Whether the model has a classifier head.
    pub fn has_logits(&self) -> bool {
        self.signature.logits.is_some()
    }

    /// The name of the output that holds the class scores.
    pub fn logits_output(&self) -> Option<&str> {
        self.signature.logits.as_deref()
    }

    /// Whether the model has a feature output (a foreign classifier may not).
    pub fn has_features(&self) -> bool {
        self.signature.has_features
    }

    /// The width of a feature vector (`embed`'s columns).
    pub fn feature_dim(&self) -> usize {
        self.signature.feature_dim
    }

    /// How many runs can go at once, each on a session of its own.
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// The largest batch one ONNX Runtime run receives.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The width of the logits, where the graph or the card fixes it.
    pub fn logits_dim(&self) -> Option<usize> {
        self.signature.logits_dim
    }

    /// What the model takes of one source (a decoded image, a file, encoded
    /// bytes): the network input made by the card's preprocessing, or the
    /// decoded pixels for a model that carries its preprocessing.
    pub fn input(&self, source: &(impl ImageSource + ?Sized)) -> Result<Input, InferError> {
        let p = &self.card.preprocessing;
        Ok(if self.signature.takes_pixels { Input::Pixels(source.pixels(p)?) } else { Input::Planes(source.input(p)?) })
    }

    /// One feature vector per image, `[N, D]`. Files and encoded images are
    /// decoded in parallel while the model runs; the first one that cannot
    /// be read is the error.
    pub fn embed<S: ImageSource>(&self, images: &[S]) -> Result<Array2<f32>, InferError> {
        if !self.signature.has_features {
            return Err(no_features(&self.path, &self.signature.features).into());
        }
        let mut out = Array2::zeros((0, self.signature.feature_dim));
        self.for_each_whole_batch(images, |outputs| {
            out.append(Axis(0), outputs.features.view()).map_err(|e| InferError::Runtime(format!("gathering features: {e}")))
        })?;
        Ok(out)
    }

    /// The `k` most probable classes of each image, most probable first.
    pub fn classify<S: ImageSource>(&self, images: &[S], k: usize) -> Result<Vec<Vec<Prediction>>, InferError> {
        if !self.has_logits() {
            return Err(InferError::Usage(format!("{}: a features-only backbone cannot classify", self.path.display())));
        }
        let mut out = vec![];
        self.for_each_whole_batch(images, |outputs| {
            out.extend(outputs.logits.iter().flat_map(|l| l.outer_iter()).map(|row| self.top_k(&row.to_vec(), k)));
            Ok(())
        })?;
        Ok(out)
    }

    /// Softmax over `logits`, then the `k` largest, labelled by the card.
    pub fn top_k(&self, logits: &[f32], k: usize) -> Vec<Prediction> {
        top_k(logits, k).into_iter().map(|(class, probability)| Prediction { class, label: self.card.label(class), probability }).collect()
    }
}

/// Softmax over `logits` (shifted by the maximum, so large logits cannot
/// overflow), then the `k` most probable classes, ties to the lower index.
fn top_k(logits: &[f32], k: usize) -> Vec<(usize, f32)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    order.into_iter().take(k).map(|class| (class, exp[class] / sum)).collect()
}

#[cfg(test)]
mod tests {
    use super::{no_features, top_k, valid_name};

    #[test]
    fn top_k_is_a_sorted_softmax() {
        let t = top_k(&[1.0, 3.0, 3.0, -2.0], 3);
        assert_eq!(t.iter().map(|p| p.0).collect::<Vec<_>>(), [1, 2, 0]);
        let z = 1.0f32.exp() + 2.0 * 3.0f32.exp() + (-2.0f32).exp();
        assert!((t[0].1 - 3.0f32.exp() / z).abs() < 1e-6 && (t[2].1 - 1.0f32.exp() / z).abs() < 1e-6);
        // Huge logits stay finite; k beyond the classes gives them all.
        let big = top_k(&[1000.0, 999.0], 5);
        assert_eq!(big.len(), 2);
        assert!(big.iter().all(|p| p.1.is_finite()) && (big[0].1 + big[1].1 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_library_names_no_flag_and_the_command_line_does() {
        let e = no_features(std::path::Path::new("m.onnx"), "191");
        assert_eq!(e.choice, cnnzoo_models::Choice::FeaturesOutput);
        assert_eq!(
            e.to_string(),
            "m.onnx: its output `191` is the class logits and it has no feature output: name one (the feature output)"
        );
        let line = cnnzoo_cli::describe(&crate::InferError::from(e));
        assert!(line.ends_with("name one (--features-output NAME)") && !line.contains("the feature output)"), "{line}");
    }

    #[test]
    fn backbone_names_are_names_not_paths() {
        for good in ["lenet", "resnet18", "my-net_v2.1"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".hidden", "../lenet", "a/b", "/etc/passwd", "a b", "naïve"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
