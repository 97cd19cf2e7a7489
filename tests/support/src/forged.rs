//! Forged files the readers must refuse before allocating.

/// A BMP header claiming 60000 x 60000 pixels, with no pixel data.
pub fn huge_bmp() -> Vec<u8> {
    let mut b = b"BM".to_vec();
    for v in [54u32, 0, 54, 40] {
        b.extend(v.to_le_bytes());
    }
    b.extend(60_000i32.to_le_bytes());
    b.extend(60_000i32.to_le_bytes());
    b.extend([1, 0, 24, 0]);
    b.extend([0u8; 24]);
    b
}
