//! Accuracy and confusion matrix of a backbone on a labelled test set:
//! Fashion-MNIST IDX files, or an image folder's `test/<class>/*`.

use std::path::Path;
use std::time::Instant;

use cnnzoo_models::data::{collect_images, read_fashion_mnist, DataSource, IdxSplit};
use image::DynamicImage;

use crate::{Backbone, InferError};

/// What `--eval` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub images: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// `confusion[true][predicted]`, one row and column per class.
    pub confusion: Vec<Vec<usize>>,
    /// Top-1 class per test image, in the test set's order.
    pub predictions: Vec<usize>,
    pub seconds: f64,
}

/// A labelled test example, decoded lazily so memory stays at one batch.
enum Example<'a> {
    Idx(&'a IdxSplit, usize),
    File(std::path::PathBuf),
}

/// Whether the folder of class `name` stays inside the test folder: names
/// only (Fashion-MNIST's `T-shirt/top` is two), never `..`, `.`, a root or
/// nothing.
fn stays_inside(name: &str) -> bool {
    !name.is_empty() && Path::new(name).components().all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Evaluates `backbone` on the test split in `dir`, one batch in memory at a time.
pub fn evaluate(backbone: &Backbone, dir: &Path) -> Result<Evaluation, InferError> {
    if !backbone.has_logits() {
        return Err(InferError::Usage(format!("{}: a features-only backbone has no classes to evaluate", backbone.path().display())));
    }
    let classes = &backbone.card().classes;
    let started = Instant::now();
    let split;
    // An image folder's test/ (DataSource's rule); otherwise the IDX reader
    // names the file it misses.
    let folder = matches!(DataSource::detect(dir), Ok(s @ DataSource::Split { .. }) if s.has_test());
    let (examples, labels): (Vec<Example>, Vec<usize>) = if folder {
        // Class names are folder names here, and never paths out of DATA.
        if let Some(c) = classes.iter().find(|c| !stays_inside(c)) {
            return Err(InferError::Data(format!(
                "{}: the card's class name {c:?} leads out of the test folder; evaluation reads {}/<class>/ and nothing outside it",
                backbone.path().display(),
                dir.join("test").display()
            )));
        }
        let mut pairs = vec![];
        // A class without a folder has no test examples; the rest are read.
        for (k, class) in classes.iter().enumerate().filter(|(_, c)| dir.join("test").join(c).is_dir()) {
            pairs.extend(collect_images(&[dir.join("test").join(class)]).into_iter().map(|path| (Example::File(path), k)));
        }
        pairs.into_iter().unzip()
    } else {
        split = read_fashion_mnist(dir, "t10k", classes.len().max(1)).map_err(|e| InferError::Data(e.to_string()))?;
        ((0..split.count).map(|i| Example::Idx(&split, i)).collect(), split.labels.iter().map(|&l| l as usize).collect())
    };
    if examples.is_empty() {
        return Err(InferError::Data(format!("{}: no test examples (an accuracy of nothing is not 0)", dir.join("test").display())));
    }
    let mut predictions = Vec::with_capacity(examples.len());
    let input = |example: &Example| match example {
        Example::File(path) => backbone.input(path),
        Example::Idx(split, i) => backbone.input(&DynamicImage::ImageLuma8(
            split.image(*i).ok_or_else(|| InferError::Data(format!("{}: IDX image {i} is missing", dir.display())))?,
        )),
    };
    backbone.for_each_batch(&examples, input, |batch| match batch.failures.into_iter().next() {
        // A test set is all or nothing: an unreadable example would skew the accuracy.
        Some((_, e)) => Err(e),
        None => {
            predictions.extend(batch.outputs.logits.iter().flat_map(|l| l.outer_iter()).map(|r| argmax(r.iter().copied())));
            Ok(())
        }
    })?;
    let k = classes.len().max(predictions.iter().copied().max().map_or(0, |m| m + 1));
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in labels.iter().zip(&predictions) {
        confusion[t][p] += 1;
    }
    let correct = labels.iter().zip(&predictions).filter(|(a, b)| a == b).count();
    Ok(Evaluation {
        images: labels.len(),
        correct,
        accuracy: correct as f64 / labels.len().max(1) as f64,
        confusion,
        predictions,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The index of the largest value (the first, on ties).
fn argmax(values: impl Iterator<Item = f32>) -> usize {
    values.enumerate().fold((0, f32::NEG_INFINITY), |best, (i, v)| if v > best.1 { (i, v) } else { best }).0
}

#[cfg(test)]
mod tests {
    use super::argmax;

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax([0.1, 3.0, -1.0, 3.0].into_iter()), 1);
        assert_eq!(argmax([f32::NEG_INFINITY].into_iter()), 0);
    }
}
