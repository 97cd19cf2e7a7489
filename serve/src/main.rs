//! `cnnzoo-serve`: the backbones of a folder over the Open Inference Protocol
//! (KServe V2), HTTP and gRPC, with dynamic batching.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::sync::watch;

use cnnzoo_cli::{at_least_one, batch_size, queue_length};
use cnnzoo_serve::budget::DecodeLimits;
use cnnzoo_serve::connections::{self, ConnectionLimits, Connections, Protocol};
use cnnzoo_serve::metrics::{enabled, set_level, Level};
use cnnzoo_serve::{grpc, http, BatchConfig, Repository, RepositoryOptions};

const EXAMPLES: &str = "Examples:
  cnnzoo-serve --model-dir runs                      # every runs/NAME.onnx is model NAME
  curl localhost:8000/v2/models/lenet                # inputs, outputs, shapes
  curl -X POST localhost:8000/v2/models/lenet/infer -d @request.json
  cnnzoo-serve --model-dir runs --http off --grpc 0.0.0.0:8001 --max-batch 32";

#[derive(Debug, Parser)]
#[command(
    name = "cnnzoo-serve",
    disable_version_flag = true,
    about = "Serve exported cnnzoo backbones over the Open Inference Protocol (KServe V2: HTTP and gRPC, as Triton speaks it)",
    after_help = EXAMPLES
)]
struct Cli {
    /// The models: every NAME.onnx here is model NAME, version 1 (a NAME.card.json beside it
    /// describes a model without a cnnzoo card, with cnnzoo-infer's card flags as keys).
    #[arg(long, required_unless_present_any = ["version", "completions"])]
    model_dir: Option<PathBuf>,
    /// HTTP/REST address (port 0 picks a free one; `off` disables HTTP).
    #[arg(long, default_value = "127.0.0.1:8000", value_parser = listen_address)]
    http: Listen,
    /// gRPC address (port 0 picks a free one; `off` disables gRPC).
    #[arg(long, default_value = "127.0.0.1:8001", value_parser = listen_address)]
    grpc: Listen,
    #[command(flatten)]
    runtime: cnnzoo_cli::Runtime,
    /// OpenVINO's number format: auto (bf16 where the CPU has it), fp32 or bf16; the CPU and CUDA providers compute in the model's own.
    #[arg(long, default_value = "auto")]
    precision: cnnzoo_infer::Precision,
    /// Most rows in one ONNX Runtime run, and in one request.
    #[arg(long, default_value_t = 64, value_parser = batch_size, help_heading = "Batching")]
    max_batch: usize,
    /// How long a run waits for requests still arriving to join it, in microseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=10_000_000), help_heading = "Batching")]
    max_delay_us: u64,
    /// Requests waiting per model; beyond it requests are refused with 503 / UNAVAILABLE.
    #[arg(long, default_value_t = 1024, value_parser = queue_length, help_heading = "Batching")]
    max_queue: usize,
    /// Run every request alone instead of merging concurrent ones.
    #[arg(long, help_heading = "Batching")]
    no_dynamic_batching: bool,
    /// Largest request body (HTTP) or message (gRPC), in bytes; larger ones get 413 / OUT_OF_RANGE.
    #[arg(long, default_value_t = 64 << 20, value_parser = at_least_one, help_heading = "Limits")]
    max_request_bytes: usize,
    /// Open connections, HTTP and gRPC together; at the limit a new one replaces the one longest without a request.
    #[arg(long, default_value_t = 512, value_parser = connection_count, help_heading = "Limits")]
    max_connections: usize,
    /// Seconds a connection has to send a whole request, from its opening or its last answer (slow and idle clients are closed).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600), help_heading = "Limits")]
    read_timeout_s: u64,
    /// Most pixels in one image (PIL's decompression-bomb limit); larger images get 400 from their header alone.
    #[arg(long, default_value_t = 2 * 89_478_485, value_parser = image_pixels, help_heading = "Limits")]
    max_image_pixels: u64,
    /// Memory for decoded images, all requests together, in MiB; images wait for room (503 after 60 s).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 20), help_heading = "Limits")]
    decode_memory_mb: u64,
    /// Seconds to finish requests in flight after SIGTERM or SIGINT before exiting anyway.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    grace_period_s: u64,
    /// error, info, or debug (one JSON line per request on stderr).
    #[arg(long, value_enum, default_value = "info")]
    log_level: Level,
    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
    /// Print the version, the ONNX Runtime loaded and the execution providers it offers.
    #[arg(short = 'V', long)]
    version: bool,
}

/// An address to listen on, or none.
#[derive(Debug, Clone, Copy)]
struct Listen(Option<SocketAddr>);

fn listen_address(s: &str) -> Result<Listen, String> {
    if s == "off" {
        return Ok(Listen(None));
    }
    s.parse().map(|a| Listen(Some(a))).map_err(|_| "expected HOST:PORT with a numeric host (127.0.0.1:8000, [::1]:8000) or off".into())
}

/// A connection limit: each open connection holds a file descriptor and a
/// little memory; past 65,536 the descriptors run out first.
fn connection_count(s: &str) -> Result<usize, String> {
    let n = at_least_one(s)?;
    if n > 65_536 {
        return Err(format!("{n} connections: at most 65536 (each holds a file descriptor)"));
    }
    Ok(n)
}

/// A pixel limit: at least one pixel, and no more than the largest image
/// the decoder opens at all.
fn image_pixels(s: &str) -> Result<u64, String> {
    let n: u64 = s.parse().map_err(|_| format!("{s:?} is not a pixel count"))?;
    let most = u64::from(cnnzoo_models::data::MAX_SIDE).pow(2);
    if !(1..=most).contains(&n) {
        return Err(format!(
            "{n} pixels: from 1 to {most} ({}x{}, the largest image decoded at all)",
            cnnzoo_models::data::MAX_SIDE,
            cnnzoo_models::data::MAX_SIDE
        ));
    }
    Ok(n)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let version = || cnnzoo_infer::version_report("cnnzoo-serve", env!("CARGO_PKG_VERSION"), option_env!("CNNZOO_GIT_REV"));
    if let Some(done) = cnnzoo_cli::preamble::<Cli>(cli.completions, cli.version, version) {
        return done;
    }
    cnnzoo_cli::finish(serve(&cli), false)
}

fn info(line: &str) {
    if enabled(Level::Info) {
        eprintln!("cnnzoo-serve: {line}");
    }
}

fn serve(cli: &Cli) -> anyhow::Result<()> {
    set_level(cli.log_level);
    if cli.http.0.is_none() && cli.grpc.0.is_none() {
        anyhow::bail!("--http off and --grpc off: nothing would be served");
    }
    let dir = cli.model_dir.as_ref().context("--model-dir is required")?;
    let opts = RepositoryOptions {
        device: cli.runtime.device,
        precision: cli.precision,
        threads: cli.runtime.threads,
        batching: BatchConfig {
            max_batch: cli.max_batch,
            max_delay: Duration::from_micros(cli.max_delay_us),
            max_queue: cli.max_queue,
            dynamic: !cli.no_dynamic_batching,
        },
        decoding: DecodeLimits { max_image_pixels: cli.max_image_pixels, memory_bytes: cli.decode_memory_mb << 20 },
    };
    let repo = Arc::new(Repository::open(dir, &opts)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(run(cli, Arc::clone(&repo)))?;
    drop(runtime);
    // The servers are gone: the last reference joins every batching thread.
    drop(repo);
    info("stopped");
    Ok(())
}

async fn run(cli: &Cli, repo: Arc<Repository>) -> anyhow::Result<()> {
    let bind = |flag: &'static str, addr: Option<SocketAddr>| async move {
        match addr {
            None => Ok(None),
            Some(a) => tokio::net::TcpListener::bind(a).await.map(Some).with_context(|| format!("--{flag} {a}")),
        }
    };
    let http_listener = bind("http", cli.http.0).await?;
    let grpc_listener = bind("grpc", cli.grpc.0).await?;
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info("stopping: no new connections; finishing the requests in flight");
        let _ = stop.send(true);
    });
    let connections =
        Connections::new(ConnectionLimits { max_connections: cli.max_connections, read_timeout: Duration::from_secs(cli.read_timeout_s) });
    let mut servers = tokio::task::JoinSet::new();
    let mut endpoints = vec![];
    if let Some(listener) = http_listener {
        endpoints.push(format!("HTTP on http://{}", listener.local_addr()?));
        let app = http::router(Arc::clone(&repo), Arc::clone(&connections), cli.max_request_bytes);
        servers.spawn(connections::serve(listener, Protocol::Http1, app, Arc::clone(&connections), stopped.clone()));
    }
    if let Some(listener) = grpc_listener {
        endpoints.push(format!("gRPC on {}", listener.local_addr()?));
        let service = grpc::service(Arc::clone(&repo), cli.max_request_bytes);
        servers.spawn(connections::serve(listener, Protocol::Http2, service, Arc::clone(&connections), stopped.clone()));
    }
    let models: Vec<String> = repo.models().map(|m| format!("{} ({})", m.name, m.backbone().provider())).collect();
    info(&format!("ready: {}; {}", models.join(", "), endpoints.join(", ")));
    drop(repo);

    let grace = Duration::from_secs(cli.grace_period_s);
    let mut stopped_rx = stopped;
    let drained = async {
        while let Some(done) = servers.join_next().await {
            done.context("a server task panicked")?;
        }
        anyhow::Ok(())
    };
    tokio::pin!(drained);
    tokio::select! {
        result = &mut drained => result,
        _ = async { let _ = stopped_rx.wait_for(|&s| s).await; tokio::time::sleep(grace).await } => {
            anyhow::bail!("requests still in flight {}s after the signal (--grace-period-s); exiting without them", grace.as_secs())
        }
    }
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
