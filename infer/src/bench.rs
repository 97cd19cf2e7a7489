//! Model-only benchmarking, as `onnxruntime_perf_test` and Triton's
//! `perf_analyzer` report it: warm-up runs, then a fixed number of runs or a
//! duration, per batch size, on preprocessed input (decoding is not timed),
//! with throughput and latency percentiles. A model that carries its
//! preprocessing is fed pixels at the card's size, so that its timing
//! includes the conversion and scaling (the resize is then the identity).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ndarray::Array4;

use crate::{Backbone, InferError};

/// When a batch size's timed runs stop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    Runs(usize),
    Duration(Duration),
}

/// One batch size's figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchResult {
    pub batch: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub runs: usize,
    pub images_per_sec: f64,
    pub latency_ms_mean: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p90: f64,
    pub latency_ms_p99: f64,
}

/// The value below which `q` of the sorted samples fall (nearest rank).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Times runs of `backbone` on a fixed input of `batch` rows, with
/// `concurrency` requests in flight at once (as perf_analyzer's
/// `--concurrency-range`): that many threads each send their next request
/// as soon as the last comes back. Throughput is images over wall time;
/// latencies are each request's own.
pub fn bench(backbone: &Backbone, batch: usize, warmup: usize, stop: Stop, concurrency: usize) -> Result<BenchResult, InferError> {
    let p = &backbone.card().preprocessing;
    // A fixed, image-like input: timing does not depend on the values.
    let level = |n: usize, c: usize, h: usize, w: usize| ((n * 31 + c * 17 + h * 7 + w) % 255) as u8;
    let (ph, pw) = p.input_hw();
    let planes = Array4::from_shape_fn((batch, p.channels, ph, pw), |(n, c, h, w)| level(n, c, h, w) as f32 / 255.0);
    let pixels = Array4::from_shape_fn((batch, ph, pw, p.channels), |(n, h, w, c)| level(n, c, h, w));
    let run = || if backbone.takes_pixels() { backbone.run_pixels(pixels.view()) } else { backbone.run(planes.view()) };
    let concurrency = concurrency.max(1);
    // Every stream warms up (OpenVINO compiles for the shape on its first run).
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..concurrency).map(|_| s.spawn(|| (0..warmup).try_for_each(|_| run().map(drop)))).collect();
        workers.into_iter().try_for_each(|w| w.join().expect("a warm-up thread panicked"))
    })?;
    let started = Instant::now();
    let taken = AtomicUsize::new(0);
    // Whether one more request may start.
    let another = || match stop {
        Stop::Runs(n) => taken.fetch_add(1, Ordering::Relaxed) < n,
        Stop::Duration(d) => taken.fetch_add(1, Ordering::Relaxed) < concurrency || started.elapsed() < d,
    };
    let mut times: Vec<f64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = vec![];
                    while another() {
                        let t = Instant::now();
                        run()?;
                        mine.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok::<_, InferError>(mine)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a bench thread panicked")).collect::<Result<Vec<_>, _>>()
    })?
    .concat();
    let wall = started.elapsed().as_secs_f64();
    let total: f64 = times.iter().sum();
    times.sort_by(f64::total_cmp);
    Ok(BenchResult {
        batch,
        concurrency,
        runs: times.len(),
        images_per_sec: (batch * times.len()) as f64 / wall,
        latency_ms_mean: total / times.len() as f64,
        latency_ms_p50: percentile(&times, 0.50),
        latency_ms_p90: percentile(&times, 0.90),
        latency_ms_p99: percentile(&times, 0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.9), percentile(&v, 0.99)), (50.0, 90.0, 99.0));
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
    }
}
