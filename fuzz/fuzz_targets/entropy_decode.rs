//! The entropy decoders of `codec::entropy` on arbitrary bytes: byte and
//! symbol streams, frequency tables + rANS, bit fields, varints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stzip::codec::entropy::{
    decode_bytes, decode_symbols, get_varint, BitReader, DecTable, FreqTable, RansDecoder,
    MAX_ALPHABET, MAX_FIELD_BITS,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((len, mut body)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let n = usize::from(u16::from_le_bytes(*len));
    match mode % 5 {
        0 => {
            let mut out = vec![0u8; n];
            let _ = decode_bytes(&mut body, &mut out);
        }
        1 => {
            let Some((&a, mut b)) = body.split_first() else {
                return;
            };
            let alphabet = usize::from(a) * 16 + 1;
            let mut out = vec![0u16; n];
            if decode_symbols(&mut b, alphabet, &mut out).is_ok() {
                assert!(out.iter().all(|&s| usize::from(s) < alphabet));
            }
        }
        2 => {
            let Ok(t) = FreqTable::read(&mut body) else {
                return;
            };
            assert!(t.alphabet_size() <= MAX_ALPHABET);
            let sum: u64 = t.freqs().iter().map(|&f| u64::from(f)).sum();
            assert_eq!(sum, 1u64 << t.prob_bits());
            let dt = DecTable::new(&t);
            let Ok(mut dec) = RansDecoder::new(body) else {
                return;
            };
            for _ in 0..n {
                let s = dec.get(&dt);
                assert!(usize::from(s) < t.alphabet_size());
            }
            let _ = dec.finish();
        }
        3 => {
            let mut r = BitReader::new(body);
            for (i, &w) in rest.iter().cycle().take(n.min(4096)).enumerate() {
                let bits = u32::from(w) % (MAX_FIELD_BITS + 1);
                let v = if i % 3 == 0 {
                    r.get_wide(u32::from(w) % 65)
                } else {
                    r.get(bits)
                };
                if bits < 64 && i % 3 != 0 {
                    assert!(v < (1u64 << bits) || bits == 0 && v == 0);
                }
            }
            let _ = r.finish();
            let _ = r.finish_exact();
        }
        _ => while get_varint(&mut body).is_ok() {},
    }
});
