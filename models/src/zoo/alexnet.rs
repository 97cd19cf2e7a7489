//! AlexNet as one tower, with the first layer sized for 1-channel inputs.

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

pub(super) fn define(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    let pool = Pool::k(3).stride(2);
    let x = b.conv2d("conv1", b.input(), Conv::k(11).out(96).stride(4).pad(1))?;
    let x = b.relu(x);
    let x = b.max_pool(x, pool)?;
    let x = b.conv2d("conv2", x, Conv::k(5).out(256).pad(2))?;
    let x = b.relu(x);
    let mut x = b.max_pool(x, pool)?;
    for (name, out) in [("conv3", 384), ("conv4", 384), ("conv5", 256)] {
        x = b.conv2d(name, x, Conv::k(3).out(out).pad(1))?;
        x = b.relu(x);
    }
    let x = b.max_pool(x, pool)?;
    let mut x = b.flatten(x);
    for name in ["fc1", "fc2"] {
        x = b.linear(name, x, 4096)?;
        x = b.relu(x);
        x = b.dropout(x, 0.5);
    }
    let logits = b.linear("fc3", x, cfg.classes)?;
    Ok((logits, x))
}
