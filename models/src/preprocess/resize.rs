//! Separable resizing exactly as PyTorch's `interpolate(mode="bilinear",
//! align_corners=False)` computes it, with and without `antialias`.
//!
//! Both filters are the same two steps: a horizontal pass over each source
//! row the output needs, then a vertical pass over those rows, each output
//! pixel a weighted sum of a contiguous run of inputs ("taps"). That is the
//! order libtorch's separable CPU kernel uses, so sums agree to rounding.
//! Only the taps differ: plain bilinear takes the two nearest pixels, the
//! antialiased filter stretches its triangle over the whole footprint of an
//! output pixel when downscaling (and is the same two taps when upscaling).

/// A resize filter a card may name: typed once, where the card is read (an
/// unknown name is refused then, with the names known), never parsed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Filter {
    /// `bilinear`: two taps, align_corners = false, no antialiasing.
    Bilinear,
    /// `bilinear_antialias`: `interpolate(..., antialias=True)`.
    BilinearAntialias,
    /// `bicubic_antialias`: `interpolate(mode="bicubic", antialias=True)`,
    /// Keys' cubic with a = -0.5 (PIL's), stretched when downscaling; what
    /// torchvision's `Resize(..., BICUBIC)` computes and timm's recent weights use.
    BicubicAntialias,
}

// The names cards use, in the order they were introduced.
crate::spelled!(Filter {
    Bilinear = "bilinear",
    BilinearAntialias = "bilinear_antialias",
    BicubicAntialias = "bicubic_antialias",
} else |name: &str| format!("resize {name:?}: unknown filter (known: {})", Filter::NAMES.join(", ")));

impl TryFrom<String> for Filter {
    type Error = String;

    fn try_from(name: String) -> Result<Filter, String> {
        name.parse()
    }
}

impl From<Filter> for String {
    fn from(f: Filter) -> String {
        f.name().into()
    }
}

/// PyTorch's antialiasing cubic (`aa_filter` for bicubic), a = -0.5, with
/// the fused multiply-adds its compiled build contracts the polynomials to
/// (measured: these weights equal libtorch's bit for bit, the unfused ones
/// differ in the last bit of about 1 weight in 100).
fn cubic(x: f32) -> f32 {
    const A: f32 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0).mul_add(x, -(A + 3.0)) * x).mul_add(x, 1.0)
    } else if x < 2.0 {
        A.mul_add(x, -5.0 * A).mul_add(x, 8.0 * A).mul_add(x, -4.0 * A)
    } else {
        0.0
    }
}

fn triangle(x: f32) -> f32 {
    (1.0 - x.abs()).max(0.0)
}

/// For each output pixel along one axis, the first input it reads and its
/// weights over the inputs that follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Taps {
    /// `(first input, offset into weights, count)` per output pixel.
    spans: Vec<(usize, usize, usize)>,
    weights: Vec<f32>,
}

impl Taps {
    /// The taps that map `in_len` inputs to `out_len` outputs (both >= 1).
    pub fn new(filter: Filter, in_len: usize, out_len: usize) -> Taps {
        let mut taps = Taps { spans: Vec::with_capacity(out_len), weights: vec![] };
        // Both filters compute in f32, as libtorch does for float tensors.
        let scale = in_len as f32 / out_len as f32;
        for o in 0..out_len {
            let first = taps.weights.len();
            let start = match filter {
                Filter::Bilinear => {
                    // area_pixel_compute_source_index: half-pixel centres, clamped at 0.
                    let src = (scale * (o as f32 + 0.5) - 0.5).max(0.0);
                    let i0 = (src as usize).min(in_len - 1);
                    let l = src - i0 as f32;
                    if i0 + 1 < in_len {
                        taps.weights.extend([1.0 - l, l]);
                    } else {
                        taps.weights.push(1.0);
                    }
                    i0
                }
                Filter::BilinearAntialias | Filter::BicubicAntialias => {
                    // The kernel (half-width 1 or 2) is stretched by the scale when downscaling.
                    let (half, kernel): (f32, fn(f32) -> f32) =
                        if filter == Filter::BicubicAntialias { (2.0, cubic) } else { (1.0, triangle) };
                    let support = if scale >= 1.0 { half * scale } else { half };
                    let inv = if scale >= 1.0 { 1.0 / scale } else { 1.0 };
                    // `i + 0.5` and the `+ 0.5`s are doubles in libtorch's C++: mirrored here.
                    let center = (scale as f64 * (o as f64 + 0.5)) as f32;
                    // `as i64` truncates toward zero, like the C++ cast it mirrors.
                    let lo = ((center - support) as f64 + 0.5) as i64;
                    let lo = lo.max(0) as usize;
                    let hi = (((center + support) as f64 + 0.5) as i64).min(in_len as i64).max(lo as i64 + 1) as usize;
                    let ws: Vec<f32> = (lo..hi).map(|j| kernel((((j as f32 - center) as f64 + 0.5) * inv as f64) as f32)).collect();
                    let total: f32 = ws.iter().sum();
                    taps.weights.extend(ws.iter().map(|w| if total != 0.0 { w / total } else { *w }));
                    lo
                }
            };
            taps.spans.push((start, first, taps.weights.len() - first));
        }
        taps
    }

    /// Output pixel `o`: its first input and its weights.
    pub fn get(&self, o: usize) -> (usize, &[f32]) {
        let (start, at, n) = self.spans[o];
        (start, &self.weights[at..at + n])
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// A sample the resizer reads exactly as an f32.
pub trait Tap: Copy {
    fn f(self) -> f32;
}

impl Tap for f32 {
    #[inline]
    fn f(self) -> f32 {
        self
    }
}

impl Tap for u8 {
    #[inline]
    fn f(self) -> f32 {
        self as f32
    }
}

/// `acc[i] += w * a[i]`: one source row's share of an output row.
#[inline]
pub fn axpy<T: Tap>(acc: &mut [f32], a: &[T], w: f32) {
    for (o, v) in acc.iter_mut().zip(a) {
        *o += w * v.f();
    }
}

/// `Σ a[i] * w[i]`, in eight running sums so that the compiler can vectorize it.
#[inline]
pub fn dot<T: Tap>(a: &[T], w: &[f32]) -> f32 {
    let (mut lanes, n) = ([0.0f32; 8], a.len().min(w.len()));
    let (a8, w8) = (a[..n].chunks_exact(8), w[..n].chunks_exact(8));
    let (ra, rw) = (a8.remainder(), w8.remainder());
    for (a, w) in a8.zip(w8) {
        for k in 0..8 {
            lanes[k] += a[k].f() * w[k];
        }
    }
    let tail: f32 = ra.iter().zip(rw).map(|(a, w)| a.f() * w).sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(t: &Taps, in_len: usize) -> Vec<Vec<f32>> {
        (0..t.len())
            .map(|o| {
                let (start, w) = t.get(o);
                let mut row = vec![0.0; in_len];
                row[start..start + w.len()].copy_from_slice(w);
                row
            })
            .collect()
    }

    #[test]
    fn bilinear_follows_libtorch_half_pixel_centres() {
        // Downscaling 4 -> 2: centres at 0.5 and 2.5, halfway between neighbours.
        assert_eq!(dense(&Taps::new(Filter::Bilinear, 4, 2), 4), [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]]);
        // Upscaling 2 -> 4: quarters inside, the edge pixel past the last centre.
        let up = dense(&Taps::new(Filter::Bilinear, 2, 4), 2);
        assert_eq!(up, [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]);
        assert!(Taps::new(Filter::Bilinear, 1, 3).spans.iter().all(|s| s.0 == 0));
    }

    #[test]
    fn antialias_is_bilinear_when_upscaling_and_averages_when_downscaling() {
        for (i, o) in [(2, 4), (28, 96), (28, 224), (5, 5), (1, 7)] {
            let (a, b) = (dense(&Taps::new(Filter::Bilinear, i, o), i), dense(&Taps::new(Filter::BilinearAntialias, i, o), i));
            for (ra, rb) in a.iter().zip(&b) {
                assert!(ra.iter().zip(rb).all(|(x, y)| (x - y).abs() < 1e-6), "{i}->{o}: {ra:?} vs {rb:?}");
            }
        }
        // 8 -> 2: each output is a triangle over its 4-pixel footprint and beyond.
        let t = Taps::new(Filter::BilinearAntialias, 8, 2);
        let (start, w) = t.get(0);
        assert_eq!(start, 0);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6 && w.len() == 6, "{w:?}");
        for (i, o) in [(4000, 96), (3000, 96), (97, 96), (1, 1), (16384, 3)] {
            let t = Taps::new(Filter::BilinearAntialias, i, o);
            for k in 0..o {
                let (start, w) = t.get(k);
                assert!(start + w.len() <= i && (w.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{i}->{o} at {k}");
            }
        }
    }

    #[test]
    fn dot_sums_every_product() {
        let a: Vec<f32> = (0..19).map(|v| v as f32).collect();
        let w = vec![0.5; 19];
        assert_eq!(dot(&a, &w), (0..19).sum::<i32>() as f32 * 0.5);
    }
}
