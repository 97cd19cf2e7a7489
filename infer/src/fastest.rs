//! `--device auto` on a CPU where OpenVINO's provider is offered: the CPU
//! provider and OpenVINO's are both built for the model at hand and timed on
//! a few batches, and the faster is used. OpenVINO competes in fp32 unless
//! bf16 is asked for: `auto` chooses for speed, never for other numbers than
//! the CPU provider's (within the export tolerance). The decision is remembered per CPU,
//! model (by content) and precision ([`cnnzoo_models::measured`]), so only
//! the first open of a model on a machine pays for the measurement.

use std::path::Path;
use std::time::Instant;

use ndarray::{Array4, ArrayD, IxDyn};
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::runtime::{environment, with_openvino, Precision, Provider};
use crate::{InferError, LoadError};

/// The input a measurement feeds: its name, and whether it takes uint8
/// pixels `[N, H, W, C]` (else float `[N, C, H, W]`), at the measured batch.
#[derive(Debug, Clone)]
pub struct ProbeInput {
    pub name: String,
    pub pixels: bool,
    pub shape: [usize; 4],
}

/// What is remembered: images/s on each provider, and the choice.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Timed {
    cpu: f64,
    openvino: Option<f64>,
    openvino_wins: bool,
}

/// OpenVINO must beat the CPU provider by this factor to be chosen, so that
/// a tie within run-to-run noise keeps the plainer provider.
const MARGIN: f64 = 1.03;

/// The session `auto` runs `file` on, the provider it is, and why.
pub fn cpu_or_openvino(
    file: &Path,
    precision: Precision,
    threads: Option<usize>,
    input: &ProbeInput,
) -> Result<(Session, Provider, String), InferError> {
    let precision = if precision == Precision::Auto { Precision::Fp32 } else { precision };
    let machine = cnnzoo_models::measured::cpu(threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())));
    let bytes = std::fs::read(file).map_err(|e| InferError::Runtime(format!("{}: {e}", file.display())))?;
    let key = format!("infer | {machine} | {:x} | {precision:?} | batch {}", Sha256::digest(&bytes), input.shape[0]);
    let cache = cnnzoo_models::measured::cache_file();
    let cpu = || -> Result<Session, InferError> {
        let mut b = Session::builder(environment(cnnzoo_models::Device::Auto)?).map_err(InferError::ort("starting a session"))?;
        if let Some(n) = threads {
            b = b.with_intra_threads(n).map_err(InferError::ort("setting a session's threads"))?;
        }
        b.commit_from_memory(&bytes).map_err(|e| InferError::Unloadable { path: file.to_path_buf(), source: LoadError::new(e) })
    };
    let openvino = || -> Result<(Session, Provider), InferError> {
        let b = Session::builder(environment(cnnzoo_models::Device::Auto)?).map_err(InferError::ort("starting a session"))?;
        let (mut b, provider) = with_openvino(b, precision, threads)?;
        let s = b.commit_from_memory(&bytes).map_err(InferError::ort("compiling the model for OpenVINO"))?;
        Ok((s, provider))
    };
    let why = |t: &Timed, when: &str| match t.openvino {
        Some(ov) => format!("{when} {:.2}x the CPU provider on {machine} ({:.1} vs {:.1} images/s)", ov / t.cpu, ov, t.cpu),
        None => format!("OpenVINO could not run it on {machine}"),
    };
    if let Some(t) = cnnzoo_models::measured::recall::<Timed>(&cache, &key, |_| true) {
        if t.openvino_wins {
            if let Ok((s, p)) = openvino() {
                return Ok((s, p, why(&t, "measured earlier")));
            }
        } else {
            return Ok((cpu()?, Provider::Cpu, why(&t, "measured earlier")));
        }
    }
    let mut cpu_session = cpu()?;
    let cpu_speed = speed(&mut cpu_session, input)?;
    let (ov, ov_speed) = match openvino() {
        Ok((mut s, p)) => match speed(&mut s, input) {
            Ok(v) => (Some((s, p)), Some(v)),
            Err(_) => (None, None),
        },
        Err(_) => (None, None),
    };
    let wins = ov_speed.is_some_and(|v| v > cpu_speed * MARGIN);
    let timed = Timed { cpu: cpu_speed, openvino: ov_speed, openvino_wins: wins };
    cnnzoo_models::measured::remember(&cache, &key, &timed);
    let note = why(&timed, "measured");
    match ov {
        Some((s, p)) if wins => Ok((s, p, note)),
        _ => Ok((cpu_session, Provider::Cpu, note)),
    }
}

/// Images/s of `session` on a batch of zeros: one warm-up run (OpenVINO
/// compiles for the shape on it), then runs for at least a quarter second.
fn speed(session: &mut Session, input: &ProbeInput) -> Result<f64, InferError> {
    let rt = InferError::ort::<ort::Error>("timing a run");
    let [n, a, b, c] = input.shape;
    let floats = (!input.pixels).then(|| Array4::<f32>::zeros((n, a, b, c)).into_dyn());
    let pixels = input.pixels.then(|| ArrayD::<u8>::zeros(IxDyn(&[n, a, b, c])));
    let mut once = || -> Result<(), InferError> {
        let inputs = match (&floats, &pixels) {
            (Some(x), _) => ort::inputs![input.name.as_str() => TensorRef::from_array_view(x.view()).map_err(&rt)?],
            (_, Some(x)) => ort::inputs![input.name.as_str() => TensorRef::from_array_view(x.view()).map_err(&rt)?],
            _ => unreachable!("one of the two is made"),
        };
        session.run(inputs).map(drop).map_err(&rt)
    };
    once()?;
    let (started, mut runs) = (Instant::now(), 0usize);
    while runs < 3 || started.elapsed().as_secs_f64() < 0.25 {
        once()?;
        runs += 1;
    }
    Ok((runs * n) as f64 / started.elapsed().as_secs_f64())
}
