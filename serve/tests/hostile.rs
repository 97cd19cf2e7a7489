//! Clients and models that try to knock the server over: slow and silent
//! connections, decompression bombs sent at once, JSON longer than its
//! shape, a model that answers with the wrong number of rows, and gRPC
//! messages that do not decode. Each test has a time limit, and each
//! failed before the server had its bounds.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

mod fixture;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fixture::{binary_input, image_request, json_input, peak_memory, start, start_in, Server};

/// Opens a connection that sends `sent` and then nothing more.
fn half_open(addr: &str, sent: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(sent).unwrap();
    s
}

/// Whether the server closed `s` (end of file or reset) within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_and_silent_clients_are_closed_and_never_lock_others_out() {
    let server = start(&["--read-timeout-s", "2", "--max-connections", "16"]);
    let started = Instant::now();
    // Half a request line, a head without its end, a body cut short, and
    // silence, on both ports: three times the connection limit.
    let mut slow = vec![];
    for i in 0..48 {
        slow.push(match i % 4 {
            0 => half_open(&server.http, b"GET /v2/health/re"),
            1 => half_open(&server.http, b"POST /v2/models/lenet/infer HTTP/1.1\r\nHost: x\r\n"),
            2 => half_open(&server.http, b"POST /v2/models/lenet/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"inputs\""),
            _ => half_open(&server.grpc, b""),
        });
    }
    // Everyone else still gets through at once: the limit makes room by
    // closing the connections longest without a request.
    let r = server.post("/v2/models/lenet/infer", &[], &json_input(1, 0.0));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(2), "a client waited {:?} behind slow ones", started.elapsed());
    assert!(server.metric("cnnzoo_open_connections") <= 16.0);
    assert!(server.metric("cnnzoo_connections_closed_total{reason=\"evicted\"}") >= 32.0);
    // The rest are closed when their time is up.
    for s in &mut slow {
        assert!(closed_within(s, Duration::from_secs(6)), "a slow connection outlived --read-timeout-s");
    }
    assert!(server.metric("cnnzoo_connections_closed_total{reason=\"read_timeout\"}") >= 1.0);
    // An idle keep-alive connection is a slow client too.
    let mut idle = half_open(&server.http, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(closed_within(&mut idle, Duration::from_secs(6)));
    assert!(server.ready());
}

#[test]
fn shutdown_closes_half_sent_requests_and_exits_0() {
    let mut server = start(&[]);
    let _head = half_open(&server.http, b"POST /v2/models/lenet/infer HTTP/1.1\r\nHost: x\r\n");
    let _body = half_open(&server.http, b"POST /v2/models/lenet/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{");
    let _grpc = half_open(&server.grpc, b"PRI * HTTP/2.0\r\n");
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    server.terminate();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}; log:\n{}", server.log().join("\n"));
    // The grace period is 30 s; nothing was waited for.
    assert!(signalled.elapsed() < Duration::from_secs(10), "shutdown took {:?}", signalled.elapsed());
}

/// A PNG whose header says `side` x `side` RGBA, 8 bits: `4 * side^2` bytes
/// decoded, a few hundred KiB compressed.
fn canvas_png(side: u32) -> Vec<u8> {
    let img = image::RgbaImage::new(side, side);
    let mut out = std::io::Cursor::new(vec![]);
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    );
    img.write_with_encoder(encoder).unwrap();
    out.into_inner()
}

#[test]
fn concurrent_decompression_bombs_decode_within_the_servers_memory() {
    // Six images of 256 MiB decoded each, sent at once, with room for one.
    let server = std::sync::Arc::new(start(&["--decode-memory-mb", "300"]));
    let png = canvas_png(8192);
    assert!(png.len() < 4 << 20, "the bomb is small: {} bytes", png.len());
    let before = peak_memory(&server);
    let (headers, body) = image_request(&[png]);
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (server, headers, body) = (std::sync::Arc::clone(&server), headers.clone(), body.clone());
            std::thread::spawn(move || server.post("/v2/models/lenet/infer", &headers, &body))
        })
        .collect();
    for c in clients {
        let r = c.join().unwrap();
        assert_eq!(r.status, 200, "every request is answered: {}", r.text());
    }
    let grown = peak_memory(&server).saturating_sub(before);
    // One decode at a time: 256 MiB of pixels and the requests' bodies, never two decodes' worth.
    assert!(grown < 450 << 20, "peak memory grew by {} MiB", grown >> 20);
    // Beyond the per-image pixel limit, the header alone is refused at once.
    let huge = canvas_png(16_384);
    let started = Instant::now();
    let (headers, body) = image_request(&[huge]);
    let r = server.post("/v2/models/lenet/infer", &headers, &body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("over the server's limit of 178956970 per image (--max-image-pixels)"), "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(2));
    // An image that could never fit the budget is refused, not waited for.
    let tight = start(&["--decode-memory-mb", "64"]);
    let (headers, body) = image_request(&[canvas_png(8192)]);
    let r = tight.post("/v2/models/lenet/infer", &headers, &body);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("needs 256 MiB to decode, over the server's decoding memory of 64 MiB (--decode-memory-mb)"), "{}", r.text());
}

#[test]
fn json_data_longer_than_its_shape_is_refused_while_it_is_parsed() {
    let server = start(&["--max-request-bytes", "100000000"]);
    let before = peak_memory(&server);
    // 60 MB of zeros for a [1, 1, 28, 28] tensor.
    let zeros = "0,".repeat(30_000_000);
    let body = format!(r#"{{"inputs":[{{"name":"input","data":[{}0],"shape":[1,1,28,28],"datatype":"FP32"}}]}}"#, zeros);
    let r = server.post("/v2/models/lenet/infer", &[], body.as_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("more than the 784 elements of shape [1, 1, 28, 28]"), "{}", r.text());
    let grown = peak_memory(&server).saturating_sub(before);
    // The body itself, and not the gigabytes of a parsed JSON tree.
    assert!(grown < 250 << 20, "peak memory grew by {} MiB", grown >> 20);
    assert_eq!(server.post("/v2/models/lenet/infer", &[], &json_input(2, 0.5)).status, 200);
}

/// LeNet whose `features` output is cut to its first row, whatever the batch.
fn one_row_model(dir: &std::path::Path) {
    use cnnzoo_proto::{NodeProto, TensorProto};
    let mut model = fixture::lenet_model();
    let graph = model.graph.as_mut().unwrap();
    let producer = graph.node.iter_mut().find(|n| n.output.iter().any(|o| o == "features")).unwrap();
    for o in producer.output.iter_mut().filter(|o| *o == "features") {
        *o = "features_all".into();
    }
    for n in graph.node.iter_mut() {
        for i in n.input.iter_mut().filter(|i| *i == "features") {
            *i = "features_all".into();
        }
    }
    let int64 =
        |name: &str, v: i64| TensorProto { name: name.into(), dims: vec![1], data_type: 7, int64_data: vec![v], ..Default::default() };
    graph.initializer.extend([int64("cut_start", 0), int64("cut_end", 1), int64("cut_axis", 0)]);
    graph.node.push(NodeProto {
        op_type: "Slice".into(),
        name: "cut".into(),
        input: vec!["features_all".into(), "cut_start".into(), "cut_end".into(), "cut_axis".into()],
        output: vec!["features".into()],
        ..Default::default()
    });
    std::fs::write(dir.join("cut.onnx"), cnnzoo_proto::encode_model(&model)).unwrap();
}

#[test]
fn a_model_answering_the_wrong_rows_fails_its_requests_never_the_server() {
    let dir = tempfile::tempdir().unwrap();
    one_row_model(dir.path());
    let server: Server = start_in(dir.path(), &[]);
    let (headers, body) = binary_input(2, 0.5);
    for _ in 0..3 {
        let r = server.post("/v2/models/cut/infer", &headers, &body);
        assert_eq!(r.status, 500, "{}", r.text());
        assert!(r.text().contains("output `features` came back [1, 84] for 2 image(s)"), "{}", r.text());
    }
    // One row is what the model does answer right; the batching thread still runs.
    let (headers, body) = binary_input(1, 0.5);
    assert_eq!(server.post("/v2/models/cut/infer", &headers, &body).status, 200);
    assert!(server.ready());
    assert_eq!(server.get("/v2/models/cut/ready").status, 200);
}

/// A gRPC codec that sends bytes as they are, to say what no client would.
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        buf.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

#[test]
fn malformed_grpc_messages_are_invalid_argument() {
    use cnnzoo_proto::inference::{model_infer_request::InferInputTensor, ModelInferRequest};
    use cnnzoo_proto::Message;
    let server = start(&[]);
    let valid = ModelInferRequest {
        model_name: "lenet".into(),
        inputs: vec![InferInputTensor { name: "input".into(), datatype: "FP32".into(), shape: vec![1, 1, 28, 28], ..Default::default() }],
        raw_input_contents: vec![vec![0; 784 * 4]],
        ..Default::default()
    }
    .encode_to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", vec![0xff; 64]),
        ("truncated", valid[..valid.len() - 100].to_vec()),
        ("a model name that is not UTF-8", vec![0x0a, 0x02, 0xff, 0xfe]),
    ];
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.grpc)).unwrap().connect().await.unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        for (what, bytes) in cases {
            grpc.ready().await.unwrap();
            let path = tonic::codegen::http::uri::PathAndQuery::from_static("/inference.GRPCInferenceService/ModelInfer");
            let status = grpc.unary(tonic::Request::new(bytes), path, RawCodec).await.expect_err(what);
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}: {status:?}");
        }
    });
    assert!(server.ready());
}
