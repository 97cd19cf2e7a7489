//! Training speed of one network at its recipe's batch and size: one warm-up
//! SGD step, then `steps` timed steps on a fixed random batch. Prints JSON.
//! bench/run.sh runs it next to PyTorch eager (bench/torch_peer.py).
//!
//! cargo run --release -p cnnzoo-train --example train_speed -- ARCH [STEPS]

use std::time::Instant;

use cnnzoo_models::Arch;
use cnnzoo_train::device::parse_device;
use cnnzoo_train::Net;
use tch::nn::{OptimizerConfig, VarStore};
use tch::{Kind, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arch = Arch::find(args.first().map(String::as_str).unwrap_or("lenet"))?;
    let steps: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let device = parse_device(args.get(2).map(String::as_str).unwrap_or("cpu"))?;
    let r = arch.recipe;
    tch::manual_seed(0);
    let vs = VarStore::new(device);
    let net = Net::new(&vs.root(), arch.build(&arch.default_config())?);
    let mut opt = tch::nn::Sgd::default().build(&vs, r.lr)?;
    let (b, s) = (r.batch_size as i64, r.size as i64);
    let x = Tensor::rand([b, 1, s, s], (Kind::Float, device));
    let y = Tensor::randint(10, [b], (Kind::Int64, device));
    let mut step = || {
        let loss = net.forward(&x, true).cross_entropy_for_logits(&y);
        opt.backward_step(&loss);
        f64::try_from(&loss).unwrap_or(f64::NAN) // waits for the device
    };
    step();
    let started = Instant::now();
    for _ in 0..steps {
        step();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"arch": arch.name, "batch": b, "size": s, "steps": steps, "seconds": secs, "examples_per_sec": (steps as i64 * b) as f64 / secs})
    );
    Ok(())
}
