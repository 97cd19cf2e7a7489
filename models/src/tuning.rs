//! The training recipe beyond d2l's plain SGD: what fine-tuning a pretrained
//! backbone needs (an optimizer with weight decay, a schedule, label
//! smoothing, augmentation, a frozen or slower backbone). Every default is a
//! no-op, so the six seed recipes train exactly as they did; the manifest
//! records the recipe a checkpoint was trained with.

use serde::{Deserialize, Serialize};

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD, with `momentum` (d2l's recipes: none).
    #[default]
    Sgd,
    /// Adam with decoupled weight decay (Loshchilov and Hutter).
    Adamw,
}

/// How the learning rate moves over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    #[default]
    Constant,
    /// Half a cosine from the rate to 0 over the steps after the warm-up.
    Cosine,
}

/// What the training images go through before each step (evaluation always
/// uses the card's preprocessing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    #[default]
    None,
    /// A horizontal flip, half the time.
    Flip,
    /// torchvision's reference recipe: a random crop of 8% to 100% of the
    /// area at an aspect ratio of 3/4 to 4/3, resized to the input size,
    /// then the flip.
    Standard,
}

/// Which parameters learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Freeze {
    /// Everything learns (at `backbone_lr_scale` times the rate for the backbone).
    #[default]
    None,
    /// Only the head learns; the backbone's weights and batch-norm statistics
    /// stay as loaded (its batch norms run in evaluation mode).
    Backbone,
}

/// The recipe's choices beyond batch size, rate, epochs and seed (the
/// network's `zoo::Recipe`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tuning {
    pub optimizer: OptimizerKind,
    /// SGD's momentum (AdamW ignores it).
    pub momentum: f64,
    pub weight_decay: f64,
    pub lr_schedule: LrSchedule,
    pub warmup_epochs: usize,
    pub label_smoothing: f64,
    pub augment: Augment,
    pub freeze: Freeze,
    /// The backbone's rate over the head's (discriminative rates).
    pub backbone_lr_scale: f64,
}

impl Default for Tuning {
    /// d2l's: plain SGD at a constant rate, nothing else.
    fn default() -> Self {
        Tuning {
            optimizer: OptimizerKind::Sgd,
            momentum: 0.0,
            weight_decay: 0.0,
            lr_schedule: LrSchedule::Constant,
            warmup_epochs: 0,
            label_smoothing: 0.0,
            augment: Augment::None,
            freeze: Freeze::None,
            backbone_lr_scale: 1.0,
        }
    }
}

impl Tuning {
    /// The rate at optimizer step `step` of `total`, for a base rate `lr`:
    /// a linear warm-up over the first `warmup` steps, then the schedule.
    pub fn lr_at(&self, lr: f64, step: usize, total: usize, warmup: usize) -> f64 {
        if step < warmup {
            return lr * (step + 1) as f64 / warmup as f64;
        }
        match self.lr_schedule {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => {
                let span = total.saturating_sub(warmup).max(1) as f64;
                let t = (step - warmup) as f64 / span;
                lr * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
            }
        }
    }

    /// Whether every step runs at the base rate for every parameter (the
    /// seed recipes: the optimizer's rate is then never touched).
    pub fn constant_rate(&self) -> bool {
        self.lr_schedule == LrSchedule::Constant && self.warmup_epochs == 0 && self.backbone_lr_scale == 1.0
    }

    /// The recipe's numbers within their ranges, and its choices consistent.
    pub fn check(&self) -> Result<(), String> {
        let unit = |name: &str, v: f64, hi: f64| -> Result<(), String> {
            if v.is_finite() && (0.0..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} {v}: from 0 to {hi}"))
            }
        };
        unit("momentum", self.momentum, 1.0)?;
        unit("weight_decay", self.weight_decay, 1.0)?;
        unit("label_smoothing", self.label_smoothing, 1.0)?;
        unit("backbone_lr_scale", self.backbone_lr_scale, 1.0)?;
        if self.freeze == Freeze::Backbone && self.backbone_lr_scale != 1.0 {
            return Err(format!(
                "freeze backbone with backbone_lr_scale {}: a frozen backbone has no rate (use one or the other)",
                self.backbone_lr_scale
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_then_half_a_cosine() {
        let r = Tuning { lr_schedule: LrSchedule::Cosine, ..Tuning::default() };
        let lrs: Vec<f64> = (0..10).map(|s| r.lr_at(1.0, s, 10, 2)).collect();
        assert_eq!((lrs[0], lrs[1], lrs[2]), (0.5, 1.0, 1.0));
        assert!((lrs[6] - 0.5).abs() < 1e-12, "{lrs:?}");
        assert!(lrs.windows(2).skip(1).all(|w| w[1] <= w[0]), "{lrs:?}");
        assert_eq!(Tuning::default().lr_at(0.9, 7, 10, 0), 0.9);
        assert!(Tuning::default().constant_rate());
    }

    #[test]
    fn a_frozen_backbone_has_no_rate() {
        let r = Tuning { freeze: Freeze::Backbone, backbone_lr_scale: 0.1, ..Tuning::default() };
        assert!(r.check().unwrap_err().contains("a frozen backbone has no rate"));
        assert!(Tuning { label_smoothing: 1.5, ..Tuning::default() }.check().is_err());
        assert!(Tuning::default().check().is_ok());
    }
}
