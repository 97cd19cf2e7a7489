//! One SGD update from a loss, for every precision. fp16 needs loss scaling:
//! small gradients underflow in float16, so the loss is multiplied before the
//! backward pass and the gradients divided after; a step whose gradients
//! overflowed is skipped and the scale halved, and the scale doubles again
//! after a run of clean steps (the scheme of PyTorch's `GradScaler`).

use tch::nn::{Optimizer, VarStore};
use tch::Tensor;

use crate::precision::Precision;

/// Clean steps before the fp16 loss scale is doubled.
const GROWTH_INTERVAL: u32 = 2000;

#[derive(Debug)]
pub struct Updater {
    /// `Some(scale)` for fp16.
    scale: Option<f64>,
    clean: u32,
}

impl Updater {
    pub fn new(precision: Precision) -> Updater {
        Updater { scale: (precision == Precision::Fp16).then_some(65536.0), clean: 0 }
    }

    /// Backward pass and update; false when an fp16 step overflowed and was skipped.
    pub fn step(&mut self, opt: &mut Optimizer, vs: &VarStore, loss: &Tensor) -> bool {
        let Some(scale) = self.scale else {
            opt.backward_step(loss);
            return true;
        };
        opt.zero_grad();
        (loss * scale).backward();
        let grads: Vec<Tensor> = vs.trainable_variables().iter().map(Tensor::grad).filter(Tensor::defined).collect();
        let finite = grads.iter().all(|g| bool::try_from(g.isfinite().all()).unwrap_or(false));
        if !finite {
            self.scale = Some(scale / 2.0);
            self.clean = 0;
            return false;
        }
        for mut g in grads {
            let _ = g.g_mul_scalar_(1.0 / scale);
        }
        opt.step();
        self.clean += 1;
        if self.clean == GROWTH_INTERVAL {
            self.scale = Some(scale * 2.0);
            self.clean = 0;
        }
        true
    }
}
