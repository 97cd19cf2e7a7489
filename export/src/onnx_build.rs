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

pub fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::String as i32, s: value.as_bytes().to_vec(), ..Default::default() }
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
    initializer(name, shape, DataType::Float, data.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// An int64 initializer (shapes, axes, indices).
pub fn tensor_i64(name: &str, shape: &[usize], data: &[i64]) -> TensorProto {
    initializer(name, shape, DataType::Int64, data.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// An initializer of `data_type` whose values are `raw_data`, little-endian.
fn initializer(name: &str, shape: &[usize], data_type: DataType, raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: data_type as i32,
        raw_data,
        ..Default::default()
    }
}

/// A float32 value; `None` dimensions become the symbolic `batch`.
pub fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dims: Vec<Result<usize, &str>> = dims.iter().map(|d| d.ok_or("batch")).collect();
    typed_value_info(name, DataType::Float, &dims)
}

/// A value of element type `elem`; `Err` dimensions are symbolic, by that name.
pub fn typed_value_info(name: &str, elem: DataType, dims: &[Result<usize, &str>]) -> ValueInfoProto {
    let dim = dims.iter().map(|d| dimension_of(*d)).collect();
    let tensor_type = type_proto::Tensor { elem_type: elem as i32, shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor_type)), ..Default::default() }),
        ..Default::default()
    }
}

fn dimension_of(d: Result<usize, &str>) -> cnnzoo_proto::tensor_shape_proto::Dimension {
    let value = match d {
        Ok(v) => dimension::Value::DimValue(v as i64),
        Err(name) => dimension::Value::DimParam(name.into()),
    };
    cnnzoo_proto::tensor_shape_proto::Dimension { value: Some(value), ..Default::default() }
}
