//! What the workspace's tests share: where Fashion-MNIST is, the set-up's
//! Python, the adversarial corpus's harness, a check run on every case of a
//! list, forged files, and a seeded LeNet written by the exporter's library.
//! It links neither libtorch nor ONNX Runtime, so that every package's tests
//! can use it (infer's and serve's must not link libtorch).

pub mod corpus;
pub mod data;
pub mod every;
pub mod forged;
pub mod python;
pub mod seeded;
