//! The tch backend: interprets any [`Graph`] with libtorch ops. There is no
//! per-network code here; every op is handled once in [`Net::eval_node`].

use cnnzoo_models::{Graph, Op, ParamRole, ValueId, Weights};
use tch::nn::{Init, Path};
use tch::{Kind, Tensor};

use crate::precision::Precision;

/// How activations are laid out in memory. Channels-last (NHWC strides
/// behind NCHW shapes) lets oneDNN's convolutions skip reordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Contiguous,
    ChannelsLast,
}

cnnzoo_models::spelled!(Layout { Contiguous = "contiguous", ChannelsLast = "channels-last" });

/// A graph bound to the variables of a VarStore, named as the graph names them.
#[derive(Debug)]
pub struct Net {
    graph: Graph,
    precision: Precision,
    layout: Layout,
    /// Per node, its parameters in the node's order.
    params: Vec<Vec<Tensor>>,
    logits_only: Vec<bool>,
    both: Vec<bool>,
    /// Per node, whether it belongs to a frozen backbone (runs in
    /// evaluation mode, its parameters learn nothing).
    frozen: Vec<bool>,
}

/// The optimizer group of the backbone's parameters (those the features are
/// computed from); the head's are group 0. Rates can then differ by group.
pub const BACKBONE_GROUP: usize = 1;

/// The variable for `name` (`stage2.0.conv1.weight`), created under nested
/// sub-paths so that the VarStore key is exactly the graph's name.
fn create(root: &Path, name: &str, shape: &[usize], role: ParamRole) -> Tensor {
    let mut parts: Vec<&str> = name.split('.').collect();
    let leaf = parts.pop().unwrap_or(name);
    let path = parts.iter().fold(root.clone(), |p, part| p.sub(*part));
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    match role {
        ParamRole::Weight { fan_in, fan_out } => {
            let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
            path.var(leaf, &dims, Init::Uniform { lo: -bound, up: bound })
        }
        ParamRole::Bias { fan_in } => {
            let bound = 1.0 / (fan_in as f64).sqrt();
            path.var(leaf, &dims, Init::Uniform { lo: -bound, up: bound })
        }
        ParamRole::Scale => path.var(leaf, &dims, Init::Const(1.0)),
        ParamRole::Shift => path.var(leaf, &dims, Init::Const(0.0)),
        ParamRole::RunningMean => path.zeros_no_train(leaf, &dims),
        ParamRole::RunningVar => path.ones_no_train(leaf, &dims),
    }
}

/// The same `[N, C, H, W]` tensor with NHWC strides: what `channels_last` means in PyTorch.
/// The strides are set explicitly: with one channel a permuted copy would
/// keep NCHW strides, and oneDNN would then pick its NCHW path for the layer.
fn channels_last(t: &Tensor) -> Tensor {
    let s = t.size();
    let (c, h, w) = (s[1], s[2], s[3]);
    let mut out = Tensor::empty_strided(&s, [h * w * c, 1, w * c, c], (t.kind(), t.device()));
    out.copy_(t);
    out
}

fn pair(v: usize) -> [i64; 2] {
    [v as i64, v as i64]
}

impl Net {
    /// Creates the graph's variables under `root`, initialized by the seed
    /// recipe (Xavier-uniform weights). Call `tch::manual_seed` first for a
    /// reproducible start.
    pub fn new(root: &Path, graph: Graph) -> Net {
        let backbone = graph.needed(&[graph.features]);
        let backbone_root = root.set_group(BACKBONE_GROUP);
        let params = graph
            .nodes
            .iter()
            .zip(&backbone)
            .map(|(n, &b)| n.params.iter().map(|p| create(if b { &backbone_root } else { root }, &p.name, &p.shape, p.role)).collect())
            .collect();
        let logits_only = graph.needed(&[graph.logits]);
        let both = graph.needed(&[graph.logits, graph.features]);
        let frozen = vec![false; graph.nodes.len()];
        Net { graph, params, logits_only, both, frozen, precision: Precision::Fp32, layout: Layout::Contiguous }
    }

    /// Freezes everything the features are computed from: its parameters
    /// stop requiring gradients (the optimizer skips them), and its batch
    /// norms and dropout run in evaluation mode, so running statistics stay
    /// as loaded. Only the head learns.
    pub fn freeze_backbone(&mut self) {
        self.frozen = self.graph.needed(&[self.graph.features]);
        for (tensors, _) in self.params.iter_mut().zip(&self.frozen).filter(|(_, &f)| f) {
            for t in tensors.iter_mut() {
                let _ = t.set_requires_grad(false);
            }
        }
    }

    /// Computes in `precision` with activations in `layout` from now on; the
    /// variables stay fp32 (the master weights) whatever the precision.
    ///
    /// Channels-last also stores the 4-D weights that way (as PyTorch's
    /// `module.to(memory_format=torch.channels_last)` does), so that oneDNN
    /// finds input and weights in the same order and their casts keep it.
    pub fn set_compute(&mut self, precision: Precision, layout: Layout) {
        if layout != self.layout {
            tch::no_grad(|| {
                for t in self.params.iter_mut().flatten().filter(|t| t.dim() == 4) {
                    let relaid = match layout {
                        Layout::ChannelsLast => channels_last(t),
                        Layout::Contiguous => t.contiguous(),
                    };
                    t.set_data(&relaid);
                }
            });
        }
        (self.precision, self.layout) = (precision, layout);
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Class scores `[N, classes]` for a batch `[N, C, H, W]`, in fp32
    /// whatever the precision (the loss is computed from them).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut values = self.run(x, train, &self.logits_only);
        values.swap_remove(self.graph.logits).expect("logits are computed").to_kind(Kind::Float)
    }

    /// Class scores from the features alone, running the head's nodes only
    /// (see [`Net::head_reads_features_only`]).
    pub fn forward_head(&self, features: &Tensor, train: bool) -> Tensor {
        let head = self.head();
        let mut values: Vec<Option<Tensor>> = (0..self.graph.nodes.len()).map(|_| None).collect();
        values[self.graph.features] = Some(features.to_kind(self.precision.compute_kind()));
        for i in (0..self.graph.nodes.len()).filter(|&i| head[i]) {
            let inputs: Vec<&Tensor> = self.graph.nodes[i]
                .inputs
                .iter()
                .map(|&j| values[j].as_ref().expect("a head node reads the head or the features"))
                .collect();
            values[i] = Some(self.eval_node(i, &inputs, features, train));
        }
        values.swap_remove(self.graph.logits).expect("logits are computed").to_kind(Kind::Float)
    }

    /// The nodes the logits need beyond the features.
    fn head(&self) -> Vec<bool> {
        let backbone = self.graph.needed(&[self.graph.features]);
        self.logits_only.iter().zip(&backbone).map(|(&l, &b)| l && !b).collect()
    }

    /// Whether the head reads nothing of the backbone but the features: then
    /// it can run on features computed earlier.
    pub fn head_reads_features_only(&self) -> bool {
        let backbone = self.graph.needed(&[self.graph.features]);
        let head = self.head();
        (0..self.graph.nodes.len())
            .filter(|&i| head[i])
            .all(|i| self.graph.nodes[i].inputs.iter().all(|&j| !backbone[j] || j == self.graph.features))
    }

    /// `(logits, features)` in eval mode, as the exported ONNX graph computes them.
    pub fn forward_eval(&self, x: &Tensor) -> (Tensor, Tensor) {
        let mut values = self.run(x, false, &self.both);
        let features = values[self.graph.features].take().expect("features are computed").to_kind(Kind::Float);
        let logits = values[self.graph.logits].take().expect("logits are computed").to_kind(Kind::Float);
        (logits, features)
    }

    /// Every node's output in eval mode (`None` for nodes neither output needs);
    /// tests compare their shapes with the graph's inferred ones.
    pub fn values(&self, x: &Tensor) -> Vec<Option<Tensor>> {
        self.run(x, false, &self.both)
    }

    fn run(&self, x: &Tensor, train: bool, needed: &[bool]) -> Vec<Option<Tensor>> {
        let mut values: Vec<Option<Tensor>> = Vec::with_capacity(self.graph.nodes.len());
        for (i, node) in self.graph.nodes.iter().enumerate() {
            let v = if needed[i] {
                let inputs: Vec<&Tensor> = node.inputs.iter().map(|&j| values[j].as_ref().expect("inputs precede their node")).collect();
                Some(self.eval_node(i, &inputs, x, train))
            } else {
                None
            };
            values.push(v);
        }
        values
    }

    /// The one place precision and layout are decided, for every op: the
    /// input enters in the compute kind and layout; convolutions and linear
    /// layers take their fp32 weights cast to the activations' kind (autograd
    /// carries gradients back to fp32); batch norm keeps fp32 parameters and
    /// statistics on 16-bit activations; the other ops follow their input.
    fn eval_node(&self, i: ValueId, xs: &[&Tensor], input: &Tensor, train: bool) -> Tensor {
        let train = train && !self.frozen[i];
        let p = &self.params[i];
        let cast = |w: &Tensor| if self.precision.is_mixed() { w.to_kind(xs[0].kind()) } else { w.shallow_clone() };
        match self.graph.nodes[i].op {
            Op::Input => {
                let x = input.to_kind(self.precision.compute_kind());
                match self.layout {
                    Layout::ChannelsLast if x.dim() == 4 => channels_last(&x),
                    _ => x,
                }
            }
            Op::Conv2d { stride, pad, .. } => xs[0].conv2d(&cast(&p[0]), p.get(1).map(cast).as_ref(), pair(stride), pair(pad), [1, 1], 1),
            Op::BatchNorm2d { eps, momentum } => {
                Tensor::batch_norm(xs[0], Some(&p[0]), Some(&p[1]), Some(&p[2]), Some(&p[3]), train, momentum, eps, true)
            }
            Op::Linear { .. } => xs[0].linear(&cast(&p[0]), Some(&cast(&p[1]))),
            Op::Relu => xs[0].relu(),
            Op::Sigmoid => xs[0].sigmoid(),
            Op::MaxPool2d { kernel, stride, pad, ceil } => xs[0].max_pool2d(pair(kernel), pair(stride), pair(pad), [1, 1], ceil),
            Op::AvgPool2d { kernel, stride } => xs[0].avg_pool2d(pair(kernel), pair(stride), [0, 0], false, true, None),
            Op::AdaptiveAvgPool2d { out } => xs[0].adaptive_avg_pool2d(pair(out)),
            Op::GlobalAvgPool => xs[0].adaptive_avg_pool2d([1, 1]),
            Op::GlobalMaxPool => xs[0].adaptive_max_pool2d([1, 1]).0,
            Op::Flatten => xs[0].flatten(1, -1),
            Op::Dropout { p } => xs[0].dropout(p, train),
            Op::Concat => Tensor::cat(xs, 1),
            Op::Add => xs[0] + xs[1],
        }
    }

    /// The current parameters and buffers, detached, on the CPU.
    pub fn weights(&self) -> Weights {
        let mut w = Weights::default();
        for (node, tensors) in self.graph.nodes.iter().zip(&self.params) {
            for (p, t) in node.params.iter().zip(tensors) {
                let data = Vec::<f32>::try_from(t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).flatten(0, -1))
                    .expect("a float tensor converts");
                w.0.insert(p.name.clone(), cnnzoo_models::Tensor32 { shape: p.shape.clone(), data });
            }
        }
        w
    }

    /// Overwrites the variables with `weights`, which must match the graph
    /// exactly (checked first, so a mismatch changes nothing).
    pub fn load(&mut self, weights: &Weights) -> Result<(), cnnzoo_models::ModelError> {
        weights.check(&self.graph)?;
        tch::no_grad(|| {
            for (node, tensors) in self.graph.nodes.iter().zip(&mut self.params) {
                for (p, t) in node.params.iter().zip(tensors.iter_mut()) {
                    let src = &weights.0[&p.name];
                    let dims: Vec<i64> = src.shape.iter().map(|&d| d as i64).collect();
                    t.copy_(&Tensor::from_slice(&src.data).reshape(&dims));
                }
            }
        });
        Ok(())
    }
}
