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
        let bytes = cnnzoo_models::fsio::read_bounded(path, 1 << 20).map_err(io(path))?;
        let text = String::from_utf8(bytes).map_err(|_| TrainError::Data { path: path.into(), problem: "not a text file".into() })?;
        let checksums = parse_checksums(&text).map_err(|problem| TrainError::Data { path: path.into(), problem })?;
        Ok(Mirror { base_url: base_url.into(), checksums })
    }
}

/// `md5sum`/`sha256sum` output (`HEX  NAME`, `*NAME` in binary mode) as a map
/// from file name to lowercase hex; blank lines are skipped.
fn parse_checksums(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut checksums = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(hex), Some(name), None) if matches!(hex.len(), 32 | 64) && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                checksums.insert(name.trim_start_matches('*').to_string(), hex.to_ascii_lowercase());
            }
            _ => return Err(format!("line {}: expected `HEX  FILENAME` (MD5 or SHA-256)", i + 1)),
        }
    }
    Ok(checksums)
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
        if cnnzoo_models::fsio::read_bounded(&target, 256 << 20).is_ok_and(|b| hex_digest(expected, &b) == *expected) {
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

#[cfg(test)]
mod tests {
    use super::{hex_digest, parse_checksums};

    #[test]
    fn checksum_lists_parse_as_md5sum_and_sha256sum_print_them() {
        let md5 = "D41D8CD98F00B204E9800998ECF8427E";
        let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let sums = parse_checksums(&format!("{md5}  a.gz\n\n{sha} *b.gz\n")).unwrap();
        assert_eq!(sums["a.gz"], md5.to_ascii_lowercase());
        assert_eq!(sums["b.gz"], sha);
        for bad in ["abc  a.gz", "d41d8cd98f00b204e9800998ecf8427e", "zz1d8cd98f00b204e9800998ecf8427e  a.gz", &format!("{md5}  a b")] {
            assert!(parse_checksums(bad).unwrap_err().contains("line 1"), "{bad}");
        }
    }

    #[test]
    fn the_digest_follows_the_expected_length() {
        assert_eq!(hex_digest(&"0".repeat(32), b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex_digest(&"0".repeat(64), b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
