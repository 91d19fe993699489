//! The safetensors element types and the bit layout of the float ones.

use crate::error::{Error, Result};

/// Every dtype the safetensors format defines that stzip accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    F8E4M3,
    F8E5M2,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    I64,
    U64,
    F64,
}

/// Bit layout of an IEEE-like binary float: sign | exponent | mantissa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatLayout {
    pub exp_bits: u32,
    pub mant_bits: u32,
}

impl FloatLayout {
    /// Total width in bits (sign + exponent + mantissa).
    pub fn bits(self) -> u32 {
        1 + self.exp_bits + self.mant_bits
    }
}

impl Dtype {
    pub const ALL: [Dtype; 15] = [
        Dtype::Bool,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8E4M3,
        Dtype::F8E5M2,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::I64,
        Dtype::U64,
        Dtype::F64,
    ];

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::U8 | Dtype::I8 | Dtype::F8E4M3 | Dtype::F8E5M2 => 1,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::U64 | Dtype::F64 => 8,
        }
    }

    /// The name used in safetensors headers.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "BOOL",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8E4M3 => "F8_E4M3",
            Dtype::F8E5M2 => "F8_E5M2",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
            Dtype::F64 => "F64",
        }
    }

    /// Parse a header dtype name.
    pub fn from_name(name: &str) -> Result<Dtype> {
        Dtype::ALL
            .iter()
            .copied()
            .find(|d| d.name() == name)
            .ok_or_else(|| Error::UnknownDtype(name.to_string()))
    }

    /// A stable one-byte code used in the `.stz` format. Never renumber.
    pub fn code(self) -> u8 {
        match self {
            Dtype::Bool => 0,
            Dtype::U8 => 1,
            Dtype::I8 => 2,
            Dtype::F8E4M3 => 3,
            Dtype::F8E5M2 => 4,
            Dtype::I16 => 5,
            Dtype::U16 => 6,
            Dtype::F16 => 7,
            Dtype::BF16 => 8,
            Dtype::I32 => 9,
            Dtype::U32 => 10,
            Dtype::F32 => 11,
            Dtype::I64 => 12,
            Dtype::U64 => 13,
            Dtype::F64 => 14,
        }
    }

    /// Inverse of [`Dtype::code`].
    pub fn from_code(code: u8) -> Option<Dtype> {
        Dtype::ALL.get(usize::from(code)).copied()
    }

    /// The float layout for float dtypes of 16 bits or more (the ones the
    /// field-splitting model handles); `None` for integers, bool and fp8.
    pub fn float_layout(self) -> Option<FloatLayout> {
        match self {
            Dtype::F16 => Some(FloatLayout {
                exp_bits: 5,
                mant_bits: 10,
            }),
            Dtype::BF16 => Some(FloatLayout {
                exp_bits: 8,
                mant_bits: 7,
            }),
            Dtype::F32 => Some(FloatLayout {
                exp_bits: 8,
                mant_bits: 23,
            }),
            Dtype::F64 => Some(FloatLayout {
                exp_bits: 11,
                mant_bits: 52,
            }),
            _ => None,
        }
    }

    /// Whether values are floating point (including fp8).
    pub fn is_float(self) -> bool {
        self.float_layout().is_some() || matches!(self, Dtype::F8E4M3 | Dtype::F8E5M2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for (i, d) in Dtype::ALL.iter().enumerate() {
            assert_eq!(usize::from(d.code()), i);
            assert_eq!(Dtype::from_code(d.code()), Some(*d));
            assert_eq!(Dtype::from_name(d.name()).ok(), Some(*d));
        }
        assert_eq!(Dtype::from_code(15), None);
        assert!(matches!(Dtype::from_name("F4"), Err(Error::UnknownDtype(n)) if n == "F4"));
    }

    #[test]
    fn layouts_match_sizes() {
        for d in Dtype::ALL {
            if let Some(l) = d.float_layout() {
                assert_eq!(l.bits() as usize, d.size() * 8);
            }
        }
    }
}
