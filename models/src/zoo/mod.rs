//! The six networks and the one registry that the CLIs and tests iterate over.

mod alexnet;
mod densenet;
mod googlenet;
mod lenet;
mod nin;
mod resnet;

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

/// A registered network: records its layers into a builder and returns
/// `(logits, features)`.
#[derive(Debug)]
pub struct Arch {
    pub name: &'static str,
    pub about: &'static str,
    pub recipe: Recipe,
    define: fn(&mut Builder, &Config) -> Result<(ValueId, ValueId)>,
}

const fn recipe(batch_size: usize, lr: f64, size: usize) -> Recipe {
    Recipe { batch_size, lr, size, epochs: 10 }
}

/// Every network, in the order of the classic line. A network is tested the
/// moment it is added here.
pub const ARCHS: &[Arch] = &[
    Arch { name: "lenet", about: "LeNet-5 with sigmoids and average pooling (28 px)", recipe: recipe(256, 0.9, 28), define: lenet::define },
    Arch { name: "alexnet", about: "AlexNet, one tower (224 px)", recipe: recipe(128, 0.01, 224), define: alexnet::define },
    Arch { name: "nin", about: "Network in Network (224 px)", recipe: recipe(128, 0.1, 224), define: nin::define },
    Arch { name: "googlenet", about: "GoogLeNet / Inception-v1 (96 px)", recipe: recipe(128, 0.1, 96), define: googlenet::define },
    Arch { name: "resnet18", about: "ResNet-18 (96 px)", recipe: recipe(256, 0.1, 96), define: resnet::resnet18 },
    Arch {
        name: "densenet",
        about: "DenseNet, growth 32, 4x4 conv blocks, max-pooled head (96 px)",
        recipe: recipe(256, 0.1, 96),
        define: densenet::define,
    },
];

impl Arch {
    /// Looks a network up by name; the error lists the known ones.
    pub fn find(name: &str) -> Result<&'static Arch> {
        ARCHS
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| ModelError::UnknownArch { name: name.into(), known: ARCHS.iter().map(|a| a.name).collect() })
    }

    /// Fashion-MNIST's setting: 1 channel, 10 classes, the recipe's size.
    pub fn default_config(&self) -> Config {
        Config { in_channels: 1, classes: 10, size: self.recipe.size }
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
