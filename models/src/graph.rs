//! The graph IR: nodes in topological order, one output value per node.

use serde::Serialize;

/// Index of a node, and of the value it produces (`0` is the input).
pub type ValueId = usize;

/// The closed set of operations the zoo is made of. Every backend handles them
/// in one exhaustive `match`, so a new op makes the compiler list every place
/// that must learn it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Op {
    /// The network input, `[C, H, W]` per example.
    Input,
    /// Convolution; params `weight [out, in, k, k]` and, if `bias`, `bias [out]`
    /// (torchvision's convolutions before a batch norm have none).
    Conv2d {
        out: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        bias: bool,
    },
    /// Batch norm over channels; params `weight`, `bias` and buffers
    /// `running_mean`, `running_var`, all `[C]`.
    BatchNorm2d {
        eps: f64,
        momentum: f64,
    },
    /// Fully connected layer on a flat input; params `weight [out, in]`, `bias [out]`.
    Linear {
        out: usize,
    },
    Relu,
    Sigmoid,
    /// Max pooling; padding counts as -inf. `ceil` is PyTorch's `ceil_mode`
    /// (torchvision's GoogLeNet): a last, partial window is kept as long as it
    /// starts inside the input or its left padding.
    MaxPool2d {
        kernel: usize,
        stride: usize,
        pad: usize,
        ceil: bool,
    },
    /// Average pooling, floor mode, no padding.
    AvgPool2d {
        kernel: usize,
        stride: usize,
    },
    /// PyTorch's `AdaptiveAvgPool2d(out)`: output cell `i` averages inputs
    /// `floor(i * in / out) .. ceil((i + 1) * in / out)` on each axis
    /// (torchvision's AlexNet, `[C, 6, 6]` whatever the input size).
    AdaptiveAvgPool2d {
        out: usize,
    },
    /// Average over the whole map to `[C, 1, 1]`.
    GlobalAvgPool,
    /// Max over the whole map to `[C, 1, 1]`.
    GlobalMaxPool,
    /// `[C, H, W]` to `[C * H * W]`.
    Flatten,
    /// Active in training only.
    Dropout {
        p: f64,
    },
    /// Concatenation on channels, inputs in order.
    Concat,
    /// Element-wise sum of two equal shapes.
    Add,
}

impl Op {
    /// Short lower-case name, used for auto-generated node names and summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Conv2d { .. } => "conv",
            Op::BatchNorm2d { .. } => "bn",
            Op::Linear { .. } => "fc",
            Op::Relu => "relu",
            Op::Sigmoid => "sigmoid",
            Op::MaxPool2d { .. } => "maxpool",
            Op::AvgPool2d { .. } => "avgpool",
            Op::AdaptiveAvgPool2d { .. } => "adaptivepool",
            Op::GlobalAvgPool => "gap",
            Op::GlobalMaxPool => "gmp",
            Op::Flatten => "flatten",
            Op::Dropout { .. } => "dropout",
            Op::Concat => "concat",
            Op::Add => "add",
        }
    }
}

/// How a parameter is initialized (the seed recipe) and whether it is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum ParamRole {
    /// Conv or linear weight: Xavier-uniform.
    Weight { fan_in: usize, fan_out: usize },
    /// Conv or linear bias: PyTorch's default, uniform in ±1/sqrt(fan_in).
    Bias { fan_in: usize },
    /// Batch-norm scale: ones.
    Scale,
    /// Batch-norm shift: zeros.
    Shift,
    /// Batch-norm running mean: zeros, not trained.
    RunningMean,
    /// Batch-norm running variance: ones, not trained.
    RunningVar,
}

impl ParamRole {
    pub fn trainable(self) -> bool {
        !matches!(self, ParamRole::RunningMean | ParamRole::RunningVar)
    }
}

/// A named tensor owned by a node. `name` is the full dotted path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: ParamRole,
}

impl Param {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Dotted scope path, e.g. `stage2.0.conv1`.
    pub name: String,
    pub op: Op,
    pub inputs: Vec<ValueId>,
    /// Output shape per example (no batch dimension).
    pub shape: Vec<usize>,
    /// In the order of the op's doc comment.
    pub params: Vec<Param>,
}

/// A whole network: nodes in topological order plus its two outputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Graph {
    pub arch: String,
    pub nodes: Vec<Node>,
    /// Class scores, `[classes]`.
    pub logits: ValueId,
    /// The pooled embedding just before the classifier head, `[D]`.
    pub features: ValueId,
}

impl Graph {
    /// `[C, H, W]` of the input.
    pub fn input_shape(&self) -> [usize; 3] {
        let s = &self.nodes[0].shape;
        [s[0], s[1], s[2]]
    }

    pub fn classes(&self) -> usize {
        self.nodes[self.logits].shape[0]
    }

    pub fn feature_dim(&self) -> usize {
        self.nodes[self.features].shape.iter().product()
    }

    pub fn params(&self) -> impl Iterator<Item = &Param> {
        self.nodes.iter().flat_map(|n| n.params.iter())
    }

    /// Trainable parameters, as PyTorch's `sum(p.numel() for p in net.parameters())`.
    pub fn parameter_count(&self) -> usize {
        self.params().filter(|p| p.role.trainable()).map(Param::numel).sum()
    }

    /// Floating-point operations of one forward pass on one example, counting a
    /// multiply-add as two; element-wise ops count one per output element.
    pub fn flops(&self) -> u64 {
        self.nodes.iter().map(|n| self.node_flops(n)).sum()
    }

    pub fn node_flops(&self, node: &Node) -> u64 {
        let out: u64 = node.shape.iter().product::<usize>() as u64;
        let input = |i: usize| &self.nodes[node.inputs[i]].shape;
        match &node.op {
            Op::Input | Op::Flatten | Op::Dropout { .. } | Op::Concat => 0,
            Op::Conv2d { kernel, .. } => 2 * out * (input(0)[0] * kernel * kernel) as u64,
            Op::Linear { .. } => 2 * out * input(0)[0] as u64,
            Op::BatchNorm2d { .. } => 2 * out,
            Op::Relu | Op::Sigmoid | Op::Add => out,
            Op::MaxPool2d { kernel, .. } | Op::AvgPool2d { kernel, .. } => out * (kernel * kernel) as u64,
            Op::GlobalAvgPool | Op::GlobalMaxPool => input(0).iter().product::<usize>() as u64,
            Op::AdaptiveAvgPool2d { .. } => input(0).iter().product::<usize>().max(out as usize) as u64,
        }
    }

    /// For each node, whether computing `outputs` needs it. Backends skip the
    /// rest (e.g. NiN's feature branch when only logits are wanted).
    pub fn needed(&self, outputs: &[ValueId]) -> Vec<bool> {
        let mut needed = vec![false; self.nodes.len()];
        for &o in outputs {
            needed[o] = true;
        }
        for i in (0..self.nodes.len()).rev() {
            if needed[i] {
                for &j in &self.nodes[i].inputs {
                    needed[j] = true;
                }
            }
        }
        needed
    }
}
