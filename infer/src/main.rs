//! `cnnzoo-infer`: classify images, extract their features, or evaluate a
//! test set with an exported backbone on ONNX Runtime.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use cnnzoo_cli::{at_least_one, batch_size, positive_number, thread_count};
use cnnzoo_infer::bench::{bench, Stop};
use cnnzoo_infer::npy::npy_bytes;
use cnnzoo_infer::{collect_images, evaluate, Backbone, BackboneOptions, InferError};
use cnnzoo_models::fsio::{read_bounded, write_atomic, AtomicFile};
use cnnzoo_models::json_path::{json_record, path_literal};
use cnnzoo_models::CardOverrides;
use ndarray::Array2;

const EXAMPLES: &str = "Examples:
  cnnzoo-infer --backbone densenet shoe.png bag.jpg   # top-5 classes per image
  cnnzoo-infer --model runs/lenet.onnx photos/ --json # folders are read recursively
  cnnzoo-infer --backbone resnet18 --features photos/ --format npy -o feats.npy
  cnnzoo-infer --backbone lenet --eval ../shared/data/fashion-mnist
  cnnzoo-infer --backbone resnet18 --bench --batch-size 1,8,64 --duration 5 --json
  cnnzoo-infer --model resnet18.onnx --channels 3 --resize-size 256 --size 224 \\
      --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --classes imagenet.txt photo.jpg   # any ONNX classifier";

#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
enum Format {
    Jsonl,
    Npy,
}

#[derive(Debug, Parser)]
#[command(name = "cnnzoo-infer", disable_version_flag = true, about = "Classify images or extract features with an exported cnnzoo backbone on ONNX Runtime", after_help = EXAMPLES)]
struct Cli {
    /// Images, or folders searched recursively for images.
    inputs: Vec<PathBuf>,
    /// Backbone name: NAME.onnx in --model-dir.
    #[arg(long, conflicts_with = "model", value_parser = backbone_name)]
    backbone: Option<String>,
    /// An ONNX file.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Where --backbone looks [default: $CNNZOO_MODEL_DIR, then ./runs].
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Classes shown per image.
    #[arg(long, default_value_t = 5, value_parser = at_least_one, conflicts_with_all = ["features", "eval", "bench"])]
    top_k: usize,
    /// Write feature vectors instead of classes.
    #[arg(long)]
    features: bool,
    /// Feature file format (npy needs -o).
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// Output file for --features [default: stdout for jsonl].
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// One JSON object per image on stdout.
    #[arg(long)]
    json: bool,
    /// Images per ONNX Runtime run (with --bench, a comma-separated list to measure each).
    #[arg(long, default_value = "64", value_parser = batch_size, value_delimiter = ',')]
    batch_size: Vec<usize>,
    #[command(flatten)]
    runtime: cnnzoo_cli::Runtime,
    /// OpenVINO's number format: auto (bf16 where the CPU has it), fp32 or bf16; the CPU and CUDA providers compute in the model's own.
    #[arg(long, default_value = "auto")]
    precision: cnnzoo_infer::Precision,
    /// Sessions that run requests side by side, each on its share of --threads: more serve many small concurrent requests faster, one gives each request every core.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    streams: usize,
    /// Threads that decode and preprocess images, while the model runs [default: all cores].
    #[arg(long, value_parser = thread_count, conflicts_with = "bench")]
    decode_threads: Option<usize>,
    /// For a model without a cnnzoo card, or to override one field of its card:
    /// input channels (1 or 3).
    #[arg(long, help_heading = "Model card")]
    channels: Option<usize>,
    /// Input size in pixels: a side (224) or HEIGHTxWIDTH (48x192); with --resize-size, the centre crop.
    #[arg(long, visible_alias = "crop-size", value_name = "N|HxW", help_heading = "Model card")]
    size: Option<cnnzoo_models::preprocess::InputSize>,
    /// Resize the shorter side to this first (aspect kept), then crop the centre --size, rounding to 8 bits as torchvision's transforms do (resize 256, crop 224 for its ImageNet weights).
    #[arg(long, help_heading = "Model card")]
    resize_size: Option<usize>,
    /// Resize filter: bilinear_antialias (PyTorch's antialias=True), bicubic_antialias or bilinear.
    #[arg(long, help_heading = "Model card")]
    resize: Option<cnnzoo_models::preprocess::Filter>,
    /// Factor applied to 8-bit pixels [default: 1/255].
    #[arg(long, help_heading = "Model card", value_parser = positive_number)]
    scale: Option<f64>,
    /// Per-channel mean subtracted after scaling, e.g. 0.485,0.456,0.406.
    #[arg(long, help_heading = "Model card", value_delimiter = ',')]
    mean: Option<Vec<f32>>,
    /// Per-channel std divided by after the mean.
    #[arg(long, help_heading = "Model card", value_delimiter = ',')]
    std: Option<Vec<f32>>,
    /// Turn photos upright by their EXIF orientation tag first (true or false).
    #[arg(long, help_heading = "Model card", value_name = "BOOL")]
    exif_orientation: Option<bool>,
    /// A text file with one class name per line, in logit order.
    #[arg(long, help_heading = "Model card")]
    classes: Option<PathBuf>,
    /// The output holding the class scores, for a model that does not name it `logits` [default: a model's only output].
    #[arg(long, value_name = "NAME", help_heading = "Model card")]
    logits_output: Option<String>,
    /// The output holding the feature vector, for a model that does not name it `features`.
    #[arg(long, value_name = "NAME", help_heading = "Model card")]
    features_output: Option<String>,
    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
    /// Print the version, the ONNX Runtime loaded and the execution providers it offers.
    #[arg(short = 'V', long)]
    version: bool,
    /// Time the model alone on preprocessed input, per --batch-size: throughput and latency percentiles.
    #[arg(long, conflicts_with_all = ["eval", "features", "output", "inputs"], help_heading = "Benchmark")]
    bench: bool,
    /// With --bench: timed runs per batch size [default: as many as --duration allows].
    #[arg(long, value_parser = at_least_one, conflicts_with = "duration", requires = "bench", help_heading = "Benchmark")]
    runs: Option<usize>,
    /// With --bench: seconds of timed runs per batch size.
    #[arg(long, default_value_t = 10.0, value_parser = positive_number, requires = "bench", help_heading = "Benchmark")]
    duration: f64,
    /// With --bench: requests in flight at once, each sent as the last comes back [default: --streams].
    #[arg(long, value_parser = at_least_one, requires = "bench", help_heading = "Benchmark")]
    concurrency: Option<usize>,
    /// With --bench: untimed runs first, per batch size.
    #[arg(long, default_value_t = 3, requires = "bench", help_heading = "Benchmark")]
    warmup: usize,
    /// Evaluate on a test set: Fashion-MNIST IDX files, or an image folder's test/<class>/*.
    #[arg(long)]
    eval: Option<PathBuf>,
    /// How good the frozen features are for DATA (Fashion-MNIST IDX files, train/<class>/ and
    /// test/<class>/ folders, or with --val-split one folder of class folders): k-NN and
    /// linear-probe accuracies on its test split.
    #[arg(long, value_name = "DATA", conflicts_with_all = ["eval", "bench", "inputs"], help_heading = "Probe")]
    probe: Option<PathBuf>,
    /// With --probe: neighbours that vote in the k-NN classifier [default: 20].
    #[arg(long, value_parser = at_least_one, requires = "probe", help_heading = "Probe")]
    k: Option<usize>,
    /// With --probe: DATA is one folder of class folders; hold out this share of each class
    /// for testing, split as `cnnzoo-train --val-split` splits it (seed 42).
    #[arg(long, value_name = "SHARE", value_parser = cnnzoo_cli::share, requires = "probe", help_heading = "Probe")]
    val_split: Option<f64>,
}

/// The card fields given on the command line.
fn card_overrides(cli: &Cli) -> anyhow::Result<CardOverrides> {
    let classes = match &cli.classes {
        None => None,
        Some(path) => {
            let bytes = read_bounded(path, 16 << 20).map_err(|e| anyhow::anyhow!("--classes {}: {e}", path.display()))?;
            let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("--classes {}: not a text file", path.display()))?;
            Some(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
        }
    };
    Ok(CardOverrides {
        classes,
        channels: cli.channels,
        size: cli.size,
        resize_size: cli.resize_size,
        resize: cli.resize,
        scale: cli.scale.map(|s| s as f32),
        mean: cli.mean.clone(),
        std: cli.std.clone(),
        exif_orientation: cli.exif_orientation,
    })
}

/// `--backbone NAME`: a name, never a path (the library refuses one too).
fn backbone_name(s: &str) -> Result<String, String> {
    match cnnzoo_infer::valid_name(s) {
        true => Ok(s.to_string()),
        false => Err("use letters, digits, '-', '_' or '.' (no paths); --model takes a file".into()),
    }
}

fn open_backbone(cli: &Cli) -> anyhow::Result<Backbone> {
    let opts = BackboneOptions {
        device: cli.runtime.device,
        precision: cli.precision,
        threads: cli.runtime.threads,
        streams: cli.streams,
        max_batch: cli.batch_size.iter().copied().max().unwrap_or(64),
        decode_threads: cli.decode_threads,
        card: card_overrides(cli)?,
        logits_output: cli.logits_output.clone(),
        features_output: cli.features_output.clone(),
    };
    let opened = match (&cli.model, &cli.backbone) {
        (Some(path), _) => Backbone::open(path, &opts),
        (None, Some(name)) => {
            let dir = cli
                .model_dir
                .clone()
                .or_else(|| std::env::var_os("CNNZOO_MODEL_DIR").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("runs"));
            Backbone::open_named(name, &dir, &opts)
        }
        (None, None) => return Err(InferError::Usage("say which model: --backbone NAME or --model FILE".into()).into()),
    };
    match opened {
        Err(e @ InferError::NoCard { .. }) => {
            Err(anyhow::anyhow!("{e} (--channels N --size N; --mean, --std, --resize, --scale and --classes FILE as it needs)"))
        }
        r => Ok(r?),
    }
}

/// Writes lines to stdout; a closed pipe (`| head`) ends the output quietly.
struct Out(std::io::BufWriter<std::io::Stdout>);

impl Out {
    fn line(&mut self, s: &str) -> anyhow::Result<()> {
        let written = writeln!(self.0, "{s}");
        Self::quiet_on_closed_pipe(written)
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        let flushed = self.0.flush();
        Self::quiet_on_closed_pipe(flushed)
    }

    fn quiet_on_closed_pipe(r: std::io::Result<()>) -> anyhow::Result<()> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            r => Ok(r?),
        }
    }
}

/// Writes `[N, D]` float32 as a `.npy` file, whole or not at all.
/// `--bench`: one result per batch size, as a table or one JSON object.
fn run_bench(cli: &Cli, backbone: &Backbone) -> anyhow::Result<()> {
    let stop = match cli.runs {
        Some(n) => Stop::Runs(n),
        None => Stop::Duration(std::time::Duration::from_secs_f64(cli.duration)),
    };
    let mut results = vec![];
    for &batch in &cli.batch_size {
        results.push(bench(backbone, batch, cli.warmup, stop, cli.concurrency.unwrap_or(cli.streams))?);
    }
    let mut out = Out(std::io::BufWriter::new(std::io::stdout()));
    if cli.json {
        let provider = backbone.provider().to_string();
        let record = serde_json::json!({"provider": provider, "streams": backbone.streams(), "provider_choice": backbone.provider_note(), "results": results});
        out.line(&json_record(&[("model", backbone.path())], record))?;
    } else {
        let why = backbone.provider_note().map(|n| format!(" (auto: {n})")).unwrap_or_default();
        let streams = match backbone.streams() {
            1 => String::new(),
            n => format!(", {n} streams"),
        };
        let flight = results.first().map_or(1, |r| r.concurrency);
        let flight = if flight > 1 { format!(", {flight} requests in flight") } else { String::new() };
        out.line(&format!("{} on {}{streams}{flight}{why}", backbone.path().display(), backbone.provider()))?;
        out.line("batch     runs   images/s    mean ms     p50 ms     p90 ms     p99 ms")?;
        for r in &results {
            out.line(&format!(
                "{:>5} {:>8} {:>10.1} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
                r.batch, r.runs, r.images_per_sec, r.latency_ms_mean, r.latency_ms_p50, r.latency_ms_p90, r.latency_ms_p99
            ))?;
        }
    }
    out.finish()
}

fn write_npy(path: &Path, a: &Array2<f32>) -> anyhow::Result<()> {
    write_atomic(path, &npy_bytes(a)).map_err(|(p, e)| anyhow::anyhow!("writing {}: {e}", p.display()))
}

fn run_images(cli: &Cli, backbone: &Backbone) -> anyhow::Result<usize> {
    let files = collect_images(&cli.inputs);
    if files.is_empty() {
        return Err(InferError::Usage("no images given (pass files or folders, or --eval DIR)".into()).into());
    }
    if !cli.features && (cli.output.is_some() || cli.format != Format::Jsonl) {
        return Err(InferError::Usage("-o and --format apply to --features (classes go to stdout)".into()).into());
    }
    if cli.features && cli.format == Format::Npy && cli.output.is_none() {
        return Err(InferError::Usage("--format npy needs -o FILE".into()).into());
    }
    if let Some(path) = &cli.output {
        // Found unwritable now, not after every image is embedded.
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !folder.is_dir() {
            bail!("-o {}: the folder {} does not exist", path.display(), folder.display());
        }
        cnnzoo_models::fsio::check_output(path).map_err(|e| anyhow::anyhow!("-o {}: {e}", path.display()))?;
        if let Some(same) = files.iter().find(|f| cnnzoo_models::fsio::same_file(path, f)) {
            bail!("-o {}: is {}, an input of this run; write the output elsewhere", path.display(), same.display());
        }
    }
    let mut out = Out(std::io::BufWriter::new(std::io::stdout()));
    // Written beside -o and renamed over it at the end: a failed run leaves the old file.
    let mut sink: Option<AtomicFile> = match (&cli.output, cli.features && cli.format == Format::Jsonl) {
        (Some(p), true) => Some(AtomicFile::create(p).with_context(|| format!("creating {}", p.display()))?),
        _ => None,
    };
    if !cli.features && !backbone.has_logits() {
        bail!(
            "{}: this model has a feature output and no class logits: use --features (or name its logits with --logits-output NAME)",
            backbone.path().display()
        );
    }
    if cli.features && !backbone.has_features() {
        return Err(cnnzoo_infer::no_features(backbone.path(), backbone.logits_output().unwrap_or("logits")).into());
    }
    let (mut failed, mut done, mut all_features) = (0usize, 0usize, Array2::zeros((0, backbone.feature_dim())));
    let mut embedded_paths: Vec<&PathBuf> = vec![];
    let started = Instant::now();
    // Each image is preprocessed as soon as it is decoded, on all cores.
    let input = |path: &PathBuf| backbone.input(path);
    // JSON output (classes with --json, features as JSON lines) holds one
    // record per file in input order, a file that could not be read included.
    let json_records = if cli.features { cli.format == Format::Jsonl } else { cli.json };
    backbone.for_each_batch(&files, input, |batch| {
        for (_, e) in &batch.failures {
            eprintln!("error: {e}");
        }
        failed += batch.failures.len();
        done += batch.indices.len();
        let write = |r: anyhow::Result<()>| r.map_err(|e| InferError::Runtime(format!("{e:#}")));
        // A .npy file is written whole at the end; only it keeps every row.
        if cli.features && cli.format == Format::Npy {
            embedded_paths.extend(batch.indices.iter().map(|&i| &files[i]));
            return all_features.append(ndarray::Axis(0), batch.outputs.features.view()).map_err(|e| InferError::Runtime(e.to_string()));
        }
        let mut lines: Vec<(usize, String)> = vec![];
        if json_records {
            lines.extend(
                batch.failures.iter().map(|(i, e)| (*i, json_record(&[("path", &files[*i])], serde_json::json!({"error": e.to_string()})))),
            );
        }
        if cli.features {
            for (&i, row) in batch.indices.iter().zip(batch.outputs.features.outer_iter()) {
                lines.push((i, json_record(&[("path", &files[i])], serde_json::json!({"features": row.to_vec()}))));
            }
        } else {
            for (&i, row) in batch.indices.iter().zip(batch.outputs.logits.iter().flat_map(|l| l.outer_iter())) {
                let top = backbone.top_k(&row.to_vec(), cli.top_k);
                lines.push((
                    i,
                    if cli.json {
                        let top: Vec<_> = top
                            .iter()
                            .map(|p| serde_json::json!({"class": p.class, "label": p.label, "probability": p.probability}))
                            .collect();
                        json_record(&[("path", &files[i])], serde_json::json!({"top": top}))
                    } else {
                        let labels: Vec<String> = top.iter().map(|p| format!("{} {:.3}", p.label, p.probability)).collect();
                        format!("{}: {}", files[i].display(), labels.join(", "))
                    },
                ));
            }
        }
        lines.sort_by_key(|(i, _)| *i);
        for (_, line) in lines {
            match &mut sink {
                Some(f) => write(writeln!(f, "{line}").map_err(Into::into))?,
                None => write(out.line(&line))?,
            }
        }
        Ok(())
    })?;
    if let (true, Format::Npy, Some(path)) = (cli.features, cli.format, &cli.output) {
        if done == 0 {
            bail!("no image could be read: {} is left as it was", path.display());
        }
        write_npy(path, &all_features)?;
        // Row order, one JSON string per line: every name faithfully, whatever its bytes.
        for p in &embedded_paths {
            out.line(&path_literal(p))?;
        }
    }
    if let Some(f) = sink {
        let path = cli.output.as_deref().unwrap_or(Path::new("-"));
        f.commit().with_context(|| format!("writing {}", path.display()))?;
    }
    out.finish()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} {done} image{} in {secs:.2} s ({:.1} images/sec) on {}; {failed} failed",
        if cli.features { "embedded" } else { "classified" },
        if done == 1 { "" } else { "s" },
        done as f64 / secs,
        backbone.provider()
    );
    Ok(failed)
}

/// Accuracy, confusion matrix and throughput on a test set.
fn run_eval(cli: &Cli, backbone: &Backbone, dir: &Path) -> anyhow::Result<()> {
    let e = evaluate(backbone, dir)?;
    let classes = &backbone.card().classes;
    let per_sec = e.images as f64 / e.seconds;
    let mut out = Out(std::io::BufWriter::new(std::io::stdout()));
    if cli.json {
        out.line(&serde_json::json!({"images": e.images, "accuracy": e.accuracy, "images_per_sec": per_sec, "provider": backbone.provider().to_string(), "classes": classes, "confusion": e.confusion, "predictions": e.predictions}).to_string())?;
    } else {
        out.line(&format!("accuracy {:.4} ({}/{}), {per_sec:.1} images/sec on {}", e.accuracy, e.correct, e.images, backbone.provider()))?;
        out.line("confusion matrix (rows: true class, columns: predicted class, by number)")?;
        let header: Vec<String> = (0..e.confusion.len()).map(|k| format!("{k:>5}")).collect();
        out.line(&format!("{:>16} {}", "", header.join("")))?;
        for (t, row) in e.confusion.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:>5}")).collect();
            let label = format!("{t} {}", classes.get(t).map(String::as_str).unwrap_or(""));
            out.line(&format!("{label:>16} {}", cells.join("")))?;
        }
    }
    out.finish()
}

/// `--version`: this build, and what the ONNX Runtime it loads can do.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let version = || cnnzoo_infer::version_report("cnnzoo-infer", env!("CARGO_PKG_VERSION"), option_env!("CNNZOO_GIT_REV"));
    if let Some(done) = cnnzoo_cli::preamble::<Cli>(cli.completions, cli.version, version) {
        return done;
    }
    match run(&cli) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("error: {failed} file(s) could not be read");
            ExitCode::FAILURE
        }
        Err(e) => {
            cnnzoo_cli::report_error(&cnnzoo_cli::error_line(e.chain()), cli.json);
            let usage = e.downcast_ref::<cnnzoo_infer::InferError>().is_some_and(|e| matches!(e, cnnzoo_infer::InferError::Usage(_)));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// Classifies, embeds or evaluates, as the flags say; the count of unreadable files.
fn run(cli: &Cli) -> anyhow::Result<usize> {
    if cli.eval.is_some() && !cli.inputs.is_empty() {
        return Err(InferError::Usage("--eval DIR reads its own test set: give no image arguments with it".into()).into());
    }
    // clap's `requires` lets these through when image arguments are given.
    if (cli.k.is_some() || cli.val_split.is_some()) && cli.probe.is_none() {
        return Err(InferError::Usage("--k and --val-split apply to --probe DATA".into()).into());
    }
    if cli.runs.is_some() && !cli.bench {
        return Err(InferError::Usage("--runs applies to --bench".into()).into());
    }
    if cli.concurrency.is_some() && !cli.bench {
        return Err(InferError::Usage("--concurrency applies to --bench".into()).into());
    }
    if cli.batch_size.len() > 1 && !cli.bench {
        return Err(InferError::Usage("--batch-size takes one value, or a list with --bench".into()).into());
    }
    let backbone = open_backbone(cli)?;
    if cli.bench {
        return run_bench(cli, &backbone).map(|()| 0);
    }
    if let Some(dir) = &cli.probe {
        return run_probe(cli, &backbone, dir).map(|()| 0);
    }
    match &cli.eval {
        Some(dir) => run_eval(cli, &backbone, dir).map(|()| 0),
        None => run_images(cli, &backbone),
    }
}

fn run_probe(cli: &Cli, backbone: &Backbone, dir: &Path) -> anyhow::Result<()> {
    if !backbone.has_features() {
        return Err(cnnzoo_infer::no_features(backbone.path(), backbone.logits_output().unwrap_or("logits")).into());
    }
    let p = cnnzoo_infer::feature_probe::probe(backbone, dir, cli.k.unwrap_or(20), cli.val_split)?;
    let mut out = Out(std::io::BufWriter::new(std::io::stdout()));
    if cli.json {
        let fields = serde_json::to_value(&p)?;
        out.line(&json_record(&[("model", backbone.path()), ("data", dir)], fields))?;
    } else {
        out.line(&cnnzoo_infer::feature_probe::render(&p, &backbone.path().display().to_string()))?;
    }
    out.finish()
}
