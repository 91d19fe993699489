//! `Header::parse` and `Header::read_from` on arbitrary bytes, and on
//! arbitrary JSON behind a length prefix that tells the truth.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stzip::safetensors::Header;

fuzz_target!(|data: &[u8]| {
    // As a whole file start: the prefix is whatever the bytes say.
    let parsed = Header::parse(data.to_vec());
    let mut r = data;
    let read = Header::read_from(&mut r);
    if let (Ok(a), Ok(b)) = (&parsed, &read) {
        assert_eq!(a, b);
    }
    if let Ok(h) = &read {
        check(h);
    }
    // As JSON: a right prefix, so the parser itself is exercised.
    let mut raw = (data.len() as u64).to_le_bytes().to_vec();
    raw.extend_from_slice(data);
    if let Ok(h) = Header::parse(raw) {
        check(&h);
    }
});

/// What a parsed header promises: tensors tile the data section in order,
/// each exactly elements × dtype size bytes.
fn check(h: &Header) {
    let mut at = 0u64;
    for t in h.tensors() {
        assert_eq!(t.start, at);
        assert!(t.end >= t.start);
        let n = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        assert_eq!(
            n.and_then(|n| n.checked_mul(t.dtype.size() as u64)),
            Some(t.byte_len())
        );
        assert_eq!(t.num_rows().checked_mul(t.row_len()), n);
        at = t.end;
    }
    assert_eq!(h.data_len(), at);
    assert!((h.raw().len() as u64).checked_add(at).is_some());
}
