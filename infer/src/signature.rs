//! What a model takes and gives, read from its ONNX header and its card and
//! checked against each other before ONNX Runtime is involved: its one
//! input (float planes, or uint8 pixels for a model that preprocesses
//! itself), the output that holds class scores, the one that holds the
//! feature vector, their widths, and the largest batch the graph allows.
//! Pure data: tested without ONNX Runtime, and what `cnnzoo-serve` describes
//! in its model metadata.

use ndarray::Array2;

use cnnzoo_models::card::{FEATURES, LOGITS};
use cnnzoo_models::{Card, Choice, ChoiceError};
use cnnzoo_proto::tensor_proto::DataType;

use crate::onnx_header::{Header, Io};

/// The inputs and outputs of a model, as a backbone runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    /// The graph's one input.
    pub input: String,
    /// The input is uint8 `[N, H, W, C]` pixels that the graph preprocesses
    /// itself; otherwise float `[N, C, H, W]` network input.
    pub takes_pixels: bool,
    /// The output that holds the class scores, if the model has a head.
    pub logits: Option<String>,
    /// The feature output; for a classifier without one, its logits stand
    /// in so that batches have one shape, and `has_features` says so.
    pub features: String,
    pub has_features: bool,
    pub feature_dim: usize,
    /// The width of `logits`, where the graph or the card fixes it.
    pub logits_dim: Option<usize>,
    /// The batch the graph is fixed to (`torch.onnx.export` without dynamic
    /// axes fixes it at 1), if it is.
    pub fixed_batch: Option<usize>,
}

/// Which outputs to use, where the model does not call them `logits` and
/// `features`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputNames {
    pub logits: Option<String>,
    pub features: Option<String>,
}

/// Why a model's signature cannot be read: something in the model itself,
/// or in the outputs the caller named (or, where the model's own names do
/// not say, must name).
#[derive(Debug, thiserror::Error)]
pub enum Misfit {
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Outputs(ChoiceError),
}

impl From<String> for Misfit {
    fn from(problem: String) -> Self {
        Misfit::Model(problem)
    }
}

impl From<&str> for Misfit {
    fn from(problem: &str) -> Self {
        Misfit::Model(problem.into())
    }
}

impl Signature {
    /// Reads the signature of the model `header` describes, run by `card`.
    /// `has_card`: the file carries a cnnzoo card (a model without one, of a
    /// single output, is taken to be a classifier). The error says what
    /// does not fit.
    pub fn read(header: &Header, card: &Card, names: &OutputNames, has_card: bool) -> Result<Signature, Misfit> {
        let first = header.inputs.first().ok_or("has no input")?;
        if header.inputs.len() > 1 {
            let all: Vec<&str> = header.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(format!("takes {} inputs ({}); only single-image models run here", all.len(), all.join(", ")).into());
        }
        let outputs: Vec<String> = header.outputs.iter().map(|o| o.name.clone()).collect();
        let (logits, features) = pick_outputs(&outputs, names, has_card)?;
        let width = |name: &str| header.outputs.iter().find(|o| o.name == name).and_then(last_dim);
        card.check_logits(logits.as_deref().and_then(width))?;
        // The width every run's logits must have: the graph's, or the card's class count.
        let logits_dim = logits.as_deref().and_then(width).or((!card.classes.is_empty()).then_some(card.classes.len()));
        let takes_pixels = first.elem_type == DataType::Uint8 as i32;
        if takes_pixels && first.dims.len() != 4 {
            return Err(format!("input `{}` is uint8 but not [N, H, W, C] pixels", first.name).into());
        }
        // A card (or an override) must describe the input the graph takes, where the graph fixes it.
        if let (false, [_, c, h, w]) = (takes_pixels, &first.dims[..]) {
            let p = &card.preprocessing;
            let fixed = |d: i64, want: usize| d <= 0 || d as usize == want;
            let (ph, pw) = p.input_hw();
            if !(fixed(*c, p.channels) && fixed(*h, ph) && fixed(*w, pw)) {
                return Err(format!(
                    "the card asks for {} channel(s) at {ph}x{pw} pixels (height x width) but the model takes [{c}, {h}, {w}]",
                    p.channels
                )
                .into());
            }
        }
        let has_features = features.is_some();
        let features = features.or_else(|| logits.clone()).ok_or("has no outputs")?;
        let feature_dim = width(&features).ok_or_else(|| format!("output `{features}` has no fixed width"))?;
        let fixed_batch = first.dims.first().and_then(|&b| usize::try_from(b).ok()).filter(|&b| b > 0);
        Ok(Signature { input: first.name.clone(), takes_pixels, logits, features, has_features, feature_dim, logits_dim, fixed_batch })
    }

    /// What the graph declared is a promise each run must keep: one row per
    /// image (or rows would go to the wrong images) and the declared width
    /// (or labels would come from the wrong list). The error says how the
    /// output `name` broke it.
    pub fn check_output(&self, name: &str, a: &Array2<f32>, rows: usize, card_classes: usize) -> Result<(), String> {
        let width = if Some(name) == self.logits.as_deref() { self.logits_dim } else { Some(self.feature_dim) };
        if a.nrows() == rows && width.is_none_or(|w| a.ncols() == w) {
            return Ok(());
        }
        let declared = width.map_or("[N, D]".to_string(), |w| format!("[N, {w}]"));
        let classes = if Some(name) == self.logits.as_deref() && card_classes > 0 { " (its card names that many classes)" } else { "" };
        Err(format!("output `{name}` came back [{}, {}] for {rows} image(s); the model declares {declared}{classes}", a.nrows(), a.ncols()))
    }
}

/// The last dimension of a value, where the graph fixes it.
fn last_dim(io: &Io) -> Option<usize> {
    io.dims.last().and_then(|&w| usize::try_from(w).ok())
}

/// Which outputs are the logits and the features: the ones named so (by
/// `names`, else `logits` and `features`); for a model without a cnnzoo
/// card, a single output is its logits (a classifier), and several unnamed
/// ones must be named.
fn pick_outputs(outputs: &[String], names: &OutputNames, has_card: bool) -> Result<(Option<String>, Option<String>), Misfit> {
    let listed = || outputs.join(", ");
    let named = |asked: &Option<String>, default: &str, choice: Choice| -> Result<Option<String>, Misfit> {
        let what = if choice == Choice::LogitsOutput { LOGITS } else { FEATURES };
        match asked {
            Some(n) if outputs.contains(n) => Ok(Some(n.clone())),
            Some(n) => {
                Err(Misfit::Outputs(ChoiceError::new(choice, format!("{what} output `{n}`: no such output (outputs: {})", listed()))))
            }
            None => Ok(outputs.iter().find(|n| *n == default).cloned()),
        }
    };
    let logits = named(&names.logits, LOGITS, Choice::LogitsOutput)?;
    let features = named(&names.features, FEATURES, Choice::FeaturesOutput)?;
    match (logits, features) {
        (None, None) if outputs.len() == 1 && has_card => Ok((None, Some(outputs[0].clone()))),
        (None, None) if outputs.len() == 1 => Ok((Some(outputs[0].clone()), None)),
        (None, None) if outputs.is_empty() => Err("has no outputs".into()),
        (None, None) => Err(Misfit::Outputs(ChoiceError::new(
            Choice::Outputs,
            format!("has several outputs ({}) and none is named logits or features: say which ({{choice}})", listed()),
        ))),
        picked => Ok(picked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnnzoo_models::Preprocessing;

    fn io(name: &str, dims: &[i64], elem: DataType) -> Io {
        Io { name: name.into(), dims: dims.to_vec(), elem_type: elem as i32 }
    }

    fn card(classes: usize) -> Card {
        let classes = (0..classes).map(|i| format!("c{i}")).collect();
        Card { classes, ..Card::unknown(Preprocessing::bilinear_unit(1, 28)) }
    }

    fn header(input: Io, outputs: Vec<Io>) -> Header {
        Header { metadata: vec![], inputs: vec![input], outputs }
    }

    #[test]
    fn a_cnnzoo_model_has_logits_and_features() {
        let h = header(
            io("input", &[-1, 1, 28, 28], DataType::Float),
            vec![io("logits", &[-1, 10], DataType::Float), io("features", &[-1, 84], DataType::Float)],
        );
        let s = Signature::read(&h, &card(10), &OutputNames::default(), true).unwrap();
        assert_eq!((s.logits.as_deref(), s.features.as_str(), s.feature_dim, s.logits_dim), (Some("logits"), "features", 84, Some(10)));
        assert!(s.has_features && !s.takes_pixels && s.fixed_batch.is_none());
        // A run must give one row per image, of the declared widths.
        assert!(s.check_output("features", &Array2::zeros((3, 84)), 3, 10).is_ok());
        let e = s.check_output("logits", &Array2::zeros((3, 9)), 3, 10).unwrap_err();
        assert!(e.contains("[3, 9] for 3 image(s)") && e.contains("[N, 10]") && e.contains("card names"), "{e}");
        assert!(s.check_output("features", &Array2::zeros((2, 84)), 3, 10).is_err());
    }

    #[test]
    fn a_foreign_classifier_stands_its_logits_in_for_features() {
        let h = header(io("x", &[1, 1, 28, 28], DataType::Float), vec![io("out", &[1, 5], DataType::Float)]);
        let s = Signature::read(&h, &card(0), &OutputNames::default(), false).unwrap();
        assert_eq!((s.logits.as_deref(), s.features.as_str(), s.has_features, s.fixed_batch), (Some("out"), "out", false, Some(1)));
        // With a card, a single output is the features of a backbone.
        let s = Signature::read(&h, &card(0), &OutputNames::default(), true).unwrap();
        assert_eq!((s.logits, s.has_features), (None, true));
    }

    #[test]
    fn what_does_not_fit_is_said() {
        let out = || vec![io("a", &[-1, 4], DataType::Float), io("b", &[-1, 8], DataType::Float)];
        let h = header(io("x", &[-1, 3, 28, 28], DataType::Float), out());
        let misfit = Signature::read(&h, &card(0), &OutputNames::default(), false).unwrap_err();
        assert!(matches!(&misfit, Misfit::Outputs(c) if c.choice == Choice::Outputs), "{misfit}");
        let e = misfit.to_string();
        assert!(e.contains("several outputs (a, b)") && !e.contains("--"), "{e}");
        let e = Signature::read(&h, &card(0), &OutputNames { logits: Some("c".into()), features: None }, false).unwrap_err().to_string();
        assert!(e.contains("logits output `c`: no such output"), "{e}");
        let named = OutputNames { logits: Some("a".into()), features: Some("b".into()) };
        let e = Signature::read(&h, &card(0), &named, false).unwrap_err().to_string();
        assert!(e.contains("1 channel(s) at 28x28") && e.contains("[3, 28, 28]"), "{e}");
        let e =
            Signature::read(&header(io("x", &[-1, 1, 28, 28], DataType::Float), out()), &card(5), &named, false).unwrap_err().to_string();
        assert!(e.contains('5') && e.contains('4'), "{e}");
        let e =
            Signature::read(&header(io("img", &[-1, 28, 28], DataType::Uint8), out()), &card(0), &named, false).unwrap_err().to_string();
        assert!(e.contains("uint8 but not [N, H, W, C]"), "{e}");
        let pixels = Signature::read(&header(io("img", &[-1, -1, -1, 1], DataType::Uint8), out()), &card(0), &named, false).unwrap();
        assert!(pixels.takes_pixels);
    }
}
