//! Reading a state dict from any of its formats, and fitting it to a graph:
//! the small, tested rules by which a source's keys become the graph's names.

use std::path::{Path, PathBuf};

use super::{hub, pth, safetensors, HubConfig, Tensor32, Weights};
use crate::{Graph, ModelError, Op};

/// Weights files larger than this are refused before they are read (the
/// largest torchvision classifier, ViT-H, is 2.5 GB).
pub const MAX_WEIGHTS_BYTES: u64 = 8 << 30;

/// Where a state dict came from.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightsSource {
    /// `torch.save(model.state_dict(), f)`.
    Pth,
    Safetensors,
    /// A Hugging Face (timm) model folder, with its config.
    Hub(Box<HubConfig>),
}

/// A state dict as its file holds it: keys in the file's order.
#[derive(Debug, Clone)]
pub struct StateDict {
    pub path: PathBuf,
    pub tensors: Vec<(String, Tensor32)>,
    pub source: WeightsSource,
}

fn weights_error(path: &Path, problem: impl Into<String>) -> ModelError {
    ModelError::Weights { path: path.to_path_buf(), problem: problem.into() }
}

/// Reads a `.pth`/`.pt`/`.bin` state dict, a `.safetensors` file or a
/// Hugging Face model folder. The format is told by the first bytes, not
/// the name, so a misnamed file still reads (or says what it is not).
pub fn read_state_dict(path: &Path) -> Result<StateDict, ModelError> {
    if path.is_dir() {
        let (cfg, file) = hub::open(path).map_err(|e| weights_error(path, e))?;
        let inner = read_state_dict(&file)?;
        return Ok(StateDict { path: path.to_path_buf(), tensors: inner.tensors, source: WeightsSource::Hub(Box::new(cfg)) });
    }
    let bytes = crate::fsio::read_bounded(path, MAX_WEIGHTS_BYTES).map_err(|e| weights_error(path, e.to_string()))?;
    // safetensors first: its 8-byte header length can begin with any byte, a pickle's 0x80 too.
    let (tensors, source) = if bytes.len() >= 9 && bytes[8] == b'{' {
        let (t, _) = safetensors::read(&bytes).map_err(|e| weights_error(path, format!("not a readable safetensors file: {e}")))?;
        (t, WeightsSource::Safetensors)
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"\x80") {
        (pth::read(&bytes).map_err(|e| weights_error(path, format!("not a readable PyTorch state dict: {e}")))?, WeightsSource::Pth)
    } else {
        return Err(weights_error(path, "not a weights file: neither a torch.save state dict (.pth) nor safetensors"));
    };
    if tensors.is_empty() {
        return Err(weights_error(path, "holds no tensors"));
    }
    Ok(StateDict { path: path.to_path_buf(), tensors, source })
}

/// Old DenseNet checkpoints spell `denselayer1.norm.1.weight` for
/// `denselayer1.norm1.weight` (torchvision renames them when loading).
fn densenet_key(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    let n = parts.len();
    if n < 4 || !parts[n - 4].starts_with("denselayer") {
        return None;
    }
    let (layer, index) = (parts[n - 3], parts[n - 2]);
    if !matches!(layer, "norm" | "relu" | "conv") || !matches!(index, "1" | "2") {
        return None;
    }
    Some(format!("{}.{layer}{index}.{}", parts[..n - 3].join("."), parts[n - 1]))
}

/// The state dict fitted to `graph`, strictly (every key of the graph, no
/// other, each of its shape), after these rules, each reported in the notes:
/// - `num_batches_tracked` buffers are dropped (the graph keeps no step count);
/// - a `module.` prefix on every key (`DataParallel`, DDP) is removed;
/// - old DenseNet keys (`norm.1`) are renamed as torchvision does;
/// - `aux1.*`/`aux2.*` (GoogLeNet's training-only heads) are dropped when the graph has none;
/// - a 3-channel first convolution becomes a 1-channel one by summing its
///   filters over RGB (timm's `in_chans=1`) when the graph takes one channel.
pub fn adapt(state: &StateDict, graph: &Graph) -> Result<(Weights, Vec<String>), ModelError> {
    let (w, notes) = normalized(state, graph);
    w.check_strict(graph)?;
    Ok((w, notes))
}

/// [`adapt`] for a starting point: a classifier head of another width (or
/// none) takes `fresh`'s tensors instead, and the notes say so
/// (`fc: 1000 -> 10 classes, new`).
pub fn adapt_new_head(state: &StateDict, graph: &Graph, fresh: &Weights) -> Result<(Weights, Vec<String>), ModelError> {
    let (mut w, mut notes) = normalized(state, graph);
    let head = &graph.nodes[graph.logits];
    let width = |name: &str| w.get(name).and_then(|t| t.shape.first().copied());
    if head.params.iter().any(|p| width(&p.name) != Some(p.shape[0])) {
        let before = head.params.first().and_then(|p| width(&p.name)).map_or("no".to_string(), |n| n.to_string());
        notes.push(format!("{}: {before} -> {} classes, new", head.name, head.params[0].shape[0]));
        for p in &head.params {
            let t = fresh.get(&p.name).ok_or_else(|| ModelError::MissingParam { name: p.name.clone() })?;
            w.0.insert(p.name.clone(), t.clone());
        }
    }
    w.check_strict(graph)?;
    Ok((w, notes))
}

/// The state dict's tensors under the graph's names, by the rules of [`adapt`], unchecked.
fn normalized(state: &StateDict, graph: &Graph) -> (Weights, Vec<String>) {
    let mut notes = vec![];
    let all_module = state.tensors.iter().all(|(k, _)| k.starts_with("module."));
    let has_aux = graph.params().any(|p| p.name.starts_with("aux1.") || p.name.starts_with("aux2."));
    let (mut tracked, mut aux, mut renamed) = (0, 0, 0);
    let mut w = Weights::default();
    for (key, t) in &state.tensors {
        let key = if all_module { &key["module.".len()..] } else { key.as_str() };
        if key.ends_with("num_batches_tracked") {
            tracked += 1;
            continue;
        }
        if !has_aux && (key.starts_with("aux1.") || key.starts_with("aux2.")) {
            aux += 1;
            continue;
        }
        let key = match densenet_key(key) {
            Some(k) => {
                renamed += 1;
                k
            }
            None => key.to_string(),
        };
        w.0.insert(key, t.clone());
    }
    if all_module {
        notes.push("removed the module. prefix of every key".to_string());
    }
    if tracked > 0 {
        notes.push(format!("ignored {tracked} num_batches_tracked buffers"));
    }
    if aux > 0 {
        notes.push(format!("dropped {aux} tensors of the auxiliary heads aux1/aux2"));
    }
    if renamed > 0 {
        notes.push(format!("renamed {renamed} old DenseNet keys (norm.1 -> norm1)"));
    }
    for node in graph.nodes.iter().filter(|n| matches!(n.op, Op::Conv2d { .. }) && n.inputs == [0]) {
        let p = &node.params[0];
        let Some(t) = w.0.get_mut(&p.name) else { continue };
        if let ([o, 3, kh, kw], [po, 1, pkh, pkw]) = (t.shape.as_slice(), p.shape.as_slice()) {
            if (o, kh, kw) == (po, pkh, pkw) {
                let plane = kh * kw;
                let summed: Vec<f32> = (0..*o)
                    .flat_map(|f| {
                        let filter = &t.data[f * 3 * plane..(f + 1) * 3 * plane];
                        (0..plane).map(move |i| filter[i] + filter[plane + i] + filter[2 * plane + i])
                    })
                    .collect();
                *t = Tensor32 { shape: vec![*o, 1, *kh, *kw], data: summed };
                notes.push(format!("summed {} over RGB for a 1-channel input (timm's in_chans=1)", p.name));
            }
        }
    }
    (w, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, Config};

    #[test]
    fn old_densenet_keys_are_renamed_and_no_others() {
        assert_eq!(
            densenet_key("features.denseblock1.denselayer1.norm.1.weight").as_deref(),
            Some("features.denseblock1.denselayer1.norm1.weight")
        );
        assert_eq!(
            densenet_key("features.denseblock4.denselayer16.conv.2.weight").as_deref(),
            Some("features.denseblock4.denselayer16.conv2.weight")
        );
        for k in ["features.denseblock1.denselayer1.norm1.weight", "features.transition1.norm.weight", "layer1.0.conv1.weight"] {
            assert_eq!(densenet_key(k), None, "{k}");
        }
    }

    fn state_of(graph: &Graph, f: impl Fn(&str, Vec<usize>) -> Option<(String, Vec<usize>)>) -> StateDict {
        let tensors = graph
            .params()
            .filter_map(|p| f(&p.name, p.shape.clone()))
            .map(|(k, shape)| {
                let n = shape.iter().product();
                (k, Tensor32 { shape, data: (0..n).map(|i| i as f32).collect() })
            })
            .collect();
        StateDict { path: "x.pth".into(), tensors, source: WeightsSource::Pth }
    }

    #[test]
    fn a_strict_load_lists_every_problem_at_once() {
        let g = build("tv_resnet18", &Config { in_channels: 3, classes: 10, size: 64 }).unwrap();
        let mut state = state_of(&g, |k, s| (k != "layer1.0.bn1.bias" && k != "fc.bias").then(|| (k.to_string(), s)));
        state.tensors.push(("extra.weight".into(), Tensor32 { shape: vec![1], data: vec![0.0] }));
        state.tensors.push(("bn1.num_batches_tracked".into(), Tensor32 { shape: vec![], data: vec![7.0] }));
        let fc = state.tensors.iter_mut().find(|(k, _)| k == "fc.weight").unwrap();
        fc.1 = Tensor32 { shape: vec![1000, 512], data: vec![0.0; 512_000] };
        let err = adapt(&state, &g).unwrap_err().to_string();
        assert!(err.contains("missing keys (2): layer1.0.bn1.bias, fc.bias"), "{err}");
        assert!(err.contains("unexpected keys (1): extra.weight"), "{err}");
        assert!(err.contains("mis-shaped (1): fc.weight [1000, 512] (the network's is [10, 512])"), "{err}");
    }

    #[test]
    fn one_channel_sums_the_stem_and_prefixes_and_counters_go() {
        let g = build("tv_resnet18", &Config { in_channels: 1, classes: 10, size: 64 }).unwrap();
        let mut state = state_of(&g, |k, s| {
            let s = if k == "conv1.weight" { vec![64, 3, 7, 7] } else { s };
            Some((format!("module.{k}"), s))
        });
        state.tensors.push(("module.bn1.num_batches_tracked".into(), Tensor32 { shape: vec![], data: vec![7.0] }));
        let (w, notes) = adapt(&state, &g).unwrap();
        let stem = w.get("conv1.weight").unwrap();
        assert_eq!(stem.shape, vec![64, 1, 7, 7]);
        // Filter 0, tap 0 is the sum of inputs 0, 49 and 98 of the RGB filter.
        assert_eq!(stem.data[0], 147.0);
        assert_eq!(notes.len(), 3, "{notes:?}");
    }
}
