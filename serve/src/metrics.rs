//! Prometheus metrics (text exposition format, on `/metrics`) and the
//! per-request log line. Counters and histograms are atomics: recording
//! never takes a lock on the request path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use crate::error::Kind;

const KINDS: [Kind; 5] = [Kind::BadRequest, Kind::NotFound, Kind::Unavailable, Kind::TooLarge, Kind::Internal];
/// The protocols requests arrive by, as metric labels.
pub const PROTOCOLS: [&str; 2] = ["http", "grpc"];

/// A histogram with fixed upper bounds, Prometheus-style (cumulative when rendered).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum of observations, as f64 bits.
    sum: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram { bounds, counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(), count: AtomicU64::new(0), sum: AtomicU64::new(0) }
    }

    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self.sum.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + v).to_bits()));
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count());
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", f64::from_bits(self.sum.load(Ordering::Relaxed)));
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count());
    }
}

const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
const SECONDS_BOUNDS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// What one model has done.
#[derive(Debug)]
pub struct ModelMetrics {
    requests: [AtomicU64; PROTOCOLS.len()],
    failures: [AtomicU64; KINDS.len()],
    /// Rows per ONNX Runtime run.
    pub batch_size: Histogram,
    /// Time from enqueue to the start of the run that served the request.
    pub queue_seconds: Histogram,
    /// Time of each ONNX Runtime run.
    pub inference_seconds: Histogram,
}

impl Default for ModelMetrics {
    fn default() -> Self {
        ModelMetrics {
            requests: Default::default(),
            failures: Default::default(),
            batch_size: Histogram::new(BATCH_BOUNDS),
            queue_seconds: Histogram::new(SECONDS_BOUNDS),
            inference_seconds: Histogram::new(SECONDS_BOUNDS),
        }
    }
}

impl ModelMetrics {
    /// Counts one inference request and, when it failed, its failure.
    pub fn request(&self, protocol: &str, failure: Option<Kind>) {
        if let Some(i) = PROTOCOLS.iter().position(|&p| p == protocol) {
            self.requests[i].fetch_add(1, Ordering::Relaxed);
        }
        if let Some(kind) = failure {
            if let Some(i) = KINDS.iter().position(|&k| k == kind) {
                self.failures[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Every metric of the models, in the text exposition format.
    pub fn render<'a>(models: impl Iterator<Item = (&'a str, &'a ModelMetrics)> + Clone) -> String {
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(&mut out, "cnnzoo_requests_total", "counter", "Inference requests received, by model and protocol.");
        for (model, m) in models.clone() {
            for (protocol, n) in PROTOCOLS.iter().zip(&m.requests) {
                let _ = writeln!(out, "cnnzoo_requests_total{{model=\"{model}\",protocol=\"{protocol}\"}} {}", n.load(Ordering::Relaxed));
            }
        }
        family(&mut out, "cnnzoo_request_failures_total", "counter", "Inference requests that failed, by model and reason.");
        for (model, m) in models.clone() {
            for (kind, n) in KINDS.iter().zip(&m.failures) {
                let _ = writeln!(
                    out,
                    "cnnzoo_request_failures_total{{model=\"{model}\",reason=\"{}\"}} {}",
                    kind.label(),
                    n.load(Ordering::Relaxed)
                );
            }
        }
        type Family = (&'static str, &'static str, fn(&ModelMetrics) -> &Histogram);
        let histograms: [Family; 3] = [
            ("cnnzoo_batch_size", "Rows per ONNX Runtime run (dynamic batching merges requests).", |m| &m.batch_size),
            ("cnnzoo_queue_seconds", "Time a request waited in its model's queue.", |m| &m.queue_seconds),
            ("cnnzoo_inference_seconds", "Time of each ONNX Runtime run.", |m| &m.inference_seconds),
        ];
        for (name, help, get) in histograms {
            family(&mut out, name, "histogram", help);
            for (model, m) in models.clone() {
                get(m).render(&mut out, name, &format!("model=\"{model}\""));
            }
        }
        out
    }
}

/// Log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
#[repr(u8)]
pub enum Level {
    Error,
    Info,
    Debug,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// One request, as its log line says it.
#[derive(Debug)]
pub struct RequestLog<'a> {
    pub protocol: &'a str,
    pub model: &'a str,
    pub id: &'a str,
    pub status: u16,
    pub rows: usize,
    pub elapsed: Duration,
    pub error: Option<&'a str>,
}

/// Writes one JSON line per request to stderr, at debug level.
pub fn log_request(r: &RequestLog) {
    if enabled(Level::Debug) {
        let line = serde_json::json!({
            "level": "debug",
            "event": "request",
            "protocol": r.protocol,
            "model": r.model,
            "id": r.id,
            "status": r.status,
            "rows": r.rows,
            "micros": r.elapsed.as_micros() as u64,
            "error": r.error,
        });
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets() {
        let m = ModelMetrics::default();
        for rows in [1.0, 3.0, 3.0, 300.0] {
            m.batch_size.observe(rows);
        }
        m.request("http", None);
        m.request("grpc", Some(Kind::Unavailable));
        let text = ModelMetrics::render([("lenet", &m)].into_iter());
        for line in [
            "cnnzoo_batch_size_bucket{model=\"lenet\",le=\"1\"} 1",
            "cnnzoo_batch_size_bucket{model=\"lenet\",le=\"2\"} 1",
            "cnnzoo_batch_size_bucket{model=\"lenet\",le=\"4\"} 3",
            "cnnzoo_batch_size_bucket{model=\"lenet\",le=\"256\"} 3",
            "cnnzoo_batch_size_bucket{model=\"lenet\",le=\"+Inf\"} 4",
            "cnnzoo_batch_size_sum{model=\"lenet\"} 307",
            "cnnzoo_requests_total{model=\"lenet\",protocol=\"grpc\"} 1",
            "cnnzoo_request_failures_total{model=\"lenet\",reason=\"unavailable\"} 1",
            "# TYPE cnnzoo_queue_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
