//! What a data folder holds, decided by one rule for every reader (training,
//! `--eval`, the feature probe, INT8 calibration), and where Fashion-MNIST
//! is, by the set-up's rule. Training records the source in its manifest as
//! data, so that export validation finds the images a checkpoint was trained
//! on without parsing a description back.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A data folder, by what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataSource {
    /// Fashion-MNIST's IDX files (`train-*` and `t10k-*`, gzip-compressed or
    /// raw), or another 10-class set under the same names.
    FashionMnist { path: PathBuf },
    /// An image folder split in two: `train/<class>/` and `test/<class>/`
    /// (one of them may be missing; a reader that needs it says so).
    Split { path: PathBuf },
    /// One folder of class folders with no split: a held-out share
    /// (`--val-split`) makes its test split.
    Classes { path: PathBuf },
    /// Image files without classes: enough to calibrate, not to train or test.
    Images { path: PathBuf },
}

/// Why a folder is no data source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("{}: no such file or folder", .0.display())]
    Missing(PathBuf),
    #[error("{}: holds no Fashion-MNIST IDX files, train/ or test/ folders, class folders or images", .0.display())]
    Unrecognized(PathBuf),
}

/// The IDX files' names, without `.gz`, of each split.
const IDX_IMAGES: [&str; 2] = ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"];

/// Whether `dir` holds an IDX images file of `prefix`'s split, either form.
fn has_idx(dir: &Path, name: &str) -> bool {
    dir.join(name).exists() || dir.join(format!("{name}.gz")).exists()
}

impl DataSource {
    /// What `path` holds, by one rule, first match wins: Fashion-MNIST's IDX
    /// images (either split); a `train/` or `test/` folder; class folders;
    /// image files.
    pub fn detect(path: &Path) -> Result<DataSource, SourceError> {
        if !path.exists() {
            return Err(SourceError::Missing(path.to_path_buf()));
        }
        let path = path.to_path_buf();
        if IDX_IMAGES.iter().any(|n| has_idx(&path, n)) {
            return Ok(DataSource::FashionMnist { path });
        }
        if path.join("train").is_dir() || path.join("test").is_dir() {
            return Ok(DataSource::Split { path });
        }
        if super::class_folders(&path).is_ok_and(|c| !c.is_empty()) {
            return Ok(DataSource::Classes { path });
        }
        if !super::collect_images(std::slice::from_ref(&path)).is_empty() {
            return Ok(DataSource::Images { path });
        }
        Err(SourceError::Unrecognized(path))
    }

    pub fn path(&self) -> &Path {
        match self {
            DataSource::FashionMnist { path } | DataSource::Split { path } | DataSource::Classes { path } | DataSource::Images { path } => {
                path
            }
        }
    }

    /// Whether the source has a test split of its own.
    pub fn has_test(&self) -> bool {
        match self {
            DataSource::FashionMnist { path } => has_idx(path, IDX_IMAGES[1]),
            DataSource::Split { path } => path.join("test").is_dir(),
            DataSource::Classes { .. } | DataSource::Images { .. } => false,
        }
    }

    /// Whether the source has a training split of its own.
    pub fn has_train(&self) -> bool {
        match self {
            DataSource::FashionMnist { path } => has_idx(path, IDX_IMAGES[0]),
            DataSource::Split { path } => path.join("train").is_dir(),
            DataSource::Classes { .. } | DataSource::Images { .. } => false,
        }
    }

    /// For people: `fashion-mnist (DIR)`, `image folder (DIR)`, ...
    pub fn describe(&self) -> String {
        let kind = match self {
            DataSource::FashionMnist { .. } => "fashion-mnist",
            DataSource::Split { .. } => "image folder",
            DataSource::Classes { .. } => "class folders",
            DataSource::Images { .. } => "images",
        };
        format!("{kind} ({})", self.path().display())
    }
}

/// Where Fashion-MNIST may be, in the set-up's order: `$CNNZOO_DATA`, then
/// `../shared/data/fashion-mnist` beside `checkout` (where CI has it), then
/// the set-up's cache (`$CNNZOO_CACHE/data/fashion-mnist`).
pub fn fashion_mnist_candidates(checkout: Option<&Path>) -> Vec<PathBuf> {
    std::env::var_os("CNNZOO_DATA")
        .map(PathBuf::from)
        .into_iter()
        .chain(checkout.map(|c| c.join("../shared/data/fashion-mnist")))
        .chain([crate::fsio::cache_dir().join("data/fashion-mnist")])
        .collect()
}

/// The first of [`fashion_mnist_candidates`] that holds its test images.
pub fn find_fashion_mnist(checkout: Option<&Path>) -> Option<PathBuf> {
    fashion_mnist_candidates(checkout).into_iter().find(|d| has_idx(d, IDX_IMAGES[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn one_rule_names_every_kind_of_folder() {
        let t = tempfile::tempdir().unwrap();
        let dir = |n: &str| t.path().join(n);
        touch(&dir("idx/t10k-images-idx3-ubyte.gz"));
        touch(&dir("split/test/a/1.png"));
        touch(&dir("classes/a/1.png"));
        touch(&dir("flat/1.png"));
        std::fs::create_dir_all(dir("empty")).unwrap();
        let kind = |n: &str| DataSource::detect(&dir(n));
        assert_eq!(kind("idx"), Ok(DataSource::FashionMnist { path: dir("idx") }));
        assert_eq!(kind("split"), Ok(DataSource::Split { path: dir("split") }));
        assert_eq!(kind("classes"), Ok(DataSource::Classes { path: dir("classes") }));
        assert_eq!(kind("flat"), Ok(DataSource::Images { path: dir("flat") }));
        assert_eq!(kind("empty"), Err(SourceError::Unrecognized(dir("empty"))));
        assert_eq!(kind("nowhere"), Err(SourceError::Missing(dir("nowhere"))));
        // IDX files win over folders beside them; splits say what they have.
        touch(&dir("split/t10k-images-idx3-ubyte"));
        assert!(matches!(kind("split"), Ok(DataSource::FashionMnist { .. })));
        let idx = kind("idx").unwrap();
        assert!(idx.has_test() && !idx.has_train());
        let split = DataSource::Split { path: dir("split") };
        assert!(split.has_test() && !split.has_train());
        assert_eq!(split.describe(), format!("image folder ({})", dir("split").display()));
    }

    #[test]
    fn the_manifest_records_a_source_as_data() {
        let s = DataSource::FashionMnist { path: "/data/fm".into() };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"kind":"fashion-mnist","path":"/data/fm"}"#);
        assert_eq!(serde_json::from_str::<DataSource>(&json).unwrap(), s);
    }
}
