//! Network in Network: blocks of one spatial and two 1x1 convolutions, and a
//! last block that produces one map per class instead of a linear head.

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

fn nin_block(b: &mut Builder, name: &str, x: ValueId, conv: Conv) -> Result<ValueId> {
    b.scope(name, |b| {
        let mut x = b.conv2d("conv1", x, conv)?;
        x = b.relu(x);
        for name in ["conv2", "conv3"] {
            x = b.conv2d(name, x, Conv::k(1).out(conv.out))?;
            x = b.relu(x);
        }
        Ok(x)
    })
}

pub(super) fn define(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    let pool = Pool::k(3).stride(2);
    let x = nin_block(b, "nin1", b.input(), Conv::k(11).out(96).stride(4))?;
    let x = b.max_pool(x, pool)?;
    let x = nin_block(b, "nin2", x, Conv::k(5).out(256).pad(2))?;
    let x = b.max_pool(x, pool)?;
    let x = nin_block(b, "nin3", x, Conv::k(3).out(384).pad(1))?;
    let x = b.max_pool(x, pool)?;
    let x = b.dropout(x, 0.5);
    // The embedding: the 384-channel map that enters the classifier block, pooled.
    let f = b.global_avg_pool(x)?;
    let features = b.flatten(f);
    let x = nin_block(b, "nin4", x, Conv::k(3).out(cfg.classes).pad(1))?;
    let x = b.global_avg_pool(x)?;
    let logits = b.flatten(x);
    Ok((logits, features))
}
