//! Tensor element types: the Open Inference Protocol's names (`FP32`,
//! `BYTES`, ...) and Triton's config enum (`TYPE_FP32`, `TYPE_STRING`, ...).

use std::fmt;

use aiserve_proto::inference::DataType as ConfigDataType;

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `BOOL`: one byte per element, 0 or 1.
    Bool,
    /// `UINT8`.
    U8,
    /// `UINT16`.
    U16,
    /// `UINT32`.
    U32,
    /// `UINT64`.
    U64,
    /// `INT8`.
    I8,
    /// `INT16`.
    I16,
    /// `INT32`.
    I32,
    /// `INT64`.
    I64,
    /// `FP16`: IEEE half precision, carried as raw bits.
    F16,
    /// `BF16`: bfloat16, carried as raw bits.
    BF16,
    /// `FP32`.
    F32,
    /// `FP64`.
    F64,
    /// `BYTES`: variable-length byte strings (text).
    Bytes,
}

impl DataType {
    /// Every data type, in the protocol's order.
    pub const ALL: [DataType; 14] = [
        DataType::Bool,
        DataType::U8,
        DataType::U16,
        DataType::U32,
        DataType::U64,
        DataType::I8,
        DataType::I16,
        DataType::I32,
        DataType::I64,
        DataType::F16,
        DataType::BF16,
        DataType::F32,
        DataType::F64,
        DataType::Bytes,
    ];

    /// The Open Inference Protocol name (`"FP32"`, `"BYTES"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "BOOL",
            DataType::U8 => "UINT8",
            DataType::U16 => "UINT16",
            DataType::U32 => "UINT32",
            DataType::U64 => "UINT64",
            DataType::I8 => "INT8",
            DataType::I16 => "INT16",
            DataType::I32 => "INT32",
            DataType::I64 => "INT64",
            DataType::F16 => "FP16",
            DataType::BF16 => "BF16",
            DataType::F32 => "FP32",
            DataType::F64 => "FP64",
            DataType::Bytes => "BYTES",
        }
    }

    /// Parses an Open Inference Protocol name.
    pub fn from_protocol(name: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// The size of one element in bytes in the raw encoding; `None` for `BYTES`.
    pub fn element_size(self) -> Option<usize> {
        Some(match self {
            DataType::Bool | DataType::U8 | DataType::I8 => 1,
            DataType::U16 | DataType::I16 | DataType::F16 | DataType::BF16 => 2,
            DataType::U32 | DataType::I32 | DataType::F32 => 4,
            DataType::U64 | DataType::I64 | DataType::F64 => 8,
            DataType::Bytes => return None,
        })
    }

    /// Converts Triton's config enum (`TYPE_FP32`, `TYPE_STRING` for BYTES).
    pub fn from_config(value: ConfigDataType) -> Option<DataType> {
        Some(match value {
            ConfigDataType::TypeInvalid => return None,
            ConfigDataType::TypeBool => DataType::Bool,
            ConfigDataType::TypeUint8 => DataType::U8,
            ConfigDataType::TypeUint16 => DataType::U16,
            ConfigDataType::TypeUint32 => DataType::U32,
            ConfigDataType::TypeUint64 => DataType::U64,
            ConfigDataType::TypeInt8 => DataType::I8,
            ConfigDataType::TypeInt16 => DataType::I16,
            ConfigDataType::TypeInt32 => DataType::I32,
            ConfigDataType::TypeInt64 => DataType::I64,
            ConfigDataType::TypeFp16 => DataType::F16,
            ConfigDataType::TypeFp32 => DataType::F32,
            ConfigDataType::TypeFp64 => DataType::F64,
            ConfigDataType::TypeString => DataType::Bytes,
            ConfigDataType::TypeBf16 => DataType::BF16,
        })
    }

    /// Converts to Triton's config enum.
    pub fn to_config(self) -> ConfigDataType {
        match self {
            DataType::Bool => ConfigDataType::TypeBool,
            DataType::U8 => ConfigDataType::TypeUint8,
            DataType::U16 => ConfigDataType::TypeUint16,
            DataType::U32 => ConfigDataType::TypeUint32,
            DataType::U64 => ConfigDataType::TypeUint64,
            DataType::I8 => ConfigDataType::TypeInt8,
            DataType::I16 => ConfigDataType::TypeInt16,
            DataType::I32 => ConfigDataType::TypeInt32,
            DataType::I64 => ConfigDataType::TypeInt64,
            DataType::F16 => ConfigDataType::TypeFp16,
            DataType::BF16 => ConfigDataType::TypeBf16,
            DataType::F32 => ConfigDataType::TypeFp32,
            DataType::F64 => ConfigDataType::TypeFp64,
            DataType::Bytes => ConfigDataType::TypeString,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DataType::ALL {
            assert_eq!(DataType::from_protocol(d.as_str()), Some(d));
            assert_eq!(DataType::from_config(d.to_config()), Some(d));
        }
        assert_eq!(DataType::from_protocol("FLOAT"), None);
        assert_eq!(DataType::from_config(ConfigDataType::TypeInvalid), None);
    }
}
