//! The ONNX Runtime sessions behind a [`crate::Backbone`]: built on a thread
//! of their own while the first inputs are decoded, then lent out one run at
//! a time.
//!
//! A backbone has one session per *stream*. ort's `Session::run` takes
//! `&mut self` (some providers' allocators are not thread-safe), so one
//! session runs one request at a time; several streams run several requests
//! side by side, each on its share of the cores, which is how OpenVINO's
//! THROUGHPUT mode and Triton's model instances serve small batches faster
//! than one session using every core for each.

use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;

use ort::session::Session;

use cnnzoo_models::Device;

use crate::fastest::ProbeInput;
use crate::runtime::{bf16_refused, environment, register, Precision, Provider};
use crate::{InferError, LoadError};

/// What a backbone's sessions are built with.
#[derive(Debug, Clone)]
pub struct Plan {
    pub file: PathBuf,
    pub device: Device,
    pub precision: Precision,
    /// Threads in all [default: ONNX Runtime's choice with one stream, all cores with several].
    pub threads: Option<usize>,
    pub streams: usize,
    /// What `auto` times when it weighs the CPU against OpenVINO.
    pub probe: ProbeInput,
}

impl Plan {
    /// Each stream's threads: the cores shared out, at least one each.
    fn threads_per_stream(&self) -> Option<usize> {
        if self.streams <= 1 {
            return self.threads;
        }
        let all = self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Some((all / self.streams).max(1))
    }
}

/// The thread that builds the sessions; its error is ONNX Runtime's reason
/// why the model cannot be loaded.
type Loading = JoinHandle<Result<Vec<Session>, LoadError>>;

/// Sessions being built, built, or that failed to build.
#[derive(Debug)]
pub struct Sessions {
    loading: Mutex<Option<Loading>>,
    pool: OnceLock<Result<Pool<Session>, LoadError>>,
}

/// The built sessions not running at the moment.
#[derive(Debug)]
struct Pool<T> {
    free: Mutex<Vec<T>>,
    returned: Condvar,
}

impl<T> Pool<T> {
    fn new(items: Vec<T>) -> Self {
        Pool { free: Mutex::new(items), returned: Condvar::new() }
    }

    /// A free item, waiting for one if all are lent.
    fn lend(&self) -> Lent<'_, T> {
        let mut free = lock(&self.free);
        loop {
            if let Some(item) = free.pop() {
                return Lent { pool: self, item: Some(item) };
            }
            free = self.returned.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// One session, lent for one run; it goes back to the pool when dropped,
/// even if the run panicked.
pub struct Lent<'a, T = Session> {
    pool: &'a Pool<T>,
    item: Option<T>,
}

impl<T> std::ops::Deref for Lent<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.item.as_ref().expect("lent until dropped")
    }
}

impl<T> std::ops::DerefMut for Lent<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item.as_mut().expect("lent until dropped")
    }
}

impl<T> Drop for Lent<'_, T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            lock(&self.pool.free).push(item);
            self.pool.returned.notify_one();
        }
    }
}

/// A lock whose data stays usable after a panic elsewhere: every critical
/// section here leaves the data whole.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sessions {
    /// Starts building the sessions of `plan`, and returns as soon as the
    /// provider is chosen (so that a device that cannot be used is refused
    /// at once), with why `auto` chose it where it measured. A model that
    /// ONNX Runtime cannot load is said at the first run, or by [`Sessions::ready`].
    pub fn load(plan: Plan) -> Result<(Sessions, Provider, Option<String>), InferError> {
        let (chosen, provider) = std::sync::mpsc::sync_channel::<Chosen>(1);
        let loading = std::thread::spawn(move || {
            let threads = plan.threads_per_stream();
            let first = first_session(&plan, threads, &chosen)?;
            let provider = first.1;
            let mut all = vec![first.0];
            // Further streams run where the first does: `auto` has chosen by then.
            let (device, precision) = match provider {
                Provider::Cpu => (Device::Cpu, Precision::Auto),
                Provider::Cuda(i) => (Device::Cuda(i), Precision::Auto),
                Provider::OpenVino { bf16 } => (Device::OpenVino, if bf16 { Precision::Bf16 } else { Precision::Fp32 }),
            };
            for _ in 1..plan.streams {
                let (b, _) = builder(device, precision, threads).map_err(LoadError::new)?;
                all.push(commit(b, &plan.file)?);
            }
            Ok(all)
        });
        let (provider, note) = provider.recv().map_err(|_| InferError::Runtime("ONNX Runtime failed while choosing a device".into()))??;
        Ok((Sessions { loading: Mutex::new(Some(loading)), pool: OnceLock::new() }, provider, note))
    }

    /// The sessions, once built (waiting for them if need be).
    fn pool(&self) -> Result<&Pool<Session>, LoadError> {
        let built = self.pool.get_or_init(|| {
            let handle = lock(&self.loading).take().ok_or_else(|| LoadError::said("its loading thread was lost"))?;
            match handle.join() {
                Ok(Ok(sessions)) => Ok(Pool::new(sessions)),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(LoadError::said("ONNX Runtime panicked while loading it")),
            }
        });
        built.as_ref().map_err(Clone::clone)
    }

    /// Waits until every session is built; the error is ONNX Runtime's
    /// reason why the model cannot be loaded.
    pub fn ready(&self) -> Result<(), LoadError> {
        self.pool().map(drop)
    }

    /// A free session, waiting for one if every stream is running.
    pub fn lend(&self) -> Result<Lent<'_>, LoadError> {
        Ok(self.pool()?.lend())
    }
}

/// Sessions dropped before their first run still wait for ONNX Runtime to
/// finish loading: a process that exits while a session is being built
/// aborts inside ONNX Runtime.
impl Drop for Sessions {
    fn drop(&mut self) {
        let _ = self.pool();
    }
}

/// A session builder with `device`'s provider registered and `threads` set.
fn builder(
    device: Device,
    precision: Precision,
    threads: Option<usize>,
) -> Result<(ort::session::builder::SessionBuilder, Provider), InferError> {
    let b = Session::builder(environment(device)?).map_err(InferError::ort("starting a session"))?;
    let (mut b, provider) = register(b, device, precision, threads)?;
    // OpenVINO takes its thread count at registration. Threads are set after
    // the provider is chosen: `auto` may restart from a fresh builder.
    if let (Some(n), false) = (threads, matches!(provider, Provider::OpenVino { .. })) {
        b = b.with_intra_threads(n).map_err(InferError::ort("setting a session's threads"))?;
    }
    Ok((b, provider))
}

fn commit(mut b: ort::session::builder::SessionBuilder, file: &Path) -> Result<Session, LoadError> {
    b.commit_from_file(file).map_err(LoadError::new)
}

/// What the loading thread tells [`Sessions::load`]: the provider chosen
/// and why, or why the device cannot be used.
type Chosen = Result<(Provider, Option<String>), InferError>;

/// The first session and its provider. `tell` hears the provider (or why the
/// device cannot be used) before the model is loaded; the error is ONNX
/// Runtime's reason why the model cannot be loaded, or, where `tell` has
/// carried the error already, a placeholder that no caller sees.
fn first_session(plan: &Plan, threads: Option<usize>, tell: &SyncSender<Chosen>) -> Result<(Session, Provider), LoadError> {
    let refuse = |e: InferError| -> Result<(Session, Provider), LoadError> {
        let _ = tell.send(Err(e));
        Err(LoadError::said("the device was refused"))
    };
    let built = match builder(plan.device, plan.precision, threads) {
        Ok(b) => b,
        Err(e) => return refuse(e),
    };
    match built {
        (_, Provider::Cpu) if plan.device == Device::Auto && crate::runtime::offers_openvino() => {
            match crate::fastest::cpu_or_openvino(&plan.file, plan.precision, threads, &plan.probe) {
                Ok((session, p, note)) => {
                    let _ = tell.send(Ok((p, Some(note))));
                    Ok((session, p))
                }
                // The model itself cannot be loaded: said at the first run, as below.
                Err(InferError::Unloadable { source, .. }) => {
                    let _ = tell.send(Ok((Provider::Cpu, None)));
                    Err(source)
                }
                Err(e) => refuse(e),
            }
        }
        (_, Provider::Cpu) if plan.precision == Precision::Bf16 => {
            refuse(bf16_refused("runs on OpenVINO, which is not installed here (the auto device found the CPU provider alone)").into())
        }
        (b, p) => {
            let _ = tell.send(Ok((p, None)));
            commit(b, &plan.file).map(|s| (s, p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pool;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn every_item_is_lent_at_once_and_no_more() {
        let pool = Pool::new(vec![1, 2]);
        let (busy, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..5 {
                        let item = pool.lend();
                        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        busy.fetch_sub(1, Ordering::SeqCst);
                        drop(item);
                    }
                });
            }
        });
        // Two at once (the pool's size) happened, and never three.
        assert_eq!(most.load(Ordering::SeqCst), 2);
        let mut back = super::lock(&pool.free).clone();
        back.sort();
        assert_eq!(back, [1, 2]);
    }

    #[test]
    fn a_panicking_run_gives_its_item_back() {
        let pool = Pool::new(vec![7]);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _item = pool.lend();
            panic!("a run panics");
        }));
        assert!(caught.is_err());
        assert_eq!(*pool.lend(), 7);
    }
}
