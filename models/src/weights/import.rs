//! Published weights to a network of the zoo: which network, at what input,
//! with which classes and preprocessing, each resolved once in a documented
//! order: the caller's options, then the source's own config (a timm
//! folder's `pretrained_cfg` and `label_names`), then the family's defaults
//! (torchvision's `weights.transforms()`, ImageNet-1k's names).

use std::path::Path;

use super::{adapt, read_state_dict, StateDict, Weights, WeightsSource};
use crate::preprocess::Filter;
use crate::{Arch, Choice, ChoiceError, Config, Graph, ModelError, Preprocessing};

/// ImageNet-1k's class names in logit order, as torchvision's weights carry them.
pub const IMAGENET1K_CLASSES: &str = include_str!("../../data/imagenet1k_classes.txt");

/// What the caller says; `None` leaves it to the source and the family.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// A registered network; required unless the source names one (a timm folder).
    pub arch: Option<String>,
    /// 1 sums the first convolution's filters over RGB for grayscale input.
    pub in_chans: Option<usize>,
    /// The network's input side (the crop), and with it the resize in proportion.
    pub size: Option<usize>,
    /// Class names, one per logit.
    pub classes: Option<Vec<String>>,
}

/// A network with its weights and the contract that goes with them.
#[derive(Debug, Clone)]
pub struct Imported {
    pub arch: &'static Arch,
    /// The card's part: class names (the weights' own) and preprocessing.
    pub classes: Vec<String>,
    pub preprocessing: Preprocessing,
    pub graph: Graph,
    pub weights: Weights,
    pub source: WeightsSource,
    /// What was adapted on the way (dropped buffers, renamed keys, a summed stem).
    pub notes: Vec<String>,
}

fn problem(path: &Path, p: impl Into<String>) -> ModelError {
    ModelError::Weights { path: path.to_path_buf(), problem: p.into() }
}

/// Reads `path` and fits it to its network.
pub fn import(path: &Path, opts: &ImportOptions) -> Result<Imported, ModelError> {
    let state = read_state_dict(path)?;
    fit(state, opts)
}

/// [`import`] of a state dict already read.
pub fn fit(state: StateDict, opts: &ImportOptions) -> Result<Imported, ModelError> {
    let path = state.path.clone();
    let hub = match &state.source {
        WeightsSource::Hub(cfg) => Some(cfg.as_ref().clone()),
        _ => None,
    };
    let arch = match (&opts.arch, &hub) {
        (Some(name), _) => Arch::find(name)?,
        (None, Some(cfg)) => cfg.arch().ok_or_else(|| {
            let problem =
                format!("config.json names architecture {:?}, which has no torchvision layout here (give {{choice}})", cfg.architecture);
            ChoiceError::new(Choice::Architecture, problem).within(path.display())
        })?,
        (None, None) => {
            let problem = "a state dict does not say its network: give {choice} (for example tv_resnet18)";
            return Err(ChoiceError::new(Choice::Architecture, problem).within(path.display()).into());
        }
    };
    let mut preprocessing = published_preprocessing(hub.as_ref(), arch).map_err(|e| problem(&path, e))?;
    if let Some(size) = opts.size {
        preprocessing = preprocessing.with_size(size);
    }
    let in_chans = opts.in_chans.unwrap_or(preprocessing.channels);
    preprocessing = preprocessing.with_channels(in_chans);
    preprocessing.validate().map_err(|e| problem(&path, format!("preprocessing: {e}")))?;
    // The classes: as many as the head in the file has.
    let probe = arch.build(&Config { in_channels: in_chans, classes: 1, size: preprocessing.size })?;
    let head = probe.nodes[probe.logits].params.first().map(|p| p.name.clone()).unwrap_or_default();
    let classes = match state.tensors.iter().find(|(k, _)| k.strip_prefix("module.").unwrap_or(k) == head) {
        Some((_, t)) if t.shape.len() == 2 => t.shape[0],
        _ => return Err(problem(&path, format!("no classifier weight {head} in the file (is it a {} state dict?)", arch.name))),
    };
    let graph = arch.build(&Config { in_channels: in_chans, classes, size: preprocessing.size })?;
    let (weights, notes) = adapt(&state, &graph).map_err(|e| problem(&path, e.to_string()))?;
    let names = match (&opts.classes, hub.as_ref().and_then(|c| c.label_names.clone())) {
        (Some(names), _) => names.clone(),
        (None, Some(names)) => names,
        (None, None) if classes == 1000 => IMAGENET1K_CLASSES.lines().map(str::to_string).collect(),
        (None, None) => (0..classes).map(|i| i.to_string()).collect(),
    };
    if names.len() != classes {
        return Err(problem(&path, format!("{} class names for a head of {classes} classes", names.len())));
    }
    Ok(Imported { arch, graph, weights, classes: names, preprocessing, source: state.source, notes })
}

/// The preprocessing the weights were trained with: a timm folder's
/// `pretrained_cfg`, else the family's published transforms
/// (torchvision's `weights.transforms()`), else the network's own card.
pub fn published_preprocessing(hub: Option<&super::HubConfig>, arch: &Arch) -> Result<Preprocessing, String> {
    match hub.and_then(|c| c.pretrained_cfg.as_ref()) {
        Some(cfg) => Preprocessing::timm(cfg).map_err(|e| format!("config.json pretrained_cfg: {e}")),
        None => Ok(match arch.published {
            Some(p) => Preprocessing::torchvision(p.resize_size, p.crop_size, Filter::BilinearAntialias, p.mean, p.std),
            None => Preprocessing::new(arch.default_config().in_channels, arch.recipe.size),
        }),
    }
}

/// What [`published_preprocessing`] gives for the weights at `path` (a timm
/// folder reads only its `config.json`), without reading the tensors.
pub fn preprocessing_of(path: &Path, arch: &Arch) -> Result<Preprocessing, ModelError> {
    let hub = if path.is_dir() { Some(super::hub::open(path).map_err(|e| problem(path, e))?.0) } else { None };
    published_preprocessing(hub.as_ref(), arch).map_err(|e| problem(path, e))
}
