//! DenseNet as the seed trains it: growth 32, four dense blocks of four
//! BN-ReLU-conv blocks, halving transitions, and a global *max* pool head.

use super::{resnet::stem, Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

const GROWTH: usize = 32;
const BLOCKS: [usize; 4] = [4, 4, 4, 4];

fn bn_relu(b: &mut Builder, x: ValueId) -> Result<ValueId> {
    let x = b.batch_norm("bn", x)?;
    Ok(b.relu(x))
}

fn dense_block(b: &mut Builder, x: ValueId, convs: usize) -> Result<ValueId> {
    let mut x = x;
    for i in 0..convs {
        let y = b.scope(i.to_string(), |b| {
            let y = bn_relu(b, x)?;
            b.conv2d("conv", y, Conv::k(3).out(GROWTH).pad(1))
        })?;
        x = b.concat(&[x, y])?;
    }
    Ok(x)
}

fn transition(b: &mut Builder, x: ValueId) -> Result<ValueId> {
    let y = bn_relu(b, x)?;
    let y = b.conv2d("conv", y, Conv::k(1).out(b.shape(x)[0] / 2))?;
    b.avg_pool(y, Pool::k(2))
}

pub(super) fn define(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    let mut x = stem(b)?;
    for (i, &convs) in BLOCKS.iter().enumerate() {
        x = b.scope(format!("dense{}", i + 1), |b| dense_block(b, x, convs))?;
        if i + 1 < BLOCKS.len() {
            x = b.scope(format!("trans{}", i + 1), |b| transition(b, x))?;
        }
    }
    let x = b.scope("head", |b| bn_relu(b, x))?;
    let x = b.global_max_pool(x)?;
    let features = b.flatten(x);
    let logits = b.linear("fc", features, cfg.classes)?;
    Ok((logits, features))
}
