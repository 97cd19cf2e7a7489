//! Small constructors for the ONNX messages, so the lowering reads as a list
//! of nodes rather than of struct literals.

use cnnzoo_proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension, type_proto, AttributeProto, NodeProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: values.to_vec(), ..Default::default() }
}

pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: value, ..Default::default() }
}

pub fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Float as i32, f: value, ..Default::default() }
}

pub fn node(op_type: &str, name: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op_type.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

/// A float32 initializer, stored as little-endian raw data.
pub fn tensor(name: &str, shape: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A float32 value; `None` dimensions become the symbolic `batch`.
pub fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims.iter().map(|d| dimension_of(*d)).collect();
    let tensor_type = type_proto::Tensor { elem_type: DataType::Float as i32, shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor_type)), ..Default::default() }),
        ..Default::default()
    }
}

fn dimension_of(d: Option<usize>) -> cnnzoo_proto::tensor_shape_proto::Dimension {
    let value = match d {
        Some(v) => dimension::Value::DimValue(v as i64),
        None => dimension::Value::DimParam("batch".into()),
    };
    cnnzoo_proto::tensor_shape_proto::Dimension { value: Some(value), ..Default::default() }
}
