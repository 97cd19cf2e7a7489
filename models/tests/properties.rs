//! Property-based tests of the readers that take bytes from users: whatever
//! the bytes, the IDX reader, the card parser and the image decoder return a
//! value or an error; they never panic, and never allocate past their bounds
//! (a forged size that slipped through would abort the test process).

use std::collections::HashMap;
use std::path::Path;

use cnnzoo_models::card::keys;
use cnnzoo_models::card::Card;
use cnnzoo_models::data::{decode_image, parse_split};
use proptest::prelude::*;

use cnnzoo_test_support::forged;

#[test]
fn a_forged_size_hits_the_limits_before_allocating() {
    let e = decode_image(&forged::huge_bmp(), Path::new("big.bmp")).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.starts_with("big.bmp:") && e.to_lowercase().contains("limit"), "{e:?}");
}

/// An IDX header with the right magic and arbitrary dimensions, then arbitrary bytes.
fn idx(magic: u32, dims: Vec<u32>, body: Vec<u8>) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend(body);
    b
}

/// Starts of real image formats, so that the bytes reach each decoder.
const MAGICS: [&[u8]; 8] =
    [b"\x89PNG\r\n\x1a\n", b"\xFF\xD8\xFF\xE0", b"GIF89a", b"BM", b"II*\0", b"MM\0*", b"RIFF\0\0\0\0WEBPVP8 ", b"P5\n"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn idx_never_panics_on_arbitrary_bytes(images in proptest::collection::vec(any::<u8>(), 0..256), labels in proptest::collection::vec(any::<u8>(), 0..64), classes in 0usize..20) {
        let _ = parse_split((Path::new("i"), images), (Path::new("l"), labels), classes);
    }

    #[test]
    fn idx_never_panics_on_forged_headers(dims in proptest::collection::vec(any::<u32>(), 3), body in proptest::collection::vec(any::<u8>(), 0..512), n in any::<u32>(), gz in any::<bool>()) {
        let images = idx(0x0803, dims, body.clone());
        let labels = idx(0x0801, vec![n], body);
        let images = if gz {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
            e.write_all(&images).map_err(|e| TestCaseError::fail(e.to_string()))?;
            e.finish().map_err(|e| TestCaseError::fail(e.to_string()))?
        } else {
            images
        };
        if let Ok(split) = parse_split((Path::new("i"), images), (Path::new("l"), labels), 10) {
            // What it accepts is consistent with itself.
            prop_assert_eq!(split.pixels.len(), split.count * split.rows * split.cols);
            prop_assert_eq!(split.labels.len(), split.count);
            prop_assert!(split.rows > 0 && split.cols > 0 && split.count > 0);
        }
    }

    #[test]
    fn the_card_parser_never_panics(format in "[0-9a-z]{0,4}", classes in ".{0,40}", pre in ".{0,80}", acc in ".{0,8}", channels in 0usize..6, size in any::<u32>(), scale in any::<f32>(), m in any::<f32>(), s in any::<f32>()) {
        let structured = format!(r#"{{"channels":{channels},"size":{size},"resize":"bilinear","scale":{scale},"mean":[{m}],"std":[{s}]}}"#);
        for preprocessing in [pre.as_str(), structured.as_str()] {
            let entries: HashMap<String, String> = [
                (keys::FORMAT, format.as_str()), (keys::FORMAT, "1"), (keys::ARCH, "x"), (keys::CLASSES, classes.as_str()),
                (keys::PREPROCESSING, preprocessing), (keys::TEST_ACC, acc.as_str()),
            ].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let entries: Vec<(&String, &String)> = entries.iter().collect();
            if let Ok(Some(card)) = Card::from_metadata(&entries) {
                // What it accepts can be carried out.
                prop_assert!(card.preprocessing.validate().is_ok());
                prop_assert!(matches!(card.preprocessing.channels, 1 | 3));
            }
        }
    }

    #[test]
    fn the_image_decoder_never_panics(magic in 0usize..MAGICS.len(), tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = MAGICS[magic].to_vec();
        bytes.extend(tail);
        if let Ok(img) = decode_image(&bytes, Path::new("x")) {
            prop_assert!(u64::from(img.width()) * u64::from(img.height()) <= 1 << 30);
        }
    }
}
