//! A graph input's or output's type, read once for every reader (the
//! exporter's `--inspect` and Triton configurations, the runtime's header
//! reader): a tensor's element type and its dimensions, fixed, named or free.

use crate::{tensor_shape_proto::dimension, type_proto, ValueInfoProto};

/// One dimension of a tensor's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    /// Free, with a name (`batch`, `N`): dimensions of one name agree.
    Named(String),
    /// Free, unnamed.
    Free,
}

impl Dim {
    /// The size, where the graph fixes it.
    pub fn fixed(&self) -> Option<i64> {
        match self {
            Dim::Fixed(n) => Some(*n),
            _ => None,
        }
    }
}

/// A size, a name, or `?`.
impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Named(p) => f.write_str(p),
            Dim::Free => f.write_str("?"),
        }
    }
}

/// The tensor a value holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorType {
    /// ONNX's `TensorProto.DataType` number (1 float, 2 uint8, ...).
    pub elem_type: i32,
    /// Empty where the graph gives no shape.
    pub dims: Vec<Dim>,
}

impl ValueInfoProto {
    /// The tensor this value holds; `None` for a sequence, a map or a value
    /// without a type.
    pub fn tensor(&self) -> Option<TensorType> {
        let Some(type_proto::Value::TensorType(t)) = self.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
            return None;
        };
        let dims = t
            .shape
            .iter()
            .flat_map(|s| &s.dim)
            .map(|d| match &d.value {
                Some(dimension::Value::DimValue(n)) => Dim::Fixed(*n),
                Some(dimension::Value::DimParam(p)) => Dim::Named(p.clone()),
                None => Dim::Free,
            })
            .collect();
        Some(TensorType { elem_type: t.elem_type, dims })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tensor_shape_proto::Dimension, TensorShapeProto, TypeProto};

    #[test]
    fn a_tensor_reads_back_its_type_and_dims() {
        let dim = |value| Dimension { value, ..Default::default() };
        let v = ValueInfoProto {
            name: "x".into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: 2,
                    shape: Some(TensorShapeProto {
                        dim: vec![dim(Some(dimension::Value::DimParam("N".into()))), dim(Some(dimension::Value::DimValue(28))), dim(None)],
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = v.tensor().expect("a tensor");
        assert_eq!(t.elem_type, 2);
        assert_eq!(t.dims, [Dim::Named("N".into()), Dim::Fixed(28), Dim::Free]);
        assert_eq!(t.dims.iter().map(ToString::to_string).collect::<Vec<_>>(), ["N", "28", "?"]);
        assert_eq!(t.dims.iter().map(Dim::fixed).collect::<Vec<_>>(), [None, Some(28), None]);
        assert_eq!(ValueInfoProto::default().tensor(), None);
    }
}
