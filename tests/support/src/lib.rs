//! What the workspace's tests share: where Fashion-MNIST is, the set-up's
//! Python, the adversarial corpus's harness, a check run on every case of a
//! list, forged files, and a seeded LeNet written by the exporter's library.
//! It links neither libtorch nor ONNX Runtime, so that every package's tests
//! can use it (infer's and serve's must not link libtorch).

pub mod corpus;
pub mod data;
pub mod every;
pub mod forged;
pub mod python;
pub mod seeded;

/// A scratch folder, removed when dropped, and the path `name` in it.
pub fn scratch(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let path = dir.path().join(name);
    (dir, path)
}

/// A command line as one would type it: `line` split at white space, each
/// `{}` in it replaced by the next of `paths`.
pub fn argv(line: &str, paths: &[&std::path::Path]) -> Vec<String> {
    let mut paths = paths.iter();
    line.split_whitespace()
        .map(|word| match word {
            "{}" => paths.next().expect("a path for each {}").display().to_string(),
            _ => word.to_string(),
        })
        .collect()
}
