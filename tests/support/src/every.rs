//! Runs a check on every case of a list (every network of the zoo, every op)
//! and, when some fail, reports all of them by name, not just the first.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `check` on each case; panics at the end naming every failed case and why.
pub fn every<T>(cases: impl IntoIterator<Item = T>, name: impl Fn(&T) -> String, check: impl Fn(&T)) {
    let mut failed = vec![];
    let mut total = 0;
    for case in cases {
        total += 1;
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(&case))) {
            let why = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            failed.push(format!("{}: {why}", name(&case)));
        }
    }
    assert!(failed.is_empty(), "{} of {total} failed:\n{}", failed.len(), failed.join("\n"));
}

/// [`every`] over the zoo's registered networks.
pub fn every_network(check: impl Fn(&'static cnnzoo_models::Arch)) {
    every(cnnzoo_models::ARCHS.iter(), |a| a.name.to_string(), |a| check(a));
}
