//! File paths in JSON output, faithfully. A path is a JSON string; a name
//! that is not valid UTF-8 keeps each byte that does not decode as a lone
//! surrogate escape `\udcXX`, the convention of Python's `surrogateescape`
//! (PEP 383): `os.fsencode(record["path"])` gives back the exact bytes, and
//! every valid name reads as itself. A newline in a name is `\n`, so one
//! record stays one line.

use std::fmt::Write as _;
use std::path::Path;

/// The JSON string literal of `path`, quotes included.
pub fn path_literal(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::from("\"");
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        // serde_json escapes the valid part as any string.
        let valid = serde_json::Value::from(chunk.valid()).to_string();
        out.push_str(&valid[1..valid.len() - 1]);
        for &b in chunk.invalid() {
            let _ = write!(out, "\\udc{b:02x}");
        }
    }
    out.push('"');
    out
}

/// A JSON object of `paths` (in order) followed by the fields of `rest`
/// (an object), on one line.
pub fn json_record(paths: &[(&str, &Path)], rest: serde_json::Value) -> String {
    let mut fields: Vec<String> = paths.iter().map(|(k, p)| format!("{}:{}", serde_json::Value::from(*k), path_literal(p))).collect();
    let rest = rest.to_string();
    let inner = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or("");
    if !inner.is_empty() {
        fields.push(inner.to_string());
    }
    format!("{{{}}}", fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn valid_names_read_as_themselves_and_bad_bytes_as_surrogates() {
        assert_eq!(path_literal(Path::new("a/b \"c\".png")), r#""a/b \"c\".png""#);
        assert_eq!(path_literal(Path::new("two\nlines.png")), r#""two\nlines.png""#);
        let bad = Path::new(OsStr::from_bytes(b"caf\xe9\xff.png"));
        assert_eq!(path_literal(bad), r#""caf\udce9\udcff.png""#);
        let record = json_record(&[("path", bad)], serde_json::json!({"top": [1]}));
        assert_eq!(record, r#"{"path":"caf\udce9\udcff.png","top":[1]}"#);
        assert_eq!(json_record(&[("path", Path::new("x"))], serde_json::json!({})), r#"{"path":"x"}"#);
    }
}
