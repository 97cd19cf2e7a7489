//! The training curves as an SVG, in the manner of d2l's Animator plot:
//! train loss, train accuracy and test accuracy against the epoch.

use std::fmt::Write;

use cnnzoo_models::EpochMetrics;

const W: f64 = 480.0;
const H: f64 = 320.0;
const M: f64 = 40.0;

/// A curve: its legend, colour, and the value it plots for an epoch.
type Series = (&'static str, &'static str, fn(&EpochMetrics) -> f64);

pub fn curves_svg(title: &str, metrics: &[EpochMetrics]) -> String {
    let epochs = metrics.len().max(1) as f64;
    let ymax = metrics.iter().map(|m| m.loss).fold(1.0_f64, f64::max).min(10.0);
    let x = |e: f64| M + (e / epochs) * (W - 2.0 * M);
    let y = |v: f64| H - M - (v.clamp(0.0, ymax) / ymax) * (H - 2.0 * M);
    let mut s = String::new();
    let _ = write!(s, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#);
    let _ = write!(s, r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="18" text-anchor="middle">{title}</text>"#, W / 2.0);
    let _ = write!(s, r#"<path d="M{M},{M}V{}H{}" fill="none" stroke="black"/>"#, H - M, W - M);
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">{v:.2}</text>"#, M - 4.0, y(v) + 4.0);
    }
    for e in 1..=metrics.len() {
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="middle">{e}</text>"#, x(e as f64), H - M + 14.0);
    }
    let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="middle">epoch</text>"#, W / 2.0, H - 6.0);
    let series: [Series; 3] =
        [("train loss", "#1f77b4", |m| m.loss), ("train acc", "#ff7f0e", |m| m.train_acc), ("test acc", "#2ca02c", |m| m.test_acc)];
    for (i, (name, color, value)) in series.iter().enumerate() {
        let points: Vec<String> = metrics.iter().map(|m| format!("{:.1},{:.1}", x(m.epoch as f64), y(value(m)))).collect();
        let _ = write!(s, r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#, points.join(" "));
        let ly = M + 14.0 * i as f64;
        let _ = write!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            W - M - 90.0,
            W - M - 72.0,
            W - M - 68.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}
