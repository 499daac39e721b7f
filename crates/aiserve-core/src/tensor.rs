//! Tensors as the runtime sees them: a name, a shape and typed data, with the
//! Open Inference Protocol's raw little-endian encoding in both directions.

use crate::{DataType, Error};

/// Typed tensor elements, flattened in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// `BOOL` elements.
    Bool(Vec<bool>),
    /// `UINT8` elements.
    U8(Vec<u8>),
    /// `UINT16` elements.
    U16(Vec<u16>),
    /// `UINT32` elements.
    U32(Vec<u32>),
    /// `UINT64` elements.
    U64(Vec<u64>),
    /// `INT8` elements.
    I8(Vec<i8>),
    /// `INT16` elements.
    I16(Vec<i16>),
    /// `INT32` elements.
    I32(Vec<i32>),
    /// `INT64` elements.
    I64(Vec<i64>),
    /// `FP16` elements as raw IEEE half bits.
    F16(Vec<u16>),
    /// `BF16` elements as raw bfloat16 bits.
    BF16(Vec<u16>),
    /// `FP32` elements.
    F32(Vec<f32>),
    /// `FP64` elements.
    F64(Vec<f64>),
    /// `BYTES` elements.
    Bytes(Vec<Vec<u8>>),
}

macro_rules! decode_le {
    ($raw:expr, $ty:ty) => {
        $raw.chunks_exact(std::mem::size_of::<$ty>())
            .map(|c| <$ty>::from_le_bytes(c.try_into().expect("chunk has the element size")))
            .collect()
    };
}

impl TensorData {
    /// The data type of the elements.
    pub fn datatype(&self) -> DataType {
        match self {
            TensorData::Bool(_) => DataType::Bool,
            TensorData::U8(_) => DataType::U8,
            TensorData::U16(_) => DataType::U16,
            TensorData::U32(_) => DataType::U32,
            TensorData::U64(_) => DataType::U64,
            TensorData::I8(_) => DataType::I8,
            TensorData::I16(_) => DataType::I16,
            TensorData::I32(_) => DataType::I32,
            TensorData::I64(_) => DataType::I64,
            TensorData::F16(_) => DataType::F16,
            TensorData::BF16(_) => DataType::BF16,
            TensorData::F32(_) => DataType::F32,
            TensorData::F64(_) => DataType::F64,
            TensorData::Bytes(_) => DataType::Bytes,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::Bool(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::U16(v) | TensorData::F16(v) | TensorData::BF16(v) => v.len(),
            TensorData::U32(v) => v.len(),
            TensorData::U64(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::I16(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::Bytes(v) => v.len(),
        }
    }

    /// Elements `range` as a new tensor's data (for splitting a batch's
    /// output between the requests merged into it).
    pub fn slice(&self, range: std::ops::Range<usize>) -> TensorData {
        macro_rules! cut {
            ($($v:ident),*) => {
                match self {
                    $(TensorData::$v(d) => TensorData::$v(d[range].to_vec()),)*
                }
            };
        }
        cut!(Bool, U8, U16, U32, U64, I8, I16, I32, I64, F16, BF16, F32, F64, Bytes)
    }

    /// The elements of `parts` back to back (for merging requests into one
    /// batch). `None` when the parts are not all of one data type.
    pub fn concat<'a>(parts: impl IntoIterator<Item = &'a TensorData>) -> Option<TensorData> {
        let mut parts = parts.into_iter();
        let mut out = parts.next()?.clone();
        for p in parts {
            macro_rules! join {
                ($($v:ident),*) => {
                    match (&mut out, p) {
                        $((TensorData::$v(a), TensorData::$v(b)) => a.extend_from_slice(b),)*
                        _ => return None,
                    }
                };
            }
            join!(Bool, U8, U16, U32, U64, I8, I16, I32, I64, F16, BF16, F32, F64, Bytes);
        }
        Some(out)
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes the protocol's raw little-endian encoding (`raw_input_contents`):
    /// fixed-size elements back to back, or for `BYTES` each element as a
    /// 4-byte little-endian length followed by its bytes. `tensor` names the
    /// tensor in error messages; `elements` is the count the shape implies.
    pub fn from_raw(
        tensor: &str,
        datatype: DataType,
        raw: &[u8],
        elements: usize,
    ) -> Result<TensorData, Error> {
        let Some(size) = datatype.element_size() else {
            let mut out = Vec::with_capacity(elements.min(raw.len() / 4 + 1));
            let mut rest = raw;
            while !rest.is_empty() {
                if rest.len() < 4 {
                    return Err(Error::invalid(format!(
                        "input '{tensor}': BYTES raw contents end inside a 4-byte length prefix"
                    )));
                }
                let n = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
                rest = &rest[4..];
                if rest.len() < n {
                    return Err(Error::invalid(format!(
                        "input '{tensor}': BYTES element {} declares {n} bytes but only {} remain",
                        out.len(),
                        rest.len()
                    )));
                }
                out.push(rest[..n].to_vec());
                rest = &rest[n..];
            }
            if out.len() != elements {
                return Err(Error::invalid(format!(
                    "input '{tensor}': raw contents hold {} BYTES elements, the shape needs {elements}",
                    out.len()
                )));
            }
            return Ok(TensorData::Bytes(out));
        };
        let expected = elements
            .checked_mul(size)
            .ok_or_else(|| Error::invalid(format!("input '{tensor}': shape is too large")))?;
        if raw.len() != expected {
            return Err(Error::invalid(format!(
                "input '{tensor}': raw contents are {} bytes, but shape and datatype {datatype} need {expected} ({elements} elements of {size} bytes)",
                raw.len()
            )));
        }
        Ok(match datatype {
            DataType::Bool => TensorData::Bool(raw.iter().map(|b| *b != 0).collect()),
            DataType::U8 => TensorData::U8(raw.to_vec()),
            DataType::I8 => TensorData::I8(raw.iter().map(|b| *b as i8).collect()),
            DataType::U16 => TensorData::U16(decode_le!(raw, u16)),
            DataType::F16 => TensorData::F16(decode_le!(raw, u16)),
            DataType::BF16 => TensorData::BF16(decode_le!(raw, u16)),
            DataType::I16 => TensorData::I16(decode_le!(raw, i16)),
            DataType::U32 => TensorData::U32(decode_le!(raw, u32)),
            DataType::I32 => TensorData::I32(decode_le!(raw, i32)),
            DataType::F32 => TensorData::F32(decode_le!(raw, f32)),
            DataType::U64 => TensorData::U64(decode_le!(raw, u64)),
            DataType::I64 => TensorData::I64(decode_le!(raw, i64)),
            DataType::F64 => TensorData::F64(decode_le!(raw, f64)),
            DataType::Bytes => unreachable!("BYTES handled above"),
        })
    }

    /// Encodes in the protocol's raw little-endian encoding (see [`TensorData::from_raw`]).
    pub fn to_raw(&self) -> Vec<u8> {
        fn le<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
            let mut out = Vec::with_capacity(v.len() * N);
            for x in v {
                out.extend_from_slice(&f(*x));
            }
            out
        }
        match self {
            TensorData::Bool(v) => v.iter().map(|b| *b as u8).collect(),
            TensorData::U8(v) => v.clone(),
            TensorData::I8(v) => v.iter().map(|b| *b as u8).collect(),
            TensorData::U16(v) | TensorData::F16(v) | TensorData::BF16(v) => le(v, u16::to_le_bytes),
            TensorData::I16(v) => le(v, i16::to_le_bytes),
            TensorData::U32(v) => le(v, u32::to_le_bytes),
            TensorData::I32(v) => le(v, i32::to_le_bytes),
            TensorData::F32(v) => le(v, f32::to_le_bytes),
            TensorData::U64(v) => le(v, u64::to_le_bytes),
            TensorData::I64(v) => le(v, i64::to_le_bytes),
            TensorData::F64(v) => le(v, f64::to_le_bytes),
            TensorData::Bytes(v) => {
                let mut out = Vec::with_capacity(v.iter().map(|b| b.len() + 4).sum());
                for b in v {
                    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    out.extend_from_slice(b);
                }
                out
            }
        }
    }
}

/// A named tensor with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The tensor's name in the model's signature.
    pub name: String,
    /// The dimensions, each at least 0.
    pub shape: Vec<i64>,
    /// The elements.
    pub data: TensorData,
}

impl Tensor {
    /// Makes a tensor.
    pub fn new(name: impl Into<String>, shape: Vec<i64>, data: TensorData) -> Tensor {
        Tensor {
            name: name.into(),
            shape,
            data,
        }
    }

    /// The data type of the elements.
    pub fn datatype(&self) -> DataType {
        self.data.datatype()
    }
}

/// The number of elements a shape holds, or an error naming the tensor when a
/// dimension is negative or the product overflows.
pub fn element_count(tensor: &str, shape: &[i64]) -> Result<usize, Error> {
    let mut n: usize = 1;
    for &d in shape {
        let d = usize::try_from(d).map_err(|_| {
            Error::invalid(format!(
                "tensor '{tensor}': shape {shape:?} has a negative dimension"
            ))
        })?;
        n = n
            .checked_mul(d)
            .ok_or_else(|| Error::invalid(format!("tensor '{tensor}': shape {shape:?} is too large")))?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trip_every_fixed_type() {
        let cases = vec![
            TensorData::Bool(vec![true, false]),
            TensorData::U8(vec![1, 255]),
            TensorData::U16(vec![1, 65535]),
            TensorData::U32(vec![1, u32::MAX]),
            TensorData::U64(vec![1, u64::MAX]),
            TensorData::I8(vec![-1, 127]),
            TensorData::I16(vec![-1, 300]),
            TensorData::I32(vec![-1, 70000]),
            TensorData::I64(vec![-1, i64::MIN]),
            TensorData::F16(vec![0x3c00, 0xc000]),
            TensorData::BF16(vec![0x3f80, 0xc000]),
            TensorData::F32(vec![1.5, -2.25]),
            TensorData::F64(vec![1.5, -1e300]),
            TensorData::Bytes(vec![b"hello".to_vec(), vec![], b"\xff\x00".to_vec()]),
        ];
        for data in cases {
            let raw = data.to_raw();
            let back = TensorData::from_raw("x", data.datatype(), &raw, data.len()).unwrap();
            assert_eq!(back, data);
        }
    }

    #[test]
    fn raw_length_mismatch_names_the_tensor() {
        let err = TensorData::from_raw("input0", DataType::F32, &[0; 7], 2).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("input0") && msg.contains("7 bytes") && msg.contains("8"),
            "{msg}"
        );
        let err = TensorData::from_raw("t", DataType::Bytes, &[5, 0, 0, 0, b'a'], 1).unwrap_err();
        assert!(err.to_string().contains("declares 5 bytes"), "{err}");
        let err = TensorData::from_raw("t", DataType::Bytes, &[1, 0], 1).unwrap_err();
        assert!(err.to_string().contains("length prefix"), "{err}");
        let err = TensorData::from_raw("t", DataType::Bytes, &[0, 0, 0, 0], 2).unwrap_err();
        assert!(
            err.to_string().contains("need 2") || err.to_string().contains("needs 2"),
            "{err}"
        );
    }

    #[test]
    fn element_count_checks() {
        assert_eq!(element_count("t", &[2, 3]).unwrap(), 6);
        assert_eq!(element_count("t", &[]).unwrap(), 1);
        assert!(element_count("t", &[-1]).is_err());
        assert!(element_count("t", &[i64::MAX, i64::MAX]).is_err());
    }
}
