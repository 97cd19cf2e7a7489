//! The server under load: concurrent clients merged into batches and every
//! one answered with its own rows, a full queue refused at once, and SIGTERM
//! finishing the requests in flight before a clean exit.

mod fixture;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use fixture::{binary_input, json_input, models, start, try_request};
use ndarray::Array4;

/// Logits of a binary response (a JSON header, then the raw floats).
fn logits(r: &fixture::Response) -> Vec<f32> {
    let n: usize = r.header("inference-header-content-length").expect("binary response").parse().expect("a length");
    r.body[n..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

#[test]
fn thirty_two_concurrent_clients_are_batched_and_none_is_lost() {
    let server = Arc::new(start(&["--max-delay-us", "5000"]));
    let backbone =
        Backbone::open(models().join("lenet.onnx"), &BackboneOptions { device: Device::Cpu, ..Default::default() }).expect("lenet opens");
    let (clients, each) = (32, 6);
    // Every client sends its own constant image, so a row handed to the
    // wrong request would show.
    let value = move |c: usize| c as f32 / clients as f32 - 0.5;
    let x = Array4::from_shape_fn((clients, 1, 28, 28), |(c, ..)| value(c));
    let want = backbone.run(x.view()).expect("lenet runs").logits.expect("logits");
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let server = Arc::clone(&server);
            std::thread::spawn(move || {
                let (headers, body) = binary_input(1, value(c));
                (0..each).map(|_| server.post("/v2/models/lenet/infer", &headers, &body)).collect::<Vec<_>>()
            })
        })
        .collect();
    for (c, t) in threads.into_iter().enumerate() {
        for r in t.join().expect("client thread") {
            assert_eq!(r.status, 200, "client {c}: {}", r.text());
            let got = logits(&r);
            let diff = got.iter().zip(want.row(c)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(diff < 1e-4, "client {c} got another's rows (max abs diff {diff})");
        }
    }
    let requests = server.metric("cnnzoo_requests_total{model=\"lenet\",protocol=\"http\"}");
    let runs = server.metric("cnnzoo_batch_size_count{model=\"lenet\"}");
    let single = server.metric("cnnzoo_batch_size_bucket{model=\"lenet\",le=\"1\"}");
    assert_eq!(requests, (clients * each) as f64);
    assert_eq!(server.metric("cnnzoo_batch_size_sum{model=\"lenet\"}"), requests, "every row ran once");
    assert!(runs < requests && single < runs, "no batch merged requests: {runs} runs for {requests} requests, {single} of one row");
}

#[test]
fn a_full_queue_answers_503_at_once() {
    // One queue slot, and a request big enough to keep the model busy while
    // others arrive: one waits in the slot, the rest are refused.
    let server = Arc::new(start(&["--max-queue", "1", "--max-batch", "4096", "--max-delay-us", "0", "--max-request-bytes", "100000000"]));
    let busy = Arc::new(AtomicBool::new(true));
    let (refused, answered) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let big = {
        let (server, busy, refused) = (Arc::clone(&server), Arc::clone(&busy), Arc::clone(&refused));
        std::thread::spawn(move || {
            let (headers, body) = binary_input(4096, 0.1);
            // Three big runs; a big request that finds the slot taken is refused too, and retries.
            let mut served = 0;
            while served < 3 {
                match server.post("/v2/models/lenet/infer", &headers, &body).status {
                    200 => served += 1,
                    503 => {
                        refused.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    other => panic!("big request: status {other}"),
                }
            }
            busy.store(false, Ordering::SeqCst);
        })
    };
    let small: Vec<_> = (0..8)
        .map(|_| {
            let (server, busy, refused, answered) = (Arc::clone(&server), Arc::clone(&busy), Arc::clone(&refused), Arc::clone(&answered));
            std::thread::spawn(move || {
                while busy.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let r = server.post("/v2/models/lenet/infer", &[], &json_input(1, 0.0));
                    match r.status {
                        503 => {
                            assert!(r.json()["error"]
                                .as_str()
                                .unwrap_or_default()
                                .contains("queue is full (1 requests waiting, --max-queue)"));
                            assert!(started.elapsed() < Duration::from_secs(5), "a refusal must not wait");
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                        200 => {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        other => panic!("status {other}: {}", r.text()),
                    }
                }
            })
        })
        .collect();
    big.join().expect("the big requests are served");
    small.into_iter().for_each(|t| t.join().expect("small client"));
    assert!(refused.load(Ordering::SeqCst) > 0, "no request was refused ({} answered)", answered.load(Ordering::SeqCst));
    assert_eq!(
        server.metric("cnnzoo_request_failures_total{model=\"lenet\",reason=\"unavailable\"}"),
        refused.load(Ordering::SeqCst) as f64
    );
    assert!(server.ready());
    assert_eq!(server.post("/v2/models/lenet/infer", &[], &json_input(1, 0.0)).status, 200, "the queue drains");
}

#[test]
fn sigterm_under_load_answers_in_flight_requests_and_exits_0() {
    let mut server = start(&["--max-batch", "4096", "--max-delay-us", "0", "--max-request-bytes", "100000000"]);
    let stop = Arc::new(AtomicBool::new(false));
    let after_signal = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (addr, stop, after_signal) = (server.http.clone(), Arc::clone(&stop), Arc::clone(&after_signal));
            std::thread::spawn(move || {
                let (headers, body) = binary_input(2048, 0.2);
                let mut answered = 0;
                loop {
                    let sent_before_signal = !stop.load(Ordering::SeqCst);
                    match try_request(&addr, "POST", "/v2/models/lenet/infer", &headers, &body) {
                        Ok(r) => {
                            assert_eq!(r.status, 200, "{}", r.text());
                            answered += 1;
                            if stop.load(Ordering::SeqCst) && sent_before_signal {
                                after_signal.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        // Refused or reset before the server accepted it: never started.
                        Err(e) if stop.load(Ordering::SeqCst) => {
                            assert!(
                                matches!(
                                    e.kind(),
                                    std::io::ErrorKind::ConnectionRefused
                                        | std::io::ErrorKind::ConnectionReset
                                        | std::io::ErrorKind::BrokenPipe
                                ),
                                "a request failed mid-way: {e}"
                            );
                            return answered;
                        }
                        Err(e) => panic!("request failed before the signal: {e}"),
                    }
                }
            })
        })
        .collect();
    // Let the queue fill with big requests, then stop the server.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    server.terminate();
    let status = server.child.wait().expect("the server exits");
    let answered: usize = clients.into_iter().map(|t| t.join().expect("client thread")).sum();
    assert!(status.success(), "exit status {status:?}; log:\n{}", server.log().join("\n"));
    assert!(answered > 0);
    assert!(after_signal.load(Ordering::SeqCst) > 0, "no request in flight at the signal was answered");
    let log = server.log().join("\n");
    assert!(log.contains("stopping: no new connections") && log.contains("stopped"), "{log}");
}
