//! Model-only throughput of a Backbone on preprocessed input: one warm-up run,
//! then RUNS timed runs of a random batch. Prints JSON (bench/infer_compare.sh).
//!
//! cargo run --release -p cnnzoo-infer --example throughput -- MODEL.onnx BATCH RUNS [THREADS]

use std::time::Instant;

use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use ndarray::Array4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, batch, runs, ..] = args.as_slice() else { return Err("usage: throughput MODEL.onnx BATCH RUNS".into()) };
    let (batch, runs): (usize, usize) = (batch.parse()?, runs.parse()?);
    let threads = args.get(3).map(|t| t.parse()).transpose()?;
    let backbone = Backbone::open(model, &BackboneOptions { device: Device::Cpu, max_batch: batch, threads, ..Default::default() })?;
    let p = &backbone.card().preprocessing;
    let x = Array4::from_shape_fn((batch, p.channels, p.input_hw().0, p.input_hw().1), |(n, _, h, w)| {
        ((n * 31 + h * 7 + w) % 255) as f32 / 255.0
    });
    backbone.run(x.view())?;
    let started = Instant::now();
    for _ in 0..runs {
        backbone.run(x.view())?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"batch": batch, "runs": runs, "ms_per_batch": secs * 1000.0 / runs as f64, "images_per_sec": (batch * runs) as f64 / secs})
    );
    Ok(())
}
