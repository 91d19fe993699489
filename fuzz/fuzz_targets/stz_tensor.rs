//! Random access: `read_index`, then every tensor by name through
//! `pipeline::decompress_tensor` (`read_chunk_at` + decode), over a Cursor.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stzip_fuzz::decode_tensors(data);
});
