//! ResNet with basic (two-convolution) residual blocks; ResNet-18 is `[2, 2, 2, 2]`.

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

/// conv-BN-ReLU-conv-BN plus the input (through a strided 1x1 conv when the
/// block changes resolution or width), then ReLU.
fn residual(b: &mut Builder, name: &str, x: ValueId, channels: usize, stride: usize) -> Result<ValueId> {
    b.scope(name, |b| {
        let y = b.conv2d("conv1", x, Conv::k(3).out(channels).stride(stride).pad(1))?;
        let y = b.batch_norm("bn1", y)?;
        let y = b.relu(y);
        let y = b.conv2d("conv2", y, Conv::k(3).out(channels).pad(1))?;
        let y = b.batch_norm("bn2", y)?;
        let shortcut =
            if stride != 1 || b.shape(x)[0] != channels { b.conv2d("shortcut", x, Conv::k(1).out(channels).stride(stride))? } else { x };
        let y = b.add(y, shortcut)?;
        Ok(b.relu(y))
    })
}

/// The stem shared with DenseNet: 7x7/2 conv, BN, ReLU, 3x3/2 max pool.
pub(super) fn stem(b: &mut Builder) -> Result<ValueId> {
    b.scope("stem", |b| {
        let x = b.conv2d("conv", b.input(), Conv::k(7).out(64).stride(2).pad(3))?;
        let x = b.batch_norm("bn", x)?;
        let x = b.relu(x);
        b.max_pool(x, Pool::k(3).stride(2).pad(1))
    })
}

fn resnet(b: &mut Builder, cfg: &Config, blocks: [usize; 4]) -> Result<(ValueId, ValueId)> {
    let mut x = stem(b)?;
    for (i, (&n, channels)) in blocks.iter().zip([64, 128, 256, 512]).enumerate() {
        x = b.scope(format!("stage{}", i + 1), |b| {
            for j in 0..n {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                x = residual(b, &j.to_string(), x, channels, stride)?;
            }
            Ok(x)
        })?;
    }
    b.pooled_linear_head("fc", x, cfg.classes)
}

pub(super) fn resnet18(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    resnet(b, cfg, [2, 2, 2, 2])
}
