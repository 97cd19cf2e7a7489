//! The safetensors format (Hugging Face): an 8-byte little-endian header
//! length, a JSON header naming each tensor's dtype, shape and byte range,
//! then the raw little-endian data. Read for any float dtype; written as F32.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::Tensor32;

/// Headers are a few hundred KB at most; a larger one is not a header.
const MAX_HEADER: u64 = 100 << 20;

/// Tensors by name, in the file's order.
pub type Named = Vec<(String, Tensor32)>;

/// The tensors in the file's data order, as float32, and its `__metadata__`.
pub fn read(bytes: &[u8]) -> Result<(Named, BTreeMap<String, String>), String> {
    let len = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).ok_or("shorter than a safetensors header")?;
    if len > MAX_HEADER || 8 + len > bytes.len() as u64 {
        return Err(format!("a header of {len} bytes in a file of {} (not safetensors, or truncated)", bytes.len()));
    }
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes[8..8 + len as usize]).map_err(|e| format!("the header is not safetensors JSON: {e}"))?;
    let data = &bytes[8 + len as usize..];
    let mut metadata = BTreeMap::new();
    let mut entries = vec![];
    for (name, info) in header {
        if name == "__metadata__" {
            if let Value::Object(m) = info {
                metadata = m.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string()))).collect();
            }
            continue;
        }
        let bad = |what: &str| format!("{name}: {what}");
        let dtype = info["dtype"].as_str().ok_or_else(|| bad("no dtype"))?.to_string();
        let shape: Vec<usize> = info["shape"]
            .as_array()
            .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
            .ok_or_else(|| bad("no shape"))?;
        let [begin, end] = info["data_offsets"]
            .as_array()
            .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
            .and_then(|v| <[u64; 2]>::try_from(v).ok())
            .ok_or_else(|| bad("no data_offsets"))?;
        let raw = data
            .get(begin as usize..end as usize)
            .filter(|_| begin <= end)
            .ok_or_else(|| bad("its bytes lie past the end of the file (truncated?)"))?;
        let numel: usize = shape.iter().product();
        let values = decode(&dtype, raw).ok_or_else(|| bad(&format!("dtype {dtype} is not a number type this reader knows")))?;
        if values.len() != numel {
            return Err(bad(&format!("{} values for shape {shape:?}", values.len())));
        }
        entries.push((begin, name, Tensor32 { shape, data: values }));
    }
    entries.sort_by_key(|e| e.0);
    Ok((entries.into_iter().map(|(_, n, t)| (n, t)).collect(), metadata))
}

fn decode(dtype: &str, raw: &[u8]) -> Option<Vec<f32>> {
    let each = |n: usize, f: &dyn Fn(&[u8]) -> f32| -> Option<Vec<f32>> {
        raw.len().is_multiple_of(n).then(|| raw.chunks_exact(n).map(f).collect())
    };
    match dtype {
        "F32" => each(4, &|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "F64" => each(8, &|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32),
        "F16" => each(2, &|b| super::f16_to_f32(u16::from_le_bytes([b[0], b[1]]))),
        "BF16" => each(2, &|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)),
        "I64" => each(8, &|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32),
        "I32" => each(4, &|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32),
        _ => None,
    }
}

/// A tensor to write: float32 values, or a 64-bit integer scalar (PyTorch's
/// `num_batches_tracked` buffers, which a strict `load_state_dict` requires).
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    F32(&'a Tensor32),
    I64(i64),
}

/// A safetensors file of `tensors` as F32, in the given order, with `metadata`.
pub fn write<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a Tensor32)>, metadata: &BTreeMap<String, String>) -> Vec<u8> {
    write_entries(tensors.into_iter().map(|(n, t)| (n, Entry::F32(t))), metadata)
}

/// [`write`] for entries of either kind.
pub fn write_entries<'a>(tensors: impl IntoIterator<Item = (&'a str, Entry<'a>)>, metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), json!(metadata));
    }
    let mut data = vec![];
    for (name, t) in tensors {
        let begin = data.len();
        let (dtype, shape) = match t {
            Entry::F32(t) => {
                data.extend(t.data.iter().flat_map(|v| v.to_le_bytes()));
                ("F32", t.shape.clone())
            }
            Entry::I64(v) => {
                data.extend(v.to_le_bytes());
                ("I64", vec![])
            }
        };
        header.insert(name.into(), json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, data.len()]}));
    }
    let mut text = serde_json::to_vec(&Value::Object(header)).expect("a JSON map serializes");
    // The data starts on an 8-byte boundary, as the format recommends.
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + data.len());
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text);
    out.extend(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_and_truncation_is_an_error() {
        let a = Tensor32 { shape: vec![2, 3], data: vec![1.0, -2.0, 3.5, 0.0, 1e-7, 6.0] };
        let b = Tensor32 { shape: vec![], data: vec![4.0] };
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let bytes = write([("layer.weight", &a), ("scalar", &b)], &meta);
        let (read_back, m) = read(&bytes).unwrap();
        assert_eq!(read_back, vec![("layer.weight".to_string(), a), ("scalar".to_string(), b)]);
        assert_eq!(m, meta);
        for cut in [0, 7, 9, bytes.len() - 1] {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
