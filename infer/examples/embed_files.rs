//! `Backbone::embed` on every image under a folder, as a service embedding the
//! library would call it (files decoded in parallel while the model runs).
//! Prints JSON with the images per second (bench/photo_compare.sh).
//!
//! cargo run --release -p cnnzoo-infer --example embed_files -- MODEL.onnx DIR

use std::time::Instant;

use cnnzoo_infer::{collect_images, Backbone, BackboneOptions, Device};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, dir] = args.as_slice() else { return Err("usage: embed_files MODEL.onnx DIR".into()) };
    let backbone = Backbone::open(model, &BackboneOptions { device: Device::Cpu, ..Default::default() })?;
    let files = collect_images(&[dir.into()]);
    let started = Instant::now();
    let features = backbone.embed(&files)?;
    let secs = started.elapsed().as_secs_f64();
    let shape = features.shape();
    println!("{}", serde_json::json!({"images": shape[0], "dim": shape[1], "seconds": secs, "images_per_sec": shape[0] as f64 / secs}));
    Ok(())
}
