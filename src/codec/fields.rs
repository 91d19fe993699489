//! Small field codecs shared by the chunk models: zigzag integers, signed
//! bytes, length-prefixed slices.

use crate::codec::entropy::get_varint;
use crate::error::{Error, Result};

pub fn bytes_of_i8(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

pub fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

pub fn unzigzag(x: u64) -> i64 {
    ((x >> 1) as i64) ^ -((x & 1) as i64)
}

pub fn take_byte(input: &mut &[u8]) -> Result<u8> {
    let (&b, rest) = input.split_first().ok_or(Error::CodecTruncated)?;
    *input = rest;
    Ok(b)
}

pub fn take_slice<'a>(input: &mut &'a [u8]) -> Result<&'a [u8]> {
    let len = usize::try_from(get_varint(input)?).map_err(|_| Error::CodecTruncated)?;
    if len > input.len() {
        return Err(Error::CodecTruncated);
    }
    let (head, rest) = input.split_at(len);
    *input = rest;
    Ok(head)
}
