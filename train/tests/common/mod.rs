//! What the training tests share: Fashion-MNIST by the set-up's rule, a
//! subset of it, and turns at libtorch's global generator.

#![allow(dead_code)] // each test file uses part of it

use cnnzoo_test_support::data;
pub use data::fashion_mnist;

use cnnzoo_train::data::{load_idx, Dataset};

/// libtorch's generator is global and training reseeds it: tests take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn turn() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first `train` and `test` examples of Fashion-MNIST.
pub fn subset(train: usize, test: usize) -> Dataset {
    let mut d = load_idx(&fashion_mnist()).expect("Fashion-MNIST");
    d.train = d.train.take(train);
    d.test = d.test.take(test);
    d
}

/// What a training run's test starts with: its turn at the generator, a
/// scratch folder for the run's files, and [`subset`]`(train, test)`.
pub fn start(train: usize, test: usize) -> (std::sync::MutexGuard<'static, ()>, tempfile::TempDir, Dataset) {
    (turn(), tempfile::tempdir().expect("a scratch folder"), subset(train, test))
}

/// A test's turn at the generator and the first `n` training examples.
pub fn first_batch(n: usize) -> (std::sync::MutexGuard<'static, ()>, cnnzoo_train::data::Split) {
    (turn(), load_idx(&fashion_mnist()).expect("Fashion-MNIST").train.take(n))
}
