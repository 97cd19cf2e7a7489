//! Just enough of Python's pickle machine to read what `torch.save` writes for
//! a `state_dict`: dicts, tuples, lists, strings, numbers, the globals that
//! rebuild tensors, and the persistent ids that point at tensor storages.
//!
//! It executes no code: a global is only a name, and calling one builds a
//! value only for the few callables a state dict uses (`OrderedDict`,
//! `_rebuild_tensor_v2`, `_rebuild_parameter`); anything else becomes an
//! opaque call that a state dict would never hold where a tensor is expected.

use std::collections::HashMap;

/// A value on the pickle machine's stack.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Entries in insertion order (an `OrderedDict` is one too).
    Dict(Vec<(Value, Value)>),
    /// `module.name`, not resolved.
    Global(String, String),
    /// What a persistent id resolves to: a storage of `dtype` (`FloatStorage`, ...) named `key`.
    Storage {
        dtype: String,
        key: String,
        numel: usize,
    },
    /// `_rebuild_tensor_v2(storage, offset, size, stride, ...)`.
    Tensor(TensorRef),
    /// A call of any other global, kept as data.
    Call(Box<Value>, Vec<Value>),
    /// The stack's mark (an internal sentinel).
    Mark,
}

/// A tensor as a view into a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub dtype: String,
    pub key: String,
    pub storage_numel: usize,
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
}

fn err<T>(at: usize, what: impl std::fmt::Display) -> Result<T, String> {
    Err(format!("pickle byte {at}: {what}"))
}

/// Runs the pickle in `data` to its STOP and returns the value, with the
/// number of bytes read (legacy files hold several pickles back to back).
pub fn load(data: &[u8]) -> Result<(Value, usize), String> {
    let mut m = Machine { data, pos: 0, stack: vec![], memo: HashMap::new() };
    let value = m.run()?;
    Ok((value, m.pos))
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.data.len() - self.pos < n {
            return err(self.pos, "the file ends inside a pickle (truncated?)");
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut b = [0u8; N];
        b.copy_from_slice(self.take(N)?);
        Ok(b)
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else { return err(self.pos, "a line that never ends") };
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }

    fn text(&mut self, n: usize) -> Result<Value, String> {
        let at = self.pos;
        match String::from_utf8(self.take(n)?.to_vec()) {
            Ok(s) => Ok(Value::Str(s)),
            Err(_) => err(at, "a string that is not UTF-8"),
        }
    }

    fn pop(&mut self) -> Result<Value, String> {
        match self.stack.pop() {
            Some(Value::Mark) | None => err(self.pos, "an opcode found the stack empty (not a pickle?)"),
            Some(v) => Ok(v),
        }
    }

    /// Everything above the topmost mark, in order; the mark is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let Some(k) = self.stack.iter().rposition(|v| *v == Value::Mark) else { return err(self.pos, "no mark on the stack") };
        let items = self.stack.split_off(k + 1);
        self.stack.pop();
        Ok(items)
    }

    fn top_dict(&mut self) -> Result<&mut Vec<(Value, Value)>, String> {
        let at = self.pos;
        match self.stack.last_mut() {
            Some(Value::Dict(d)) => Ok(d),
            _ => err(at, "items set on something that is not a dict"),
        }
    }

    fn top_list(&mut self) -> Result<&mut Vec<Value>, String> {
        let at = self.pos;
        match self.stack.last_mut() {
            Some(Value::List(l)) => Ok(l),
            _ => err(at, "items appended to something that is not a list"),
        }
    }

    fn memo_get(&mut self, k: u32) -> Result<(), String> {
        let v = self.memo.get(&k).cloned();
        match v {
            Some(v) => {
                self.stack.push(v);
                Ok(())
            }
            None => err(self.pos, format!("memo {k} read before it was written")),
        }
    }

    fn memo_put(&mut self, k: u32) -> Result<(), String> {
        let at = self.pos;
        let v = self.stack.last().cloned().ok_or_else(|| format!("pickle byte {at}: memo of an empty stack"))?;
        self.memo.insert(k, v);
        Ok(())
    }

    fn run(&mut self) -> Result<Value, String> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO n
                }
                0x95 => {
                    self.le::<8>()?; // FRAME: a length hint
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.stack.push(Value::Mark),
                b')' => self.stack.push(Value::Tuple(vec![])),
                b']' => self.stack.push(Value::List(vec![])),
                b'}' => self.stack.push(Value::Dict(vec![])),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64))
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.stack.push(Value::Int(v as i64))
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.stack.push(Value::Int(v as i64))
                }
                0x8a => {
                    // LONG1: a little-endian two's-complement integer of n bytes;
                    // one wider than 64 bits (the legacy format's magic) stays bytes.
                    let n = self.u8()? as usize;
                    let bytes = self.take(n)?;
                    if n > 8 {
                        let wide = Value::Bytes(bytes.to_vec());
                        self.stack.push(wide);
                        continue;
                    }
                    let mut b = [if bytes.last().is_some_and(|&x| x & 0x80 != 0) { 0xff } else { 0 }; 8];
                    b[..n].copy_from_slice(bytes);
                    self.stack.push(Value::Int(i64::from_le_bytes(b)))
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.stack.push(Value::Float(v))
                }
                b'X' => {
                    let n = u32::from_le_bytes(self.le()?) as usize;
                    let v = self.text(n)?;
                    self.stack.push(v)
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v)
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.le()?) as usize;
                    let v = self.text(n)?;
                    self.stack.push(v)
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let v = self.take(n)?.to_vec();
                    self.stack.push(Value::Str(String::from_utf8_lossy(&v).into_owned()))
                }
                b'T' => {
                    let n = u32::from_le_bytes(self.le()?) as usize;
                    let v = self.take(n)?.to_vec();
                    self.stack.push(Value::Str(String::from_utf8_lossy(&v).into_owned()))
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let v = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(v))
                }
                b'B' => {
                    let n = u32::from_le_bytes(self.le()?) as usize;
                    let v = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(v))
                }
                b'c' => {
                    let (module, name) = (self.line()?, self.line()?);
                    self.stack.push(Value::Global(module, name))
                }
                0x93 => {
                    // STACK_GLOBAL
                    let (name, module) = (self.pop()?, self.pop()?);
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => return err(at, "a global whose names are not strings"),
                    }
                }
                // BINPUT, LONG_BINPUT, MEMOIZE: the top of the stack into the
                // memo, at a one- or four-byte index or the next free one.
                b'q' | b'r' | 0x94 => {
                    let k = match op {
                        b'q' => self.u8()? as u32,
                        b'r' => u32::from_le_bytes(self.le()?),
                        _ => self.memo.len() as u32,
                    };
                    self.memo_put(k)?
                }
                // BINGET, LONG_BINGET: a memo entry back onto the stack.
                b'h' => {
                    let k = self.u8()? as u32;
                    self.memo_get(k)?
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.le()?);
                    self.memo_get(k)?
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items))
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return err(at, "a tuple of more items than the stack holds");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items))
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items))
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items, at)?;
                    self.stack.push(Value::Dict(pairs))
                }
                b'a' => {
                    let v = self.pop()?;
                    self.top_list()?.push(v)
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.top_list()?.extend(items)
                }
                b's' => {
                    let (v, k) = (self.pop()?, self.pop()?);
                    self.top_dict()?.push((k, v))
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items, at)?;
                    self.top_dict()?.extend(pairs)
                }
                b'R' => {
                    let (args, f) = (self.pop()?, self.pop()?);
                    let Value::Tuple(args) = args else { return err(at, "a call whose arguments are not a tuple") };
                    let v = call(f, args).map_err(|e| format!("pickle byte {at}: {e}"))?;
                    self.stack.push(v)
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args), kept as data like any call.
                    let (args, cls) = (self.pop()?, self.pop()?);
                    let Value::Tuple(args) = args else { return err(at, "an object whose arguments are not a tuple") };
                    self.stack.push(Value::Call(Box::new(cls), args))
                }
                b'b' => {
                    // BUILD: sets an object's state; a state dict's `_metadata` is not needed.
                    self.pop()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = persistent(pid).map_err(|e| format!("pickle byte {at}: {e}"))?;
                    self.stack.push(v)
                }
                b'0' => {
                    self.pop()?;
                }
                other => return err(at, format!("opcode 0x{other:02x} is not one a state dict uses (not a PyTorch weights file?)")),
            }
        }
    }
}

fn pairs(items: Vec<Value>, at: usize) -> Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return err(at, "a dict with a key and no value");
    }
    let mut it = items.into_iter();
    let mut out = vec![];
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn usize_of(v: &Value, what: &str) -> Result<usize, String> {
    match v {
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        _ => Err(format!("{what}: expected a non-negative integer, found {v:?}")),
    }
}

fn usizes(v: &Value, what: &str) -> Result<Vec<usize>, String> {
    match v {
        Value::Tuple(items) | Value::List(items) => items.iter().map(|i| usize_of(i, what)).collect(),
        _ => Err(format!("{what}: expected a tuple, found {v:?}")),
    }
}

/// The persistent id `('storage', torch.FloatStorage, key, location, numel)`.
fn persistent(pid: Value) -> Result<Value, String> {
    let Value::Tuple(items) = pid else { return Err("a persistent id that is not a tuple".into()) };
    match items.as_slice() {
        [Value::Str(tag), Value::Global(_, dtype), key, _location, numel, ..] if tag == "storage" => {
            let key = match key {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                other => return Err(format!("a storage key {other:?}")),
            };
            Ok(Value::Storage { dtype: dtype.clone(), key, numel: usize_of(numel, "storage size")? })
        }
        _ => Err(format!("a persistent id that is not a tensor storage: {items:?}")),
    }
}

fn call(f: Value, args: Vec<Value>) -> Result<Value, String> {
    let Value::Global(module, name) = &f else { return Ok(Value::Call(Box::new(f), args)) };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => match args.as_slice() {
            [] => Ok(Value::Dict(vec![])),
            _ => Ok(Value::Call(Box::new(f), args)),
        },
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let [Value::Storage { dtype, key, numel }, offset, size, stride, ..] = args.as_slice() else {
                return Err(format!("{module}.{name} called without a storage, offset, size and stride"));
            };
            let (size, stride) = (usizes(size, "tensor size")?, usizes(stride, "tensor stride")?);
            if size.len() != stride.len() {
                return Err(format!("a tensor with {} sizes and {} strides", size.len(), stride.len()));
            }
            Ok(Value::Tensor(TensorRef {
                dtype: dtype.clone(),
                key: key.clone(),
                storage_numel: *numel,
                offset: usize_of(offset, "storage offset")?,
                size,
                stride,
            }))
        }
        ("torch._utils", "_rebuild_parameter") | ("torch._utils", "_rebuild_parameter_with_state") => match args.into_iter().next() {
            Some(t @ Value::Tensor(_)) => Ok(t),
            _ => Err("a parameter rebuilt from something that is not a tensor".into()),
        },
        _ => Ok(Value::Call(Box::new(f), args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_dict_of_small_values() {
        // pickle.dumps({"a": (1, 300, -2), "b": [True, None, 1.5]}, protocol=2)
        let bytes = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01M,\x01J\xfe\xff\xff\xff\x87q\x02X\x01\x00\x00\x00bq\x03]q\x04(\x88NG?\xf8\x00\x00\x00\x00\x00\x00eu.";
        let (v, n) = load(bytes).unwrap();
        assert_eq!(n, bytes.len());
        let Value::Dict(d) = v else { panic!("{v:?}") };
        assert_eq!(d[0], (Value::Str("a".into()), Value::Tuple(vec![Value::Int(1), Value::Int(300), Value::Int(-2)])));
        assert_eq!(d[1].1, Value::List(vec![Value::Bool(true), Value::None, Value::Float(1.5)]));
    }

    #[test]
    fn a_truncated_pickle_is_an_error_not_a_panic() {
        let bytes = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01M,\x01J\xfe\xff\xff\xff\x87q\x02X\x01\x00\x00\x00bq\x03]q\x04(\x88NG?\xf8\x00\x00\x00\x00\x00\x00eu.";
        for cut in 0..bytes.len() {
            assert!(load(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(load(b"\x80\x02\xffgarbage").unwrap_err().contains("opcode 0xff"));
    }
}
