//! Dynamic batching. Each model has a bounded queue and one thread that
//! takes the first waiting request, gathers the others already queued, and
//! waits up to `max_delay` for more only while requests for the model are
//! still arriving (read, parsed or decoded, not yet queued): a lone client is
//! never delayed, concurrent ones share a run. At most `max_batch` rows go
//! into one ONNX Runtime run; each request gets its own rows back. Requests are checked before they
//! are queued, so a batch only ever holds inputs of the model's shape: one
//! client's bad input cannot fail another's request.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ndarray::s;
use tokio::sync::oneshot;

use cnnzoo_infer::{Backbone, Input, Outputs};

use crate::error::ServeError;
use crate::metrics::ModelMetrics;

/// How requests are queued and merged.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// The most rows in one run, and in one request.
    pub max_batch: usize,
    /// How long the first request of a batch waits for others.
    pub max_delay: Duration,
    /// Requests waiting per model; more are refused (503) at once.
    pub max_queue: usize,
    /// Merge concurrent requests; off, every request runs alone.
    pub dynamic: bool,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_batch: 64, max_delay: Duration::from_micros(2000), max_queue: 1024, dynamic: true }
    }
}

/// The rows of one request (one image each, as the model takes it), and
/// where its outputs go.
struct Job {
    x: Vec<Input>,
    queued: Instant,
    reply: oneshot::Sender<Result<Outputs, ServeError>>,
}

/// A model's queue and the thread that drains it. Dropping it closes the
/// queue; the thread finishes what is queued and is joined.
#[derive(Debug)]
pub struct Batcher {
    queue: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    config: BatchConfig,
    arriving: Arc<AtomicUsize>,
    /// The thread is running: what readiness reports.
    alive: Arc<AtomicBool>,
}

/// A request on its way to the queue: counted as arriving until it is
/// queued or dropped.
#[derive(Debug)]
pub struct Arrival(Arc<AtomicUsize>);

impl Drop for Arrival {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Batcher {
    pub fn start(name: &str, backbone: Arc<Backbone>, config: BatchConfig, metrics: Arc<ModelMetrics>) -> std::io::Result<Batcher> {
        let (queue, rx) = sync_channel(config.max_queue);
        let arriving = Arc::new(AtomicUsize::new(0));
        let alive = Arc::new(AtomicBool::new(true));
        let worker = Worker { backbone, config, metrics, rx, carry: None, arriving: Arc::clone(&arriving) };
        let running = Alive(Arc::clone(&alive));
        let thread = std::thread::Builder::new().name(format!("batcher-{name}")).spawn(move || {
            let _running = running;
            worker.run();
        })?;
        Ok(Batcher { queue: Some(queue), thread: Some(thread), config, arriving, alive })
    }

    /// Whether the batching thread still runs (it only stops when the
    /// server does; anything else is a bug that readiness must show).
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Counts a request as arriving, from the moment its model is known.
    pub fn arrival(&self) -> Arrival {
        self.arriving.fetch_add(1, Ordering::SeqCst);
        Arrival(Arc::clone(&self.arriving))
    }

    pub fn config(&self) -> BatchConfig {
        self.config
    }

    /// Queues `x` (already checked against the model) and waits for its
    /// outputs; a full queue is refused at once.
    pub async fn run(&self, x: Vec<Input>, arrival: Arrival) -> Result<Outputs, ServeError> {
        let (reply, outputs) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(|| ServeError::unavailable("the server is shutting down"))?;
        let sent = queue.try_send(Job { x, queued: Instant::now(), reply });
        drop(arrival);
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(ServeError::unavailable(format!(
                    "the model's queue is full ({} requests waiting, --max-queue); retry later",
                    self.config.max_queue
                )))
            }
            Err(TrySendError::Disconnected(_)) => return Err(ServeError::internal("the model's batching thread has stopped")),
        }
        outputs.await.map_err(|_| ServeError::internal("the model's batching thread dropped the request"))?
    }
}

/// Clears the alive flag when the thread ends, however it ends.
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    backbone: Arc<Backbone>,
    config: BatchConfig,
    metrics: Arc<ModelMetrics>,
    rx: Receiver<Job>,
    /// A request that did not fit in the last batch: the first of the next.
    carry: Option<Job>,
    arriving: Arc<AtomicUsize>,
}

impl Worker {
    fn run(mut self) {
        while let Some(first) = self.carry.take().or_else(|| self.rx.recv().ok()) {
            let batch = self.gather(first);
            self.serve(batch);
        }
    }

    /// The first request and those that join it, up to `max_batch` rows:
    /// those already queued, and those still arriving within the delay.
    fn gather(&mut self, first: Job) -> Vec<Job> {
        let mut rows = first.x.len();
        let mut jobs = vec![first];
        if !self.config.dynamic {
            return jobs;
        }
        let deadline = Instant::now() + self.config.max_delay;
        while rows < self.config.max_batch {
            let job = match self.rx.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || self.arriving.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    // Short waits: an arrival that fails its checks is not waited for long.
                    match self.rx.recv_timeout(left.min(Duration::from_micros(100))) {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            let n = job.x.len();
            if rows + n > self.config.max_batch {
                self.carry = Some(job);
                break;
            }
            rows += n;
            jobs.push(job);
        }
        jobs
    }

    /// Runs the requests as one batch and answers each with its rows.
    fn serve(&self, mut jobs: Vec<Job>) {
        let start = Instant::now();
        for job in &jobs {
            self.metrics.queue_seconds.observe((start - job.queued).as_secs_f64());
        }
        let counts: Vec<usize> = jobs.iter().map(|j| j.x.len()).collect();
        let x: Vec<Input> = jobs.iter_mut().flat_map(|j| std::mem::take(&mut j.x)).collect();
        let result = self.infer(&x).and_then(|out| check_rows(out, x.len()));
        self.metrics.batch_size.observe(x.len() as f64);
        self.metrics.inference_seconds.observe(start.elapsed().as_secs_f64());
        let mut offset = 0;
        for (job, n) in jobs.into_iter().zip(counts) {
            let mine = result.as_ref().map(|out| Outputs {
                logits: out.logits.as_ref().map(|l| l.slice(s![offset..offset + n, ..]).to_owned()),
                features: out.features.slice(s![offset..offset + n, ..]).to_owned(),
            });
            offset += n;
            // A client that went away no longer waits for its reply.
            let _ = job.reply.send(mine.map_err(|e| e.clone()));
        }
    }

    /// One run; a panic in it fails the batch, never the thread.
    fn infer(&self, x: &[Input]) -> Result<Outputs, ServeError> {
        match catch_unwind(AssertUnwindSafe(|| self.backbone.run_inputs(x))) {
            Ok(result) => result.map_err(|e| ServeError::internal(cnnzoo_cli::describe(&e))),
            Err(_) => Err(ServeError::internal("ONNX Runtime panicked on this batch")),
        }
    }
}

/// A run's outputs, if each has one row per input: a model that answers
/// with other row counts fails the batch's requests instead of handing one
/// request another's rows (or slicing past the end).
fn check_rows(out: Outputs, rows: usize) -> Result<Outputs, ServeError> {
    let mut got = vec![("features", out.features.nrows())];
    if let Some(l) = &out.logits {
        got.push(("logits", l.nrows()));
    }
    match got.iter().find(|(_, n)| *n != rows) {
        None => Ok(out),
        Some((name, n)) => Err(ServeError::internal(format!(
            "the model answered {n} rows of '{name}' for a batch of {rows}; its outputs are not one row per image"
        ))),
    }
}
