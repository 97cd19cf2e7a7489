//! Rows of a decoded image as the model's channels, in 8-bit units: what the
//! resizer reads. Working a row at a time from the decoder's own buffer
//! (8-bit, 16-bit or float; gray, gray+alpha, RGB or RGBA) means no
//! full-size float copy of a photo is ever made.

use image::DynamicImage;

/// A sample type of a decoded image, and how it maps to 8-bit units.
trait Sample: Copy {
    fn unit(self) -> f32;
}

impl Sample for u8 {
    #[inline]
    fn unit(self) -> f32 {
        self as f32
    }
}

impl Sample for u16 {
    /// 65535 maps to 255, as a 16-bit PNG read by an 8-bit tool would.
    #[inline]
    fn unit(self) -> f32 {
        self as f32 / 257.0
    }
}

impl Sample for f32 {
    #[inline]
    fn unit(self) -> f32 {
        self * 255.0
    }
}

/// ITU-R 601 luma, the grayscale of a 1-channel card.
#[inline]
fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// Writes row `y` of an interleaved image with `n` samples per pixel (gray,
/// gray+alpha, RGB, RGBA) as `channels` planes of `width` values into `out`.
/// Alpha is composited on black; RGB becomes luma for one channel, gray is
/// repeated for three.
fn convert<T: Sample>(row: &[T], n: usize, channels: usize, out: &mut [f32]) {
    let width = row.len() / n;
    let (first, rest) = out.split_at_mut(width);
    let pixels = row.chunks_exact(n);
    match (n, channels) {
        (1, 1) => first.iter_mut().zip(row).for_each(|(o, v)| *o = v.unit()),
        (2, 1) => first.iter_mut().zip(pixels).for_each(|(o, p)| *o = p[0].unit() * (p[1].unit() / 255.0)),
        (3, 1) => first.iter_mut().zip(pixels).for_each(|(o, p)| *o = luma(p[0].unit(), p[1].unit(), p[2].unit())),
        (4, 1) => first.iter_mut().zip(pixels).for_each(|(o, p)| {
            let a = p[3].unit() / 255.0;
            *o = luma(p[0].unit() * a, p[1].unit() * a, p[2].unit() * a);
        }),
        (_, 3) => {
            let (second, third) = rest.split_at_mut(width);
            for (x, p) in pixels.enumerate() {
                let (r, g, b, a) = match n {
                    1 => (p[0].unit(), p[0].unit(), p[0].unit(), 1.0),
                    2 => (p[0].unit(), p[0].unit(), p[0].unit(), p[1].unit() / 255.0),
                    3 => (p[0].unit(), p[1].unit(), p[2].unit(), 1.0),
                    _ => (p[0].unit(), p[1].unit(), p[2].unit(), p[3].unit() / 255.0),
                };
                (first[x], second[x], third[x]) = (r * a, g * a, b * a);
            }
        }
        _ => unreachable!("a card has 1 or 3 channels"),
    }
}

/// Reads a decoded image a row at a time as the model's channels.
#[derive(Debug)]
pub struct Rows<'a> {
    img: &'a DynamicImage,
    /// Only for the rare layouts without a row reader of their own.
    fallback: Option<image::Rgba32FImage>,
    channels: usize,
}

impl<'a> Rows<'a> {
    pub fn new(img: &'a DynamicImage, channels: usize) -> Rows<'a> {
        use DynamicImage::*;
        let native = matches!(
            img,
            ImageLuma8(_)
                | ImageLumaA8(_)
                | ImageRgb8(_)
                | ImageRgba8(_)
                | ImageLuma16(_)
                | ImageLumaA16(_)
                | ImageRgb16(_)
                | ImageRgba16(_)
                | ImageRgb32F(_)
                | ImageRgba32F(_)
        );
        Rows { img, fallback: (!native).then(|| img.to_rgba32f()), channels }
    }

    /// Row `y` as `channels` planes of the image's width, into `out`.
    pub fn read(&self, y: usize, out: &mut [f32]) {
        use DynamicImage::*;
        let w = self.img.width() as usize;
        let c = self.channels;
        let out = &mut out[..c * w];
        if let Some(f) = &self.fallback {
            return convert(&f.as_raw()[y * w * 4..(y + 1) * w * 4], 4, c, out);
        }
        macro_rules! row {
            ($buf:expr, $n:expr) => {
                convert(&$buf.as_raw()[y * w * $n..(y + 1) * w * $n], $n, c, out)
            };
        }
        match self.img {
            ImageLuma8(b) => row!(b, 1),
            ImageLumaA8(b) => row!(b, 2),
            ImageRgb8(b) => row!(b, 3),
            ImageRgba8(b) => row!(b, 4),
            ImageLuma16(b) => row!(b, 1),
            ImageLumaA16(b) => row!(b, 2),
            ImageRgb16(b) => row!(b, 3),
            ImageRgba16(b) => row!(b, 4),
            ImageRgb32F(b) => row!(b, 3),
            ImageRgba32F(b) => row!(b, 4),
            _ => unreachable!("layouts without a row reader use the fallback"),
        }
    }
}
