//! Where every test finds Fashion-MNIST, by the set-up's one rule:
//! `$CNNZOO_DATA`, then `../shared/data/fashion-mnist` beside the checkout,
//! then the set-up's cache (`$CNNZOO_CACHE/data/fashion-mnist`, which
//! scripts/test.sh downloads and verifies once when neither of the others
//! has it).

use std::path::PathBuf;

/// The checkout: this crate is its `tests/support`.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The dataset; a test that cannot find it fails and says where it looked.
pub fn fashion_mnist() -> PathBuf {
    cnnzoo_models::data::find_fashion_mnist(Some(&workspace())).unwrap_or_else(|| {
        let places = cnnzoo_models::data::fashion_mnist_candidates(Some(&workspace()));
        let looked: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
        panic!(
            "test data missing: no Fashion-MNIST (t10k-images-idx3-ubyte.gz) in $CNNZOO_DATA, ../shared/data/fashion-mnist or the set-up's cache (looked in {}); run scripts/test.sh, which downloads it into the cache",
            looked.join(", ")
        )
    })
}
