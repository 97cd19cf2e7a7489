//! Writes the first N images of Fashion-MNIST's test split as PNG files named
//! `INDEX-LABEL.png`, for trying cnnzoo-infer on real pictures.
//!
//! cargo run -p cnnzoo-infer --example idx_to_png -- DATA_DIR OUT_DIR [N]

use std::path::PathBuf;

const CLASSES: [&str; 10] = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, out, rest @ ..] = args.as_slice() else { return Err("usage: idx_to_png DATA_DIR OUT_DIR [N]".into()) };
    let n: usize = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(8);
    let split = cnnzoo_infer::read_fashion_mnist(data.as_ref(), "t10k", 10)?;
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    for (i, &label) in split.labels.iter().enumerate().take(n) {
        let img = split.image(i).ok_or("bad IDX image size")?;
        img.save(out.join(format!("{i:05}-{}.png", CLASSES[label as usize])))?;
    }
    eprintln!("wrote {} images to {}", n.min(split.count), out.display());
    Ok(())
}
