//! torchvision's DenseNet-121 (`torchvision.models.densenet121`): growth 32,
//! blocks of 6, 12, 24 and 16 bottleneck layers (BN-ReLU-1x1 to 128, BN-ReLU-3x3
//! to 32), halving transitions, `norm5`, ReLU and a global *average* pool.
//! Parameter names are torchvision's `state_dict` keys
//! (`features.denseblock2.denselayer3.conv1.weight`).

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

const GROWTH: usize = 32;
/// Bottleneck width, in multiples of the growth rate (torchvision's `bn_size`).
const BN_SIZE: usize = 4;

/// BN, ReLU, then a bias-less convolution: the pre-activation order of every DenseNet layer.
fn bn_relu_conv(b: &mut Builder, norm: &str, conv: &str, x: ValueId, c: Conv) -> Result<ValueId> {
    let y = b.batch_norm(norm, x)?;
    let y = b.relu(y);
    b.conv2d(conv, y, c.no_bias())
}

fn dense_block(b: &mut Builder, mut x: ValueId, layers: usize) -> Result<ValueId> {
    for j in 0..layers {
        let y = b.scope(format!("denselayer{}", j + 1), |b| {
            let y = bn_relu_conv(b, "norm1", "conv1", x, Conv::k(1).out(BN_SIZE * GROWTH))?;
            bn_relu_conv(b, "norm2", "conv2", y, Conv::k(3).out(GROWTH).pad(1))
        })?;
        x = b.concat(&[x, y])?;
    }
    Ok(x)
}

fn densenet(b: &mut Builder, cfg: &Config, blocks: [usize; 4]) -> Result<(ValueId, ValueId)> {
    let x = b.scope("features", |b| {
        let x = b.conv2d("conv0", b.input(), Conv::k(7).out(64).stride(2).pad(3).no_bias())?;
        let x = b.batch_norm("norm0", x)?;
        let x = b.relu(x);
        let mut x = b.max_pool(x, Pool::k(3).stride(2).pad(1))?;
        for (i, &layers) in blocks.iter().enumerate() {
            x = b.scope(format!("denseblock{}", i + 1), |b| dense_block(b, x, layers))?;
            if i + 1 < blocks.len() {
                x = b.scope(format!("transition{}", i + 1), |b| {
                    let half = b.shape(x)[0] / 2;
                    let y = bn_relu_conv(b, "norm", "conv", x, Conv::k(1).out(half))?;
                    b.avg_pool(y, Pool::k(2))
                })?;
            }
        }
        b.batch_norm("norm5", x)
    })?;
    let x = b.relu(x);
    b.pooled_linear_head("classifier", x, cfg.classes)
}

pub(super) fn densenet121(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    densenet(b, cfg, [6, 12, 24, 16])
}
