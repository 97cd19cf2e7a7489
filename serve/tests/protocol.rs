//! The Open Inference Protocol as clients speak it: tritonclient (HTTP and
//! gRPC), a Rust gRPC client generated from our `inference.proto`, and raw
//! HTTP for the requests no well-behaved client sends.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the report

mod fixture;

use std::path::Path;

use cnnzoo_infer::{Backbone, BackboneOptions, Device};
use cnnzoo_proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use cnnzoo_proto::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use cnnzoo_proto::inference::{InferTensorContents, ModelInferRequest, ModelMetadataRequest, ModelReadyRequest};
use fixture::{binary_input, image_request, json_input, models, pngs, start};
use ndarray::Array4;

#[test]
fn tritonclient_over_http_and_grpc_matches_onnx_runtime() {
    let server = start(&[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/triton_client.py");
    let pngs = pngs(8);
    let onnx = models().join("lenet.onnx");
    let mut args = vec![server.http.clone(), server.grpc.clone(), "lenet".into(), onnx.display().to_string()];
    args.extend(pngs.iter().map(|p| p.display().to_string()));
    let out = fixture::python_script(&script, &args);
    assert!(out.contains("max_abs_diff"), "{out}");
    assert!(server.ready());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

fn fp32_request(x: &Array4<f32>, raw: bool) -> ModelInferRequest {
    let shape = x.shape().iter().map(|&d| d as i64).collect();
    let data: Vec<f32> = x.iter().copied().collect();
    let (contents, raw_input_contents) = if raw {
        (None, vec![data.iter().flat_map(|v| v.to_le_bytes()).collect()])
    } else {
        (Some(InferTensorContents { fp32_contents: data, ..Default::default() }), vec![])
    };
    ModelInferRequest {
        model_name: "lenet".into(),
        id: "rust-1".into(),
        inputs: vec![InferInputTensor { name: "input".into(), datatype: "FP32".into(), shape, contents, ..Default::default() }],
        outputs: vec![InferRequestedOutputTensor { name: "logits".into(), ..Default::default() }],
        raw_input_contents,
        ..Default::default()
    }
}

#[test]
fn a_rust_grpc_client_gets_the_libraries_logits() {
    let server = start(&[]);
    let x = Array4::from_shape_fn((3, 1, 28, 28), |(n, _, h, w)| ((n * 31 + h * 7 + w) % 17) as f32 / 17.0 - 0.3);
    let backbone =
        Backbone::open(models().join("lenet.onnx"), &BackboneOptions { device: Device::Cpu, ..Default::default() }).expect("lenet opens");
    let want = backbone.run(x.view()).expect("lenet runs").logits.expect("lenet has logits");
    runtime().block_on(async {
        let mut client = GrpcInferenceServiceClient::connect(format!("http://{}", server.grpc)).await.expect("gRPC connects");
        assert!(
            client.model_ready(ModelReadyRequest { name: "lenet".into(), version: "1".into() }).await.expect("ready").into_inner().ready
        );
        let meta = client
            .model_metadata(ModelMetadataRequest { name: "lenet".into(), version: String::new() })
            .await
            .expect("metadata")
            .into_inner();
        assert_eq!(meta.platform, "onnxruntime_onnx");
        for raw in [false, true] {
            let r = client.model_infer(fp32_request(&x, raw)).await.expect("inference").into_inner();
            assert_eq!((r.id.as_str(), r.outputs.len(), r.outputs[0].shape.as_slice()), ("rust-1", 1, &[3i64, 10][..]));
            let got: Vec<f32> = r.raw_output_contents[0].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            let diff = got.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(diff < 1e-4, "raw={raw}: max abs diff {diff}");
        }
    });
}

#[test]
fn every_bad_request_gets_its_status_and_the_server_stays_ready() {
    let server = start(&["--max-batch", "8"]);
    let infer = "/v2/models/lenet/infer";
    let image = |bytes: &[u8]| {
        let mut raw = (bytes.len() as u32).to_le_bytes().to_vec();
        raw.extend(bytes);
        let head = format!(
            r#"{{"inputs":[{{"name":"image","shape":[1],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}]}}"#,
            raw.len()
        );
        let mut body = head.clone().into_bytes();
        body.extend(raw);
        (vec![("Inference-Header-Content-Length", head.len().to_string())], body)
    };
    let input = |shape: &str, datatype: &str, data: &str| {
        format!(r#"{{"inputs":[{{"name":"input","shape":{shape},"datatype":"{datatype}","data":{data}}}]}}"#)
    };
    let zeros = |n: usize| format!("[{}]", vec!["0"; n].join(","));
    let (not_png_headers, not_png) = image(b"\x89PNG\r\n\x1a\n but then nothing a decoder wants");
    let (bin_headers, bin_body) = binary_input(1, 0.5);
    // What, path, headers, body, status, and a part of the error message.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("malformed JSON", infer, vec![], b"{\"inputs\": [".to_vec(), 400, "malformed inference request JSON"),
        ("not an object", infer, vec![], b"[1, 2]".to_vec(), 400, "malformed inference request JSON"),
        ("unknown field", infer, vec![], br#"{"inputs": [], "inptus": []}"#.to_vec(), 400, "unknown field"),
        ("no inputs", infer, vec![], br#"{"inputs": []}"#.to_vec(), 400, "exactly one input"),
        (
            "wrong input name",
            infer,
            vec![],
            input("[1,1,28,28]", "FP32", &zeros(784)).replace("\"input\"", "\"pixels\"").into_bytes(),
            400,
            "no input 'pixels'",
        ),
        ("wrong datatype", infer, vec![], input("[1,1,28,28]", "INT32", &zeros(784)).into_bytes(), 400, "datatype INT32 is not supported"),
        (
            "wrong shape",
            infer,
            vec![],
            input("[1,3,28,28]", "FP32", &zeros(3 * 784)).into_bytes(),
            400,
            "does not match the model's [-1, 1, 28, 28]",
        ),
        (
            "short data",
            infer,
            vec![],
            input("[1,1,28,28]", "FP32", &zeros(783)).into_bytes(),
            400,
            "783 values for shape [1, 1, 28, 28], which needs 784",
        ),
        ("not numbers", infer, vec![], input("[1,1,28,28]", "FP32", "[\"a\"]").into_bytes(), 400, "element 0 (\"a\") is not a number"),
        ("zero batch", infer, vec![], input("[0,1,28,28]", "FP32", "[]").into_bytes(), 400, "no batch of at least 1"),
        (
            "over --max-batch",
            infer,
            vec![],
            input("[9,1,28,28]", "FP32", &zeros(9 * 784)).into_bytes(),
            400,
            "over the server's --max-batch 8",
        ),
        (
            "unknown output",
            infer,
            vec![],
            br#"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[0]}],"outputs":[{"name":"probs"}]}"#.to_vec(),
            400,
            "no output 'probs'",
        ),
        ("undecodable image", infer, not_png_headers, not_png, 400, "image[0]"),
        (
            "JSON image not base64",
            infer,
            vec![],
            br#"{"inputs":[{"name":"image","shape":[1],"datatype":"BYTES","data":["%%%"]}]}"#.to_vec(),
            400,
            "not a base64 string",
        ),
        (
            "header longer than body",
            infer,
            vec![("Inference-Header-Content-Length", "999999".into())],
            bin_body.clone(),
            400,
            "longer than the",
        ),
        (
            "binary cut short",
            infer,
            bin_headers.clone(),
            bin_body[..bin_body.len() - 4].to_vec(),
            400,
            "only 3132 bytes of binary data remain",
        ),
        (
            "binary left over",
            infer,
            bin_headers.clone(),
            [bin_body.clone(), vec![0; 4]].concat(),
            400,
            "4 bytes of binary data belong to no input",
        ),
        ("unknown model", "/v2/models/alexnet/infer", vec![], json_input(1, 0.0), 404, "no model 'alexnet' (this server has lenet)"),
        ("unknown version", "/v2/models/lenet/versions/2/infer", vec![], json_input(1, 0.0), 404, "has no version '2'"),
        ("unknown endpoint", "/v1/models/lenet:predict", vec![], json_input(1, 0.0), 404, "no such endpoint"),
    ];
    for (what, path, headers, body, status, message) in cases {
        let r = server.post(path, &headers, &body);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        let error = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(message), "{what}: {error:?} should say {message:?}");
        assert!(server.ready(), "{what}: the server is no longer ready");
    }
    assert_eq!(server.get("/v2/models/lenet/versions/3/ready").status, 404);
    // After all that, good requests still get their answers.
    let r = server.post(infer, &bin_headers, &bin_body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(server.metric("cnnzoo_request_failures_total{model=\"lenet\",reason=\"bad_request\"}"), 17.0);
    assert_eq!(server.metric("cnnzoo_unknown_model_requests_total"), 2.0);

    // The same kinds of mistakes over gRPC get the matching codes.
    runtime().block_on(async {
        let mut client = GrpcInferenceServiceClient::connect(format!("http://{}", server.grpc)).await.expect("gRPC connects");
        let good = fp32_request(&Array4::zeros((1, 1, 28, 28)), true);
        let mut wrong_shape = good.clone();
        wrong_shape.inputs[0].shape = vec![1, 1, 27, 29];
        let mut two_raw = good.clone();
        two_raw.raw_input_contents.push(vec![]);
        let mut no_model = good.clone();
        no_model.model_name = "vgg".into();
        for (what, request, code, message) in [
            ("wrong shape", wrong_shape, tonic::Code::InvalidArgument, "does not match"),
            ("raw contents per input", two_raw, tonic::Code::InvalidArgument, "2 raw_input_contents for 1 inputs"),
            ("unknown model", no_model, tonic::Code::NotFound, "no model 'vgg'"),
        ] {
            let e = client.model_infer(request).await.expect_err(what);
            assert_eq!(e.code(), code, "{what}: {}", e.message());
            assert!(e.message().contains(message), "{what}: {}", e.message());
        }
        assert!(client.model_infer(good).await.is_ok());
    });
}

#[test]
fn bodies_over_the_limit_get_413_and_out_of_range() {
    let server = start(&["--max-request-bytes", "100000"]);
    let r = server.post("/v2/models/lenet/infer", &[], &json_input(64, 0.25));
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap_or_default().contains("over the server's limit of 100000 bytes (--max-request-bytes)"));
    let (headers, body) = binary_input(8, 0.5);
    assert_eq!(server.post("/v2/models/lenet/infer", &headers, &body).status, 200, "a request under the limit runs");
    runtime().block_on(async {
        let mut client = GrpcInferenceServiceClient::connect(format!("http://{}", server.grpc)).await.expect("gRPC connects");
        let e = client.model_infer(fp32_request(&Array4::zeros((64, 1, 28, 28)), true)).await.expect_err("too large");
        assert_eq!(e.code(), tonic::Code::OutOfRange, "{}", e.message());
        assert!(e.message().contains("the limit is: 100000 bytes"), "{}", e.message());
    });
    assert!(server.ready());
}

#[test]
fn a_model_that_carries_its_preprocessing_takes_images_of_any_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut plain = cnnzoo_export::inspect::decode(&std::fs::read(models().join("lenet.onnx")).unwrap(), "lenet.onnx").unwrap();
    plain.opset_import[0].version = cnnzoo_export::embed::MIN_OPSET;
    let p = cnnzoo_models::Preprocessing::bilinear_unit(1, 28);
    let embedded = cnnzoo_export::embed::embed_preprocessing(&plain, &p).unwrap();
    std::fs::write(dir.path().join("plain.onnx"), cnnzoo_proto::encode_model(&plain)).unwrap();
    std::fs::write(dir.path().join("images.onnx"), cnnzoo_proto::encode_model(&embedded)).unwrap();
    let server = fixture::start_in(dir.path(), &[]);
    // Images of three sizes in one request: a Fashion-MNIST PNG, a small and a large photo-like RGB.
    let mut files: Vec<Vec<u8>> = pngs(1).iter().map(|f| std::fs::read(f).unwrap()).collect();
    for (w, h) in [(13, 9), (300, 200)] {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 77]));
        let mut png = std::io::Cursor::new(vec![]);
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        files.push(png.into_inner());
    }
    let (headers, body) = image_request(&files);
    let logits = |model: &str| -> Vec<f64> {
        let r = server.post(&format!("/v2/models/{model}/infer"), &headers, &body);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let out = v["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "logits").unwrap().clone();
        assert_eq!(out["shape"], serde_json::json!([3, 10]));
        serde_json::from_value(out["data"].clone()).unwrap()
    };
    let (a, b) = (logits("plain"), logits("images"));
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3), "{a:?}\n{b:?}");
    // It says it takes encoded images only, and refuses float network input by name.
    let meta = server.get("/v2/models/images").json();
    assert_eq!(meta["inputs"], serde_json::json!([{"name": "image", "datatype": "BYTES", "shape": [-1]}]));
    let r = server.post("/v2/models/images/infer", &[], &json_input(1, 0.5));
    assert!(r.status == 400 && r.text().contains("does its own preprocessing"), "{} {}", r.status, r.text());
    assert!(server.ready());
}

/// Encoded files as one BYTES input `image`, in Triton's binary extension.

#[test]
fn models_exported_elsewhere_are_served_with_their_card_json() {
    // torchvision's ResNet-18 as the PyTorch tutorial exports it (`input.1`
    // -> `191`, batch 1) with ImageNet's card, and a 48x192 model.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photo = d.join("photo.jpg");
    image::RgbImage::from_fn(500, 375, |x, y| image::Rgb([(x / 2) as u8, (y * 255 / 375) as u8, ((x * y) % 256) as u8]))
        .save(&photo)
        .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/tutorial_export.py");
    let reference: serde_json::Value =
        serde_json::from_str(fixture::python_script(&script, &[d.to_str().unwrap(), photo.to_str().unwrap()]).trim()).unwrap();
    let repo = d.join("repo");
    std::fs::create_dir(&repo).unwrap();
    for m in ["resnet18", "wide"] {
        std::fs::rename(d.join(format!("{m}.onnx")), repo.join(format!("{m}.onnx"))).unwrap();
    }
    std::fs::write(repo.join("imagenet.txt"), cnnzoo_models::weights::IMAGENET1K_CLASSES).unwrap();
    let card = r#"{"channels": 3, "resize_size": 256, "size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "classes": "imagenet.txt"}"#;
    std::fs::write(repo.join("resnet18.card.json"), card).unwrap();
    std::fs::write(repo.join("wide.card.json"), r#"{"channels": 3, "size": "48x192", "logits_output": "y"}"#).unwrap();
    let server = fixture::start_in(&repo, &[]);
    let meta = server.get("/v2/models/wide").json();
    let input = meta["inputs"].as_array().unwrap().iter().find(|i| i["name"] == "input").unwrap().clone();
    assert_eq!(input["shape"], serde_json::json!([-1, 3, 48, 192]), "{meta}");
    let (headers, body) = image_request(&[std::fs::read(&photo).unwrap()]);
    let logits = |model: &str| -> Vec<f64> {
        let r = server.post(&format!("/v2/models/{model}/infer"), &headers, &body);
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json()["outputs"][0].clone();
        serde_json::from_value(out["data"].clone()).unwrap()
    };
    let top1 = |v: &[f64]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    let names: Vec<&str> = cnnzoo_models::weights::IMAGENET1K_CLASSES.lines().collect();
    let r18 = logits("resnet18");
    assert_eq!(r18.len(), 1000);
    assert_eq!(names[top1(&r18)], reference["top5"][photo.to_str().unwrap()][0].as_str().unwrap());
    let probs: Vec<f64> = reference["wide"][photo.to_str().unwrap()].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(top1(&logits("wide")), top1(&probs));
    server.terminate();

    // A bad card.json stops the start with one line naming the file.
    std::fs::write(repo.join("wide.card.json"), r#"{"size": "48x192", "chanels": 3}"#).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cnnzoo-serve"))
        .args(["--model-dir", repo.to_str().unwrap(), "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--device", "cpu"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("wide.card.json") && err.contains("unknown field `chanels`"), "{err}");
}
