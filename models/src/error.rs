use thiserror::Error;

/// What can go wrong while building a graph or matching weights to it.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("unknown architecture {name:?}; known: {}", known.join(", "))]
    UnknownArch { name: String, known: Vec<&'static str> },
    #[error("input size {size} is too small for {arch}: {detail}; the smallest size that works is {min}")]
    TooSmall { arch: String, size: usize, min: usize, detail: String },
    /// Raised while recording a layer; [`crate::build`] turns it into `TooSmall`.
    #[error("layer {node}: {detail}")]
    Shape { node: String, detail: String },
    #[error("parameter {name}: missing from the weights")]
    MissingParam { name: String },
    #[error("parameter {name}: expected shape {expected:?}, found {found:?}")]
    ParamShape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("unexpected tensor {name} (not a parameter of {arch})")]
    UnexpectedParam { name: String, arch: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A strict load that does not fit, listing everything that is wrong.
    #[error("the weights do not fit {}: {}", .0.arch, state_dict_problems(&.0.missing, &.0.unexpected, &.0.mis_shaped))]
    StateDict(Box<Mismatch>),
    /// A weights file or folder that cannot be read as one.
    #[error("{}: {problem}", path.display())]
    Weights { path: std::path::PathBuf, problem: String },
    /// One of the caller's choices is wanting: the network a state dict holds.
    #[error("{0}")]
    Choice(#[from] crate::ChoiceError),
}

/// What a strict load found wrong: keys by name, mis-shaped ones with both shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub arch: String,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    pub mis_shaped: Vec<String>,
}

/// `missing keys (3): a, b, c; unexpected keys (1): d`, each list cut at eight names.
fn state_dict_problems(missing: &[String], unexpected: &[String], mis_shaped: &[String]) -> String {
    let list = |what: &str, names: &[String]| {
        let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
        let more = if names.len() > 8 { format!(" and {} more", names.len() - 8) } else { String::new() };
        format!("{what} ({}): {}{more}", names.len(), shown.join(", "))
    };
    [("missing keys", missing), ("unexpected keys", unexpected), ("mis-shaped", mis_shaped)]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| list(what, names))
        .collect::<Vec<_>>()
        .join("; ")
}
