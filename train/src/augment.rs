//! Training augmentation on a batch already on the device, with libtorch's
//! generator (reseeded every epoch, so a run is reproducible). Evaluation
//! never sees it: the test split goes through the card's preprocessing alone.

use cnnzoo_models::tuning::Augment;
use tch::{Kind, Tensor};

/// `x` (`[N, C, S, S]`) as `augment` says.
pub fn apply(x: Tensor, augment: Augment) -> Tensor {
    match augment {
        Augment::None => x,
        Augment::Flip => flip(x),
        Augment::Standard => flip(resized_crops(&x)),
    }
}

/// Each image mirrored left to right with probability one half.
fn flip(x: Tensor) -> Tensor {
    let n = x.size()[0];
    let mask = Tensor::rand([n, 1, 1, 1], (Kind::Float, x.device())).lt(0.5);
    x.flip([3]).where_self(&mask, &x)
}

/// torchvision's `RandomResizedCrop(scale=(0.08, 1), ratio=(3/4, 4/3))` on
/// each image: a crop of random area and aspect ratio, resized back to the
/// input size (bilinear). The crop is taken from the stored image, already
/// at the card's size, where torchvision crops the file's full resolution.
fn resized_crops(x: &Tensor) -> Tensor {
    let s = x.size();
    let (n, h, w) = (s[0], s[2], s[3]);
    let draws = Tensor::rand([n, 10, 4], (Kind::Double, tch::Device::Cpu));
    let draws: Vec<f64> = Vec::<f64>::try_from(draws.flatten(0, -1)).unwrap_or_default();
    let crops: Vec<Tensor> = (0..n)
        .map(|i| {
            let (top, left, ch, cw) = crop_box(&draws[(i * 40) as usize..(i * 40 + 40) as usize], h, w);
            let crop = x.narrow(0, i, 1).narrow(2, top, ch).narrow(3, left, cw);
            // A crop is never larger than the image: resizing it back enlarges.
            if (ch, cw) == (h, w) {
                crop
            } else {
                crop.upsample_bilinear2d([h, w], false, None, None)
            }
        })
        .collect();
    Tensor::cat(&crops, 0)
}

/// The crop `(top, left, height, width)` from ten tries of uniform draws
/// (area, log aspect ratio, top, left per try), as torchvision draws it;
/// the whole image when no try fits.
fn crop_box(u: &[f64], h: i64, w: i64) -> (i64, i64, i64, i64) {
    let area = (h * w) as f64;
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for t in u.chunks_exact(4) {
        let target = area * (0.08 + t[0] * (1.0 - 0.08));
        let ratio = (lo + t[1] * (hi - lo)).exp();
        let cw = (target * ratio).sqrt().round() as i64;
        let ch = (target / ratio).sqrt().round() as i64;
        if (1..=w).contains(&cw) && (1..=h).contains(&ch) {
            let top = (t[2] * (h - ch + 1) as f64).floor() as i64;
            let left = (t[3] * (w - cw + 1) as f64).floor() as i64;
            return (top.min(h - ch), left.min(w - cw), ch, cw);
        }
    }
    (0, 0, h, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_fit_the_image_and_cover_the_drawn_area() {
        let draws: Vec<f64> = (0..40).map(|k| (k as f64 * 0.377).fract()).collect();
        for (h, w) in [(28, 28), (224, 224), (32, 96)] {
            let (top, left, ch, cw) = crop_box(&draws, h, w);
            assert!(top >= 0 && left >= 0 && top + ch <= h && left + cw <= w, "{h}x{w}: {top} {left} {ch} {cw}");
            let frac = (ch * cw) as f64 / (h * w) as f64;
            assert!((0.05..=1.0).contains(&frac), "area {frac}");
        }
    }

    #[test]
    fn flipping_mirrors_whole_images_and_keeps_the_batch() {
        tch::manual_seed(3);
        let x = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, tch::Device::Cpu)).reshape([2 * 3, 1, 4, 5]);
        let y = apply(x.shallow_clone(), Augment::Flip);
        assert_eq!(y.size(), x.size());
        for i in 0..6 {
            let (a, b) = (y.get(i), x.get(i));
            assert!(a.equal(&b) || a.equal(&b.flip([2])), "image {i} is neither itself nor its mirror");
        }
        let z = apply(x.shallow_clone(), Augment::Standard);
        assert_eq!(z.size(), x.size());
    }
}
