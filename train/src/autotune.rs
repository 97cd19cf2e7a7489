//! `--precision auto` and `--memory-format auto`, decided by measurement, as
//! `torch.backends.cudnn.benchmark` decides kernels: a rule drawn from CPU
//! flags was wrong on one machine or another (bf16 is 2x fp32 on a Zen 4
//! without AMX, and was no faster on a Xeon with AVX-512 BF16 alone), but the
//! machine itself can say. On first use, a few forward+backward steps of the
//! network at hand are timed in each candidate; the fastest is remembered per
//! machine, network, size and batch in the cache folder, so later runs pay
//! nothing ([`cnnzoo_models::measured`]). Every candidate keeps the accuracy
//! contract of mixed precision (fp32 master weights, batch norm and loss in
//! fp32), so speed alone decides.

use std::path::Path;
use std::time::Instant;

use cnnzoo_models::Arch;
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::error::{Result, TrainError};
use crate::net::Layout;
use crate::precision::{Precision, Request};

/// One way to run: a precision and a memory layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    #[serde(with = "display")]
    pub precision: Precision,
    #[serde(with = "display")]
    pub layout: Layout,
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {}", self.precision, self.layout)
    }
}

/// A candidate's speed in the probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    #[serde(flatten)]
    pub candidate: Candidate,
    pub examples_per_sec: f64,
}

/// What `auto` resolved to, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub chosen: Candidate,
    /// Every candidate timed, in candidate order; empty when there was one
    /// candidate (everything asked for explicitly).
    pub measured: Vec<Measured>,
    /// Whether the decision came from the cache (measured by an earlier run).
    pub cached: bool,
    /// The CPU or GPU model the measurement holds for.
    pub machine: String,
}

impl Decision {
    /// The run's first line: what was chosen and why.
    pub fn describe(&self) -> String {
        let Some(base) = self.measured.first() else {
            return format!("{}: as asked", self.chosen);
        };
        let chosen = self.measured.iter().find(|m| m.candidate == self.chosen).map_or(f64::NAN, |m| m.examples_per_sec);
        let when = if self.cached { "measured earlier" } else { "measured" };
        let all: Vec<String> = self.measured.iter().map(|m| format!("{} {:.1}/s", m.candidate, m.examples_per_sec)).collect();
        if self.chosen == base.candidate {
            format!("{}: {when} the fastest on {} ({})", self.chosen, self.machine, all.join("; "))
        } else {
            format!(
                "{}: {when} {:.2}x {} on {} ({})",
                self.chosen,
                chosen / base.examples_per_sec,
                base.candidate,
                self.machine,
                all.join("; ")
            )
        }
    }
}

/// A candidate must beat the ones before it (fp32 before 16 bits; the
/// device's usual layout first) by this factor to be chosen, so that
/// run-to-run noise does not flip a tie.
pub const MARGIN: f64 = 1.03;

/// What a request leaves open on `device`: every precision the device
/// computes natively for `auto` (bf16 only where the CPU has bf16
/// instructions or the GPU tensor cores; fp16 on CUDA only), times both
/// layouts for `auto`.
pub fn candidates(device: Device, precision: Request, layout: Option<Layout>) -> Vec<Candidate> {
    let precisions = match precision {
        Request::Exactly(p) => vec![p],
        Request::Auto => match device {
            Device::Cuda(i) => {
                let mut p = vec![Precision::Fp32];
                if crate::precision::gpu_has_bf16(i) {
                    p.push(Precision::Bf16);
                }
                p.push(Precision::Fp16);
                p
            }
            _ if cnnzoo_models::measured::cpu_has_bf16() => vec![Precision::Fp32, Precision::Bf16],
            _ => vec![Precision::Fp32],
        },
    };
    // On a CPU channels-last goes first: it measured faster for five of the six
    // d2l networks (docs/BENCHMARKS.md), so it keeps a tie; on CUDA, contiguous.
    let both = match device {
        Device::Cuda(_) => vec![Layout::Contiguous, Layout::ChannelsLast],
        _ => vec![Layout::ChannelsLast, Layout::Contiguous],
    };
    let layouts = layout.map_or(both, |l| vec![l]);
    precisions.iter().flat_map(|&precision| layouts.iter().map(move |&layout| Candidate { precision, layout })).collect()
}

/// The fastest of `candidates` by `measure` (examples/s), where a later
/// candidate must beat the best so far by [`MARGIN`].
pub fn choose(candidates: &[Candidate], mut measure: impl FnMut(Candidate) -> Result<f64>) -> Result<(Candidate, Vec<Measured>)> {
    let mut measured = Vec::with_capacity(candidates.len());
    for &candidate in candidates {
        measured.push(Measured { candidate, examples_per_sec: measure(candidate)? });
    }
    let mut best = measured.first().ok_or_else(|| TrainError::Options("no precision and memory format to choose from".into()))?;
    for m in &measured[1..] {
        if m.examples_per_sec > best.examples_per_sec * MARGIN {
            best = m;
        }
    }
    Ok((best.candidate, measured))
}

/// What the cache holds for one question.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    chosen: Candidate,
    measured: Vec<Measured>,
}

/// What the run spends its time on, which the probe times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Training steps: forward, backward, update.
    Train,
    /// Forward passes in evaluation mode: a frozen backbone's features,
    /// computed once, are nearly all of such a run (channels-last is 1.6x
    /// contiguous there in fp32 on ResNet-18 at 224 px, a tie in training).
    Embed,
}

/// The network, size, batch and work a decision holds for, on one machine.
#[derive(Debug, Clone)]
pub struct Question {
    pub arch: &'static Arch,
    pub size: usize,
    pub batch: usize,
    pub device: Device,
    pub work: Work,
}

impl Question {
    fn key(&self, machine: &str, candidates: &[Candidate]) -> String {
        let among: Vec<String> = candidates.iter().map(|c| c.to_string()).collect();
        format!("train | {machine} | {} | {} px | batch {} | {:?} | {}", self.arch.name, self.size, self.batch, self.work, among.join("; "))
    }
}

/// Resolves `precision` and `layout` (None: auto) for `question`: explicit
/// choices as given, `auto` from `cache` ([`cnnzoo_models::measured`]) or,
/// failing that, by `measure`, remembered there.
pub fn decide(
    question: &Question,
    precision: Request,
    layout: Option<Layout>,
    cache: &Path,
    measure: impl FnMut(Candidate) -> Result<f64>,
) -> Result<Decision> {
    let candidates = candidates(question.device, precision, layout);
    let machine = machine(question.device);
    if let [only] = candidates[..] {
        return Ok(Decision { chosen: only, measured: vec![], cached: false, machine });
    }
    let key = question.key(&machine, &candidates);
    if let Some(entry) = cnnzoo_models::measured::recall(cache, &key, |e: &Entry| e.measured.len() == candidates.len()) {
        return Ok(Decision { chosen: entry.chosen, measured: entry.measured, cached: true, machine });
    }
    let (chosen, measured) = choose(&candidates, measure)?;
    cnnzoo_models::measured::remember(cache, &key, &Entry { chosen, measured: measured.clone() });
    Ok(Decision { chosen, measured, cached: false, machine })
}

/// The probe's measurement: examples/s of the question's work (training
/// steps, or forward passes) at a batch of about 32 images of 96 px (5 at 224
/// px, at most the run's), after one warm-up that builds the kernels, timed
/// for at least two steps and PROBE_SECONDS: a few seconds for all
/// candidates together.
pub fn measure(question: &Question, candidate: Candidate) -> Result<f64> {
    let pixels = question.size * question.size;
    let batch = (32 * 96 * 96 / pixels.max(1)).clamp(4, 32).min(question.batch.max(1));
    let mut run = crate::bench::Steps::new(question.arch, batch, question.size, question.device, candidate.precision, candidate.layout)?;
    let mut once = || match question.work {
        Work::Train => drop(run.step()),
        Work::Embed => run.embed(),
    };
    once();
    let (started, mut steps) = (Instant::now(), 0);
    while steps < 2 || started.elapsed().as_secs_f64() < PROBE_SECONDS {
        once();
        steps += 1;
    }
    Ok((steps * batch) as f64 / started.elapsed().as_secs_f64())
}

/// The least time each candidate's steps are timed for.
const PROBE_SECONDS: f64 = 0.5;

/// The CPU (model and threads) or GPU a measurement holds for.
pub fn machine(device: Device) -> String {
    match device {
        Device::Cuda(i) => std::process::Command::new("nvidia-smi")
            .args(["--query-gpu=name", "--format=csv,noheader", &format!("--id={i}")])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("cuda:{i}")),
        _ => cnnzoo_models::measured::cpu(tch::get_num_threads().max(1) as usize),
    }
}

/// Serializes through `Display` and `FromStr` (`bf16`, `channels-last`).
mod display {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T: std::str::FromStr<Err = String>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every() -> Vec<Candidate> {
        [Precision::Fp32, Precision::Bf16]
            .iter()
            .flat_map(|&precision| [Layout::ChannelsLast, Layout::Contiguous].map(|layout| Candidate { precision, layout }))
            .collect()
    }

    #[test]
    fn the_fastest_candidate_is_chosen_whichever_it_is() {
        let cands = every();
        for (i, fastest) in cands.iter().enumerate() {
            let (chosen, measured) = choose(&cands, |c| Ok(if c == *fastest { 200.0 } else { 100.0 + i as f64 })).unwrap();
            assert_eq!(chosen, *fastest);
            assert_eq!(measured.len(), 4);
        }
        // Within the margin, the plainer candidate keeps the choice.
        let (chosen, _) = choose(&cands, |c| Ok(if c == cands[3] { 102.0 } else { 100.0 })).unwrap();
        assert_eq!(chosen, cands[0]);
    }

    #[test]
    fn decisions_are_cached_and_reused_and_explicit_flags_never_measured() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("autotune.json");
        let arch = Arch::find("lenet").unwrap();
        let q = Question { arch, size: 28, batch: 256, device: Device::Cpu, work: Work::Train };
        let bf16 = cnnzoo_models::measured::cpu_has_bf16();
        let fastest = *candidates(Device::Cpu, Request::Auto, None).last().unwrap();
        let mut calls = 0;
        let first = decide(&q, Request::Auto, None, &cache, |c| {
            calls += 1;
            Ok(if c == fastest { 500.0 } else { 100.0 })
        })
        .unwrap();
        assert_eq!((first.chosen, first.cached, calls), (fastest, false, if bf16 { 4 } else { 2 }));
        assert!(first.describe().contains("5.00x fp32, channels-last"), "{}", first.describe());
        let again = decide(&q, Request::Auto, None, &cache, |_| panic!("measured again")).unwrap();
        assert!(again.describe().contains("measured earlier"), "{}", again.describe());
        assert_eq!((again.chosen, again.cached, again.measured), (fastest, true, first.measured.clone()));
        // Another size, or other work, is another question.
        let other = Question { size: 32, ..q.clone() };
        assert!(!decide(&other, Request::Auto, None, &cache, |_| Ok(1.0)).unwrap().cached);
        let embed = Question { work: Work::Embed, ..q.clone() };
        assert!(!decide(&embed, Request::Auto, None, &cache, |_| Ok(1.0)).unwrap().cached);
        // Explicit on both: nothing measured, nothing cached.
        let asked = decide(&q, Request::Exactly(Precision::Fp32), Some(Layout::Contiguous), &cache, |_| panic!("measured")).unwrap();
        assert_eq!(asked.chosen, Candidate { precision: Precision::Fp32, layout: Layout::Contiguous });
        assert!(asked.measured.is_empty() && asked.describe().ends_with("as asked"));
        // Explicit on one: the other is decided, and the explicit one holds.
        let half =
            decide(&q, Request::Exactly(Precision::Fp32), None, &cache, |c| Ok(if c.layout == Layout::Contiguous { 300.0 } else { 100.0 }))
                .unwrap();
        assert_eq!(half.chosen, Candidate { precision: Precision::Fp32, layout: Layout::Contiguous });
        // A corrupt cache costs a measurement, not the run.
        std::fs::write(&cache, b"{ not json").unwrap();
        assert!(!decide(&q, Request::Auto, None, &cache, |_| Ok(1.0)).unwrap().cached);
    }

    #[test]
    fn the_real_probe_measures_every_candidate_in_a_few_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let arch = Arch::find("resnet18").unwrap();
        let q = Question { arch, size: 96, batch: 256, device: Device::Cpu, work: Work::Train };
        let started = Instant::now();
        let d = decide(&q, Request::Auto, None, &dir.path().join("a.json"), |c| measure(&q, c)).unwrap();
        assert_eq!(d.measured.len(), candidates(Device::Cpu, Request::Auto, None).len());
        assert!(d.measured.iter().all(|m| m.examples_per_sec > 0.0));
        eprintln!("{} in {:.1} s", d.describe(), started.elapsed().as_secs_f64());
    }
}
