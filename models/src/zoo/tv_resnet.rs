//! torchvision's ResNet (`torchvision.models.resnet`): bias-less convolutions,
//! a batch-normed 1x1 downsample on the shortcut, basic blocks for ResNet-18
//! and -34, bottlenecks (stride on the 3x3, "ResNet v1.5") for ResNet-50.
//! Parameter names are torchvision's `state_dict` keys (`layer2.0.downsample.1.running_var`).

use super::{Config, Result};
use crate::{Builder, Conv, Pool, ValueId};

/// Convolution without bias, then its batch norm.
fn conv_bn(b: &mut Builder, conv: &str, bn: &str, x: ValueId, c: Conv) -> Result<ValueId> {
    let y = b.conv2d(conv, x, c.no_bias())?;
    b.batch_norm(bn, y)
}

/// The shortcut: the input, or `downsample` (1x1 conv with the block's stride, BN)
/// when the block changes resolution or width.
fn shortcut(b: &mut Builder, x: ValueId, out: usize, stride: usize) -> Result<ValueId> {
    if stride == 1 && b.shape(x)[0] == out {
        return Ok(x);
    }
    b.scope("downsample", |b| conv_bn(b, "0", "1", x, Conv::k(1).out(out).stride(stride)))
}

/// `BasicBlock`: 3x3 (stride) - BN - ReLU - 3x3 - BN, plus the shortcut, ReLU.
fn basic(b: &mut Builder, x: ValueId, planes: usize, stride: usize) -> Result<ValueId> {
    let y = conv_bn(b, "conv1", "bn1", x, Conv::k(3).out(planes).stride(stride).pad(1))?;
    let y = b.relu(y);
    let y = conv_bn(b, "conv2", "bn2", y, Conv::k(3).out(planes).pad(1))?;
    let s = shortcut(b, x, planes, stride)?;
    let y = b.add(y, s)?;
    Ok(b.relu(y))
}

/// `Bottleneck`: 1x1 - 3x3 (stride) - 1x1 to four times the width, each with BN.
fn bottleneck(b: &mut Builder, x: ValueId, planes: usize, stride: usize) -> Result<ValueId> {
    let y = conv_bn(b, "conv1", "bn1", x, Conv::k(1).out(planes))?;
    let y = b.relu(y);
    let y = conv_bn(b, "conv2", "bn2", y, Conv::k(3).out(planes).stride(stride).pad(1))?;
    let y = b.relu(y);
    let y = conv_bn(b, "conv3", "bn3", y, Conv::k(1).out(planes * 4))?;
    let s = shortcut(b, x, planes * 4, stride)?;
    let y = b.add(y, s)?;
    Ok(b.relu(y))
}

type Block = fn(&mut Builder, ValueId, usize, usize) -> Result<ValueId>;

fn resnet(b: &mut Builder, cfg: &Config, block: Block, layers: [usize; 4]) -> Result<(ValueId, ValueId)> {
    let x = conv_bn(b, "conv1", "bn1", b.input(), Conv::k(7).out(64).stride(2).pad(3))?;
    let x = b.relu(x);
    let mut x = b.max_pool(x, Pool::k(3).stride(2).pad(1))?;
    for (i, (&n, planes)) in layers.iter().zip([64, 128, 256, 512]).enumerate() {
        x = b.scope(format!("layer{}", i + 1), |b| {
            for j in 0..n {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                x = b.scope(j.to_string(), |b| block(b, x, planes, stride))?;
            }
            Ok(x)
        })?;
    }
    b.pooled_linear_head("fc", x, cfg.classes)
}

pub(super) fn resnet18(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    resnet(b, cfg, basic, [2, 2, 2, 2])
}

pub(super) fn resnet34(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    resnet(b, cfg, basic, [3, 4, 6, 3])
}

pub(super) fn resnet50(b: &mut Builder, cfg: &Config) -> Result<(ValueId, ValueId)> {
    resnet(b, cfg, bottleneck, [3, 4, 6, 3])
}
