//! `pipeline::decompress` of arbitrary bytes and the session
//! `Decompression` fed in odd pieces; they must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let seq = stzip_fuzz::decode_sequential(data);
    let ses = stzip_fuzz::decode_session(data, xxhash_rust::xxh3::xxh3_64(data));
    match (seq, ses) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Ok(_), Err(e)) => panic!("only the session failed: {e}"),
        (Err(e), Ok(_)) => panic!("only sequential decoding failed: {e}"),
        (Err(_), Err(_)) => {}
    }
});
