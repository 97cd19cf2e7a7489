//! Helpers the end-to-end tests in tests/tests/ share (they need libtorch and
//! the trainer, so they live here rather than in tests/support/).

use cnnzoo_models::ParamRole;
use cnnzoo_train::Net;
use tch::{Device, Kind, Tensor};

/// Gives every batch norm random statistics and affine parameters (fresh ones
/// are the identity), so that exporting, and folding, really are exercised.
pub fn randomize_batch_norms(net: &mut Net) -> Result<(), cnnzoo_models::ModelError> {
    let mut w = net.weights();
    for p in net.graph().params() {
        let (lo, hi) = match p.role {
            ParamRole::Scale => (0.5, 1.5),
            ParamRole::Shift => (-0.2, 0.2),
            ParamRole::RunningMean => (-0.3, 0.3),
            ParamRole::RunningVar => (0.5, 2.0),
            ParamRole::Weight { .. } | ParamRole::Bias { .. } => continue,
        };
        let t = Tensor::rand([p.numel() as i64], (Kind::Float, Device::Cpu)) * (hi - lo) + lo;
        if let (Some(slot), Ok(values)) = (w.0.get_mut(&p.name), Vec::<f32>::try_from(t)) {
            slot.data = values;
        }
    }
    net.load(&w)
}
