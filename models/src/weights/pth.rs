//! `torch.save(model.state_dict(), f)` files (`.pth`, `.pt`, `.bin`): the zip
//! archive PyTorch writes since 1.6 (`ARCHIVE/data.pkl` plus one stored entry
//! per storage, `ARCHIVE/data/KEY`), and the legacy format before it (pickles
//! back to back, then each storage's raw bytes), which older published
//! weights such as torchvision's DenseNet-121 still use.

use std::collections::HashMap;

use super::pickle::{self, TensorRef, Value};
use super::Tensor32;

/// The first pickle of a legacy file is the number 0x1950a86a20f9469cfc6c,
/// which is wider than 64 bits: the pickle machine hands it over as its bytes.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// The state dict's tensors by key, in the file's order, as float32.
pub fn read(bytes: &[u8]) -> Result<Vec<(String, Tensor32)>, String> {
    if bytes.starts_with(b"PK\x03\x04") {
        let zip = Zip::open(bytes)?;
        let pkl = zip
            .names()
            .find(|n| n.ends_with("/data.pkl") || *n == "data.pkl")
            .ok_or("a zip archive without data.pkl (not a torch.save file)")?;
        let prefix = pkl.trim_end_matches("data.pkl").to_string();
        let (value, _) = pickle::load(zip.entry(pkl)?)?;
        tensors(value, |t| {
            let name = format!("{prefix}data/{}", t.key);
            zip.entry(&name).map_err(|e| format!("storage {}: {e}", t.key))
        })
    } else if bytes.starts_with(b"\x80") {
        legacy(bytes)
    } else {
        Err("neither a zip archive nor a pickle (not a torch.save file)".into())
    }
}

fn legacy(bytes: &[u8]) -> Result<Vec<(String, Tensor32)>, String> {
    let mut pos = 0;
    let mut next = |what: &str| -> Result<Value, String> {
        let (v, n) = pickle::load(&bytes[pos..]).map_err(|e| format!("{what}: {e}"))?;
        pos += n;
        Ok(v)
    };
    if next("magic number")? != Value::Bytes(LEGACY_MAGIC.to_vec()) {
        return Err("a pickle that is not a torch.save file (no magic number)".into());
    }
    let _protocol = next("protocol version")?;
    let _sys_info = next("system information")?;
    let main = next("the state dict")?;
    let keys = match next("storage keys")? {
        Value::List(keys) => keys,
        _ => return Err("the storage key list is not a list".into()),
    };
    // Each storage follows in the order of `keys`: its element count, then its bytes.
    let sizes = element_sizes(&main);
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    for key in keys {
        let Value::Str(key) = key else { return Err("a storage key that is not a string".into()) };
        let elem = *sizes.get(&key).ok_or_else(|| format!("storage {key} is not used by any tensor"))?;
        let count = bytes.get(pos..pos + 8).ok_or("the file ends before a storage (truncated?)")?;
        let count = u64::from_le_bytes(count.try_into().expect("8 bytes")) as usize;
        let len = count.checked_mul(elem).ok_or("a storage too large")?;
        let data = bytes.get(pos + 8..pos + 8 + len).ok_or("the file ends inside a storage (truncated?)")?;
        storages.insert(key, data);
        pos += 8 + len;
    }
    tensors(main, |t| storages.get(&t.key).copied().ok_or_else(|| format!("storage {} is missing", t.key)))
}

/// The element size of each storage the tensors of `v` point at.
fn element_sizes(v: &Value) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    if let Value::Dict(items) = v {
        for (_, t) in items {
            if let Value::Tensor(t) = t {
                if let Some(size) = dtype_size(&t.dtype) {
                    out.insert(t.key.clone(), size);
                }
            }
        }
    }
    out
}

fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "DoubleStorage" | "LongStorage" => 8,
        "FloatStorage" | "IntStorage" => 4,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "ByteStorage" | "CharStorage" | "BoolStorage" => 1,
        _ => return None,
    })
}

/// The top-level dict's tensors; `storage` gives a storage's bytes.
fn tensors<'a>(value: Value, storage: impl Fn(&TensorRef) -> Result<&'a [u8], String>) -> Result<Vec<(String, Tensor32)>, String> {
    let items = match value {
        Value::Dict(items) => items,
        Value::Tensor(_) => return Err("holds one tensor, not a state dict".into()),
        Value::Call(f, _) => return Err(format!("holds a pickled {} object, not a state dict (save model.state_dict())", describe(&f))),
        other => return Err(format!("holds a {}, not a state dict", kind(&other))),
    };
    // A checkpoint dict such as {"model": state_dict, "epoch": 3}: the one dict of tensors inside.
    if !items.iter().any(|(_, v)| matches!(v, Value::Tensor(_))) {
        let nested: Vec<&(Value, Value)> =
            items.iter().filter(|(_, v)| matches!(v, Value::Dict(d) if d.iter().any(|(_, t)| matches!(t, Value::Tensor(_))))).collect();
        if let [(Value::Str(k), Value::Dict(_))] = nested.as_slice() {
            let k = k.clone();
            let inner = items.into_iter().find(|(key, _)| *key == Value::Str(k.clone())).map(|(_, v)| v).expect("found above");
            return tensors(inner, storage);
        }
        return Err("a dict with no tensors in it (not a state dict)".into());
    }
    let mut out = vec![];
    for (k, v) in items {
        let Value::Str(name) = k else { return Err(format!("a key that is not a string: {k:?}")) };
        let Value::Tensor(t) = v else { continue };
        let data = storage(&t)?;
        out.push((name.clone(), materialize(&t, data).map_err(|e| format!("{name}: {e}"))?));
    }
    Ok(out)
}

fn describe(v: &Value) -> String {
    match v {
        Value::Global(m, n) => format!("{m}.{n}"),
        _ => "Python".into(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "list",
        Value::Tuple(_) => "tuple",
        Value::Str(_) => "string",
        Value::Int(_) | Value::Float(_) => "number",
        _ => "value",
    }
}

/// The tensor's elements in row-major order, read through its strides, as float32.
fn materialize(t: &TensorRef, data: &[u8]) -> Result<Tensor32, String> {
    let elem = dtype_size(&t.dtype).ok_or_else(|| format!("storage type {} is not supported", t.dtype))?;
    let read = |i: usize| -> f32 {
        let b = &data[i * elem..(i + 1) * elem];
        match t.dtype.as_str() {
            "FloatStorage" => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            "DoubleStorage" => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            "HalfStorage" => super::f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            "BFloat16Storage" => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
            "LongStorage" => i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            "IntStorage" => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            "ShortStorage" => i16::from_le_bytes([b[0], b[1]]) as f32,
            "CharStorage" => b[0] as i8 as f32,
            _ => b[0] as f32,
        }
    };
    let numel: usize = t.size.iter().product();
    let available = data.len() / elem;
    if numel > 0 {
        let last = t.offset + t.size.iter().zip(&t.stride).map(|(&n, &s)| (n - 1) * s).sum::<usize>();
        if last >= available {
            return Err(format!("reads element {last} of a storage of {available} (truncated?)"));
        }
    }
    // The common case, a dense float32 tensor, is one pass over its bytes.
    let row_major = t.size.iter().zip(&t.stride).rev().try_fold(1usize, |dense, (&n, &s)| (n <= 1 || s == dense).then_some(dense * n));
    if row_major.is_some() && t.dtype == "FloatStorage" {
        let bytes = &data[t.offset * 4..(t.offset + numel) * 4];
        let out = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        return Ok(Tensor32 { shape: t.size.clone(), data: out });
    }
    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.size.len()];
    for _ in 0..numel {
        let at = t.offset + index.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        out.push(read(at));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(Tensor32 { shape: t.size.clone(), data: out })
}

/// The entries of a zip archive as PyTorch writes it: stored, not compressed.
struct Zip<'a> {
    bytes: &'a [u8],
    /// name -> (offset of the local header, size)
    entries: Vec<(String, usize, usize, u16)>,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or_else(|| "the zip archive is cut short (truncated?)".into())
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| "the zip archive is cut short (truncated?)".into())
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
        .ok_or_else(|| "the zip archive is cut short (truncated?)".into())
}

impl<'a> Zip<'a> {
    fn open(bytes: &'a [u8]) -> Result<Zip<'a>, String> {
        // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
        let from = bytes.len().saturating_sub(22 + 65535);
        let eocd = (from..bytes.len().saturating_sub(21))
            .rev()
            .find(|&i| bytes[i..].starts_with(b"PK\x05\x06"))
            .ok_or("a zip archive without its directory (truncated?)")?;
        let mut count = u16_at(bytes, eocd + 10)? as u64;
        let mut dir = u32_at(bytes, eocd + 16)? as u64;
        // Zip64: the real figures are in the zip64 end record that its locator points at.
        if eocd >= 20 && bytes[eocd - 20..].starts_with(b"PK\x06\x07") {
            let rec = u64_at(bytes, eocd - 20 + 8)? as usize;
            if !bytes.get(rec..).is_some_and(|b| b.starts_with(b"PK\x06\x06")) {
                return Err("a zip64 archive whose directory record is missing".into());
            }
            count = u64_at(bytes, rec + 32)?;
            dir = u64_at(bytes, rec + 48)?;
        }
        let mut entries = vec![];
        let mut at = dir as usize;
        for _ in 0..count {
            if !bytes.get(at..).is_some_and(|b| b.starts_with(b"PK\x01\x02")) {
                return Err("a damaged zip directory".into());
            }
            let method = u16_at(bytes, at + 10)?;
            let mut size = u32_at(bytes, at + 20)? as u64;
            let (name_len, extra_len, comment_len) =
                (u16_at(bytes, at + 28)? as usize, u16_at(bytes, at + 30)? as usize, u16_at(bytes, at + 32)? as usize);
            let mut offset = u32_at(bytes, at + 42)? as u64;
            let name = bytes.get(at + 46..at + 46 + name_len).ok_or("a damaged zip directory")?;
            let name = String::from_utf8_lossy(name).into_owned();
            // Zip64 extra field: the 64-bit sizes and offset for values saturated at 0xffffffff.
            let mut e = at + 46 + name_len;
            let extra_end = e + extra_len;
            while e + 4 <= extra_end {
                let (id, len) = (u16_at(bytes, e)?, u16_at(bytes, e + 2)? as usize);
                if id == 1 {
                    let mut f = e + 4;
                    if u32_at(bytes, at + 24)? == u32::MAX {
                        f += 8; // the uncompressed size comes first
                    }
                    if size == u32::MAX as u64 {
                        size = u64_at(bytes, f)?;
                        f += 8;
                    }
                    if offset == u32::MAX as u64 {
                        offset = u64_at(bytes, f)?;
                    }
                }
                e += 4 + len;
            }
            entries.push((name, offset as usize, size as usize, method));
            at = extra_end + comment_len;
        }
        Ok(Zip { bytes, entries })
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.0.as_str())
    }

    fn entry(&self, name: &str) -> Result<&'a [u8], String> {
        let (_, offset, size, method) = self.entries.iter().find(|e| e.0 == name).ok_or_else(|| format!("{name} is not in the archive"))?;
        if *method != 0 {
            return Err(format!("{name} is compressed (method {method}); torch.save stores entries uncompressed"));
        }
        if !self.bytes.get(*offset..).is_some_and(|b| b.starts_with(b"PK\x03\x04")) {
            return Err(format!("{name}: a damaged zip entry"));
        }
        let start = offset + 30 + u16_at(self.bytes, offset + 26)? as usize + u16_at(self.bytes, offset + 28)? as usize;
        self.bytes.get(start..start + size).ok_or_else(|| format!("{name}: the archive ends inside it (truncated?)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(size: &[usize], stride: &[usize], offset: usize) -> TensorRef {
        TensorRef { dtype: "FloatStorage".into(), key: "0".into(), storage_numel: 8, offset, size: size.into(), stride: stride.into() }
    }

    #[test]
    fn dense_and_strided_tensors_read_in_row_major_order() {
        let data: Vec<u8> = (0..8).flat_map(|v| (v as f32).to_le_bytes()).collect();
        // Dense 2x3 from element 1, then its transpose (a view with swapped strides).
        assert_eq!(materialize(&tensor(&[2, 3], &[3, 1], 1), &data).unwrap().data, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(materialize(&tensor(&[3, 2], &[1, 3], 0), &data).unwrap().data, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        // A size-1 axis with any stride is still dense; a scalar is one element.
        assert_eq!(materialize(&tensor(&[1, 4], &[99, 1], 4), &data).unwrap().data, [4.0, 5.0, 6.0, 7.0]);
        assert_eq!(materialize(&tensor(&[], &[], 7), &data).unwrap().data, [7.0]);
        assert!(materialize(&tensor(&[3, 3], &[3, 1], 0), &data).unwrap_err().contains("truncated"));
    }
}
