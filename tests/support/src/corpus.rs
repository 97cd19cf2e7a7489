//! The harness of the adversarial corpus: every case runs a binary under a
//! time limit (a hang fails the case instead of blocking the suite) and must
//! exit with its code and say what it must say, on a line or two, with no
//! panic and no C++ stack frames. Failing cases are reported together, by name.
//! Each binary's `tests/corpus.rs` runs its cases through it.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One bad input: the arguments, the exit code, and what stderr must contain.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub args: Vec<String>,
    pub code: i32,
    pub says: Vec<String>,
}

pub fn case(name: &str, args: &[&str], code: i32, says: &[&str]) -> Case {
    Case { name: name.into(), args: args.iter().map(|s| s.to_string()).collect(), code, says: says.iter().map(|s| s.to_string()).collect() }
}

/// Runs `cmd`, killing it after `limit`; the output, or a panic that says it hung.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the binary starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = vec![];
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting on the binary") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hung: still running after {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() }
}

/// Checks one finished run against its case.
pub fn check(case: &Case, o: &Output) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(case.code), "exit code; stderr:\n{stderr}");
    for needle in &case.says {
        assert!(stderr.contains(needle.as_str()), "stderr does not say {needle:?}:\n{stderr}");
    }
    for noise in ["panicked", "frame #", "Exception raised from", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(noise), "stderr has {noise:?}:\n{stderr}");
    }
    // Clap's usage hint aside, an error is a line or two (plus a run's one-line summary).
    let lines = stderr.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("For more information")).count();
    assert!(lines <= 4, "{lines} lines of stderr:\n{stderr}");
}

/// Runs every case with `command` (a fresh `Command` for the binary) and reports all failures.
pub fn run_corpus(cases: Vec<Case>, command: impl Fn() -> Command, limit: Duration) {
    crate::every::every(
        cases,
        |c| c.name.clone(),
        |c| {
            let o = run_limited(command().args(&c.args), limit);
            check(c, &o);
        },
    );
}

/// Runs `cmd` with its stdout's reader gone before anything is written, as
/// `| head -0` leaves it.
pub fn with_closed_stdout(cmd: &mut Command) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the command starts");
    drop(child.stdout.take());
    child.wait_with_output().expect("the command ends")
}

/// Runs `cmd` with its stdout on `/dev/full`, where every write fails.
pub fn with_full_stdout(cmd: &mut Command) -> Output {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full opens");
    cmd.stdout(full).output().expect("the command runs")
}
