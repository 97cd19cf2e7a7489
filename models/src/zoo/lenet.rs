//! LeNet-5 as d2l.ai trains it: sigmoid activations and average pooling.

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

pub(super) fn define(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    let x = b.conv2d("conv1", b.input(), Conv::k(5).out(6).pad(2))?;
    let x = b.sigmoid(x);
    let x = b.avg_pool(x, Pool::k(2))?;
    let x = b.conv2d("conv2", x, Conv::k(5).out(16))?;
    let x = b.sigmoid(x);
    let x = b.avg_pool(x, Pool::k(2))?;
    let x = b.flatten(x);
    let x = b.linear("fc1", x, 120)?;
    let x = b.sigmoid(x);
    let x = b.linear("fc2", x, 84)?;
    let features = b.sigmoid(x);
    let logits = b.linear("fc3", features, cfg.classes)?;
    Ok((logits, features))
}
