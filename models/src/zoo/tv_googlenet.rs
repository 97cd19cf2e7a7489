//! torchvision's GoogLeNet (`torchvision.models.googlenet`, without the
//! auxiliary heads): every convolution a `BasicConv2d` (bias-less conv, batch
//! norm with eps 1e-3, ReLU), max pools in ceil mode, and a 3x3 convolution in
//! the third branch (the weights were ported from TensorFlow). Parameter names
//! are torchvision's `state_dict` keys (`inception4a.branch2.1.bn.running_var`).
//!
//! `transform_input=True`, which torchvision sets with the published weights,
//! is the same as normalizing with mean 0.5 and std 0.5: it belongs in the card.

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

/// `BasicConv2d`: `NAME.conv` (no bias), `NAME.bn` (eps 1e-3), ReLU.
fn basic(b: &mut Builder, name: &str, x: ValueId, c: Conv) -> Result<ValueId> {
    b.scope(name, |b| {
        let y = b.conv2d("conv", x, c.no_bias())?;
        let y = b.batch_norm_eps("bn", y, 1e-3)?;
        Ok(b.relu(y))
    })
}

/// Output channels of an inception block: `1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5" (a 3x3), pool proj`.
type Widths = [usize; 6];

fn inception(b: &mut Builder, name: &str, x: ValueId, [c1, r2, c2, r3, c3, c4]: Widths) -> Result<ValueId> {
    b.scope(name, |b| {
        let p1 = basic(b, "branch1", x, Conv::k(1).out(c1))?;
        let reduce_then_3x3 = |b: &mut Builder, branch: &str, reduce: usize, out: usize| {
            b.scope(branch, |b| {
                let y = basic(b, "0", x, Conv::k(1).out(reduce))?;
                basic(b, "1", y, Conv::k(3).out(out).pad(1))
            })
        };
        let p2 = reduce_then_3x3(b, "branch2", r2, c2)?;
        let p3 = reduce_then_3x3(b, "branch3", r3, c3)?;
        let p4 = b.scope("branch4", |b| {
            let y = b.max_pool(x, Pool::k(3).stride(1).pad(1).ceil())?;
            basic(b, "1", y, Conv::k(1).out(c4))
        })?;
        b.concat(&[p1, p2, p3, p4])
    })
}

pub(super) fn googlenet(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    let pool = Pool::k(3).stride(2).ceil();
    let x = basic(b, "conv1", b.input(), Conv::k(7).out(64).stride(2).pad(3))?;
    let x = b.max_pool(x, pool)?;
    let x = basic(b, "conv2", x, Conv::k(1).out(64))?;
    let x = basic(b, "conv3", x, Conv::k(3).out(192).pad(1))?;
    let x = b.max_pool(x, pool)?;
    let x = inception(b, "inception3a", x, [64, 96, 128, 16, 32, 32])?;
    let x = inception(b, "inception3b", x, [128, 128, 192, 32, 96, 64])?;
    let mut x = b.max_pool(x, pool)?;
    let b4 = [
        ("inception4a", [192, 96, 208, 16, 48, 64]),
        ("inception4b", [160, 112, 224, 24, 64, 64]),
        ("inception4c", [128, 128, 256, 24, 64, 64]),
        ("inception4d", [112, 144, 288, 32, 64, 64]),
        ("inception4e", [256, 160, 320, 32, 128, 128]),
    ];
    for (name, w) in b4 {
        x = inception(b, name, x, w)?;
    }
    let x = b.max_pool(x, Pool::k(2).stride(2).ceil())?;
    let x = inception(b, "inception5a", x, [256, 160, 320, 32, 128, 128])?;
    let x = inception(b, "inception5b", x, [384, 192, 384, 48, 128, 128])?;
    let x = b.global_avg_pool(x)?;
    let features = b.flatten(x);
    let x = b.dropout(features, 0.2);
    let logits = b.linear("fc", x, cfg.classes)?;
    Ok((logits, features))
}
