//! The training loop of the seed recipe: SGD on cross-entropy, evaluated on the
//! test split after every epoch, checkpointed after every epoch (epochs that
//! take less than [`CHECKPOINT_EVERY`], such as a head's on cached features,
//! at most that often, and always after the last).
//!
//! Reproducibility: libtorch's generator is reseeded from `(seed, epoch)` at the
//! start of every epoch, and plain SGD keeps no state, so `--resume` from epoch
//! k ends exactly where an uninterrupted run with the same seed ends.

use std::collections::BTreeMap;
use std::time::Instant;

use cnnzoo_models::tuning::{Augment, Freeze, OptimizerKind};
use cnnzoo_models::{Arch, Config, EpochMetrics, Hyperparameters, Manifest, Tuning};
use indicatif::{ProgressBar, ProgressStyle};
use tch::nn::{OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

use crate::checkpoint::{self, Paths};
use crate::data::{Dataset, Split};
use crate::error::{Result, TrainError};
use crate::net::{Layout, Net, BACKBONE_GROUP};
use crate::plot::curves_svg;
use crate::precision::Precision;
use crate::step::Updater;

/// The least time between two checkpoints, except the last: a 45 MB
/// ResNet-18 checkpoint costs about 0.3 s to write, more than an epoch of a
/// head on cached features.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Options {
    pub arch: &'static Arch,
    pub size: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
    pub device: Device,
    /// Files are written as `out.ot`, `out.json`, `out.svg`.
    pub paths: Paths,
    /// Continue from the checkpoint at `paths` (its recipe wins over flags).
    pub resume: bool,
    /// Start from these published weights (`.pth`, `.safetensors`, a timm
    /// folder) instead of the seed's initialization; a head of another width
    /// is replaced by a new one.
    pub init: Option<std::path::PathBuf>,
    pub progress: bool,
    pub precision: Precision,
    pub layout: Layout,
    /// The recipe beyond d2l's (optimizer, schedule, smoothing, augmentation,
    /// freezing); its default changes nothing.
    pub tuning: Tuning,
    /// Train a frozen backbone's head on features computed once (the
    /// default; off, every epoch runs the whole network, as a check).
    pub cache_features: bool,
    /// The share of each class held out for testing when the data is one
    /// folder of class folders (recorded, so `--resume` splits it again).
    pub val_split: Option<f64>,
}

impl Options {
    /// The seed recipe of `arch`, on `device`, writing to `paths`.
    pub fn recipe(arch: &'static Arch, device: Device, paths: Paths) -> Options {
        let r = arch.recipe;
        Options {
            arch,
            size: r.size,
            epochs: r.epochs,
            batch_size: r.batch_size,
            lr: r.lr,
            seed: 42,
            device,
            paths,
            resume: false,
            init: None,
            progress: false,
            precision: Precision::Fp32,
            layout: Layout::Contiguous,
            tuning: Tuning::default(),
            cache_features: true,
            val_split: None,
        }
    }
}

/// Moves a batch to the device and resizes it as the card's
/// `bilinear_antialias` says (align_corners = false; the filter inference
/// reproduces) when the network wants another size. Upscaling, the
/// antialiased filter is plain bilinear, and libtorch's plain kernel is used.
pub fn batch_input(images: &Tensor, device: Device, size: usize) -> Tensor {
    let x = images.to_device(device);
    if x.dim() != 4 {
        return x; // cached features, `[N, D]`: nothing to resize
    }
    let (h, w, s) = (x.size()[2], x.size()[3], size as i64);
    if (h, w) == (s, s) {
        x
    } else if h <= s && w <= s {
        x.upsample_bilinear2d([s, s], false, None, None)
    } else {
        x.internal_upsample_bilinear2d_aa([s, s], false, None, None)
    }
}

/// The epoch's batches, assembled (gathered by the permutation, resized,
/// moved to the device) on their own thread two ahead of the step that takes
/// them, so the step never waits for data. Dropping it stops the thread.
struct Prefetch {
    batches: Option<std::sync::mpsc::Receiver<(Tensor, Tensor)>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Prefetch {
    fn start(split: &Split, perm: &Tensor, batch_size: usize, device: Device, size: usize) -> Prefetch {
        // Shallow clones share the storage; the thread only reads it.
        let (images, labels, perm) = (split.images.shallow_clone(), split.labels.shallow_clone(), perm.shallow_clone());
        let (send, batches) = std::sync::mpsc::sync_channel(2);
        let worker = std::thread::spawn(move || {
            let n = perm.size()[0];
            for (b, start) in (0..n).step_by(batch_size).enumerate() {
                let len = (batch_size as i64).min(n - start);
                if len < 2 && b > 0 {
                    return; // batch norm cannot train on one example; d2l's loaders never yield one
                }
                let idx = perm.narrow(0, start, len);
                let x = batch_input(&images.index_select(0, &idx), device, size);
                let y = labels.index_select(0, &idx).to_device(device);
                if send.send((x, y)).is_err() {
                    return;
                }
            }
        });
        Prefetch { batches: Some(batches), worker: Some(worker) }
    }
}

impl Iterator for Prefetch {
    type Item = (Tensor, Tensor);
    fn next(&mut self) -> Option<(Tensor, Tensor)> {
        self.batches.as_ref()?.recv().ok()
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Closing the channel unblocks a pending send; then wait: no thread outlives the epoch.
        self.batches = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Test accuracy in eval mode.
pub fn evaluate(net: &Net, split: &Split, batch_size: usize, device: Device, size: usize) -> f64 {
    accuracy(split, batch_size, device, size, |x| net.forward(x, false))
}

/// The accuracy of `logits` (a batch in, class scores out) on `split`.
fn accuracy(split: &Split, batch_size: usize, device: Device, size: usize, logits: impl Fn(&Tensor) -> Tensor) -> f64 {
    let n = split.len() as i64;
    let mut correct = 0i64;
    tch::no_grad(|| {
        for start in (0..n).step_by(batch_size) {
            let len = batch_size.min((n - start) as usize) as i64;
            let x = batch_input(&split.images.narrow(0, start, len), device, size);
            let y = split.labels.narrow(0, start, len).to_device(device);
            correct += i64::try_from(logits(&x).argmax(-1, false).eq_tensor(&y).sum(Kind::Int64)).unwrap_or(0);
        }
    });
    correct as f64 / n.max(1) as f64
}

/// With a frozen backbone and no augmentation, every image's features are
/// the same in every epoch: they are computed once (eval mode, in batches)
/// and the head trains on them, so an epoch costs the head alone. `None`
/// where the recipe or the graph does not allow it.
fn cached_features(net: &Net, o: &Options, data: &Dataset) -> Option<(Split, Split)> {
    if !(o.cache_features && o.tuning.freeze == Freeze::Backbone && o.tuning.augment == Augment::None && net.head_reads_features_only()) {
        return None;
    }
    let embed = |split: &Split| {
        let n = split.len() as i64;
        let batch = o.batch_size.max(256) as i64;
        let parts: Vec<Tensor> = tch::no_grad(|| {
            (0..n)
                .step_by(batch as usize)
                .map(|start| {
                    let x = batch_input(&split.images.narrow(0, start, batch.min(n - start)), o.device, o.size);
                    net.forward_eval(&x).1.to_device(Device::Cpu)
                })
                .collect()
        });
        Split { images: Tensor::cat(&parts, 0), labels: split.labels.shallow_clone() }
    };
    Some((embed(&data.train), embed(&data.test)))
}

fn versions(device: Device) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("cnnzoo".into(), env!("CARGO_PKG_VERSION").into());
    v.insert("libtorch".into(), option_env!("CNNZOO_TORCH_VERSION").unwrap_or("unknown").into());
    v.insert("cuda_available".into(), tch::Cuda::is_available().to_string());
    v.insert("device".into(), crate::device::describe(device));
    v
}

fn new_manifest(o: &Options, data: &Dataset) -> Manifest {
    let preprocessing = data.preprocessing.clone().with_size(o.size);
    Manifest {
        format: Manifest::FORMAT,
        arch: o.arch.name.into(),
        classes: data.classes.clone(),
        preprocessing,
        hyperparameters: Hyperparameters {
            epochs: o.epochs,
            batch_size: o.batch_size,
            lr: o.lr,
            seed: o.seed,
            optimizer: match o.tuning.optimizer {
                OptimizerKind::Sgd => "sgd".into(),
                OptimizerKind::Adamw => "adamw".into(),
            },
            loss: "cross_entropy".into(),
            init: "xavier_uniform".into(),
            dataset: data.name.clone(),
            data_source: Some(data.source.clone()),
            device: crate::device::describe(o.device),
            precision: o.precision.to_string(),
            memory_format: Some(o.layout.to_string()),
            tuning: o.tuning,
            val_split: o.val_split,
        },
        metrics: vec![],
        versions: versions(o.device),
        weights_sha256: None,
    }
}

/// Trains (or resumes) and returns the final manifest, which is also on disk.
pub fn train(opts: &Options, data: &Dataset) -> Result<Manifest> {
    for (split, examples) in [("training", data.train.len()), ("test", data.test.len())] {
        if examples == 0 {
            return Err(TrainError::Empty {
                dataset: data.name.clone(),
                problem: format!("no {split} examples: nothing to learn from or measure"),
            });
        }
    }
    if opts.batch_size == 0 || !(opts.lr.is_finite() && opts.lr > 0.0) {
        return Err(TrainError::Options(format!(
            "batch size {} and learning rate {}: need a batch of at least 1 and a finite rate above 0",
            opts.batch_size, opts.lr
        )));
    }
    let mut o = opts.clone();
    let channels = data.preprocessing.channels;
    if data.train.images.size()[1] != channels as i64 {
        return Err(TrainError::Options(format!(
            "{}: images of {} channel(s) for a card of {channels}",
            data.name,
            data.train.images.size()[1]
        )));
    }
    let cfg = Config { in_channels: channels, classes: data.classes.len(), size: o.size };
    let graph = o.arch.build(&cfg)?;

    tch::manual_seed(o.seed as i64);
    let vs = VarStore::new(o.device);
    let mut net = Net::new(&vs.root(), graph);
    net.set_compute(o.precision, o.layout);
    let mut manifest = new_manifest(&o, data);
    if let Some(path) = &o.init {
        let notes = init_from(&mut net, path, &data.classes)?;
        for note in &notes {
            eprintln!("{}: {note}", path.display());
        }
        manifest.hyperparameters.init = format!("pretrained: {}", path.display());
    }
    if o.resume {
        let ck = checkpoint::load(&o.paths.weights)?;
        if ck.manifest.arch != o.arch.name || ck.manifest.input() != manifest.input() || ck.manifest.classes != manifest.classes {
            return Err(TrainError::Data {
                path: o.paths.manifest.clone(),
                problem: format!(
                    "is a {} checkpoint for input {:?}, not {} for {:?} with these classes",
                    ck.manifest.arch,
                    ck.manifest.input(),
                    o.arch.name,
                    manifest.input()
                ),
            });
        }
        net.load(&ck.weights).map_err(|source| TrainError::Checkpoint {
            path: o.paths.weights.clone(),
            arch: o.arch.name.into(),
            source,
        })?;
        let h = &ck.manifest.hyperparameters;
        (o.batch_size, o.lr, o.seed, o.tuning) = (h.batch_size, h.lr, h.seed, h.tuning);
        manifest.hyperparameters = Hyperparameters { epochs: o.epochs, device: crate::device::describe(o.device), ..h.clone() };
        manifest.metrics = ck.manifest.metrics;
    }
    let t = o.tuning;
    t.check().map_err(TrainError::Options)?;
    if t.freeze == Freeze::Backbone {
        net.freeze_backbone();
    }
    let built = match t.optimizer {
        OptimizerKind::Sgd => tch::nn::Sgd { momentum: t.momentum, wd: t.weight_decay, ..Default::default() }.build(&vs, o.lr),
        OptimizerKind::Adamw => tch::nn::adamw(0.9, 0.999, t.weight_decay).build(&vs, o.lr),
    };
    let mut opt = built.map_err(|source| TrainError::Torch { path: o.paths.weights.clone(), source })?;
    if manifest.metrics.is_empty() {
        checkpoint::save(&vs, &mut manifest, &o.paths)?;
    }

    let cached = cached_features(&net, &o, data);
    let (train_split, test_split) = match &cached {
        Some((train, test)) => (train, test),
        None => (&data.train, &data.test),
    };
    let logits = |x: &Tensor, train: bool| if cached.is_some() { net.forward_head(x, train) } else { net.forward(x, train) };
    let mut updater = Updater::new(o.precision);
    let n = data.train.len() as i64;
    let batches = (n as usize).div_ceil(o.batch_size);
    let (total_steps, warmup_steps) = (o.epochs * batches, t.warmup_epochs * batches);
    let (mut saved, mut saved_at) = (manifest.metrics.len(), Instant::now());
    for epoch in manifest.metrics.len()..o.epochs {
        tch::manual_seed(o.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64 + 1) as i64);
        let perm = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        let bar = if o.progress { ProgressBar::new(batches as u64) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches, {msg} ({eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, o.epochs));
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0i64, 0i64);
        let started = Instant::now();
        for (b, (x, y)) in Prefetch::start(train_split, &perm, o.batch_size, o.device, o.size).enumerate() {
            if !t.constant_rate() {
                let lr = t.lr_at(o.lr, epoch * batches + b, total_steps, warmup_steps);
                opt.set_lr(lr);
                opt.set_lr_group(BACKBONE_GROUP, lr * t.backbone_lr_scale);
            }
            let len = y.size()[0];
            let x = crate::augment::apply(x, t.augment);
            let logits = logits(&x, true);
            let loss = if t.label_smoothing > 0.0 {
                logits.cross_entropy_loss(&y, None::<Tensor>, tch::Reduction::Mean, -100, t.label_smoothing)
            } else {
                logits.cross_entropy_for_logits(&y)
            };
            let value = f64::try_from(&loss).unwrap_or(f64::NAN);
            if !value.is_finite() {
                bar.abandon();
                return Err(TrainError::Diverged { epoch: epoch + 1, batch: b + 1, loss: value, kept: saved });
            }
            updater.step(&mut opt, &vs, &loss);
            loss_sum += value * len as f64;
            correct += i64::try_from(logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64)).unwrap_or(0);
            seen += len;
            bar.inc(1);
            bar.set_message(format!("loss {:.3}", loss_sum / seen as f64));
        }
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let test_acc = accuracy(test_split, o.batch_size.max(256), o.device, o.size, |x| logits(x, false));
        let m = EpochMetrics {
            epoch: epoch + 1,
            loss: loss_sum / seen as f64,
            train_acc: correct as f64 / seen as f64,
            test_acc,
            examples_per_sec: seen as f64 / seconds,
            seconds,
        };
        if o.progress {
            eprintln!(
                "epoch {}: loss {:.3}, train acc {:.3}, test acc {:.3}, {:.1} examples/sec",
                m.epoch, m.loss, m.train_acc, m.test_acc, m.examples_per_sec
            );
        }
        manifest.metrics.push(m);
        if epoch + 1 == o.epochs || saved_at.elapsed() >= CHECKPOINT_EVERY {
            checkpoint::save(&vs, &mut manifest, &o.paths)?;
            cnnzoo_models::fsio::write_atomic(&o.paths.curves, curves_svg(o.arch.name, &manifest.metrics).as_bytes())?;
            (saved, saved_at) = (manifest.metrics.len(), Instant::now());
        }
    }
    Ok(manifest)
}

/// Starts from a cnnzoo checkpoint (`.ot` and its manifest): every tensor
/// by name, except the head when the checkpoint was trained for other
/// classes (by name, not only by count), which keeps its new initialization.
fn init_from_checkpoint(net: &mut Net, path: &std::path::Path, classes: &[String]) -> Result<Vec<String>> {
    let ck = checkpoint::load(path)?;
    let graph = net.graph().clone();
    if ck.graph.arch != graph.arch {
        return Err(TrainError::Data {
            path: path.to_path_buf(),
            problem: format!("is a {} checkpoint, not {}", ck.graph.arch, graph.arch),
        });
    }
    let mut weights = ck.weights;
    let mut notes = vec![];
    if ck.manifest.classes != classes {
        let head = &graph.nodes[graph.logits];
        let fresh = net.weights();
        for p in &head.params {
            if let Some(t) = fresh.get(&p.name) {
                weights.0.insert(p.name.clone(), t.clone());
            }
        }
        let shown = |c: &[String]| {
            let first: Vec<&str> = c.iter().take(3).map(String::as_str).collect();
            format!("{} classes ({}{})", c.len(), first.join(", "), if c.len() > 3 { ", ..." } else { "" })
        };
        notes.push(format!("{}: {} -> {}, new", head.name, shown(&ck.manifest.classes), shown(classes)));
    }
    net.load(&weights).map_err(|source| TrainError::Checkpoint { path: path.to_path_buf(), arch: graph.arch.clone(), source })?;
    Ok(notes)
}

/// d2l's closing lines: `loss 0.482, train acc 0.817, test acc 0.791` and
/// `48381.2 examples/sec on cpu` (examples/sec over all training epochs).
pub fn summary_lines(manifest: &Manifest) -> Option<String> {
    let last = manifest.metrics.last()?;
    let (examples, seconds) = manifest.metrics.iter().fold((0.0, 0.0), |(e, s), m| (e + m.examples_per_sec * m.seconds, s + m.seconds));
    Some(format!(
        "loss {:.3}, train acc {:.3}, test acc {:.3}\n{:.1} examples/sec on {}",
        last.loss,
        last.train_acc,
        last.test_acc,
        examples / seconds,
        manifest.hyperparameters.device
    ))
}

/// Loads published weights into `net`: every tensor strictly by name (with the
/// loader's rules: counters dropped, old keys renamed, a 1-channel stem
/// summed), except a classifier head of another width, which keeps its new
/// initialization and is reported (`fc: 1000 -> 10 classes, new`).
fn init_from(net: &mut Net, path: &std::path::Path, classes: &[String]) -> Result<Vec<String>> {
    let bad = |problem: String| TrainError::Data { path: path.to_path_buf(), problem };
    if path.extension().is_some_and(|e| e == "ot") {
        return init_from_checkpoint(net, path, classes);
    }
    let state = cnnzoo_models::weights::read_state_dict(path).map_err(|e| match e {
        cnnzoo_models::ModelError::Weights { problem, .. } => bad(problem),
        e => bad(e.to_string()),
    })?;
    let graph = net.graph().clone();
    let (weights, notes) = cnnzoo_models::weights::adapt_new_head(&state, &graph, &net.weights()).map_err(|e| bad(e.to_string()))?;
    net.load(&weights).map_err(|source| TrainError::Checkpoint { path: path.to_path_buf(), arch: graph.arch.clone(), source })?;
    Ok(notes)
}
