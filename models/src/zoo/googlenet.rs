//! GoogLeNet (Inception-v1) without the auxiliary classifiers, as d2l.ai has it.

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

/// Output channels of an inception block's four paths:
/// `(1x1, (3x3 reduce, 3x3), (5x5 reduce, 5x5), pool proj)`.
type Widths = (usize, (usize, usize), (usize, usize), usize);

fn inception(b: &mut Builder, name: &str, x: ValueId, (c1, c2, c3, c4): Widths) -> Result<ValueId> {
    b.scope(name, |b| {
        let p1 = b.conv2d("p1.conv", x, Conv::k(1).out(c1))?;
        let p1 = b.relu(p1);
        let reduce_then = |b: &mut Builder, path: &str, (reduce, out): (usize, usize), k: usize| {
            b.scope(path, |b| {
                let y = b.conv2d("conv1", x, Conv::k(1).out(reduce))?;
                let y = b.relu(y);
                let y = b.conv2d("conv2", y, Conv::k(k).out(out).pad(k / 2))?;
                Ok(b.relu(y))
            })
        };
        let p2 = reduce_then(b, "p2", c2, 3)?;
        let p3 = reduce_then(b, "p3", c3, 5)?;
        let p4 = b.max_pool(x, Pool::k(3).stride(1).pad(1))?;
        let p4 = b.conv2d("p4.conv", p4, Conv::k(1).out(c4))?;
        let p4 = b.relu(p4);
        b.concat(&[p1, p2, p3, p4])
    })
}

fn stage(b: &mut Builder, name: &str, mut x: ValueId, blocks: &[Widths]) -> Result<ValueId> {
    b.scope(name, |b| {
        for (i, &w) in blocks.iter().enumerate() {
            x = inception(b, &i.to_string(), x, w)?;
        }
        Ok(x)
    })
}

pub(super) fn define(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    let pool = Pool::k(3).stride(2).pad(1);
    let x = b.scope("b1", |b| {
        let x = b.conv2d("conv", b.input(), Conv::k(7).out(64).stride(2).pad(3))?;
        let x = b.relu(x);
        b.max_pool(x, pool)
    })?;
    let x = b.scope("b2", |b| {
        let x = b.conv2d("conv1", x, Conv::k(1).out(64))?;
        let x = b.relu(x);
        let x = b.conv2d("conv2", x, Conv::k(3).out(192).pad(1))?;
        let x = b.relu(x);
        b.max_pool(x, pool)
    })?;
    let x = stage(b, "b3", x, &[(64, (96, 128), (16, 32), 32), (128, (128, 192), (32, 96), 64)])?;
    let x = b.max_pool(x, pool)?;
    let b4 = [
        (192, (96, 208), (16, 48), 64),
        (160, (112, 224), (24, 64), 64),
        (128, (128, 256), (24, 64), 64),
        (112, (144, 288), (32, 64), 64),
        (256, (160, 320), (32, 128), 128),
    ];
    let x = stage(b, "b4", x, &b4)?;
    let x = b.max_pool(x, pool)?;
    let x = stage(b, "b5", x, &[(256, (160, 320), (32, 128), 128), (384, (192, 384), (48, 128), 128)])?;
    b.pooled_linear_head("fc", x, cfg.classes)
}
