//! `--embed-preprocessing`: the model card's preprocessing written into the
//! graph, so that any ONNX runtime (Triton, OpenVINO, a browser) can feed the
//! model decoded pixels without re-implementing it. The graph then takes
//! `image`, UINT8 `[batch, height, width, channels]` (any height and width;
//! channels 1 for gray or 3 for RGB, alpha composited beforehand), and does
//! what `cnnzoo_models::preprocess` does, in the same order:
//!
//! 1. to the model's channels: ITU-R 601 luma for a 1-channel model (a gray
//!    image passes through), gray repeated for a 3-channel one;
//! 2. the card's resize (ONNX `Resize`, half-pixel centres; linear, or cubic
//!    with a = -0.5 for `bicubic_antialias`; `antialias` for the antialiased
//!    filters: opset 18): to the input's size, or, for a card with
//!    `resize_size` (torchvision's `Resize` + `CenterCrop`), the shorter side
//!    to `resize_size` with the longer one scaled as torchvision truncates it,
//!    then the centre crop (`Slice`, the offsets rounded half to even as
//!    Python's `round`);
//! 3. for a card that rounds to 8 bits (`uint8_resize`), `Clip` to [0, 255]
//!    and `Round` (half to even, as `torch.round`);
//! 4. scaling, then the mean and std if the card has them.
//!
//! The rest of the graph is unchanged: its former input `input` is now the
//! output of step 3.

use cnnzoo_models::card::{IMAGE, INPUT};
use cnnzoo_models::preprocess::Filter;
use cnnzoo_models::Preprocessing;
use cnnzoo_proto::{tensor_proto::DataType, ModelProto, NodeProto, TensorProto};

use crate::onnx_build::{float, int, ints, node, string, tensor, tensor_i64, typed_value_info};
use crate::ExportError;

/// What embedding the preprocessing cannot do.
fn refused(problem: String) -> ExportError {
    cnnzoo_models::ChoiceError::refused(cnnzoo_models::Choice::EmbedPreprocessing, problem).into()
}

/// The first opset with `Resize`'s `antialias` and `axes`.
pub const MIN_OPSET: i64 = 18;

/// `model` (a cnnzoo export taking `input` `[N, C, size, size]`) with `p`
/// done inside the graph, taking `image` instead.
pub fn embed_preprocessing(model: &ModelProto, p: &Preprocessing) -> Result<ModelProto, ExportError> {
    p.validate().map_err(|e| refused(format!("the card's preprocessing: {e}")))?;
    let opset = model.opset_import.iter().find(|o| o.domain.is_empty()).map_or(0, |o| o.version);
    if opset < MIN_OPSET {
        return Err(refused(format!("opset {opset}: the resize needs opset {MIN_OPSET} or later (Resize with antialias and axes)")));
    }
    let mut m = model.clone();
    let g = m.graph.as_mut().ok_or_else(|| refused("the model has no graph".into()))?;
    if g.input.len() != 1 || g.input[0].name != INPUT {
        return Err(refused(format!("the model must have the one input `{INPUT}`")));
    }
    let (mut nodes, mut inits) = (vec![], vec![]);
    steps(p, &mut nodes, &mut inits);
    nodes.append(&mut g.node);
    g.node = nodes;
    g.initializer.append(&mut inits);
    g.input = vec![typed_value_info(IMAGE, DataType::Uint8, &[Err("batch"), Err("height"), Err("width"), Err("channels")])];
    let (h, w) = p.input_hw();
    let how = match p.resize_size {
        Some(r) => format!("shorter side resized to {r}, centre {h}x{w} cropped"),
        None => format!("resized to {h}x{w}"),
    };
    m.doc_string.push_str(&format!("; input `{IMAGE}` uint8 [batch, height, width, channels 1 or 3], {how} inside the graph"));
    Ok(m)
}

/// The nodes from `image` to `input`, with their constants.
fn steps(p: &Preprocessing, nodes: &mut Vec<NodeProto>, inits: &mut Vec<TensorProto>) {
    let v = |s: &str| format!("preprocess/{s}");
    let mut push = |op: &str, name: &str, inputs: &[&str], attrs| nodes.push(node(op, &v(name), inputs, &v(name), attrs));
    push("Cast", "float", &[IMAGE], vec![int("to", DataType::Float as i64)]);
    let channels = if p.channels == 1 {
        // Weights by the image's channel count C: [1] for gray, the luma
        // weights for RGB, sliced from [1, .299, .587, .114] at (C - 1) / 2.
        inits.push(tensor(&v("luma_table"), &[4], &[1.0, 0.299, 0.587, 0.114]));
        inits.push(tensor_i64(&v("one"), &[1], &[1]));
        inits.push(tensor_i64(&v("two"), &[1], &[2]));
        inits.push(tensor_i64(&v("last_axis"), &[1], &[3]));
        push("Shape", "c", &[IMAGE], vec![int("start", 3)]);
        push("Sub", "c_minus_one", &[&v("c"), &v("one")], vec![]);
        push("Div", "luma_start", &[&v("c_minus_one"), &v("two")], vec![]);
        push("Add", "luma_end", &[&v("luma_start"), &v("c")], vec![]);
        push("Slice", "luma_weights", &[&v("luma_table"), &v("luma_start"), &v("luma_end")], vec![]);
        push("Mul", "weighted", &[&v("float"), &v("luma_weights")], vec![]);
        push("ReduceSum", "channels", &[&v("weighted"), &v("last_axis")], vec![int("keepdims", 1)]);
        v("channels")
    } else {
        inits.push(tensor_i64(&v("rgb_shape"), &[4], &[1, 1, 1, 3]));
        push("Expand", "channels", &[&v("float"), &v("rgb_shape")], vec![]);
        v("channels")
    };
    push("Transpose", "planes", &[&channels], vec![ints("perm", &[0, 3, 1, 2])]);
    let (h, w) = p.input_hw();
    match p.resize_size {
        None => inits.push(tensor_i64(&v("sizes"), &[2], &[h as i64, w as i64])),
        Some(r) => {
            // torchvision's shorter side to r, the longer one int(r * long / short):
            // both sides are r * side / shorter side in integer division.
            inits.push(tensor_i64(&v("r"), &[1], &[r as i64]));
            push("Shape", "hw", &[&v("planes")], vec![int("start", 2)]);
            push("ReduceMin", "shorter", &[&v("hw")], vec![int("keepdims", 1)]);
            push("Mul", "r_hw", &[&v("hw"), &v("r")], vec![]);
            push("Div", "sizes", &[&v("r_hw"), &v("shorter")], vec![]);
        }
    }
    let mut attrs = vec![string("coordinate_transformation_mode", "half_pixel"), ints("axes", &[2, 3])];
    match p.resize {
        // PyTorch's antialiased cubic is Keys' with a = -0.5 (PIL's).
        Filter::BicubicAntialias => attrs.extend([string("mode", "cubic"), float("cubic_coeff_a", -0.5)]),
        Filter::Bilinear | Filter::BilinearAntialias => attrs.push(string("mode", "linear")),
    }
    if p.resize != Filter::Bilinear {
        // PyTorch's antialiased filters renormalize the weights that fall
        // inside the image, which is what exclude_outside asks for.
        attrs.extend([int("antialias", 1), int("exclude_outside", 1)]);
    }
    push("Resize", "resized", &[&v("planes"), "", "", &v("sizes")], attrs);
    let mut last = v("resized");
    if p.resize_size.is_some() {
        // The centre crop: offsets round((resized - crop) / 2), half to even as Python rounds.
        inits.push(tensor_i64(&v("crop"), &[2], &[h as i64, w as i64]));
        inits.push(tensor(&v("half"), &[1], &[0.5]));
        inits.push(tensor_i64(&v("crop_axes"), &[2], &[2, 3]));
        push("Sub", "margin", &[&v("sizes"), &v("crop")], vec![]);
        push("Cast", "margin_f", &[&v("margin")], vec![int("to", DataType::Float as i64)]);
        push("Mul", "half_margin", &[&v("margin_f"), &v("half")], vec![]);
        push("Round", "origin_f", &[&v("half_margin")], vec![]);
        push("Cast", "origin", &[&v("origin_f")], vec![int("to", DataType::Int64 as i64)]);
        push("Add", "end", &[&v("origin"), &v("crop")], vec![]);
        push("Slice", "cropped", &[&last, &v("origin"), &v("end"), &v("crop_axes")], vec![]);
        last = v("cropped");
    }
    if p.uint8_resize {
        // torchvision's round trip through uint8: clamped (cubic overshoots), rounded half to even.
        inits.push(tensor(&v("zero"), &[], &[0.0]));
        inits.push(tensor(&v("max_level"), &[], &[255.0]));
        push("Clip", "clipped", &[&last, &v("zero"), &v("max_level")], vec![]);
        push("Round", "levels", &[&v("clipped")], vec![]);
        last = v("levels");
    }
    inits.push(tensor(&v("scale"), &[1], &[p.scale]));
    match (&p.mean, &p.std) {
        (Some(mean), Some(std)) => {
            inits.push(tensor(&v("mean"), &[1, p.channels, 1, 1], mean));
            inits.push(tensor(&v("std"), &[1, p.channels, 1, 1], std));
            push("Mul", "scaled", &[&last, &v("scale")], vec![]);
            push("Sub", "centred", &[&v("scaled"), &v("mean")], vec![]);
            nodes.push(node("Div", &v("normalized"), &[&v("centred"), &v("std")], INPUT, vec![]));
        }
        _ => nodes.push(node("Mul", &v("scaled"), &[&last, &v("scale")], INPUT, vec![])),
    }
}
