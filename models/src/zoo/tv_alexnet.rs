//! torchvision's AlexNet (`torchvision.models.alexnet`, the one-tower "OWT"
//! widths 64/192/384/256/256), with its `AdaptiveAvgPool2d(6)` before the
//! classifier. Parameter names are torchvision's `state_dict` keys
//! (`features.3.weight`, `classifier.4.bias`): the index is the layer's place
//! in its `nn.Sequential`.

use super::{Config, Result};
use crate::{Builder, ValueId};

pub(super) fn alexnet(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    let x = b.scope("features", |b| super::alexnet::features(b, ["0", "3", "6", "8", "10"], [64, 192, 384, 256, 256], 2))?;
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
