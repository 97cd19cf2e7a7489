//! One folder of class folders split in two by one rule, so that training
//! (`cnnzoo-train --val-split`) and the feature probe (`cnnzoo-infer --probe
//! --val-split`) test on the same images: each class's files are shuffled by
//! a seed and a share of them (rounded, at least one, never all) held out.

use std::path::{Path, PathBuf};

use crate::{Choice, ChoiceError};

/// `(file, class index)` pairs.
pub type Labelled = Vec<(PathBuf, usize)>;

/// splitmix64: a stateless, well-mixed step, so the shuffle depends on
/// nothing but the seed (not on libtorch's generator, a device or a build).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Why a folder cannot be split.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HoldOutError {
    #[error("a held-out share of {0}: must be above 0 and below 1")]
    Share(f64),
    /// The class at this index has too few files.
    #[error("holds {files} image(s): a held-out split needs at least 2 per class, one to train on and one to test")]
    TooFew { class: usize, files: usize },
}

impl HoldOutError {
    /// The error about the held-out share that splits `root`, whose class
    /// folders are `classes`: a class too small names its folder.
    pub fn about_share(&self, root: &Path, classes: &[String]) -> ChoiceError {
        match self {
            HoldOutError::Share(_) => ChoiceError::refused(Choice::ValSplit, self),
            HoldOutError::TooFew { class, .. } => {
                let folder = classes.get(*class).map_or_else(|| root.to_path_buf(), |c| root.join(c));
                ChoiceError::new(Choice::ValSplit, format!("{self} ({{choice}})")).within(folder.display())
            }
        }
    }
}

/// Where a held-out split finds its class folders: `dir/train` where there
/// is one, else `dir`; a `dir/test` means the folder is split already, and
/// a held-out split is refused.
pub fn held_out_root(dir: &Path) -> Result<PathBuf, ChoiceError> {
    let (train, test) = (dir.join("train"), dir.join("test"));
    if test.exists() {
        let problem = "exists: {choice} holds out part of a folder that has no test split; drop {choice} to test on test/";
        return Err(ChoiceError::new(Choice::ValSplit, problem).within(test.display()));
    }
    Ok(if train.is_dir() { train } else { dir.to_path_buf() })
}

/// What to say of `dir` when it was read as a data set with its own splits
/// and has none: where it holds class folders, that a held-out share splits it.
pub fn unsplit(dir: &Path) -> Option<ChoiceError> {
    crate::data::class_folders(dir).is_ok_and(|c| !c.is_empty()).then(|| {
        let problem = "holds class folders but no train/ and test/: give {choice} 0.1 to hold out a tenth of each class for testing";
        ChoiceError::new(Choice::ValSplit, problem).within(dir.display())
    })
}

/// Splits `by_class` (each class's files, in the folder's sorted order) into
/// `(train, held_out)`.
pub fn hold_out(by_class: Vec<Vec<PathBuf>>, share: f64, seed: u64) -> Result<(Labelled, Labelled), HoldOutError> {
    if !(share > 0.0 && share < 1.0) {
        return Err(HoldOutError::Share(share));
    }
    let (mut train, mut test) = (vec![], vec![]);
    for (label, mut files) in by_class.into_iter().enumerate() {
        if files.len() < 2 {
            return Err(HoldOutError::TooFew { class: label, files: files.len() });
        }
        let mut state = mix(seed ^ mix(label as u64));
        for i in (1..files.len()).rev() {
            state = mix(state);
            files.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let held = ((files.len() as f64 * share).round() as usize).clamp(1, files.len() - 1);
        let kept = files.split_off(held);
        test.extend(files.into_iter().map(|f| (f, label)));
        train.extend(kept.into_iter().map(|f| (f, label)));
    }
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(n: usize, name: &str) -> Vec<PathBuf> {
        (0..n).map(|i| PathBuf::from(format!("{name}/{i:03}.png"))).collect()
    }

    #[test]
    fn every_class_is_split_by_its_share_the_same_way_for_a_seed() {
        let by_class = vec![class(10, "a"), class(3, "b"), class(2, "c")];
        let (train, test) = hold_out(by_class.clone(), 0.2, 7).unwrap();
        let held = |label| test.iter().filter(|(_, l)| *l == label).count();
        assert_eq!((held(0), held(1), held(2)), (2, 1, 1), "rounded, at least one");
        assert_eq!(train.len() + test.len(), 15);
        assert_eq!(hold_out(by_class.clone(), 0.2, 7).unwrap(), (train.clone(), test.clone()), "same seed, same split");
        assert_ne!(hold_out(by_class.clone(), 0.2, 8).unwrap().1, test, "another seed, another split");
        let all: std::collections::HashSet<_> = train.iter().chain(&test).map(|(f, _)| f.clone()).collect();
        assert_eq!(all.len(), 15, "no file in both");
        assert_eq!(hold_out(vec![class(3, "a"), class(1, "b")], 0.1, 0).unwrap_err(), HoldOutError::TooFew { class: 1, files: 1 });
        assert_eq!(hold_out(vec![class(4, "a")], 1.0, 0).unwrap_err(), HoldOutError::Share(1.0));
    }
}
