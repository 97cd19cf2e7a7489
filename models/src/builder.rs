//! A scoped builder that records nodes, names parameters the way PyTorch names
//! state-dict keys, and infers every shape as it goes.

use crate::graph::{Graph, Node, Op, Param, ParamRole, ValueId};
use crate::ModelError;

/// Convolution settings: `Conv::k(3).out(64).pad(1)`, with a bias unless `.no_bias()`.
#[derive(Debug, Clone, Copy)]
pub struct Conv {
    pub out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub bias: bool,
}

impl Conv {
    pub fn k(kernel: usize) -> Self {
        Conv { out: 0, kernel, stride: 1, pad: 0, bias: true }
    }
    /// No bias parameter (a batch norm follows and would cancel it).
    pub fn no_bias(self) -> Self {
        Conv { bias: false, ..self }
    }
    pub fn out(self, out: usize) -> Self {
        Conv { out, ..self }
    }
    pub fn stride(self, stride: usize) -> Self {
        Conv { stride, ..self }
    }
    pub fn pad(self, pad: usize) -> Self {
        Conv { pad, ..self }
    }
}

/// Pooling window: `Pool::k(3).stride(2).pad(1)`; stride defaults to the
/// kernel, the output side rounds down unless `.ceil()` (max pooling only).
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub ceil: bool,
}

impl Pool {
    pub fn k(kernel: usize) -> Self {
        Pool { kernel, stride: kernel, pad: 0, ceil: false }
    }
    pub fn stride(self, stride: usize) -> Self {
        Pool { stride, ..self }
    }
    pub fn pad(self, pad: usize) -> Self {
        Pool { pad, ..self }
    }
    /// PyTorch's `ceil_mode=True`.
    pub fn ceil(self) -> Self {
        Pool { ceil: true, ..self }
    }
}

type Result<T> = std::result::Result<T, ModelError>;

/// Records a graph. Layers with parameters take a name within the current
/// scope; the others are named automatically (`relu3`).
#[derive(Debug)]
pub struct Builder {
    nodes: Vec<Node>,
    scope: Vec<String>,
}

impl Builder {
    /// Starts a graph whose input is `[channels, size, size]`.
    pub fn new(channels: usize, size: usize) -> Self {
        let input = Node { name: "input".into(), op: Op::Input, inputs: vec![], shape: vec![channels, size, size], params: vec![] };
        Builder { nodes: vec![input], scope: vec![] }
    }

    pub fn input(&self) -> ValueId {
        0
    }

    pub fn shape(&self, v: ValueId) -> &[usize] {
        &self.nodes[v].shape
    }

    /// Runs `f` with `name` pushed on the scope, so its layers are `name.*`.
    pub fn scope<R>(&mut self, name: impl Into<String>, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        self.scope.push(name.into());
        let r = f(self);
        self.scope.pop();
        r
    }

    fn path(&self, name: &str) -> String {
        let mut parts = self.scope.clone();
        parts.push(name.to_string());
        parts.join(".")
    }

    fn auto_name(&self, kind: &str) -> String {
        let prefix = self.path(kind);
        let n = self.nodes.iter().filter(|n| n.name.starts_with(&prefix)).count();
        format!("{prefix}{n}")
    }

    fn push(&mut self, name: String, op: Op, inputs: Vec<ValueId>, shape: Vec<usize>, params: Vec<Param>) -> ValueId {
        self.nodes.push(Node { name, op, inputs, shape, params });
        self.nodes.len() - 1
    }

    fn map3(&self, name: &str, x: ValueId) -> Result<[usize; 3]> {
        match *self.shape(x) {
            [c, h, w] => Ok([c, h, w]),
            ref s => Err(ModelError::Shape { node: name.into(), detail: format!("expects a [C, H, W] map, got {s:?}") }),
        }
    }

    /// Output side of a sliding window, or an error when the map is too small.
    /// With `ceil`, as libtorch's `pooling_output_shape`: the side rounds up,
    /// less a last window that would start in the right padding.
    fn window(name: &str, side: usize, kernel: usize, stride: usize, pad: usize, ceil: bool) -> Result<usize> {
        if side + 2 * pad < kernel {
            return Err(ModelError::Shape {
                node: name.into(),
                detail: format!("a {side}x{side} map is smaller than its {kernel}x{kernel} window"),
            });
        }
        let span = side + 2 * pad - kernel;
        if !ceil {
            return Ok(span / stride + 1);
        }
        let out = span.div_ceil(stride) + 1;
        Ok(if (out - 1) * stride >= side + pad { out - 1 } else { out })
    }

    fn param(&self, node: &str, leaf: &str, shape: Vec<usize>, role: ParamRole) -> Param {
        Param { name: format!("{node}.{leaf}"), shape, role }
    }

    pub fn conv2d(&mut self, name: &str, x: ValueId, c: Conv) -> Result<ValueId> {
        let name = self.path(name);
        let [cin, h, w] = self.map3(&name, x)?;
        let oh = Self::window(&name, h, c.kernel, c.stride, c.pad, false)?;
        let ow = Self::window(&name, w, c.kernel, c.stride, c.pad, false)?;
        let fan_in = cin * c.kernel * c.kernel;
        let mut params = vec![self.param(
            &name,
            "weight",
            vec![c.out, cin, c.kernel, c.kernel],
            ParamRole::Weight { fan_in, fan_out: c.out * c.kernel * c.kernel },
        )];
        if c.bias {
            params.push(self.param(&name, "bias", vec![c.out], ParamRole::Bias { fan_in }));
        }
        let op = Op::Conv2d { out: c.out, kernel: c.kernel, stride: c.stride, pad: c.pad, bias: c.bias };
        Ok(self.push(name, op, vec![x], vec![c.out, oh, ow], params))
    }

    /// Batch norm with PyTorch's defaults (eps 1e-5, momentum 0.1).
    pub fn batch_norm(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        self.batch_norm_eps(name, x, 1e-5)
    }

    /// Batch norm with another epsilon (torchvision's GoogLeNet: 1e-3).
    pub fn batch_norm_eps(&mut self, name: &str, x: ValueId, eps: f64) -> Result<ValueId> {
        let name = self.path(name);
        let shape = self.map3(&name, x)?.to_vec();
        let c = shape[0];
        let params = [
            ("weight", ParamRole::Scale),
            ("bias", ParamRole::Shift),
            ("running_mean", ParamRole::RunningMean),
            ("running_var", ParamRole::RunningVar),
        ]
        .into_iter()
        .map(|(leaf, role)| self.param(&name, leaf, vec![c], role))
        .collect();
        Ok(self.push(name, Op::BatchNorm2d { eps, momentum: 0.1 }, vec![x], shape, params))
    }

    pub fn linear(&mut self, name: &str, x: ValueId, out: usize) -> Result<ValueId> {
        let name = self.path(name);
        let fan_in = match *self.shape(x) {
            [d] => d,
            ref s => return Err(ModelError::Shape { node: name, detail: format!("expects a flat input, got {s:?}") }),
        };
        let params = vec![
            self.param(&name, "weight", vec![out, fan_in], ParamRole::Weight { fan_in, fan_out: out }),
            self.param(&name, "bias", vec![out], ParamRole::Bias { fan_in }),
        ];
        Ok(self.push(name, Op::Linear { out }, vec![x], vec![out], params))
    }

    fn unary(&mut self, op: Op, x: ValueId) -> ValueId {
        let name = self.auto_name(op.kind());
        let shape = self.shape(x).to_vec();
        self.push(name, op, vec![x], shape, vec![])
    }

    pub fn relu(&mut self, x: ValueId) -> ValueId {
        self.unary(Op::Relu, x)
    }

    pub fn sigmoid(&mut self, x: ValueId) -> ValueId {
        self.unary(Op::Sigmoid, x)
    }

    pub fn dropout(&mut self, x: ValueId, p: f64) -> ValueId {
        self.unary(Op::Dropout { p }, x)
    }

    pub fn max_pool(&mut self, x: ValueId, p: Pool) -> Result<ValueId> {
        let op = Op::MaxPool2d { kernel: p.kernel, stride: p.stride, pad: p.pad, ceil: p.ceil };
        self.pool(op, x, p)
    }

    pub fn avg_pool(&mut self, x: ValueId, p: Pool) -> Result<ValueId> {
        if p.pad != 0 || p.ceil {
            return Err(ModelError::Config("average pooling takes no padding and rounds down".into()));
        }
        self.pool(Op::AvgPool2d { kernel: p.kernel, stride: p.stride }, x, p)
    }

    fn pool(&mut self, op: Op, x: ValueId, p: Pool) -> Result<ValueId> {
        let name = self.auto_name(op.kind());
        let [c, h, w] = self.map3(&name, x)?;
        let oh = Self::window(&name, h, p.kernel, p.stride, p.pad, p.ceil)?;
        let ow = Self::window(&name, w, p.kernel, p.stride, p.pad, p.ceil)?;
        Ok(self.push(name, op, vec![x], vec![c, oh, ow], vec![]))
    }

    /// PyTorch's `AdaptiveAvgPool2d(out)`: `[C, out, out]` from any map size.
    pub fn adaptive_avg_pool(&mut self, x: ValueId, out: usize) -> Result<ValueId> {
        let name = self.auto_name("adaptivepool");
        let [c, _, _] = self.map3(&name, x)?;
        if out == 0 {
            return Err(ModelError::Config("adaptive pooling needs an output side of 1 or more".into()));
        }
        Ok(self.push(name, Op::AdaptiveAvgPool2d { out }, vec![x], vec![c, out, out], vec![]))
    }

    pub fn global_avg_pool(&mut self, x: ValueId) -> Result<ValueId> {
        self.global(Op::GlobalAvgPool, x)
    }

    pub fn global_max_pool(&mut self, x: ValueId) -> Result<ValueId> {
        self.global(Op::GlobalMaxPool, x)
    }

    fn global(&mut self, op: Op, x: ValueId) -> Result<ValueId> {
        let name = self.auto_name(op.kind());
        let [c, _, _] = self.map3(&name, x)?;
        Ok(self.push(name, op, vec![x], vec![c, 1, 1], vec![]))
    }

    /// The head most of the zoo ends with: global average pooling flattened
    /// into the feature vector, then one linear layer `name` to the classes.
    /// Returns `(logits, features)`.
    pub fn pooled_linear_head(&mut self, name: &str, x: ValueId, classes: usize) -> Result<(ValueId, ValueId)> {
        let pooled = self.global_avg_pool(x)?;
        let features = self.flatten(pooled);
        let logits = self.linear(name, features, classes)?;
        Ok((logits, features))
    }

    pub fn flatten(&mut self, x: ValueId) -> ValueId {
        let name = self.auto_name("flatten");
        let d = self.shape(x).iter().product();
        self.push(name, Op::Flatten, vec![x], vec![d], vec![])
    }

    pub fn concat(&mut self, xs: &[ValueId]) -> Result<ValueId> {
        let name = self.auto_name("concat");
        let mut shape = self.map3(&name, xs[0])?;
        for &x in &xs[1..] {
            let [c, h, w] = self.map3(&name, x)?;
            if [h, w] != [shape[1], shape[2]] {
                return Err(ModelError::Shape {
                    node: name,
                    detail: format!("cannot concatenate {h}x{w} with {}x{} maps", shape[1], shape[2]),
                });
            }
            shape[0] += c;
        }
        Ok(self.push(name, Op::Concat, xs.to_vec(), shape.to_vec(), vec![]))
    }

    pub fn add(&mut self, a: ValueId, b: ValueId) -> Result<ValueId> {
        let name = self.auto_name("add");
        if self.shape(a) != self.shape(b) {
            return Err(ModelError::Shape { node: name, detail: format!("cannot add {:?} and {:?}", self.shape(a), self.shape(b)) });
        }
        let shape = self.shape(a).to_vec();
        Ok(self.push(name, Op::Add, vec![a, b], shape, vec![]))
    }

    /// Ends the recording; `features` is the pooled embedding before the head.
    pub fn finish(self, arch: &str, logits: ValueId, features: ValueId) -> Graph {
        Graph { arch: arch.into(), nodes: self.nodes, logits, features }
    }
}
