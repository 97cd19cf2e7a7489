//! The ONNX reader behind `--inspect`, on arbitrary bytes and on real models
//! with bytes flipped or cut: a description or an error, never a panic.

use cnnzoo_export::inspect;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        if let Ok(model) = inspect::decode(&bytes, "x.onnx") {
            let _ = inspect::render(&inspect::report(&model));
        }
    }

    #[test]
    fn damaged_models_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut bytes = model_bytes().to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        if let Ok(model) = inspect::decode(&bytes, "x.onnx") {
            let _ = inspect::render(&inspect::report(&model));
        }
    }
}

/// A small real model: LeNet's graph with zero weights, lowered by the exporter.
fn model_bytes() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let arch = cnnzoo_models::Arch::find("lenet").expect("lenet");
        let graph = arch.build(&arch.default_config()).expect("builds");
        let weights = cnnzoo_models::Weights(
            graph
                .params()
                .map(|p| (p.name.clone(), cnnzoo_models::Tensor32 { shape: p.shape.clone(), data: vec![0.0; p.numel()] }))
                .collect(),
        );
        let model = cnnzoo_export::lower(&graph, &weights, &cnnzoo_export::ExportOptions::default()).expect("lowers");
        cnnzoo_proto::encode_model(&model)
    })
}
