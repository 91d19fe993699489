//! `codec::decode_chunk` on lossy payloads for every float dtype: first
//! byte the dtype (bits 0-1) and the method (bit 2: 4 transformed, else 3
//! quantized), next two the output length in elements.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stzip::safetensors::Dtype;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some((len, body)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let dtype = [Dtype::F32, Dtype::BF16, Dtype::F16, Dtype::F64][usize::from(sel % 4)];
    let n = usize::from(u16::from_le_bytes(*len)) * dtype.size();
    let mut payload = Vec::with_capacity(body.len() + 1);
    payload.push(if sel & 4 != 0 { 4 } else { 3 });
    payload.extend_from_slice(body);
    let mut out = vec![0u8; n];
    let _ = stzip::codec::decode_chunk(dtype, &payload, &mut out);
});
