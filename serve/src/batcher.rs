//! Dynamic batching. Each model has a bounded queue and one thread that
//! takes the first waiting request, gathers more for at most `max_delay`
//! (or until `max_batch` rows), runs them as one ONNX Runtime batch and
//! hands each request its own rows back. Requests are checked before they
//! are queued, so a batch only ever holds inputs of the model's shape: one
//! client's bad input cannot fail another's request.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ndarray::{s, Array4, Axis};
use tokio::sync::oneshot;

use cnnzoo_infer::{Backbone, Outputs};

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

/// The rows of one request, and where its outputs go.
struct Job {
    x: Array4<f32>,
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
}

impl Batcher {
    pub fn start(name: &str, backbone: Arc<Backbone>, config: BatchConfig, metrics: Arc<ModelMetrics>) -> std::io::Result<Batcher> {
        let (queue, rx) = sync_channel(config.max_queue);
        let thread = std::thread::Builder::new()
            .name(format!("batcher-{name}"))
            .spawn(move || Worker { backbone, config, metrics, rx, carry: None }.run())?;
        Ok(Batcher { queue: Some(queue), thread: Some(thread), config })
    }

    pub fn config(&self) -> BatchConfig {
        self.config
    }

    /// Queues `x` (`[N, C, H, W]`, already checked against the model) and
    /// waits for its outputs; a full queue is refused at once.
    pub async fn run(&self, x: Array4<f32>) -> Result<Outputs, ServeError> {
        let (reply, outputs) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(|| ServeError::unavailable("the server is shutting down"))?;
        match queue.try_send(Job { x, queued: Instant::now(), reply }) {
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
}

impl Worker {
    fn run(mut self) {
        while let Some(first) = self.carry.take().or_else(|| self.rx.recv().ok()) {
            let batch = self.gather(first);
            self.serve(batch);
        }
    }

    /// The first request and those that join it within the delay, up to `max_batch` rows.
    fn gather(&mut self, first: Job) -> Vec<Job> {
        let mut rows = first.x.len_of(Axis(0));
        let mut jobs = vec![first];
        if !self.config.dynamic {
            return jobs;
        }
        let deadline = Instant::now() + self.config.max_delay;
        while rows < self.config.max_batch {
            let job = match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            };
            let n = job.x.len_of(Axis(0));
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
    fn serve(&self, jobs: Vec<Job>) {
        let start = Instant::now();
        for job in &jobs {
            self.metrics.queue_seconds.observe((start - job.queued).as_secs_f64());
        }
        let result = if let [one] = jobs.as_slice() {
            self.infer(&one.x)
        } else {
            let views: Vec<_> = jobs.iter().map(|j| j.x.view()).collect();
            match ndarray::concatenate(Axis(0), &views) {
                Ok(x) => self.infer(&x),
                Err(e) => Err(ServeError::internal(format!("batching inputs: {e}"))),
            }
        };
        let rows: usize = jobs.iter().map(|j| j.x.len_of(Axis(0))).sum();
        self.metrics.batch_size.observe(rows as f64);
        self.metrics.inference_seconds.observe(start.elapsed().as_secs_f64());
        let mut offset = 0;
        for job in jobs {
            let n = job.x.len_of(Axis(0));
            let mine = result.as_ref().map(|out| Outputs {
                logits: out.logits.as_ref().map(|l| l.slice(s![offset..offset + n, ..]).to_owned()),
                features: out.features.slice(s![offset..offset + n, ..]).to_owned(),
            });
            offset += n;
            // A client that went away no longer waits for its reply.
            let _ = job.reply.send(mine.map_err(|e| e.clone()));
        }
    }

    fn infer(&self, x: &Array4<f32>) -> Result<Outputs, ServeError> {
        match catch_unwind(AssertUnwindSafe(|| self.backbone.run(x.view()))) {
            Ok(result) => result.map_err(|e| ServeError::internal(e.to_string())),
            Err(_) => Err(ServeError::internal("ONNX Runtime panicked on this batch")),
        }
    }
}
