//! How good a backbone's frozen features are for a labelled data set, before
//! anyone trains on them: the features of its train and test splits, then
//! two classifiers fitted on the train features and scored on the test ones.
//!
//! - **k-NN**, DINO's protocol: features L2-normalized, the `k` most
//!   cosine-similar training examples vote, each with weight
//!   `exp(similarity / 0.07)`.
//! - **Linear probe**: multinomial logistic regression on standardized
//!   features, scikit-learn's objective (`C` times the summed log-loss plus
//!   half the squared weights, the intercept unpenalized), minimized by
//!   L-BFGS; `C` is chosen by the log-loss of every tenth training example,
//!   held out, then the model is refitted on all of them.

use std::path::Path;
use std::time::Instant;

use cnnzoo_models::data::{collect_images, read_fashion_mnist, IdxSplit};
use image::DynamicImage;
use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::{Backbone, InferError};

/// DINO's temperature for the k-NN vote.
const TEMPERATURE: f32 = 0.07;

/// The grid `C` is chosen from (inverse L2 strength, scikit-learn's name).
pub const C_GRID: [f64; 6] = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0];

/// What `--probe` reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Probe {
    pub train_images: usize,
    pub test_images: usize,
    pub feature_dim: usize,
    pub classes: usize,
    pub k: usize,
    pub knn_accuracy: f64,
    pub linear_accuracy: f64,
    /// The `C` the held-out tenth chose.
    pub linear_c: f64,
    pub seconds: f64,
}

/// A split's examples and their labels.
struct Labelled {
    features: Array2<f32>,
    labels: Vec<usize>,
}

/// The seed a held-out split is drawn with: `cnnzoo-train`'s default, so
/// the probe tests on the images a default training run tests on.
pub const HOLD_OUT_SEED: u64 = 42;

/// Embeds `dir`'s train and test splits with `backbone` and scores both
/// classifiers; with `val_split`, `dir` is one folder of class folders and
/// that share of each class is the test split.
pub fn probe(backbone: &Backbone, dir: &Path, k: usize, val_split: Option<f64>) -> Result<Probe, InferError> {
    let started = Instant::now();
    let (train, test, classes) = match val_split {
        Some(share) => embed_held_out(backbone, dir, share)?,
        None => embed_splits(backbone, dir)?,
    };
    let knn = knn_accuracy(&train.features, &train.labels, &test.features, &test.labels, classes, k);
    let (linear, linear_c) = linear_probe(&train.features, &train.labels, &test.features, &test.labels, classes);
    Ok(Probe {
        train_images: train.labels.len(),
        test_images: test.labels.len(),
        feature_dim: train.features.ncols(),
        classes,
        k,
        knn_accuracy: knn,
        linear_accuracy: linear,
        linear_c,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The features of both splits: an image folder's `train/<class>/` and
/// `test/<class>/` (classes named by `train/`), or Fashion-MNIST's IDX files.
fn embed_splits(backbone: &Backbone, dir: &Path) -> Result<(Labelled, Labelled, usize), InferError> {
    let folder = matches!(cnnzoo_models::data::DataSource::detect(dir), Ok(s @ cnnzoo_models::data::DataSource::Split { .. }) if s.has_train() && s.has_test());
    if folder {
        let classes = cnnzoo_models::data::class_folders(&dir.join("train"))
            .map_err(|e| InferError::Data(format!("{}: {e}", dir.join("train").display())))?;
        if classes.len() < 2 {
            return Err(InferError::Data(format!("{}: a probe needs two classes or more", dir.join("train").display())));
        }
        let split = |name: &str| -> Result<Labelled, InferError> {
            let (mut files, mut labels) = (vec![], vec![]);
            for (c, class) in classes.iter().enumerate() {
                let found = collect_images(&[dir.join(name).join(class)]);
                labels.extend(std::iter::repeat_n(c, found.len()));
                files.extend(found);
            }
            if files.is_empty() {
                return Err(InferError::Data(format!("{}: no images", dir.join(name).display())));
            }
            Ok(Labelled { features: backbone.embed(&files)?, labels })
        };
        return Ok((split("train")?, split("test")?, classes.len()));
    }
    let classes = cnnzoo_models::data::FASHION_MNIST_CLASSES.len();
    let split = |name: &str| -> Result<Labelled, InferError> {
        let data = read_fashion_mnist(dir, name, classes).map_err(|e| match e {
            cnnzoo_models::data::IdxError::Missing { .. } => match cnnzoo_models::data::unsplit(dir) {
                Some(hint) => InferError::Choice(hint),
                None => InferError::Data(e.to_string()),
            },
            e => InferError::Data(e.to_string()),
        })?;
        let images = idx_images(&data, dir)?;
        Ok(Labelled { features: backbone.embed(&images)?, labels: data.labels.iter().map(|&l| l as usize).collect() })
    };
    Ok((split("train")?, split("t10k")?, classes))
}

/// The features of one folder of class folders (or its `train/`), split by
/// [`cnnzoo_models::data::hold_out`].
fn embed_held_out(backbone: &Backbone, dir: &Path, share: f64) -> Result<(Labelled, Labelled, usize), InferError> {
    let root = cnnzoo_models::data::held_out_root(dir)?;
    let classes = cnnzoo_models::data::class_folders(&root).map_err(|e| InferError::Data(format!("{}: {e}", root.display())))?;
    if classes.len() < 2 {
        return Err(InferError::Data(format!("{}: a probe needs two classes or more", root.display())));
    }
    let by_class = classes.iter().map(|c| collect_images(&[root.join(c)])).collect();
    let (train, test) = cnnzoo_models::data::hold_out(by_class, share, HOLD_OUT_SEED).map_err(|e| e.about_share(&root, &classes))?;
    let embed = |examples: Vec<(std::path::PathBuf, usize)>| -> Result<Labelled, InferError> {
        let (files, labels): (Vec<_>, Vec<_>) = examples.into_iter().unzip();
        Ok(Labelled { features: backbone.embed(&files)?, labels })
    };
    Ok((embed(train)?, embed(test)?, classes.len()))
}

fn idx_images(data: &IdxSplit, dir: &Path) -> Result<Vec<DynamicImage>, InferError> {
    (0..data.count)
        .map(|i| {
            data.image(i)
                .map(DynamicImage::ImageLuma8)
                .ok_or_else(|| InferError::Data(format!("{}: IDX image {i} is missing", dir.display())))
        })
        .collect()
}

/// Rows scaled to unit length (a zero row stays zero).
fn normalized(x: &Array2<f32>) -> Array2<f32> {
    let mut out = x.clone();
    for mut row in out.outer_iter_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row /= norm;
        }
    }
    out
}

/// DINO's weighted k-NN accuracy.
pub fn knn_accuracy(
    train: &Array2<f32>,
    train_labels: &[usize],
    test: &Array2<f32>,
    test_labels: &[usize],
    classes: usize,
    k: usize,
) -> f64 {
    let (train, test) = (normalized(train), normalized(test));
    let k = k.min(train.nrows()).max(1);
    let mut correct = 0;
    // Blocks of test rows keep the similarity matrix to a few tens of MB.
    for (block, labels) in test.axis_chunks_iter(Axis(0), 256).zip(test_labels.chunks(256)) {
        let sims = block.dot(&train.t());
        for (row, &label) in sims.outer_iter().zip(labels) {
            let mut order: Vec<usize> = (0..row.len()).collect();
            order.select_nth_unstable_by(k - 1, |&a, &b| row[b].total_cmp(&row[a]));
            let mut votes = vec![0f32; classes];
            for &j in &order[..k] {
                votes[train_labels[j]] += (row[j] / TEMPERATURE).exp();
            }
            correct += usize::from(argmax(&votes) == label);
        }
    }
    correct as f64 / test_labels.len().max(1) as f64
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &x)| if x > best.1 { (i, x) } else { best }).0
}

/// The linear probe's accuracy on `test`, and the `C` it used.
pub fn linear_probe(train: &Array2<f32>, train_labels: &[usize], test: &Array2<f32>, test_labels: &[usize], classes: usize) -> (f64, f64) {
    let (mean, std) = standardization(train);
    let scale = |x: &Array2<f32>| -> Array2<f64> { (x.mapv(f64::from) - &mean) / &std };
    let (x, xt) = (scale(train), scale(test));
    // Every tenth example (the 10th, 20th, ...) is held out to choose C.
    let held: Vec<usize> = (0..x.nrows()).filter(|i| i % 10 == 9).collect();
    let kept: Vec<usize> = (0..x.nrows()).filter(|i| i % 10 != 9).collect();
    let pick = |rows: &[usize]| (x.select(Axis(0), rows), rows.iter().map(|&i| train_labels[i]).collect::<Vec<_>>());
    let ((xk, yk), (xh, yh)) = (pick(&kept), pick(&held));
    let c = if held.is_empty() || kept.is_empty() {
        1.0
    } else {
        // By held-out log-loss, smoother than accuracy on a small held-out
        // part (a few examples flip accuracy, not the loss).
        let mut best = (f64::INFINITY, 1.0);
        for c in C_GRID {
            let loss = fit_logistic(&xk.view(), &yk, classes, c).log_loss(&xh.view(), &yh);
            if loss < best.0 {
                best = (loss, c);
            }
        }
        best.1
    };
    let model = fit_logistic(&x.view(), train_labels, classes, c);
    (model.accuracy(&xt.view(), test_labels), c)
}

/// Per-column mean and standard deviation (1 where a column is constant).
fn standardization(x: &Array2<f32>) -> (Array1<f64>, Array1<f64>) {
    let x = x.mapv(f64::from);
    let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(x.ncols()));
    let std = x.std_axis(Axis(0), 0.0).mapv(|s| if s > 1e-12 { s } else { 1.0 });
    (mean, std)
}

/// A multinomial logistic regression: `[D, K]` weights and `K` intercepts.
#[derive(Debug, Clone)]
pub struct Logistic {
    w: Array2<f64>,
    b: Array1<f64>,
}

impl Logistic {
    fn scores(&self, x: &ArrayView2<f64>) -> Array2<f64> {
        x.dot(&self.w) + &self.b
    }

    /// The mean negative log-probability of the true classes.
    pub fn log_loss(&self, x: &ArrayView2<f64>, y: &[usize]) -> f64 {
        let scores = self.scores(x);
        let total: f64 = scores
            .outer_iter()
            .zip(y)
            .map(|(row, &label)| {
                let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                (row.iter().map(|v| (v - max).exp()).sum::<f64>()).ln() + max - row[label]
            })
            .sum();
        total / y.len().max(1) as f64
    }

    pub fn accuracy(&self, x: &ArrayView2<f64>, y: &[usize]) -> f64 {
        let scores = self.scores(x);
        let correct = scores
            .outer_iter()
            .zip(y)
            .filter(|(row, &label)| {
                let best = row.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0;
                best == label
            })
            .count();
        correct as f64 / y.len().max(1) as f64
    }
}

/// scikit-learn's objective, `C * sum(log-loss) + |W|^2 / 2`, divided by
/// `C n` as scikit-learn minimizes it (the same minimum; the gradient's scale
/// its tolerance is stated in), and its gradient, at the flat parameters
/// `theta` (`W` row-major, then `b`).
fn objective(theta: &[f64], x: &ArrayView2<f64>, y: &[usize], classes: usize, c: f64) -> (f64, Vec<f64>) {
    let d = x.ncols();
    let w = ArrayView2::from_shape((d, classes), &theta[..d * classes]).expect("theta holds W");
    let b = ndarray::ArrayView1::from(&theta[d * classes..]);
    let mut p = x.dot(&w) + b;
    let mut loss = 0.0;
    for (mut row, &label) in p.outer_iter_mut().zip(y) {
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        loss += sum.ln() - (row[label].ln());
        row /= sum;
        row[label] -= 1.0;
    }
    // p is now softmax - onehot: the log-loss gradient of the scores.
    let n = x.nrows().max(1) as f64;
    let gw = x.t().dot(&p) / n + &w / (c * n);
    let gb = p.sum_axis(Axis(0)) / n;
    let value = loss / n + 0.5 * w.iter().map(|v| v * v).sum::<f64>() / (c * n);
    let mut grad = gw.into_raw_vec_and_offset().0;
    grad.extend(gb.iter());
    (value, grad)
}

/// Fits the regression by L-BFGS (10 corrections, backtracking Armijo line
/// search) until no gradient component is above 1e-4 (scikit-learn's `tol`
/// for its L-BFGS) or 1000 iterations have run.
pub fn fit_logistic(x: &ArrayView2<f64>, y: &[usize], classes: usize, c: f64) -> Logistic {
    let d = x.ncols();
    let n = (d + 1) * classes;
    let mut theta = vec![0.0; n];
    let (mut f, mut g) = objective(&theta, x, y, classes, c);
    let (mut ss, mut ys): (Vec<Vec<f64>>, Vec<Vec<f64>>) = (vec![], vec![]);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let g0 = dot(&g, &g).sqrt().max(1e-12);
    for _ in 0..1000 {
        if g.iter().all(|v| v.abs() <= 1e-4) {
            break;
        }
        // The two-loop recursion: the search direction -H g.
        let mut q = g.clone();
        let mut alphas = vec![0.0; ss.len()];
        for i in (0..ss.len()).rev() {
            let rho = 1.0 / dot(&ys[i], &ss[i]);
            alphas[i] = rho * dot(&ss[i], &q);
            q.iter_mut().zip(&ys[i]).for_each(|(q, y)| *q -= alphas[i] * y);
        }
        if let (Some(s), Some(yv)) = (ss.last(), ys.last()) {
            let gamma = dot(s, yv) / dot(yv, yv);
            q.iter_mut().for_each(|v| *v *= gamma);
        } else {
            let scale = 1.0 / g0;
            q.iter_mut().for_each(|v| *v *= scale);
        }
        for i in 0..ss.len() {
            let rho = 1.0 / dot(&ys[i], &ss[i]);
            let beta = rho * dot(&ys[i], &q);
            q.iter_mut().zip(&ss[i]).for_each(|(q, s)| *q += (alphas[i] - beta) * s);
        }
        let direction: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = dot(&g, &direction);
        if slope >= 0.0 {
            // Not a descent direction: start the memory over.
            ss.clear();
            ys.clear();
            continue;
        }
        let mut step = 1.0;
        let found = loop {
            let candidate: Vec<f64> = theta.iter().zip(&direction).map(|(t, d)| t + step * d).collect();
            let (fc, gc) = objective(&candidate, x, y, classes, c);
            if fc <= f + 1e-4 * step * slope {
                break Some((candidate, fc, gc));
            }
            step *= 0.5;
            if step < 1e-12 {
                break None;
            }
        };
        let Some((next, fx, gx)) = found else {
            // No decrease along the quasi-Newton direction: retry from the
            // gradient alone, and stop if even that finds none.
            if ss.is_empty() {
                break;
            }
            ss.clear();
            ys.clear();
            continue;
        };
        let s: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = gx.iter().zip(&g).map(|(a, b)| a - b).collect();
        let improved = f - fx;
        let scale = f.abs().max(fx.abs()).max(1.0);
        (theta, f, g) = (next, fx, gx);
        if dot(&s, &yv) > 1e-12 {
            ss.push(s);
            ys.push(yv);
            if ss.len() > 10 {
                ss.remove(0);
                ys.remove(0);
            }
        }
        // scipy's `ftol` as scikit-learn sets it: 64 machine epsilons.
        if improved <= 64.0 * f64::EPSILON * scale {
            break;
        }
    }
    let w = Array2::from_shape_vec((d, classes), theta[..d * classes].to_vec()).expect("theta holds W");
    let b = Array1::from(theta[d * classes..].to_vec());
    Logistic { w, b }
}

/// The probe's figures as people read them.
pub fn render(p: &Probe, model: &str) -> String {
    format!(
        "{model}: {}-dimensional features of {} training and {} test images, {} classes\n\
         k-NN (k = {}, cosine, weighted)  {:.4}\n\
         linear probe (C = {})          {:.4}\n\
         {:.1} s",
        p.feature_dim, p.train_images, p.test_images, p.classes, p.k, p.knn_accuracy, p.linear_c, p.linear_accuracy, p.seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three separable clusters in 2-D.
    fn clusters() -> (Array2<f32>, Vec<usize>) {
        let mut x = vec![];
        let mut y = vec![];
        for i in 0..90 {
            let c = i % 3;
            let (cx, cy) = [(4.0, 0.0), (-2.0, 3.5), (-2.0, -3.5)][c];
            let jitter = ((i * 7919) % 97) as f32 / 97.0 - 0.5;
            x.extend([cx + jitter, cy - jitter]);
            y.push(c);
        }
        (Array2::from_shape_vec((90, 2), x).unwrap(), y)
    }

    #[test]
    fn both_classifiers_separate_separable_clusters() {
        let (x, y) = clusters();
        assert_eq!(knn_accuracy(&x, &y, &x, &y, 3, 5), 1.0);
        let (acc, _) = linear_probe(&x, &y, &x, &y, 3);
        assert_eq!(acc, 1.0);
    }

    #[test]
    fn the_gradient_is_the_objectives() {
        let (x, y) = clusters();
        let x = x.mapv(f64::from);
        let theta: Vec<f64> = (0..9).map(|i| (i as f64 * 0.37).sin()).collect();
        let (f, g) = objective(&theta, &x.view(), &y, 3, 0.5);
        for i in 0..theta.len() {
            let mut t = theta.clone();
            t[i] += 1e-6;
            let numeric = (objective(&t, &x.view(), &y, 3, 0.5).0 - f) / 1e-6;
            assert!((numeric - g[i]).abs() < 1e-3 * numeric.abs().max(1.0), "{i}: {numeric} vs {}", g[i]);
        }
    }
}
