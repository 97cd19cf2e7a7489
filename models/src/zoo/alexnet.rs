//! AlexNet as one tower, with the first layer sized for 1-channel inputs.

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

pub(super) fn define(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    let x = features(b, ["conv1", "conv2", "conv3", "conv4", "conv5"], [96, 256, 384, 384, 256], 1)?;
    let mut x = b.flatten(x);
    for name in ["fc1", "fc2"] {
        x = b.linear(name, x, 4096)?;
        x = b.relu(x);
        x = b.dropout(x, 0.5);
    }
    let logits = b.linear("fc3", x, cfg.classes)?;
    Ok((logits, x))
}

/// AlexNet's five convolutions (11x11 at stride 4, 5x5, then three 3x3),
/// each followed by a ReLU, with 3x3 max pooling at stride 2 after the
/// first, the second and the last. d2l's and torchvision's differ only in
/// the layers' names, their widths and the first one's padding.
pub(super) fn features(b: &mut Builder, names: [&str; 5], widths: [usize; 5], first_pad: usize) -> Result<ValueId> {
    let pool = Pool::k(3).stride(2);
    let convs = [Conv::k(11).stride(4).pad(first_pad), Conv::k(5).pad(2), Conv::k(3).pad(1), Conv::k(3).pad(1), Conv::k(3).pad(1)];
    let mut x = b.input();
    for (i, ((name, width), conv)) in names.into_iter().zip(widths).zip(convs).enumerate() {
        x = b.conv2d(name, x, conv.out(width))?;
        x = b.relu(x);
        if matches!(i, 0 | 1 | 4) {
            x = b.max_pool(x, pool)?;
        }
    }
    Ok(x)
}
