//! The one batching layer under every way of running a backbone: sources are
//! turned into inputs (decoded and preprocessed) by worker threads, on all
//! cores, while the batch before runs; results are handed on in source order.
//!
//! Workers take sources one at a time from a shared counter, so a slow image
//! (a 16,384-pixel scan among thumbnails) holds up one worker, not a batch.
//! They work at most `window` sources ahead of the batch the consumer is on:
//! memory holds that many small inputs plus one decoded image per worker,
//! whatever the number of sources.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Condvar, Mutex};

use crate::InferError;

/// The batch the consumer has finished taking in, shared with the workers:
/// a worker waits before making source `i` until `i < taken + window`.
struct Gate {
    /// `(sources taken by the consumer, stopped)`.
    state: Mutex<(usize, bool)>,
    moved: Condvar,
    window: usize,
}

impl Gate {
    /// Waits until source `i` is within the window; false if the consumer stopped.
    fn admit(&self, i: usize) -> bool {
        let Ok(mut state) = self.state.lock() else { return false };
        while !state.1 && i >= state.0 + self.window {
            state = match self.moved.wait(state) {
                Ok(s) => s,
                Err(_) => return false,
            };
        }
        !state.1
    }

    fn update(&self, f: impl FnOnce(&mut (usize, bool))) {
        if let Ok(mut state) = self.state.lock() {
            f(&mut state);
        }
        self.moved.notify_all();
    }
}

/// Stops the workers however the consumer leaves (an error, a panic).
struct StopOnDrop<'a>(&'a Gate);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.update(|s| s.1 = true);
    }
}

/// One made input per source of a batch, in source order (`first` is the
/// index of the batch's first source).
pub type Made<T> = Vec<Result<T, InferError>>;

/// Makes an input of every source with `input` on `workers` threads and hands
/// `each` the results `batch` sources at a time, in order. Workers stay at
/// most two batches ahead. A panic while making an input is that source's
/// error; an error from `each` stops everything and is returned.
pub fn stream<S: Sync, T: Send>(
    sources: &[S],
    workers: usize,
    batch: usize,
    input: &(impl Fn(&S) -> Result<T, InferError> + Sync),
    mut each: impl FnMut(usize, Made<T>) -> Result<(), InferError>,
) -> Result<(), InferError> {
    let (n, batch) = (sources.len(), batch.max(1));
    let gate = Gate { state: Mutex::new((0, false)), moved: Condvar::new(), window: 2 * batch };
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // Room for everything the window lets through: a sender never blocks.
        let (send, made) = sync_channel::<(usize, Result<T, InferError>)>(3 * batch);
        for _ in 0..workers.clamp(1, n.max(1)) {
            let (send, gate, next) = (send.clone(), &gate, &next);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || !gate.admit(i) {
                    return;
                }
                let result = catch_unwind(AssertUnwindSafe(|| input(&sources[i])))
                    .unwrap_or_else(|_| Err(InferError::Runtime("making this input panicked".into())));
                if send.send((i, result)).is_err() {
                    return;
                }
            });
        }
        drop(send);
        let _stop = StopOnDrop(&gate);
        let mut pending = BTreeMap::new();
        for first in (0..n).step_by(batch) {
            let end = (first + batch).min(n);
            while pending.range(first..end).count() < end - first {
                let (i, result) = made.recv().map_err(|_| InferError::Runtime("the preprocessing threads stopped early".into()))?;
                pending.insert(i, result);
            }
            let results: Made<T> = (first..end).filter_map(|i| pending.remove(&i)).collect();
            gate.update(|s| s.0 = end);
            each(first, results)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn one(v: &usize) -> Result<Array3<f32>, InferError> {
        if v % 7 == 3 {
            return Err(InferError::Data(format!("source {v}")));
        }
        if *v == 12 {
            panic!("a bad decoder");
        }
        Ok(Array3::from_elem((1, 1, 1), *v as f32))
    }

    #[test]
    fn every_source_comes_back_once_in_order() {
        let sources: Vec<usize> = (0..50).collect();
        for workers in [1, 3, 8] {
            let mut seen = vec![];
            stream(&sources, workers, 4, &one, |first, made| {
                for (k, r) in made.into_iter().enumerate() {
                    match r {
                        Ok(x) => assert_eq!(x[[0, 0, 0]] as usize, first + k),
                        Err(e) => assert!(e.to_string().contains(&format!("source {}", first + k)) || first + k == 12, "{e}"),
                    }
                    seen.push(first + k);
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, sources);
        }
    }

    #[test]
    fn an_error_from_the_consumer_stops_the_workers() {
        let sources: Vec<usize> = (0..10_000).collect();
        let made = AtomicUsize::new(0);
        let count = |v: &usize| {
            made.fetch_add(1, Ordering::Relaxed);
            Ok(Array3::from_elem((1, 1, 1), *v as f32))
        };
        let r = stream(&sources, 4, 8, &count, |first, _| if first == 16 { Err(InferError::Data("stop".into())) } else { Ok(()) });
        assert_eq!(r.unwrap_err().to_string(), "stop");
        // The window bounds the work done past the failing batch.
        assert!(made.load(Ordering::Relaxed) <= 16 + 8 + 2 * 8 + 4, "{}", made.load(Ordering::Relaxed));
        let empty: [usize; 0] = [];
        stream(&empty, 4, 8, &count, |_, _| panic!("no batch for no sources")).unwrap();
    }
}
