//! Conversions between the Open Inference Protocol's tensor messages (typed
//! `contents` or `raw_*_contents`) and the runtime's [`Tensor`]s, shared by
//! the server's frontends and the client.

use aiserve_proto::inference::model_infer_request::InferInputTensor;
use aiserve_proto::inference::model_infer_response::InferOutputTensor;
use aiserve_proto::inference::InferTensorContents;
use bytes::Bytes;

use crate::{element_count, DataType, Error, Tensor, TensorData};

/// Decodes the request's inputs. `raw` is `raw_input_contents`: when it is
/// not empty it holds one entry per input, in order, and typed `contents`
/// must be empty.
pub fn inputs_from_proto(inputs: Vec<InferInputTensor>, raw: Vec<Bytes>) -> Result<Vec<Tensor>, Error> {
    if !raw.is_empty() && raw.len() != inputs.len() {
        return Err(Error::invalid(format!(
            "raw_input_contents has {} entries but the request has {} inputs; give one per input or none",
            raw.len(),
            inputs.len()
        )));
    }
    let mut raw = raw.into_iter();
    inputs
        .into_iter()
        .map(|input| {
            let datatype = DataType::from_protocol(&input.datatype).ok_or_else(|| {
                Error::invalid(format!(
                    "input '{}': unknown datatype '{}' (expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, BF16, FP32, FP64, BYTES)",
                    input.name, input.datatype
                ))
            })?;
            let n = element_count(&input.name, &input.shape)?;
            let data = match raw.next() {
                Some(bytes) => {
                    if input.contents.as_ref().is_some_and(|c| contents_len(c) > 0) {
                        return Err(Error::invalid(format!(
                            "input '{}': both typed contents and raw_input_contents are given; use one",
                            input.name
                        )));
                    }
                    TensorData::from_raw(&input.name, datatype, &bytes, n)?
                }
                None => from_contents(&input.name, datatype, input.contents.unwrap_or_default(), n)?,
            };
            Ok(Tensor::new(input.name, input.shape, data))
        })
        .collect()
}

fn contents_len(c: &InferTensorContents) -> usize {
    c.bool_contents.len()
        + c.int_contents.len()
        + c.int64_contents.len()
        + c.uint_contents.len()
        + c.uint64_contents.len()
        + c.fp32_contents.len()
        + c.fp64_contents.len()
        + c.bytes_contents.len()
}

/// Decodes one tensor's typed contents, checking the field matches the
/// datatype and the count matches the shape (`n` elements).
pub fn from_contents(
    name: &str,
    datatype: DataType,
    c: InferTensorContents,
    n: usize,
) -> Result<TensorData, Error> {
    let total = contents_len(&c);
    let narrow = |field: &'static str| {
        move |_| {
            Error::invalid(format!(
                "input '{name}': a value in {field} does not fit datatype {datatype}"
            ))
        }
    };
    let data = match datatype {
        DataType::Bool => TensorData::Bool(c.bool_contents),
        DataType::I8 => TensorData::I8(
            c.int_contents
                .into_iter()
                .map(i8::try_from)
                .collect::<Result<_, _>>()
                .map_err(narrow("int_contents"))?,
        ),
        DataType::I16 => TensorData::I16(
            c.int_contents
                .into_iter()
                .map(i16::try_from)
                .collect::<Result<_, _>>()
                .map_err(narrow("int_contents"))?,
        ),
        DataType::I32 => TensorData::I32(c.int_contents),
        DataType::I64 => TensorData::I64(c.int64_contents),
        DataType::U8 => TensorData::U8(
            c.uint_contents
                .into_iter()
                .map(u8::try_from)
                .collect::<Result<_, _>>()
                .map_err(narrow("uint_contents"))?,
        ),
        DataType::U16 => TensorData::U16(
            c.uint_contents
                .into_iter()
                .map(u16::try_from)
                .collect::<Result<_, _>>()
                .map_err(narrow("uint_contents"))?,
        ),
        DataType::U32 => TensorData::U32(c.uint_contents),
        DataType::U64 => TensorData::U64(c.uint64_contents),
        DataType::F32 => TensorData::F32(c.fp32_contents),
        DataType::F64 => TensorData::F64(c.fp64_contents),
        DataType::Bytes => TensorData::Bytes(c.bytes_contents.into_iter().collect()),
        DataType::F16 | DataType::BF16 => {
            return Err(Error::invalid(format!(
            "input '{name}': datatype {datatype} has no typed contents field; send it in raw_input_contents"
        )))
        }
    };
    if data.len() != total {
        return Err(Error::invalid(format!(
            "input '{name}': datatype {datatype} but the contents are in another type's field ({}); put them in {}",
            total - data.len(),
            contents_field(datatype)
        )));
    }
    if data.len() != n {
        return Err(Error::invalid(format!(
            "input '{name}': {} values in {}, but the shape needs {n}",
            data.len(),
            contents_field(datatype)
        )));
    }
    Ok(data)
}

/// The typed contents field that carries a datatype.
pub fn contents_field(datatype: DataType) -> &'static str {
    match datatype {
        DataType::Bool => "bool_contents",
        DataType::I8 | DataType::I16 | DataType::I32 => "int_contents",
        DataType::I64 => "int64_contents",
        DataType::U8 | DataType::U16 | DataType::U32 => "uint_contents",
        DataType::U64 => "uint64_contents",
        DataType::F32 => "fp32_contents",
        DataType::F64 => "fp64_contents",
        DataType::Bytes => "bytes_contents",
        DataType::F16 | DataType::BF16 => "raw contents",
    }
}

/// Encodes outputs, typed or raw. Types without a typed field (FP16, BF16)
/// force raw for all outputs, since raw contents cover all outputs or none.
pub fn outputs_to_proto(outputs: Vec<Tensor>, raw: bool) -> (Vec<InferOutputTensor>, Vec<Bytes>) {
    let raw = raw
        || outputs
            .iter()
            .any(|t| matches!(t.datatype(), DataType::F16 | DataType::BF16));
    let mut raw_out = Vec::new();
    let tensors = outputs
        .into_iter()
        .map(|t| {
            let datatype = t.datatype().as_str().to_string();
            let contents = if raw {
                raw_out.push(Bytes::from(t.data.to_raw()));
                None
            } else {
                Some(to_contents(t.data))
            };
            InferOutputTensor {
                name: t.name,
                datatype,
                shape: t.shape,
                parameters: Default::default(),
                contents,
            }
        })
        .collect();
    (tensors, raw_out)
}

/// Encodes elements in the typed contents field of their datatype.
/// FP16 and BF16 have none: their bits go in `uint_contents`.
pub fn to_contents(data: TensorData) -> InferTensorContents {
    let mut c = InferTensorContents::default();
    match data {
        TensorData::Bool(v) => c.bool_contents = v,
        TensorData::I8(v) => c.int_contents = v.into_iter().map(i32::from).collect(),
        TensorData::I16(v) => c.int_contents = v.into_iter().map(i32::from).collect(),
        TensorData::I32(v) => c.int_contents = v,
        TensorData::I64(v) => c.int64_contents = v,
        TensorData::U8(v) => c.uint_contents = v.into_iter().map(u32::from).collect(),
        TensorData::U16(v) => c.uint_contents = v.into_iter().map(u32::from).collect(),
        TensorData::U32(v) => c.uint_contents = v,
        TensorData::U64(v) => c.uint64_contents = v,
        TensorData::F32(v) => c.fp32_contents = v,
        TensorData::F64(v) => c.fp64_contents = v,
        TensorData::Bytes(v) => c.bytes_contents = v,
        TensorData::F16(v) | TensorData::BF16(v) => c.uint_contents = v.into_iter().map(u32::from).collect(),
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        name: &str,
        dt: &str,
        shape: Vec<i64>,
        contents: Option<InferTensorContents>,
    ) -> InferInputTensor {
        InferInputTensor {
            name: name.into(),
            datatype: dt.into(),
            shape,
            parameters: Default::default(),
            contents,
        }
    }

    #[test]
    fn typed_and_raw_inputs() {
        let typed = inputs_from_proto(
            vec![input(
                "a",
                "FP32",
                vec![2],
                Some(InferTensorContents {
                    fp32_contents: vec![1.0, 2.0],
                    ..Default::default()
                }),
            )],
            vec![],
        )
        .unwrap();
        let raw = inputs_from_proto(
            vec![input("a", "FP32", vec![2], None)],
            vec![Bytes::from([1f32.to_le_bytes(), 2f32.to_le_bytes()].concat())],
        )
        .unwrap();
        assert_eq!(typed, raw);
    }

    #[test]
    fn bad_inputs_name_the_tensor() {
        let e = inputs_from_proto(vec![input("a", "FLOAT", vec![1], None)], vec![]).unwrap_err();
        assert!(
            e.to_string().contains("input 'a': unknown datatype 'FLOAT'"),
            "{e}"
        );
        let e = inputs_from_proto(
            vec![input(
                "b",
                "FP32",
                vec![3],
                Some(InferTensorContents {
                    fp32_contents: vec![1.0],
                    ..Default::default()
                }),
            )],
            vec![],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("input 'b': 1 values in fp32_contents, but the shape needs 3"),
            "{e}"
        );
        let e = inputs_from_proto(
            vec![input(
                "c",
                "FP32",
                vec![1],
                Some(InferTensorContents {
                    int_contents: vec![1],
                    ..Default::default()
                }),
            )],
            vec![],
        )
        .unwrap_err();
        assert!(e.to_string().contains("put them in fp32_contents"), "{e}");
        let e = inputs_from_proto(
            vec![input(
                "d",
                "INT8",
                vec![1],
                Some(InferTensorContents {
                    int_contents: vec![1000],
                    ..Default::default()
                }),
            )],
            vec![],
        )
        .unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
        let e = inputs_from_proto(
            vec![input("e", "FP32", vec![1], None)],
            vec![Bytes::new(), Bytes::new()],
        )
        .unwrap_err();
        assert!(e.to_string().contains("2 entries"), "{e}");
    }

    #[test]
    fn outputs_typed_or_raw() {
        let t = Tensor::new("y", vec![2], TensorData::F32(vec![1.0, 2.0]));
        let (typed, raw) = outputs_to_proto(vec![t.clone()], false);
        assert!(raw.is_empty());
        assert_eq!(typed[0].contents.as_ref().unwrap().fp32_contents, vec![1.0, 2.0]);
        let (typed, raw) = outputs_to_proto(vec![t], true);
        assert!(typed[0].contents.is_none());
        assert_eq!(raw[0].len(), 8);
    }
}
