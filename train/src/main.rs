//! `cnnzoo-train`: trains one network of the zoo and writes NAME.ot, NAME.json
//! (the manifest) and NAME.svg (the curves).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use cnnzoo_cli::{at_least_one, batch_size, positive_number, share, thread_count};
use cnnzoo_models::data::IdxError;
use cnnzoo_models::tuning::{Augment, Freeze, LrSchedule, OptimizerKind};
use cnnzoo_models::{Arch, Config, Graph, Preprocessing, Tuning, ARCHS};
use cnnzoo_train::autotune;
use cnnzoo_train::checkpoint::Paths;
use cnnzoo_train::data::{self, Mirror};
use cnnzoo_train::device::resolve;
use cnnzoo_train::precision::Request;
use cnnzoo_train::trainer::{self, Options};
use cnnzoo_train::{Layout, TrainError};

const EXAMPLES: &str = "Examples:
  cnnzoo-train --arch lenet                      # the seed recipe: 10 epochs, batch 256, lr 0.9
  cnnzoo-train --arch resnet18 --epochs 2 --device cuda -o runs/resnet18
  cnnzoo-train --arch densenet --summary         # layers, output shapes, parameter counts
  cnnzoo-train --arch resnet18 --bench 5 --json  # training speed at the recipe, bf16 where native
  cnnzoo-train --arch lenet --resume             # continue runs/lenet.ot where it stopped
  cnnzoo-train --arch lenet --data my-images     # my-images/{train,test}/<class>/*.png
  cnnzoo-train --arch tv_resnet18 --init resnet18.pth --data photos --val-split 0.1 --freeze backbone
  cnnzoo-train --list";

#[derive(Debug, Parser)]
#[command(name = "cnnzoo-train", disable_version_flag = true, group(clap::ArgGroup::new("fetch").args(["download", "download_only"])), about = "Train a classic CNN (LeNet to DenseNet) on Fashion-MNIST or your own images with libtorch", after_help = EXAMPLES)]
struct Cli {
    /// Network to train; --list shows them.
    #[arg(long, default_value = "lenet")]
    arch: String,
    /// List the networks with their default recipes and exit.
    #[arg(long, conflicts_with_all = ["arch", "summary", "bench", "epochs", "out", "resume", "data"])]
    list: bool,
    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
    /// Print the version, the libtorch in use, whether its CUDA is linked and which GPUs it sees.
    #[arg(short = 'V', long)]
    version: bool,
    /// Print the layers with output shapes and parameter counts, then exit.
    #[arg(long, conflicts_with_all = ["bench", "epochs", "lr", "out", "resume", "data", "train_limit", "test_limit"])]
    summary: bool,
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
    /// Epochs [default: the recipe's, 10].
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size [default: the recipe's].
    #[arg(long, value_parser = batch_size)]
    batch_size: Option<usize>,
    /// Learning rate [default: the recipe's].
    #[arg(long, value_parser = positive_number)]
    lr: Option<f64>,
    /// Input side in pixels [default: the recipe's].
    #[arg(long, value_parser = at_least_one)]
    size: Option<usize>,
    /// Input channels: 1 (gray) or 3 (RGB) [default: the weights' card with --init, else the network family's: 1 for d2l's, 3 for torchvision's].
    #[arg(long, value_name = "1|3", value_parser = channel_count)]
    in_chans: Option<usize>,
    /// Seed of initialization, shuffling and dropout [default: 42].
    #[arg(long)]
    seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N (auto prefers CUDA).
    #[arg(long, default_value = "auto")]
    device: cnnzoo_models::Device,
    /// fp32, or bf16/fp16 mixed precision (fp16: CUDA only); auto: the fastest measured on this machine for the network (cached; see --bench).
    #[arg(long, default_value = "auto")]
    precision: cnnzoo_train::precision::Request,
    /// Activation layout: channels-last, contiguous, or auto (the faster one measured for the network and device).
    #[arg(long, value_name = "LAYOUT", default_value = "auto")]
    memory_format: MemoryFormat,
    /// Time STEPS SGD steps on a fixed batch at the recipe's batch and size (after one warm-up step) in every precision and layout auto chooses from, print the speeds and auto's choice, and exit.
    #[arg(long, value_name = "STEPS", value_parser = at_least_one, conflicts_with_all = ["epochs", "out", "resume", "data", "train_limit", "test_limit", "download", "download_only", "allow_one_class"])]
    bench: Option<usize>,
    /// Fashion-MNIST IDX files, an image folder with train/ and test/, or
    /// with --val-split one folder of class folders
    /// [default: Fashion-MNIST in $CNNZOO_DATA, else in the set-up's cache].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Hold out this share of each class of --data (one folder of class
    /// folders, no test/) for testing, split by --seed; 0 to 1, e.g. 0.1.
    #[arg(long, value_name = "SHARE", value_parser = share)]
    val_split: Option<f64>,
    /// Download Fashion-MNIST into --data first (checksums verified).
    #[arg(long)]
    download: bool,
    /// Download Fashion-MNIST into --data (checksums verified) and exit.
    #[arg(long)]
    download_only: bool,
    /// Base URL to download from instead of Zalando's release.
    #[arg(long, requires = "fetch")]
    mirror: Option<String>,
    /// md5sum/sha256sum-style list of the mirror's checksums.
    #[arg(long, requires = "mirror")]
    checksums: Option<PathBuf>,
    /// Output stem: writes OUT.ot, OUT.json, OUT.svg; a folder (DIR/) means DIR/ARCH [default: runs/ARCH].
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Continue the checkpoint at --out from its last finished epoch.
    #[arg(long)]
    resume: bool,
    /// Start from published weights (a torch.save state dict, .safetensors or a timm folder) or a cnnzoo checkpoint (.ot) instead of a fresh initialization; a head for other classes is new.
    #[arg(long, value_name = "WEIGHTS", conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// sgd (with --momentum) or adamw [default: the recipe's, sgd].
    #[arg(long, value_parser = choice::<OptimizerKind>, help_heading = "Recipe")]
    optimizer: Option<OptimizerKind>,
    /// SGD momentum, 0 to 1 [default: 0, d2l's].
    #[arg(long, value_parser = fraction, help_heading = "Recipe")]
    momentum: Option<f64>,
    /// Weight decay (L2 for SGD, decoupled for AdamW), 0 to 1 [default: 0].
    #[arg(long, value_parser = fraction, help_heading = "Recipe")]
    weight_decay: Option<f64>,
    /// constant or cosine (to 0 over the run, after the warm-up) [default: constant].
    #[arg(long, value_parser = choice::<LrSchedule>, help_heading = "Recipe")]
    lr_schedule: Option<LrSchedule>,
    /// Epochs of linear warm-up from 0 to --lr [default: 0].
    #[arg(long, value_name = "EPOCHS", help_heading = "Recipe")]
    warmup_epochs: Option<usize>,
    /// Label smoothing of the cross-entropy, 0 to 1 [default: 0].
    #[arg(long, value_parser = fraction, help_heading = "Recipe")]
    label_smoothing: Option<f64>,
    /// Training augmentation: none, flip, or standard (random-resized crop and flip) [default: none].
    #[arg(long, value_parser = choice::<Augment>, help_heading = "Recipe")]
    augment: Option<Augment>,
    /// none, or backbone: only the head learns, the backbone's batch norms stay in evaluation mode [default: none].
    #[arg(long, value_parser = choice::<Freeze>, help_heading = "Recipe")]
    freeze: Option<Freeze>,
    /// The backbone's learning rate over the head's, 0 to 1 (discriminative rates) [default: 1].
    #[arg(long, value_parser = fraction, help_heading = "Recipe")]
    backbone_lr_scale: Option<f64>,
    /// Use only the first N training examples.
    #[arg(long, value_parser = at_least_one)]
    train_limit: Option<usize>,
    /// Use only the first N test examples.
    #[arg(long, value_parser = at_least_one)]
    test_limit: Option<usize>,
    /// CPU threads for libtorch [default: all cores].
    #[arg(long, value_parser = thread_count)]
    threads: Option<usize>,
    /// Train on an image folder with a single class (a classifier that cannot be wrong).
    #[arg(long)]
    allow_one_class: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// One of an enum's names, as the manifest spells them.
fn choice<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::from(s)).map_err(|e| {
        let msg = e.to_string();
        // serde says "unknown variant `x`, expected one of `a`, `b`": keep the list.
        msg.find("expected").map_or(msg.clone(), |i| format!("unknown value {s:?}: {}", &msg[i..]))
    })
}

/// 1 or 3 input channels.
fn channel_count(s: &str) -> Result<usize, String> {
    match s {
        "1" => Ok(1),
        "3" => Ok(3),
        _ => Err(format!("{s:?}: expected 1 (gray) or 3 (RGB)")),
    }
}

/// A number from 0 to 1.
fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: expected a number from 0 to 1")),
    }
}

impl Cli {
    /// The recipe beyond d2l's: the flags given over `base`.
    fn tuning(&self, base: Tuning) -> Tuning {
        Tuning {
            optimizer: self.optimizer.unwrap_or(base.optimizer),
            momentum: self.momentum.unwrap_or(base.momentum),
            weight_decay: self.weight_decay.unwrap_or(base.weight_decay),
            lr_schedule: self.lr_schedule.unwrap_or(base.lr_schedule),
            warmup_epochs: self.warmup_epochs.unwrap_or(base.warmup_epochs),
            label_smoothing: self.label_smoothing.unwrap_or(base.label_smoothing),
            augment: self.augment.unwrap_or(base.augment),
            freeze: self.freeze.unwrap_or(base.freeze),
            backbone_lr_scale: self.backbone_lr_scale.unwrap_or(base.backbone_lr_scale),
        }
    }
}

/// `--resume` continues with the checkpoint's recipe; a flag that says
/// otherwise is refused rather than silently ignored.
fn refuse_contradictions(cli: &Cli, paths: &Paths, manifest: &cnnzoo_models::Manifest) -> anyhow::Result<()> {
    let h = &manifest.hyperparameters;
    let mut given: Vec<(String, Option<String>, String)> = vec![
        ("--lr".into(), cli.lr.map(|v| v.to_string()), h.lr.to_string()),
        ("--batch-size".into(), cli.batch_size.map(|v| v.to_string()), h.batch_size.to_string()),
        ("--seed".into(), cli.seed.map(|v| v.to_string()), h.seed.to_string()),
        ("--size".into(), cli.size.map(|v| v.to_string()), manifest.input()[1].to_string()),
        ("--in-chans".into(), cli.in_chans.map(|v| v.to_string()), manifest.input()[0].to_string()),
        ("--val-split".into(), cli.val_split.map(|v| v.to_string()), h.val_split.map_or("no".into(), |v| v.to_string())),
    ];
    // The recipe's flags, compared field by field as the manifest holds them.
    let field = |t: &Tuning| serde_json::to_value(t).unwrap_or_default();
    let (asked, trained) = (field(&cli.tuning(h.tuning)), field(&h.tuning));
    for (key, was) in trained.as_object().into_iter().flatten() {
        let value = (asked[key] != *was).then(|| asked[key].to_string().trim_matches('"').to_string());
        given.push((format!("--{}", key.replace('_', "-")), value, was.to_string().trim_matches('"').to_string()));
    }
    for (flag, value, trained) in given {
        if let Some(value) = value.filter(|v| *v != trained) {
            bail!(
                "--resume: {flag} {value} differs from the {trained} that {} was trained with; drop {flag} to continue that run, or start a new one with another --out",
                paths.manifest.display()
            );
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum MemoryFormat {
    Auto,
    ChannelsLast,
    Contiguous,
}

impl MemoryFormat {
    /// The layout asked for; None for `auto`.
    fn asked(self) -> Option<Layout> {
        match self {
            MemoryFormat::Auto => None,
            MemoryFormat::ChannelsLast => Some(Layout::ChannelsLast),
            MemoryFormat::Contiguous => Some(Layout::Contiguous),
        }
    }
}

/// Precision and layout for the run: as asked; on `--resume`, for what is
/// `auto`, the checkpoint's; else decided by measurement (cached per machine).
fn compute(cli: &Cli, question: &autotune::Question, resumed: Option<&cnnzoo_models::Manifest>) -> anyhow::Result<autotune::Decision> {
    let (mut precision, mut layout) = (cli.precision, cli.memory_format.asked());
    if let Some(h) = resumed.map(|m| &m.hyperparameters) {
        if precision == Request::Auto {
            precision = Request::Exactly(h.precision.parse().map_err(|e| anyhow!("{}: precision {e}", h.precision))?);
        }
        if layout.is_none() {
            layout = h.memory_format.as_deref().and_then(|f| f.parse().ok());
        }
    }
    Ok(autotune::decide(question, precision, layout, &cnnzoo_models::measured::cache_file(), |c| autotune::measure(question, c))?)
}

/// `--bench STEPS`: every candidate `auto` leaves open, timed at the full
/// batch, and the one `auto` picks (from the probe or its cache).
fn bench(cli: &Cli, arch: &'static Arch, device: tch::Device, size: usize, steps: usize) -> anyhow::Result<()> {
    let batch = cli.batch_size.unwrap_or(arch.recipe.batch_size);
    let question = autotune::Question { arch, size, batch, device, work: autotune::Work::Train };
    let decision = compute(cli, &question, None)?;
    let candidates = autotune::candidates(device, cli.precision, cli.memory_format.asked());
    let mut results = vec![];
    for c in &candidates {
        let result = cnnzoo_train::bench::bench(arch, batch, size, device, c.precision, c.layout, steps)?;
        if !cli.json {
            let mark = if *c == decision.chosen && candidates.len() > 1 { "  <- auto" } else { "" };
            cnnzoo_cli::outln!(
                "{}: {:.1} examples/sec ({steps} steps of {batch} x {size} px, {c}, {}){mark}",
                result.arch,
                result.examples_per_sec,
                result.device
            );
        }
        results.push((*c, result));
    }
    if cli.json {
        let chosen = results.iter().find(|(c, _)| *c == decision.chosen).map(|(_, r)| r.clone()).unwrap_or_else(|| results[0].1.clone());
        let mut out = serde_json::to_value(&chosen)?;
        out["auto"] = serde_json::json!(decision.describe());
        out["candidates"] = serde_json::to_value(results.iter().map(|(_, r)| r).collect::<Vec<_>>())?;
        cnnzoo_cli::outln!("{out}");
    } else if candidates.len() > 1 {
        cnnzoo_cli::outln!("auto: {}", decision.describe());
    }
    Ok(())
}

fn print_summary(graph: &Graph, json: bool) {
    if json {
        let layers: Vec<_> = graph.nodes.iter().map(|n| serde_json::json!({"name": n.name, "op": n.op.kind(), "shape": n.shape, "parameters": n.params.iter().filter(|p| p.role.trainable()).map(|p| p.numel()).sum::<usize>()})).collect();
        let out = serde_json::json!({"arch": graph.arch, "input": graph.input_shape(), "classes": graph.classes(), "parameters": graph.parameter_count(), "flops": graph.flops(), "feature_dim": graph.feature_dim(), "layers": layers});
        cnnzoo_cli::outln!("{out}");
        return;
    }
    cnnzoo_cli::outln!("{:<28} {:<8} {:<18} {:>12}", "layer", "op", "output", "parameters");
    for n in &graph.nodes {
        let params: usize = n.params.iter().filter(|p| p.role.trainable()).map(|p| p.numel()).sum();
        let tap = if n.name == graph.nodes[graph.features].name { "  <- features" } else { "" };
        cnnzoo_cli::outln!("{:<28} {:<8} {:<18} {:>12}{tap}", n.name, n.op.kind(), format!("{:?}", n.shape), params);
    }
    cnnzoo_cli::outln!(
        "total parameters {}, {:.3} GFLOPs per image, features {}",
        graph.parameter_count(),
        graph.flops() as f64 / 1e9,
        graph.feature_dim()
    );
}

/// The run's preprocessing, which the data is prepared with and the model
/// card keeps: the checkpoint's on `--resume`; with `--init`, the one its
/// weights were trained with (a checkpoint's card, a timm folder's
/// `pretrained_cfg`, torchvision's published transforms); otherwise the
/// network's own (its family's channels, the recipe's size, pixels in
/// [0, 1]). `--size` changes the input side, keeping the resize's
/// proportion; `--in-chans` the channels, averaging colour statistics.
fn card(cli: &Cli, arch: &Arch, resumed: Option<&cnnzoo_models::Manifest>) -> anyhow::Result<Preprocessing> {
    if let Some(manifest) = resumed {
        return Ok(manifest.preprocessing.clone());
    }
    if let Some(init) = &cli.init {
        std::fs::metadata(init).with_context(|| format!("--init {}", init.display()))?;
    }
    let base = match &cli.init {
        Some(init) if init.extension().is_some_and(|e| e == "ot") => {
            cnnzoo_train::checkpoint::read_manifest(&Paths::from_stem(&init.with_extension("")).manifest)?.preprocessing
        }
        Some(init) => cnnzoo_models::weights::preprocessing_of(init, arch)?,
        None => Preprocessing::new(arch.default_config().in_channels, arch.recipe.size),
    };
    let base = match cli.size {
        Some(size) => base.with_size(size),
        None => base,
    };
    Ok(match cli.in_chans {
        Some(channels) => base.with_channels(channels),
        None => base,
    })
}

fn run(cli: Cli, arch: &'static Arch) -> anyhow::Result<()> {
    if let Some(n) = cli.threads {
        tch::set_num_threads(n as i32);
    }
    let r = arch.recipe;
    let size = cli.size.unwrap_or(r.size);
    if cli.summary {
        let graph = arch.build(&Config { size, ..arch.default_config() })?;
        print_summary(&graph, cli.json);
        return Ok(());
    }
    let device = resolve(cli.device)?;
    cnnzoo_train::precision::check(cli.precision, device)?;
    if let Some(steps) = cli.bench {
        return bench(&cli, arch, device, size, steps);
    }
    // Fashion-MNIST by the set-up's rule.
    let dir = cli
        .data
        .clone()
        .or_else(|| cnnzoo_models::data::find_fashion_mnist(None))
        // Nowhere yet: the first place the rule names ($CNNZOO_DATA, else the
        // cache; the list always ends with the cache), where --download puts it.
        .unwrap_or_else(|| cnnzoo_models::data::fashion_mnist_candidates(None).remove(0));
    if cli.download || cli.download_only {
        let mirror = match (&cli.mirror, &cli.checksums) {
            (Some(url), Some(sums)) => Mirror::with_checksum_file(url, sums)?,
            (Some(url), None) => Mirror { base_url: url.clone(), ..Mirror::official() },
            _ => Mirror::official(),
        };
        data::download_fashion_mnist(&dir, &mirror)?;
        if cli.download_only {
            eprintln!("Fashion-MNIST is in {}", dir.display());
            return Ok(());
        }
    }
    let stem = match cli.out.clone() {
        // `-o DIR/` or an existing folder: the run is named after the network inside it.
        Some(out) if out.is_dir() || out.as_os_str().to_string_lossy().ends_with('/') => out.join(arch.name),
        Some(out) => out,
        None => PathBuf::from("runs").join(arch.name),
    };
    let paths = Paths::from_stem(&stem);
    // On --resume the checkpoint's manifest decides the recipe, the split and the card.
    let resumed = if cli.resume { Some(cnnzoo_train::checkpoint::read_manifest(&paths.manifest)?) } else { None };
    if let Some(manifest) = &resumed {
        refuse_contradictions(&cli, &paths, manifest)?;
    }
    let val_split = resumed.as_ref().map_or(cli.val_split, |m| m.hyperparameters.val_split);
    let card = card(&cli, arch, resumed.as_ref())?;
    let size = card.size;
    // Validates the size before reading any data.
    arch.build(&Config { size, in_channels: card.channels, ..arch.default_config() })?;
    let batch_size = resumed.as_ref().map_or(cli.batch_size.unwrap_or(r.batch_size), |m| m.hyperparameters.batch_size);
    // A frozen backbone without augmentation spends its run on one feature pass.
    let planned = cli.tuning(resumed.as_ref().map_or(Tuning::default(), |m| m.hyperparameters.tuning));
    let work =
        if planned.freeze == Freeze::Backbone && planned.augment == Augment::None { autotune::Work::Embed } else { autotune::Work::Train };
    let decision = compute(&cli, &autotune::Question { arch, size, batch: batch_size, device, work }, resumed.as_ref())?;
    eprintln!("{}", decision.describe());
    let (precision, layout) = (decision.chosen.precision, decision.chosen.layout);
    let mut dataset = data::load(&dir, &card, val_split, cli.seed.unwrap_or(42)).map_err(|e| match e {
        TrainError::Idx(IdxError::Missing { .. }) => {
            anyhow!("{e}; --data names Fashion-MNIST's folder (or one with train/ and test/ image folders), --download fetches it")
        }
        e => e.into(),
    })?;
    if dataset.classes.len() < 2 && !cli.allow_one_class {
        bail!(
            "{}: has one class ({}); a classifier of one class is always right: add classes, or pass --allow-one-class",
            dir.display(),
            dataset.classes.join("")
        );
    }
    if let Some(n) = cli.train_limit {
        dataset.train = dataset.train.take(n);
    }
    if let Some(n) = cli.test_limit {
        dataset.test = dataset.test.take(n);
    }
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let tuning = cli.tuning(Tuning::default());
    let opts = Options {
        tuning,
        size,
        epochs: cli.epochs.unwrap_or(r.epochs),
        batch_size: cli.batch_size.unwrap_or(r.batch_size),
        lr: cli.lr.unwrap_or(r.lr),
        seed: cli.seed.unwrap_or(42),
        resume: cli.resume,
        init: cli.init.clone(),
        progress: !cli.quiet,
        precision,
        layout,
        val_split,
        ..Options::recipe(arch, device, paths)
    };
    eprintln!(
        "training {} on {} ({} train / {} test examples) on {} in {}{}, writing {}",
        arch.name,
        dataset.name,
        dataset.train.len(),
        dataset.test.len(),
        cnnzoo_train::device::describe(device),
        precision,
        if layout == Layout::ChannelsLast { ", channels-last" } else { "" },
        opts.paths.weights.display()
    );
    let manifest = trainer::train(&opts, &dataset)?;
    if cli.json {
        cnnzoo_cli::outln!(
            "{}",
            cnnzoo_models::json_path::json_record(
                &[("checkpoint", &opts.paths.weights), ("manifest", &opts.paths.manifest), ("curves", &opts.paths.curves)],
                serde_json::json!({"metrics": manifest.metrics})
            )
        );
    } else if let Some(lines) = trainer::summary_lines(&manifest) {
        cnnzoo_cli::outln!("{lines}");
    } else {
        cnnzoo_cli::outln!("wrote the initialized model to {}", opts.paths.weights.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let version = || format!("{}\n{}", cnnzoo_train::device::version_line("cnnzoo-train"), cnnzoo_train::device::libtorch_report());
    if let Some(done) = cnnzoo_cli::preamble::<Cli>(cli.completions, cli.version, version) {
        return done;
    }
    if cli.list {
        for a in ARCHS {
            let r = a.recipe;
            if cli.json {
                cnnzoo_cli::outln!(
                    "{}",
                    serde_json::json!({"arch": a.name, "layout": a.family.source(), "size": r.size, "batch_size": r.batch_size, "lr": r.lr, "epochs": r.epochs, "about": a.about})
                );
            } else {
                cnnzoo_cli::outln!(
                    "{:<15} {:<11} {:>3} px  batch {:>3}  lr {:<5} {}",
                    a.name,
                    a.family.source(),
                    r.size,
                    r.batch_size,
                    r.lr,
                    a.about
                );
            }
        }
        return ExitCode::SUCCESS;
    }
    let arch = match Arch::find(&cli.arch) {
        Ok(a) => a,
        Err(e) => {
            cnnzoo_cli::report_error(&format!("--arch: {e}"), cli.json);
            return ExitCode::from(2);
        }
    };
    if let (Some(Freeze::Backbone), Some(scale)) = (cli.freeze, cli.backbone_lr_scale) {
        cnnzoo_cli::report_error(
            &format!("--freeze backbone with --backbone-lr-scale {scale}: a frozen backbone learns at no rate; give one or the other"),
            cli.json,
        );
        return ExitCode::from(2);
    }
    let json = cli.json;
    cnnzoo_cli::finish(run(cli, arch), json)
}
