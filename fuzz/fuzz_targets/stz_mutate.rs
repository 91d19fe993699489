//! A safetensors header and chunk frames (see `stzip_fuzz::Frames`) made
//! into a `.stz` whose checks and checksums are all right, then decoded
//! every way: mutations get past the checksums into the decoders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stzip_fuzz::Frames;

fuzz_target!(|data: &[u8]| {
    let Some(frames) = Frames::parse(data) else {
        return;
    };
    let Some(stz) = frames.to_stz() else {
        return;
    };
    stzip_fuzz::decode_all_ways(&stz);
});
