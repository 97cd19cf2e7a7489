//! Checkpoints: `NAME.ot` (the VarStore, keyed by graph parameter names) and
//! `NAME.json` (the manifest). Everything is written to a temporary file in the
//! same folder and renamed (`cnnzoo_models::fsio`), so a crash never leaves half
//! a file behind.

use std::path::{Path, PathBuf};

use cnnzoo_models::fsio::write_atomic;
use cnnzoo_models::{Arch, Config, Graph, Manifest, Tensor32, Weights};
use tch::Kind;

use crate::error::{io, Result, TrainError};

/// `NAME.ot`, `NAME.json` and `NAME.svg` for the stem `NAME`.
#[derive(Debug, Clone)]
pub struct Paths {
    pub weights: PathBuf,
    pub manifest: PathBuf,
    pub curves: PathBuf,
}

impl Paths {
    pub fn from_stem(stem: &Path) -> Paths {
        let with = |ext: &str| {
            let mut s = stem.as_os_str().to_owned();
            s.push(ext);
            PathBuf::from(s)
        };
        Paths { weights: with(".ot"), manifest: with(".json"), curves: with(".svg") }
    }

    /// The paths that belong with a `.ot` file.
    pub fn from_weights(weights: &Path) -> Paths {
        Paths::from_stem(&weights.with_extension(""))
    }
}

/// Saves the VarStore and then the manifest, each atomically; the manifest
/// (as written, and as left in `manifest`) names the weights' SHA-256, so
/// that a pair split by a stop between the two renames is found when it is
/// read back ([`load`]).
pub fn save(vs: &tch::nn::VarStore, manifest: &mut Manifest, paths: &Paths) -> Result<()> {
    if let Some(dir) = paths.weights.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    // libtorch serializes into memory and Rust writes the file: a full disk
    // or a read-only folder is an I/O error naming the file, not a C++
    // exception (or an abort) from inside libtorch's writer.
    let mut bytes = vec![];
    vs.save_to_stream(&mut bytes).map_err(|source| TrainError::Torch { path: paths.weights.clone(), source })?;
    write_atomic(&paths.weights, &bytes)?;
    manifest.weights_sha256 = Some(sha256_hex(&bytes));
    Ok(write_atomic(&paths.manifest, manifest.to_json().as_bytes())?)
}

/// The SHA-256 of bytes, in hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a file, in hex, read in a stream.
pub fn sha256_of(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path).map_err(io(path))?, &mut hasher).map_err(io(path))?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks that the manifest at `manifest_path` was written with the weights
/// at `weights`, whose hash is `sha` (where the manifest names one: manifests
/// before it do not).
fn check_pair(manifest: &Manifest, manifest_path: &Path, weights: &Path, sha: &str) -> Result<()> {
    match &manifest.weights_sha256 {
        Some(want) if want != sha => Err(TrainError::Data {
            path: manifest_path.into(),
            problem: format!(
                "was not written with {} (its SHA-256 differs): a run stopped between writing the two? Retrain, or restore the pair",
                weights.display()
            ),
        }),
        _ => Ok(()),
    }
}

/// A manifest is a few KB; anything near this is not one.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = cnnzoo_models::fsio::read_bounded(path, MAX_MANIFEST_BYTES).map_err(io(path))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| TrainError::Data { path: path.into(), problem: "not a cnnzoo manifest: not UTF-8 text".into() })?;
    let manifest =
        Manifest::from_json(&text).map_err(|e| TrainError::Data { path: path.into(), problem: format!("not a cnnzoo manifest: {e}") })?;
    manifest.check().map_err(|problem| TrainError::Data { path: path.into(), problem: format!("not a usable manifest: {problem}") })?;
    Ok(manifest)
}

/// The graph a manifest describes.
pub fn graph_of(manifest: &Manifest, path: &Path) -> Result<Graph> {
    let arch = Arch::find(&manifest.arch).map_err(|e| TrainError::Data { path: path.into(), problem: e.to_string() })?;
    let [c, h, _] = manifest.input();
    arch.build(&Config { in_channels: c, classes: manifest.classes.len(), size: h })
        .map_err(|e| TrainError::Data { path: path.into(), problem: format!("describes a network that cannot be built: {e}") })
}

/// Every tensor in a `.ot` file, as float32.
pub fn read_weights(path: &Path) -> Result<Weights> {
    cnnzoo_models::fsio::check_regular(path).map_err(io(path))?;
    let named = tch::Tensor::load_multi(path).map_err(|e| TrainError::Data {
        path: path.into(),
        problem: format!("not a readable tch checkpoint (truncated or another format?): {}", crate::error::first_line(&e)),
    })?;
    let mut w = Weights::default();
    for (name, t) in named {
        let shape = t.size().iter().map(|&d| d as usize).collect();
        let data = Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1))
            .map_err(|source| TrainError::Torch { path: path.into(), source })?;
        w.0.insert(name, Tensor32 { shape, data });
    }
    Ok(w)
}

/// A checkpoint with its manifest and graph, its weights checked against the
/// graph (a checkpoint of another architecture names the first parameter that
/// does not fit).
#[derive(Debug)]
pub struct Checkpoint {
    pub manifest: Manifest,
    pub graph: Graph,
    pub weights: Weights,
}

/// The checkpoint at `weights_path` with its manifest beside it. The weights
/// are read first, so a missing or special `.ot` is what the error names.
pub fn load(weights_path: &Path) -> Result<Checkpoint> {
    load_hashed(weights_path).map(|(ck, _)| ck)
}

/// [`load`], with the `.ot`'s SHA-256 it checked the manifest against (the
/// exporter's provenance: the file is hashed once).
pub fn load_hashed(weights_path: &Path) -> Result<(Checkpoint, String)> {
    let weights = read_weights(weights_path)?;
    let paths = Paths::from_weights(weights_path);
    let manifest = read_manifest(&paths.manifest)?;
    let graph = graph_of(&manifest, &paths.manifest)?;
    weights.check(&graph).map_err(|source| TrainError::Checkpoint { path: weights_path.into(), arch: manifest.arch.clone(), source })?;
    // Weights that fit but are not the ones the manifest was written with.
    let sha = sha256_of(weights_path)?;
    check_pair(&manifest, &paths.manifest, weights_path, &sha)?;
    Ok((Checkpoint { manifest, graph, weights }, sha))
}
