//! The networks and the one registry that the CLIs and tests iterate over:
//! the d2l.ai six, as the seed trains them on Fashion-MNIST, and the ImageNet
//! family in torchvision's layout (`tv_*`), whose parameter names are
//! torchvision's `state_dict` keys so that published weights load by lookup.

mod alexnet;
mod densenet;
mod googlenet;
mod lenet;
mod nin;
mod resnet;
mod tv_alexnet;
mod tv_densenet;
mod tv_googlenet;
mod tv_resnet;

use crate::{Builder, Graph, ModelError, ValueId};

type Result<T> = std::result::Result<T, ModelError>;

/// What a network is built for: input channels, classes, square input side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub in_channels: usize,
    pub classes: usize,
    pub size: usize,
}

/// The seed's training recipe for a network (SGD, cross-entropy).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recipe {
    pub batch_size: usize,
    pub lr: f64,
    pub size: usize,
    pub epochs: usize,
}

/// Where a network's layout comes from, which fixes its default setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// d2l.ai's classic CNNs: 1 channel, 10 classes (Fashion-MNIST).
    D2l,
    /// `torchvision.models`: 3 channels, 1000 classes (ImageNet-1k), parameter
    /// names equal to torchvision's `state_dict` keys.
    Torchvision,
}

impl Family {
    /// What `cnnzoo-train --list` says the layout follows.
    pub fn source(self) -> &'static str {
        match self {
            Family::D2l => "d2l.ai",
            Family::Torchvision => "torchvision",
        }
    }
}

/// How the published ImageNet weights of a torchvision-layout network expect
/// their input (`weights.transforms()`): the shorter side resized to
/// `resize_size`, the centre `crop_size` square cut out, and `mean`/`std`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Published {
    pub resize_size: usize,
    pub crop_size: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// ImageNet's channel statistics, as every torchvision weight normalizes with them.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

const fn imagenet(resize_size: usize) -> Option<Published> {
    Some(Published { resize_size, crop_size: 224, mean: IMAGENET_MEAN, std: IMAGENET_STD })
}

/// A registered network: records its layers into a builder and returns
/// `(logits, features)`.
#[derive(Debug)]
pub struct Arch {
    pub name: &'static str,
    pub about: &'static str,
    pub family: Family,
    pub recipe: Recipe,
    /// The preprocessing of the published weights, for torchvision's layouts.
    pub published: Option<Published>,
    define: fn(&mut Builder, &Config) -> Result<(ValueId, ValueId)>,
}

const fn recipe(batch_size: usize, lr: f64, size: usize) -> Recipe {
    Recipe { batch_size, lr, size, epochs: 10 }
}

const fn d2l(name: &'static str, about: &'static str, recipe: Recipe, define: Define) -> Arch {
    Arch { name, about, family: Family::D2l, recipe, published: None, define }
}

/// A torchvision layout; trained here with SGD at 224 px unless told otherwise.
const fn tv(name: &'static str, about: &'static str, published: Option<Published>, define: Define) -> Arch {
    Arch { name, about, family: Family::Torchvision, recipe: recipe(64, 0.01, 224), published, define }
}

type Define = fn(&mut Builder, &Config) -> Result<(ValueId, ValueId)>;

/// Every network, in the order of the classic line. A network is tested the
/// moment it is added here.
pub const ARCHS: &[Arch] = &[
    d2l("lenet", "LeNet-5 with sigmoids and average pooling (28 px)", recipe(256, 0.9, 28), lenet::define),
    d2l("alexnet", "AlexNet, one tower (224 px)", recipe(128, 0.01, 224), alexnet::define),
    d2l("nin", "Network in Network (224 px)", recipe(128, 0.1, 224), nin::define),
    d2l("googlenet", "GoogLeNet / Inception-v1 (96 px)", recipe(128, 0.1, 96), googlenet::define),
    d2l("resnet18", "ResNet-18 (96 px)", recipe(256, 0.1, 96), resnet::resnet18),
    d2l("densenet", "DenseNet, growth 32, 4x4 conv blocks, max-pooled head (96 px)", recipe(256, 0.1, 96), densenet::define),
    tv("tv_alexnet", "torchvision AlexNet (one tower, 64-192-384-256-256)", imagenet(256), tv_alexnet::alexnet),
    tv("tv_googlenet", "torchvision GoogLeNet, no auxiliary heads", GOOGLENET, tv_googlenet::googlenet),
    tv("tv_resnet18", "torchvision ResNet-18", imagenet(256), tv_resnet::resnet18),
    tv("tv_resnet34", "torchvision ResNet-34", imagenet(256), tv_resnet::resnet34),
    tv("tv_resnet50", "torchvision ResNet-50 (bottlenecks, v1.5); IMAGENET1K_V2's 232 px resize", imagenet(232), tv_resnet::resnet50),
    tv("tv_densenet121", "torchvision DenseNet-121", imagenet(256), tv_densenet::densenet121),
];

/// GoogLeNet's published weights run with `transform_input=True`, which turns
/// ImageNet-normalized input into `(x - 0.5) / 0.5`: mean and std 0.5 on raw pixels.
const GOOGLENET: Option<Published> = Some(Published { resize_size: 256, crop_size: 224, mean: [0.5; 3], std: [0.5; 3] });

impl Arch {
    /// Looks a network up by name; the error lists the known ones.
    pub fn find(name: &str) -> Result<&'static Arch> {
        ARCHS
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| ModelError::UnknownArch { name: name.into(), known: ARCHS.iter().map(|a| a.name).collect() })
    }

    /// The family's setting at the recipe's size: Fashion-MNIST's (1 channel,
    /// 10 classes) for d2l.ai's, ImageNet's (3 channels, 1000 classes) for torchvision's.
    pub fn default_config(&self) -> Config {
        let (in_channels, classes) = match self.family {
            Family::D2l => (1, 10),
            Family::Torchvision => (3, 1000),
        };
        Config { in_channels, classes, size: self.recipe.size }
    }

    /// Fashion-MNIST's setting (1 channel, 10 classes) at the recipe's size,
    /// or at `torchvision_size` for a torchvision layout (smaller than
    /// ImageNet's 224 keeps tests over the whole registry quick).
    pub fn fashion_config(&self, torchvision_size: usize) -> Config {
        let size = match self.family {
            Family::D2l => self.recipe.size,
            Family::Torchvision => torchvision_size,
        };
        Config { in_channels: 1, classes: 10, size }
    }

    /// Builds the graph. A size too small for the network is reported with the
    /// smallest size that works.
    pub fn build(&self, cfg: &Config) -> Result<Graph> {
        if cfg.in_channels == 0 || cfg.classes == 0 {
            return Err(ModelError::Config("channels and classes must be positive".into()));
        }
        match self.try_build(cfg) {
            Err(ModelError::Shape { node, detail }) => {
                let min = (cfg.size + 1..=4096).find(|&size| self.try_build(&Config { size, ..*cfg }).is_ok()).unwrap_or(0);
                Err(ModelError::TooSmall { arch: self.name.into(), size: cfg.size, min, detail: format!("layer {node}: {detail}") })
            }
            other => other,
        }
    }

    fn try_build(&self, cfg: &Config) -> Result<Graph> {
        let mut b = Builder::new(cfg.in_channels, cfg.size);
        let (logits, features) = (self.define)(&mut b, cfg)?;
        Ok(b.finish(self.name, logits, features))
    }
}

/// Builds a registered network by name.
pub fn build(name: &str, cfg: &Config) -> Result<Graph> {
    Arch::find(name)?.build(cfg)
}
