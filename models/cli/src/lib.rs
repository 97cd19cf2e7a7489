//! What the four binaries (`cnnzoo-train`, `cnnzoo-export`, `cnnzoo-infer`,
//! `cnnzoo-serve`) share as command-line programs, apart from the model
//! contract: flag values checked where they are parsed, with the same
//! wording in every binary (clap calls these as value parsers and prefixes
//! the flag's name); stdout that a closed pipe cannot panic; and the one
//! error line, with `--json` also a record, that every `main` ends with.

/// The flags that say where a model runs, the same in `cnnzoo-infer` and
/// `cnnzoo-serve` (flattened into each one's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct Runtime {
    /// auto, cpu, cuda, cuda:N or openvino (auto: CUDA where present, else the faster of the CPU and OpenVINO, measured once per model).
    #[arg(long, default_value = "auto")]
    pub device: cnnzoo_models::Device,
    /// ONNX Runtime intra-op threads, per model [default: all cores].
    #[arg(long, value_parser = thread_count)]
    pub threads: Option<usize>,
}

/// A count that must be at least 1: threads, batch sizes, top-k, limits.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number of at least 1".into()),
    }
}

/// A count from 1 to `max`; above it, the error says why there is a bound.
fn bounded(s: &str, max: usize, why: &str) -> Result<usize, String> {
    match at_least_one(s)? {
        n if n > max => Err(format!("must be at most {max}: {why}")),
        n => Ok(n),
    }
}

pub use cnnzoo_models::MAX_BATCH;

/// A batch size: 1 to [`MAX_BATCH`].
pub fn batch_size(s: &str) -> Result<usize, String> {
    bounded(s, MAX_BATCH, "4096 RGB 224x224 inputs alone are 2.5 GB of float32, before the network's activations")
}

/// A thread count: 1 to 4 per core of this machine.
pub fn thread_count(s: &str) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    bounded(s, 4 * cores, &format!("this machine has {cores} core(s), and more than 4 threads per core only contend"))
}

/// The most requests one model's queue holds.
pub const MAX_QUEUE: usize = 1 << 20;

/// A queue length: 1 to [`MAX_QUEUE`].
pub fn queue_length(s: &str) -> Result<usize, String> {
    bounded(s, MAX_QUEUE, "each waiting request holds its input in memory")
}

/// A rate or scale that must be a finite number above 0.
pub fn positive_number(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("must be a finite number above 0".into()),
    }
}

/// A share above 0 and below 1 (`--val-split 0.1`).
pub fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("{s:?}: expected a share above 0 and below 1, such as 0.1")),
    }
}

/// Writes a binary's results to stdout, as `print!` would, but where
/// `print!` panics: a closed pipe (`| head -1`) ends the program quietly with
/// 0, as ripgrep does, and a failing stdout (`> /dev/full`) is one `error:`
/// line and exit 1. Outputs to files are atomic, so stopping here loses none.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `print!` through [`write_stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::write_stdout(::std::format_args!($($arg)*)) };
}

/// `println!` through [`write_stdout`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::write_stdout(::std::format_args!("{}\n", ::std::format_args!($($arg)*))) };
}

/// Reports a fatal error: `error: LINE` on stderr, and with `--json` also
/// `{"error": LINE}` on stdout, so that a caller parsing the output gets a
/// record for the failure instead of nothing.
pub fn report_error(line: &str, json: bool) {
    eprintln!("error: {line}");
    if json {
        write_stdout(format_args!("{}\n", serde_json::json!({ "error": line })));
    }
}

/// The flag that makes `choice`, the same in every binary: library errors
/// carry the [`Choice`](cnnzoo_models::Choice) they are about, and the error
/// line names it this way.
pub fn flag(choice: &cnnzoo_models::Choice) -> String {
    use cnnzoo_models::Choice;
    match choice {
        Choice::Device(device) => format!("--device {device}"),
        Choice::Precision(p) => format!("--precision {p}"),
        named => FLAGS.iter().find(|(c, _)| c == named).map_or_else(|| format!("{named:?}"), |(_, f)| f.to_string()),
    }
}

/// The flags of the choices that carry no value of their own.
const FLAGS: [(cnnzoo_models::Choice, &str); 7] = {
    use cnnzoo_models::Choice::*;
    [
        (LogitsOutput, "--logits-output NAME"),
        (FeaturesOutput, "--features-output NAME"),
        (Outputs, "--logits-output NAME, --features-output NAME"),
        (Architecture, "--arch"),
        (ValSplit, "--val-split"),
        (EmbedPreprocessing, "--embed-preprocessing"),
        (TritonRepo, "--triton-repo"),
    ]
};

/// The one line a binary prints for an error and its causes: each cause's
/// first line, joined by `: `, skipping a cause the line already says (an
/// error that embeds its source would otherwise repeat it), so that a
/// libtorch stack trace or a doubled OS message never reaches the user. An
/// error about one of the caller's choices names it by its [`flag`].
pub fn error_line<'a>(chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>) -> String {
    let mut line = String::new();
    let mut named = vec![];
    for cause in chain {
        if let Some(e) = cause.downcast_ref::<cnnzoo_models::ChoiceError>() {
            named.push((e.to_string(), e.render(&flag(&e.choice))));
        }
        let text = cause.to_string();
        let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
        if first.is_empty() || line.contains(first) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(first);
    }
    named.iter().fold(line, |line, (library, flagged)| line.replace(library, flagged))
}

/// [`error_line`] of one error and its sources.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    error_line(std::iter::successors(Some(e), |e| e.source()))
}

/// How every `main` starts: with `--completions SHELL`, the completion
/// script for the binary's flags; with `--version`, `report`'s lines. Either
/// ends the run (`Some` exit status); `None` lets it go on.
pub fn preamble<C: clap::CommandFactory>(
    completions: Option<clap_complete::Shell>,
    version: bool,
    report: impl FnOnce() -> String,
) -> Option<std::process::ExitCode> {
    if let Some(shell) = completions {
        let mut command = C::command();
        let name = command.get_name().to_string();
        clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
        return Some(std::process::ExitCode::SUCCESS);
    }
    if version {
        write_stdout(format_args!("{}\n", report()));
        return Some(std::process::ExitCode::SUCCESS);
    }
    None
}

/// How a `main` ends: success, or the error reported as one line
/// ([`report_error`], [`error_line`] over its causes) and exit status 1.
pub fn finish(result: anyhow::Result<()>, json: bool) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            report_error(&error_line(e.chain()), json);
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rates_are_checked() {
        assert_eq!(at_least_one("3"), Ok(3));
        for bad in ["0", "-1", "1.5", "", "x"] {
            assert!(at_least_one(bad).is_err(), "{bad}");
        }
        assert_eq!((batch_size("4096"), queue_length("1024")), (Ok(4096), Ok(1024)));
        assert!(batch_size("18446744073709551615").is_err() && batch_size("1000000000").unwrap_err().contains("at most 4096"));
        assert!(queue_length("18446744073709551615").unwrap_err().contains("holds its input"));
        assert!(thread_count("100000").unwrap_err().contains("core(s)") && thread_count("1").is_ok());
        assert_eq!(positive_number("0.1"), Ok(0.1));
        for bad in ["0", "-0.1", "nan", "NaN", "inf", "x"] {
            assert!(positive_number(bad).is_err(), "{bad}");
        }
    }

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn an_error_chain_is_one_line_without_repeats_or_frames() {
        let e = E("run.ot: not readable: No such file", Some(Box::new(E("No such file", None))));
        assert_eq!(describe(&e), "run.ot: not readable: No such file");
        let e = E("exporting run.ot", Some(Box::new(E("torch: bad zip\nframe #0: c10::Error\nframe #1: ...", None))));
        assert_eq!(describe(&e), "exporting run.ot: torch: bad zip");
    }

    #[test]
    fn an_error_about_a_choice_names_its_flag_and_keeps_its_cause() {
        use cnnzoo_models::{Choice, ChoiceError, Device};
        let e = ChoiceError::new(Choice::Device(Device::Cuda(1)), "{choice}: the CUDA execution provider cannot start")
            .caused_by(E("libcuda.so.1: cannot open shared object file", None));
        assert_eq!(describe(&e), "--device cuda:1: the CUDA execution provider cannot start: libcuda.so.1: cannot open shared object file");
        // Said again by the error around it: one text, with the flag.
        let outer = E("x", None);
        let wrapped =
            anyhow::Error::new(ChoiceError::new(Choice::Outputs, "m.onnx: several outputs: say which ({choice})")).context(outer.0);
        assert_eq!(error_line(wrapped.chain()), "x: m.onnx: several outputs: say which (--logits-output NAME, --features-output NAME)");
    }
}
