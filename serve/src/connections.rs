//! The server's connections, driven one by one rather than left to a
//! framework, so that no client can hold the server: every connection has
//! `read_timeout` to deliver a whole request (from its opening, or from its
//! last answer), whatever it sends meanwhile; at most `max_connections` are
//! open, and at the limit a new one takes the place of the one that has
//! gone longest without a request; and on shutdown a connection without a
//! whole request in progress is closed at once instead of being waited for.
//!
//! A request counts as whole when its handler says so ([`Connection::answering`]):
//! the HTTP handler once the body is read, the gRPC one once the message is
//! decoded. Until then the client is still talking, and a slow talker is
//! what the timeout is for. Both protocols share one [`Connections`], so the
//! limit is the server's, not each port's.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// How long a connection without a request in progress keeps its chance to
/// finish writing an answer after shutdown began.
const FLUSH: Duration = Duration::from_secs(1);

/// The bounds every connection lives under.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections, HTTP and gRPC together.
    pub max_connections: usize,
    /// Time a connection has to deliver a whole request.
    pub read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { max_connections: 512, read_timeout: Duration::from_secs(30) }
    }
}

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (the REST endpoints).
    Http1,
    /// HTTP/2 with prior knowledge (gRPC).
    Http2,
}

/// What one connection is doing.
#[derive(Debug)]
struct State {
    /// Whole requests being answered.
    answering: AtomicUsize,
    /// When the connection last had no request in progress: its opening, or its last answer.
    idle_since: Mutex<Instant>,
    /// Wakes the connection's task: a request began or ended, or it is evicted.
    changed: Notify,
    evicted: std::sync::atomic::AtomicBool,
}

impl State {
    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_idle(&self) -> bool {
        self.answering.load(Ordering::SeqCst) == 0
    }
}

/// The connection a request arrived on, in the request's extensions.
#[derive(Debug, Clone)]
pub struct Connection(Arc<State>);

impl Connection {
    /// Marks a request as whole: from now until the guard is dropped (its
    /// answer is ready) the connection is not timed out, evicted or cut by
    /// shutdown.
    pub fn answering(&self) -> Answering {
        self.0.answering.fetch_add(1, Ordering::SeqCst);
        self.0.changed.notify_one();
        Answering(Arc::clone(&self.0))
    }
}

/// A whole request being answered; see [`Connection::answering`].
#[derive(Debug)]
pub struct Answering(Arc<State>);

impl Drop for Answering {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.answering.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_one();
    }
}

/// Marks a request whole if it came through [`serve`] (tests and other
/// embedders may call the services without a connection).
pub fn answering(extensions: &hyper::http::Extensions) -> Option<Answering> {
    extensions.get::<Connection>().map(Connection::answering)
}

/// Every open connection of the server, oldest first.
#[derive(Debug)]
pub struct Connections {
    limits: ConnectionLimits,
    open: Mutex<BTreeMap<u64, Arc<State>>>,
    next: AtomicU64,
    /// A connection closed: a listener waiting for room may go on.
    closed: Notify,
    pub timed_out: AtomicU64,
    pub evicted: AtomicU64,
}

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            open: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            closed: Notify::new(),
            timed_out: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<State>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open connections now.
    pub fn count(&self) -> usize {
        self.table().len()
    }

    /// Registers a new connection, making room first: at the limit, the
    /// connection longest without a request in progress is closed; if every
    /// one is answering a request, this waits until one closes.
    async fn admit(&self) -> (u64, Arc<State>) {
        loop {
            let waiting = self.closed.notified();
            {
                let mut open = self.table();
                if open.len() >= self.limits.max_connections {
                    let idle =
                        open.iter().filter(|(_, s)| s.is_idle() && !s.evicted.load(Ordering::SeqCst)).min_by_key(|(_, s)| s.idle_since());
                    if let Some((&id, state)) = idle {
                        state.evicted.store(true, Ordering::SeqCst);
                        state.changed.notify_one();
                        open.remove(&id);
                        self.evicted.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if open.len() < self.limits.max_connections {
                    let id = self.next.fetch_add(1, Ordering::Relaxed);
                    let state = Arc::new(State {
                        answering: AtomicUsize::new(0),
                        idle_since: Mutex::new(Instant::now()),
                        changed: Notify::new(),
                        evicted: Default::default(),
                    });
                    open.insert(id, Arc::clone(&state));
                    return (id, state);
                }
            }
            waiting.await;
        }
    }

    fn close(&self, id: u64) {
        self.table().remove(&id);
        self.closed.notify_waiters();
    }

    /// Lines for `/metrics`.
    pub fn render_metrics(&self) -> String {
        format!(
            "# HELP cnnzoo_open_connections Connections open now, HTTP and gRPC (--max-connections).\n\
             # TYPE cnnzoo_open_connections gauge\ncnnzoo_open_connections {}\n\
             # HELP cnnzoo_connections_closed_total Connections the server closed: no whole request within --read-timeout-s, or the oldest idle one making room at --max-connections.\n\
             # TYPE cnnzoo_connections_closed_total counter\n\
             cnnzoo_connections_closed_total{{reason=\"read_timeout\"}} {}\n\
             cnnzoo_connections_closed_total{{reason=\"evicted\"}} {}\n",
            self.count(),
            self.timed_out.load(Ordering::Relaxed),
            self.evicted.load(Ordering::Relaxed)
        )
    }
}

/// A service with each request's [`Connection`] in its extensions.
#[derive(Debug, Clone)]
struct WithConnection<S> {
    inner: S,
    connection: Connection,
}

impl<S, B> tower_service::Service<hyper::http::Request<B>> for WithConnection<S>
where
    S: tower_service::Service<hyper::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: hyper::http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.connection.clone());
        self.inner.call(request)
    }
}

/// Accepts connections on `listener` and serves `service` on each, under
/// the limits of `connections`, until `stop` turns true; then stops
/// accepting and returns once every connection of this listener is closed.
pub async fn serve<S, B>(listener: TcpListener, protocol: Protocol, service: S, connections: Arc<Connections>, stop: watch::Receiver<bool>)
where
    S: tower_service::Service<hyper::http::Request<Incoming>, Response = hyper::http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder = match protocol {
        Protocol::Http1 => builder.http1_only(),
        Protocol::Http2 => builder.http2_only(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut stopped = pin!(wait_for_stop(stop.clone()));
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, or a connection reset before it
                // was accepted: nothing to do but try again shortly.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let (id, state) = tokio::select! {
            _ = &mut stopped => break,
            admitted = connections.admit() => admitted,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(WithConnection { inner: service.clone(), connection: Connection(Arc::clone(&state)) });
        let (builder, connections, stop) = (builder.clone(), Arc::clone(&connections), stop.clone());
        tasks.spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            drive(connection, |c| c.graceful_shutdown(), &state, &connections, connections.limits.read_timeout, stop).await;
            connections.close(id);
        });
        // Reap the tasks already done, so a long-running server keeps no trail.
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

async fn wait_for_stop(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

/// Runs one connection until it ends, times out, is evicted, or is cut by
/// shutdown.
async fn drive<C: Future>(
    connection: C,
    graceful_shutdown: impl FnOnce(std::pin::Pin<&mut C>),
    state: &State,
    connections: &Connections,
    read_timeout: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut connection = pin!(connection);
    let mut stopped = pin!(wait_for_stop(stop));
    let mut stopping = false;
    let mut graceful_shutdown = Some(graceful_shutdown);
    loop {
        if state.evicted.load(Ordering::SeqCst) {
            return;
        }
        // Idle, the connection has until its deadline; answering, it waits
        // for the answer (the request's own bounds apply there).
        let deadline = state.is_idle().then(|| state.idle_since() + if stopping { FLUSH } else { read_timeout });
        if deadline.is_some_and(|d| d <= Instant::now()) {
            if !stopping {
                connections.timed_out.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let changed = state.changed.notified();
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = changed => {}
            _ = &mut stopped, if !stopping => {
                stopping = true;
                if let Some(shutdown) = graceful_shutdown.take() {
                    shutdown(connection.as_mut());
                }
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d.into()).await, None => std::future::pending().await } } => {}
        }
    }
}
