//! Decisions made by measurement and remembered per machine: which precision
//! and memory layout trains a network fastest (`cnnzoo-train`), which
//! execution provider runs a model fastest (`cnnzoo-infer`). Each is measured
//! once, on first use, and kept in `autotune.json` in the set-up's cache under
//! a key that names the machine and the question; later runs pay nothing.
//! A cache that cannot be read or written costs a new measurement, never a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The file decisions are kept in: `autotune.json` in the set-up's cache.
pub fn cache_file() -> PathBuf {
    crate::fsio::cache_dir().join("autotune.json")
}

/// The value remembered under `key` in `file`, if one is there and `valid`
/// accepts it (a decision measured among other candidates is measured again).
pub fn recall<T: DeserializeOwned>(file: &Path, key: &str, valid: impl Fn(&T) -> bool) -> Option<T> {
    let all: BTreeMap<String, serde_json::Value> = std::fs::read(file).ok().and_then(|b| serde_json::from_slice(&b).ok())?;
    serde_json::from_value(all.get(key)?.clone()).ok().filter(valid)
}

/// Remembers `value` under `key` in `file`, keeping every other key; written
/// atomically, so that concurrent runs lose at most a decision, never the file.
pub fn remember<T: Serialize>(file: &Path, key: &str, value: &T) {
    let mut all: BTreeMap<String, serde_json::Value> =
        std::fs::read(file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let Ok(value) = serde_json::to_value(value) else { return };
    all.insert(key.to_string(), value);
    if let Ok(json) = serde_json::to_vec_pretty(&all) {
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::fsio::write_atomic(file, &json);
    }
}

/// The machine a measurement holds for: the CPU's model name and the threads
/// it runs on (`/proc/cpuinfo`; the architecture where that cannot be read).
pub fn cpu(threads: usize) -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|n| n.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model}, {threads} threads")
}

/// Whether this CPU has bfloat16 instructions (AVX-512 BF16 or AMX on
/// x86-64, BF16 on Arm), without which bf16 is emulated: only then is bf16 a
/// candidate for training's `--precision auto`, and OpenVINO's default.
pub fn cpu_has_bf16() -> bool {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let (field, wanted): (&str, &[&str]) =
        if cfg!(target_arch = "aarch64") { ("Features", &["bf16"]) } else { ("flags", &["avx512_bf16", "amx_bf16"]) };
    info.lines().filter(|l| l.starts_with(field)).any(|l| l.split_whitespace().any(|f| wanted.contains(&f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_values_come_back_and_other_keys_stay() {
        let (_dir, file) = cnnzoo_test_support::scratch("sub/autotune.json");
        assert_eq!(recall::<u32>(&file, "a", |_| true), None);
        remember(&file, "a", &1u32);
        remember(&file, "b", &2u32);
        assert_eq!((recall::<u32>(&file, "a", |_| true), recall::<u32>(&file, "b", |_| true)), (Some(1), Some(2)));
        assert_eq!(recall::<u32>(&file, "a", |v| *v > 1), None);
        std::fs::write(&file, b"not json").unwrap();
        assert_eq!(recall::<u32>(&file, "a", |_| true), None);
        remember(&file, "c", &3u32);
        assert_eq!(recall::<u32>(&file, "c", |_| true), Some(3));
    }
}
