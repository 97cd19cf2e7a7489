//! Datasets: every bad-input case names the file and the problem; the
//! downloader is checked against a server on 127.0.0.1; image folders train.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

use cnnzoo_test_support::data;
use data::fashion_mnist;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use cnnzoo_train::data::{download_fashion_mnist, load, load_idx, Mirror, FASHION_MNIST_FILES};
use sha2::{Digest, Sha256};

/// A copy of the dataset in a temp dir (the shared folder is read-only), as raw IDX.
fn raw_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in FASHION_MNIST_FILES {
        let gz = std::fs::read(fashion_mnist().join(name)).unwrap();
        let mut raw = vec![];
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
        std::fs::write(dir.path().join(name.trim_end_matches(".gz")), raw).unwrap();
    }
    dir
}

fn err_of(dir: &Path) -> String {
    load_idx(dir).unwrap_err().to_string()
}

#[test]
fn reads_gzip_and_raw_idx_alike() {
    let gz = load_idx(&fashion_mnist()).unwrap();
    assert_eq!((gz.train.len(), gz.test.len()), (60_000, 10_000));
    assert_eq!(gz.train.images.size(), [60_000, 1, 28, 28]);
    // The README's pixel mean: 72.94 / 255 = 0.2860.
    let mean = f64::try_from(gz.train.images.mean(tch::Kind::Float)).unwrap();
    assert!((mean - 0.2860).abs() < 1e-3, "{mean}");
    let raw = load_idx(raw_copy().path()).unwrap();
    assert!(raw.test.images.equal(&gz.test.images) && raw.test.labels.equal(&gz.test.labels));
}

#[test]
fn bad_idx_files_are_named_with_their_problem() {
    let dir = raw_copy();
    let images = dir.path().join("t10k-images-idx3-ubyte");
    let labels = dir.path().join("t10k-labels-idx1-ubyte");
    let original_images = std::fs::read(&images).unwrap();
    let original_labels = std::fs::read(&labels).unwrap();

    // Wrong magic: a label file where images are expected.
    std::fs::write(&images, &original_labels).unwrap();
    let e = err_of(dir.path());
    assert!(e.contains("t10k-images-idx3-ubyte") && e.contains("magic number 2049, expected 2051"), "{e}");

    // Truncated body.
    std::fs::write(&images, &original_images[..original_images.len() / 2]).unwrap();
    let e = err_of(dir.path());
    assert!(e.contains("t10k-images-idx3-ubyte") && e.contains("truncated"), "{e}");

    // Truncated header.
    std::fs::write(&images, &original_images[..6]).unwrap();
    assert!(err_of(dir.path()).contains("truncated"));

    // Image/label count mismatch: drop 10 labels and fix the header count.
    std::fs::write(&images, &original_images).unwrap();
    let mut fewer = original_labels[..original_labels.len() - 10].to_vec();
    fewer[4..8].copy_from_slice(&9_990u32.to_be_bytes());
    std::fs::write(&labels, &fewer).unwrap();
    let e = err_of(dir.path());
    assert!(e.contains("10000 images") && e.contains("9990 labels") && e.contains("t10k-labels-idx1-ubyte"), "{e}");

    // A label out of range.
    let mut bad = original_labels.clone();
    bad[8 + 17] = 12;
    std::fs::write(&labels, &bad).unwrap();
    let e = err_of(dir.path());
    assert!(e.contains("label 12 of example 17 is out of range"), "{e}");

    // A missing file.
    std::fs::remove_file(&labels).unwrap();
    let e = err_of(dir.path());
    assert!(e.contains("t10k-labels-idx1-ubyte") && e.contains("missing"), "{e}");

    // Corrupt gzip.
    std::fs::write(&labels, &original_labels).unwrap();
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    let e = err_of(dir.path());
    assert!(e.contains("t10k-images-idx3-ubyte.gz") && e.contains("corrupt gzip"), "{e}");
}

/// Serves `dir` over HTTP on 127.0.0.1 for `requests` requests, then stops.
fn serve(dir: PathBuf, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            while reader.read_line(&mut String::new()).unwrap() > 2 {}
            let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            match std::fs::read(dir.join(&path)) {
                Ok(body) => {
                    write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
                    stream.write_all(&body).unwrap();
                }
                Err(_) => write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap(),
            }
        }
    });
    format!("http://{addr}")
}

fn sha256_list(dir: &Path) -> String {
    FASHION_MNIST_FILES
        .iter()
        .map(|n| {
            format!("{}  {n}\n", Sha256::digest(std::fs::read(dir.join(n)).unwrap()).iter().map(|b| format!("{b:02x}")).collect::<String>())
        })
        .collect()
}

#[test]
fn download_verifies_checksums_from_a_local_server() {
    let out = tempfile::tempdir().unwrap();
    let sums = out.path().join("SHA256SUMS");
    std::fs::write(&sums, sha256_list(&fashion_mnist())).unwrap();
    let data = out.path().join("data");

    // A wrong checksum: an error naming the URL, and nothing written.
    let mut mirror = Mirror::with_checksum_file(&serve(fashion_mnist(), 1), &sums).unwrap();
    mirror.checksums.insert(FASHION_MNIST_FILES[0].into(), "0".repeat(64));
    let e = download_fashion_mnist(&data, &mirror).unwrap_err().to_string();
    assert!(e.contains("checksum mismatch") && e.contains(FASHION_MNIST_FILES[0]) && e.contains("127.0.0.1"), "{e}");
    assert!(!data.join(FASHION_MNIST_FILES[0]).exists());

    // The right checksums: all four files arrive and load.
    let mirror = Mirror::with_checksum_file(&serve(fashion_mnist(), 4), &sums).unwrap();
    download_fashion_mnist(&data, &mirror).unwrap();
    let d = load_idx(&data).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (60_000, 10_000));
    // Files already present and valid are not fetched again (the server is gone).
    download_fashion_mnist(&data, &mirror).unwrap();

    // A file the server does not have.
    let missing = tempfile::tempdir().unwrap();
    let e =
        download_fashion_mnist(&out.path().join("other"), &Mirror::with_checksum_file(&serve(missing.path().into(), 1), &sums).unwrap())
            .unwrap_err()
            .to_string();
    assert!(e.contains("404"), "{e}");

    // The set-up's way: `cnnzoo-train --download-only` fetches, verifies and trains nothing.
    let cli_data = out.path().join("cli");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cnnzoo-train"))
        .args([
            "--download-only",
            "--mirror",
            &serve(fashion_mnist(), 4),
            "--checksums",
            sums.to_str().unwrap(),
            "--data",
            cli_data.to_str().unwrap(),
        ])
        .current_dir(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in FASHION_MNIST_FILES {
        assert_eq!(std::fs::read(cli_data.join(name)).unwrap(), std::fs::read(fashion_mnist().join(name)).unwrap(), "{name}");
    }
    assert!(!out.path().join("runs").exists(), "--download-only trained something");
}

#[test]
fn an_image_folder_of_any_size_and_mode_becomes_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    for (split, n) in [("train", 3), ("test", 2)] {
        for (c, class) in ["cat", "dog"].iter().enumerate() {
            let folder = dir.path().join(split).join(class);
            std::fs::create_dir_all(&folder).unwrap();
            for i in 0..n {
                let img = image::RgbaImage::from_fn(40 + i, 30, |x, _| image::Rgba([(x * 6) as u8, 100 * c as u8, 50, 255]));
                img.save(folder.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    std::fs::write(dir.path().join("train/cat/.DS_Store"), b"junk").unwrap();
    let d = load(dir.path(), &cnnzoo_models::Preprocessing::new(1, 28), None, 42).unwrap();
    assert_eq!(d.classes, ["cat", "dog"]);
    assert_eq!(d.source, cnnzoo_models::data::DataSource::Split { path: dir.path().to_path_buf() });
    assert_eq!(d.train.images.size(), [6, 1, 28, 28]);
    assert_eq!(Vec::<i64>::try_from(&d.test.labels).unwrap(), [0, 0, 1, 1]);

    std::fs::write(dir.path().join("train/dog/broken.png"), b"not a png").unwrap();
    let e = load(dir.path(), &cnnzoo_models::Preprocessing::new(1, 28), None, 42).unwrap_err().to_string();
    assert!(e.contains("broken.png"), "{e}");
}
