//! torchvision's AlexNet (`torchvision.models.alexnet`, the one-tower "OWT"
//! widths 64/192/384/256/256), with its `AdaptiveAvgPool2d(6)` before the
//! classifier. Parameter names are torchvision's `state_dict` keys
//! (`features.3.weight`, `classifier.4.bias`): the index is the layer's place
//! in its `nn.Sequential`.

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

pub(super) fn alexnet(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    let pool = Pool::k(3).stride(2);
    let x = b.scope("features", |b| {
        let x = b.conv2d("0", b.input(), Conv::k(11).out(64).stride(4).pad(2))?;
        let x = b.relu(x);
        let x = b.max_pool(x, pool)?;
        let x = b.conv2d("3", x, Conv::k(5).out(192).pad(2))?;
        let x = b.relu(x);
        let mut x = b.max_pool(x, pool)?;
        for (name, out) in [("6", 384), ("8", 256), ("10", 256)] {
            x = b.conv2d(name, x, Conv::k(3).out(out).pad(1))?;
            x = b.relu(x);
        }
        b.max_pool(x, pool)
    })?;
    let x = b.adaptive_avg_pool(x, 6)?;
    let x = b.flatten(x);
    b.scope("classifier", |b| {
        let mut x = x;
        for name in ["1", "4"] {
            x = b.dropout(x, 0.5);
            x = b.linear(name, x, 4096)?;
            x = b.relu(x);
        }
        let logits = b.linear("6", x, cfg.classes)?;
        Ok((logits, x))
    })
}
