//! Where every test finds Fashion-MNIST: `../shared/data/fashion-mnist` beside
//! the checkout. Included by path into each crate's integration tests.

use std::path::PathBuf;

/// The shared dataset; a test that cannot find it fails and says where it looked.
pub fn fashion_mnist() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fashion-mnist");
    assert!(dir.join("t10k-images-idx3-ubyte.gz").is_file(), "test data missing: expected Fashion-MNIST in {}", dir.display());
    dir
}
