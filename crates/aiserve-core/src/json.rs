//! Tensors in the Open Inference Protocol's JSON form
//! (`{"name", "datatype", "shape", "data"}`), used by the CLI's `infer` and
//! the HTTP frontend. `data` may be flat or nested; BYTES elements are strings.

use serde_json::{json, Value};

use crate::{element_count, DataType, Error, Tensor, TensorData};

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

/// Reads one tensor from its JSON form; errors name the tensor.
pub fn tensor_from_json(v: &Value) -> Result<Tensor, Error> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("a tensor has no \"name\""))?
        .to_string();
    let dt = v
        .get("datatype")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid(format!("tensor '{name}' has no \"datatype\"")))?;
    let datatype = DataType::from_protocol(dt)
        .ok_or_else(|| Error::invalid(format!("tensor '{name}': unknown datatype '{dt}'")))?;
    let shape: Vec<i64> = v
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::invalid(format!("tensor '{name}' has no \"shape\" array")))?
        .iter()
        .map(|d| {
            d.as_i64()
                .ok_or_else(|| Error::invalid(format!("tensor '{name}': shape holds a non-integer")))
        })
        .collect::<Result<_, _>>()?;
    let n = element_count(&name, &shape)?;
    let mut items = Vec::new();
    flatten(v.get("data").unwrap_or(&Value::Null), &mut items);
    if items.len() != n {
        return Err(Error::invalid(format!(
            "tensor '{name}': {} values in \"data\", but shape {shape:?} needs {n}",
            items.len()
        )));
    }
    let bad = |i: usize| {
        Error::invalid(format!(
            "tensor '{name}': data[{i}] is not a valid {datatype} value"
        ))
    };
    macro_rules! ints {
        ($variant:ident, $ty:ty) => {
            TensorData::$variant(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        x.as_i64()
                            .and_then(|x| <$ty>::try_from(x).ok())
                            .or_else(|| x.as_u64().and_then(|x| <$ty>::try_from(x).ok()))
                            .ok_or_else(|| bad(i))
                    })
                    .collect::<Result<_, _>>()?,
            )
        };
    }
    let data = match datatype {
        DataType::Bool => TensorData::Bool(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| x.as_bool().ok_or_else(|| bad(i)))
                .collect::<Result<_, _>>()?,
        ),
        DataType::U8 => ints!(U8, u8),
        DataType::U16 => ints!(U16, u16),
        DataType::U32 => ints!(U32, u32),
        DataType::U64 => ints!(U64, u64),
        DataType::I8 => ints!(I8, i8),
        DataType::I16 => ints!(I16, i16),
        DataType::I32 => ints!(I32, i32),
        DataType::I64 => ints!(I64, i64),
        DataType::F16 | DataType::BF16 => {
            return Err(Error::invalid(format!(
                "tensor '{name}': {datatype} is not supported in JSON; use the binary form"
            )))
        }
        DataType::F32 => TensorData::F32(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| x.as_f64().map(|f| f as f32).ok_or_else(|| bad(i)))
                .collect::<Result<_, _>>()?,
        ),
        DataType::F64 => TensorData::F64(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| x.as_f64().ok_or_else(|| bad(i)))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Bytes => TensorData::Bytes(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| x.as_str().map(|s| s.as_bytes().to_vec()).ok_or_else(|| bad(i)))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Tensor::new(name, shape, data))
}

/// Writes one tensor in its JSON form, with flat `data`. BYTES elements that
/// are not UTF-8 are written lossily.
pub fn tensor_to_json(t: &Tensor) -> Value {
    let data = match &t.data {
        TensorData::Bool(v) => json!(v),
        TensorData::U8(v) => json!(v),
        TensorData::U16(v) | TensorData::F16(v) | TensorData::BF16(v) => json!(v),
        TensorData::U32(v) => json!(v),
        TensorData::U64(v) => json!(v),
        TensorData::I8(v) => json!(v),
        TensorData::I16(v) => json!(v),
        TensorData::I32(v) => json!(v),
        TensorData::I64(v) => json!(v),
        TensorData::F32(v) => json!(v),
        TensorData::F64(v) => json!(v),
        TensorData::Bytes(v) => json!(v.iter().map(|b| String::from_utf8_lossy(b)).collect::<Vec<_>>()),
    };
    json!({"name": t.name, "datatype": t.datatype().as_str(), "shape": t.shape, "data": data})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let v = json!({"name": "x", "datatype": "INT32", "shape": [2, 2], "data": [[1, 2], [3, 4]]});
        let t = tensor_from_json(&v).unwrap();
        assert_eq!(t.data, TensorData::I32(vec![1, 2, 3, 4]));
        assert_eq!(tensor_from_json(&tensor_to_json(&t)).unwrap(), t);
        let s = json!({"name": "s", "datatype": "BYTES", "shape": [1], "data": ["hi"]});
        assert_eq!(
            tensor_from_json(&s).unwrap().data,
            TensorData::Bytes(vec![b"hi".to_vec()])
        );
        let e = tensor_from_json(&json!({"name": "x", "datatype": "INT8", "shape": [1], "data": [300]}))
            .unwrap_err();
        assert!(e.to_string().contains("data[0]"), "{e}");
        let e = tensor_from_json(&json!({"name": "x", "datatype": "FP32", "shape": [3], "data": [1.0]}))
            .unwrap_err();
        assert!(e.to_string().contains("needs 3"), "{e}");
    }
}
