//! Which of the caller's choices an error is about. A library error says
//! what is wrong in the library's own words and carries the choice as data,
//! with `{choice}` wherever its text names it; each front end puts its own
//! name there (the command-line programs their flags, in `cnnzoo-cli`), so
//! that no library text names a flag and a program embedding the library
//! never reads of one it does not have.

use crate::Device;

/// A choice made by whoever called the library: where to run, in what
/// number format, which outputs, network, data or output files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Where the model runs or trains.
    Device(Device),
    /// The number format asked for, as spelled (`bf16`, `fp16`).
    Precision(String),
    /// The output named as the class logits.
    LogitsOutput,
    /// The output named as the pooled features.
    FeaturesOutput,
    /// Which output is which, where the model's names do not say.
    Outputs,
    /// The network a weights file holds.
    Architecture,
    /// The share of each class held out for testing.
    ValSplit,
    /// The preprocessing embedded into an exported graph.
    EmbedPreprocessing,
    /// The Triton model repository an export writes.
    TritonRepo,
}

impl Choice {
    /// The choice in the library's words, as its errors read where no front
    /// end names it.
    pub fn name(&self) -> String {
        match self {
            Choice::Device(d) => format!("device {d}"),
            Choice::Precision(p) => format!("precision {p}"),
            Choice::LogitsOutput => "the logits output".into(),
            Choice::FeaturesOutput => "the feature output".into(),
            Choice::Outputs => "the logits and feature outputs".into(),
            Choice::Architecture => "the architecture".into(),
            Choice::ValSplit => "a held-out share".into(),
            Choice::EmbedPreprocessing => "embedding the preprocessing".into(),
            Choice::TritonRepo => "the Triton repository".into(),
        }
    }
}

/// An error about one [`Choice`]: what is wrong with it (or that it is
/// needed), and the cause where there is one (ONNX Runtime's or libtorch's
/// own error), kept as the error's source rather than pasted into its text.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render(&self.choice.name()))]
pub struct ChoiceError {
    pub choice: Choice,
    /// What is wrong, with `{choice}` where it names the choice.
    pub problem: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ChoiceError {
    /// `problem` says `{choice}` wherever it names the choice: "{choice}:
    /// OpenVINO is not installed", "several outputs: say which ({choice})".
    pub fn new(choice: Choice, problem: impl Into<String>) -> Self {
        ChoiceError { choice, problem: problem.into(), source: None }
    }

    /// The choice cannot be had: "{choice}: `problem`".
    pub fn refused(choice: Choice, problem: impl std::fmt::Display) -> Self {
        ChoiceError::new(choice, format!("{{choice}}: {problem}"))
    }

    /// The same error, caused by `source` (an error, or a cause's text).
    #[must_use]
    pub fn caused_by(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The problem, with the choice called `name`.
    pub fn render(&self, name: &str) -> String {
        self.problem.replace("{choice}", name)
    }

    /// The same error, its text led by `context` (the file it concerns).
    #[must_use]
    pub fn within(mut self, context: impl std::fmt::Display) -> Self {
        self.problem = format!("{context}: {}", self.problem);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_is_named_where_the_text_says_it() {
        let e = ChoiceError::new(Choice::Device(Device::OpenVino), "{choice}: not installed").within("m.onnx");
        assert_eq!(e.to_string(), "m.onnx: device openvino: not installed");
        assert_eq!(e.render("--device openvino"), "m.onnx: --device openvino: not installed");
        let e = ChoiceError::new(Choice::Architecture, "give {choice} (for example tv_resnet18)");
        assert_eq!(e.to_string(), "give the architecture (for example tv_resnet18)");
    }
}
