//! `cnnzoo-train --bench STEPS`: training speed of one network at its recipe's
//! batch and size, the way the training loop runs it (same backend, precision,
//! layout and update), on a fixed random batch: one warm-up step, then STEPS
//! timed steps.

use std::time::Instant;

use cnnzoo_models::Arch;
use serde::Serialize;
use tch::nn::{OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

use crate::error::{Result, TrainError};
use crate::net::{Layout, Net};
use crate::precision::Precision;
use crate::step::Updater;

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub arch: String,
    pub batch: usize,
    pub size: usize,
    pub precision: String,
    pub channels_last: bool,
    pub device: String,
    pub steps: usize,
    pub seconds: f64,
    pub examples_per_sec: f64,
}

/// One network's training step on a fixed random batch, ready to repeat:
/// what `--bench` times and what `--precision auto` probes.
pub struct Steps {
    vs: VarStore,
    net: Net,
    opt: tch::nn::Optimizer,
    updater: Updater,
    x: Tensor,
    y: Tensor,
}

impl std::fmt::Debug for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steps").field("x", &self.x.size()).finish_non_exhaustive()
    }
}

impl Steps {
    /// `arch` in its own setting (1 channel and 10 classes for d2l's, 3 and
    /// 1000 for torchvision's) at `batch` x `size`, SGD at the recipe's rate.
    pub fn new(arch: &'static Arch, batch: usize, size: usize, device: Device, precision: Precision, layout: Layout) -> Result<Steps> {
        let torch = |source| TrainError::Torch { path: "timing training steps".into(), source };
        tch::manual_seed(0);
        let vs = VarStore::new(device);
        let cfg = cnnzoo_models::Config { size, ..arch.default_config() };
        let mut net = Net::new(&vs.root(), arch.build(&cfg)?);
        net.set_compute(precision, layout);
        let opt = tch::nn::Sgd::default().build(&vs, arch.recipe.lr).map_err(torch)?;
        let (b, s) = (batch as i64, size as i64);
        let x = Tensor::rand([b, cfg.in_channels as i64, s, s], (Kind::Float, device));
        let y = Tensor::randint(cfg.classes as i64, [b], (Kind::Int64, device));
        Ok(Steps { vs, net, opt, updater: Updater::new(precision), x, y })
    }

    /// One forward pass in evaluation mode, without gradients (what a
    /// frozen backbone's feature pass does); returns once the device is done.
    pub fn embed(&mut self) {
        let (_, features) = tch::no_grad(|| self.net.forward_eval(&self.x));
        let _ = f64::try_from(features.sum(Kind::Float));
    }

    /// One forward, backward and update; returns once the device is done.
    pub fn step(&mut self) -> f64 {
        let loss = self.net.forward(&self.x, true).cross_entropy_for_logits(&self.y);
        self.updater.step(&mut self.opt, &self.vs, &loss);
        f64::try_from(&loss).unwrap_or(f64::NAN)
    }
}

/// Times `steps` SGD steps of `arch` at `batch` x `size`, after one warm-up.
pub fn bench(
    arch: &'static Arch,
    batch: usize,
    size: usize,
    device: Device,
    precision: Precision,
    layout: Layout,
    steps: usize,
) -> Result<BenchResult> {
    let mut run = Steps::new(arch, batch, size, device, precision, layout)?;
    run.step();
    let started = Instant::now();
    for _ in 0..steps {
        run.step();
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(BenchResult {
        arch: arch.name.into(),
        batch,
        size,
        precision: precision.to_string(),
        channels_last: layout == Layout::ChannelsLast,
        device: crate::device::describe(device),
        steps,
        seconds,
        examples_per_sec: (steps * batch) as f64 / seconds,
    })
}
