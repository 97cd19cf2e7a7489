//! `--download`: fetches the four Fashion-MNIST files over HTTP(S) and checks
//! each against a known checksum before it is moved into place.

use std::collections::BTreeMap;
use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::FASHION_MNIST_FILES;
use crate::error::{io, Result, TrainError};

/// Where to fetch from and what each file must hash to (hex MD5 or SHA-256,
/// told apart by length).
#[derive(Debug, Clone)]
pub struct Mirror {
    pub base_url: String,
    pub checksums: BTreeMap<String, String>,
}

impl Mirror {
    /// Zalando's release, with the MD5 sums its README publishes.
    pub fn official() -> Mirror {
        let sums = [
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ];
        Mirror {
            base_url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/".into(),
            checksums: FASHION_MNIST_FILES.iter().zip(sums).map(|(f, s)| (f.to_string(), s.to_string())).collect(),
        }
    }

    /// Checksums from `md5sum`/`sha256sum` output: `HEX  NAME` per line.
    pub fn with_checksum_file(base_url: &str, path: &Path) -> Result<Mirror> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let mut checksums = BTreeMap::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(hex), Some(name)) if matches!(hex.len(), 32 | 64) && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                    checksums.insert(name.trim_start_matches('*').to_string(), hex.to_ascii_lowercase());
                }
                _ => {
                    return Err(TrainError::Data {
                        path: path.into(),
                        problem: format!("line {}: expected `HEX  FILENAME` (MD5 or SHA-256)", i + 1),
                    })
                }
            }
        }
        Ok(Mirror { base_url: base_url.into(), checksums })
    }
}

fn hex_digest(expected: &str, bytes: &[u8]) -> String {
    let digest: Vec<u8> = if expected.len() == 32 { Md5::digest(bytes).to_vec() } else { Sha256::digest(bytes).to_vec() };
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads what is missing or wrong in `dir`; files already there with the
/// right checksum are kept. Each file is written to a temporary name and
/// renamed only once its checksum matches.
pub fn download_fashion_mnist(dir: &Path, mirror: &Mirror) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for name in FASHION_MNIST_FILES {
        let expected = mirror
            .checksums
            .get(name)
            .ok_or_else(|| TrainError::Download { url: mirror.base_url.clone(), problem: format!("no checksum given for {name}") })?;
        let target = dir.join(name);
        if std::fs::read(&target).is_ok_and(|b| hex_digest(expected, &b) == *expected) {
            continue;
        }
        let url = format!("{}/{name}", mirror.base_url.trim_end_matches('/'));
        eprintln!("downloading {url}");
        let fail = |problem: String| TrainError::Download { url: url.clone(), problem };
        let mut response = ureq::get(&url).call().map_err(|e| fail(e.to_string()))?;
        let bytes = response.body_mut().with_config().limit(256 << 20).read_to_vec().map_err(|e| fail(e.to_string()))?;
        let found = hex_digest(expected, &bytes);
        if found != *expected {
            return Err(fail(format!("checksum mismatch: expected {expected}, got {found}; nothing was written")));
        }
        cnnzoo_models::fsio::write_atomic(&target, &bytes)?;
    }
    Ok(())
}
