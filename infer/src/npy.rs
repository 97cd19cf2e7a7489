//! NumPy's `.npy` format (version 1.0) for feature matrices: what
//! `cnnzoo-infer --features --format npy` writes, readable by `numpy.load`.

use ndarray::Array2;

/// `[N, D]` float32, little-endian, C order, with its header padded to 64 bytes.
pub fn npy_bytes(a: &Array2<f32>) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", a.nrows(), a.ncols());
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(a.iter().flat_map(|v| v.to_le_bytes()));
    bytes
}

#[cfg(test)]
mod tests {
    use super::npy_bytes;

    #[test]
    fn header_and_data_follow_the_format() {
        let a = ndarray::arr2(&[[1.0f32, -2.5], [0.0, 3.25], [7.0, 8.0]]);
        let b = npy_bytes(&a);
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + len) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + len]).unwrap_or_default();
        assert_eq!(header.trim_end(), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }");
        assert!(header.ends_with('\n'));
        let data: Vec<f32> = b[10 + len..].chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(data, [1.0, -2.5, 0.0, 3.25, 7.0, 8.0]);
    }
}
