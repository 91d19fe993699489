use super::*;

use crate::codec::test_rng::Rng;

fn to_bytes(dtype: Dtype, vals: &[f64]) -> Vec<u8> {
    let mut out = Vec::new();
    for &v in vals {
        match dtype {
            Dtype::F64 => out.extend_from_slice(&v.to_le_bytes()),
            Dtype::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            Dtype::BF16 => {
                out.extend_from_slice(&(((v as f32).to_bits() >> 16) as u16).to_le_bytes())
            }
            Dtype::F16 => out.extend_from_slice(&f32_to_f16(v as f32).to_le_bytes()),
            _ => unreachable!(),
        }
    }
    out
}

/// Truncating f32 → f16 conversion, good enough for test data.
fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let e = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if e <= 0 {
        sign
    } else if e >= 31 {
        sign | 0x7c00
    } else {
        sign | ((e as u16) << 10) | ((b >> 13) & 0x3ff) as u16
    }
}

/// Encodes and decodes `data`; the decoder's checksum must be the
/// one-shot XXH3-64 of the bytes (the float model hashes block by block).
fn round_trip(dtype: Dtype, row_len: usize, data: &[u8]) -> usize {
    let payload = encode_chunk(dtype, row_len, data).unwrap();
    let mut out = vec![0u8; data.len()];
    let checksum = decode_chunk(dtype, &payload, &mut out).unwrap();
    assert_eq!(out, data, "{dtype:?} row_len {row_len}");
    assert_eq!(checksum, xxh3_64(data), "{dtype:?} row_len {row_len}");
    payload.len()
}

const FLOATS: [Dtype; 4] = [Dtype::F16, Dtype::BF16, Dtype::F32, Dtype::F64];

#[test]
fn gaussian_rows_with_varying_scales_compress() {
    let mut rng = Rng(1);
    let (rows, cols) = (256, 256);
    let vals: Vec<f64> = (0..rows * cols)
        .map(|i| {
            rng.gauss() * 0.02 * (1.0 + (i / cols) as f64 / 8.0) * (1.0 + (i % cols) as f64 / 32.0)
        })
        .collect();
    for dtype in FLOATS {
        let data = to_bytes(dtype, &vals);
        let size = round_trip(dtype, cols, &data);
        assert!(size < data.len(), "{dtype:?}: {size} >= {}", data.len());
    }
    // F32 Gaussian: sign and 20 mantissa bits are incompressible; the
    // log-magnitude in eighth octaves has 5.46 bits of entropy once the row
    // and column scales are modelled (26.46 in all); tables add a little.
    let data = to_bytes(Dtype::F32, &vals);
    let bits = round_trip(Dtype::F32, cols, &data) as f64 * 8.0 / vals.len() as f64;
    assert!(bits < 26.7, "{bits} bits/value");
}

#[test]
fn fp16_born_rows_drop_their_zero_bits() {
    let mut rng = Rng(2);
    let cols = 128;
    // Half the rows hold values exactly representable in fp16.
    let vals: Vec<f64> = (0..512 * cols)
        .map(|i| {
            let v = rng.gauss() * 0.05;
            if (i / cols) % 2 == 0 {
                f32::from_bits((v as f32).to_bits() & !0x1fff) as f64
            } else {
                v
            }
        })
        .collect();
    let data = to_bytes(Dtype::F32, &vals);
    let size = round_trip(Dtype::F32, cols, &data);
    // 13 bits saved on half the values: 6.5 bits/value under the 26.46 of
    // plain Gaussian data.
    let bits = size as f64 * 8.0 / vals.len() as f64;
    assert!(bits < 26.46 - 6.5 + 0.25, "{bits} bits/value");
}

#[test]
fn special_values_survive() {
    let specials = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::MIN_POSITIVE / 3.0,
        1e-40,
        -1e-45,
        f64::MAX,
        65504.0,
        1e30,
        -1e-30,
    ];
    let mut rng = Rng(3);
    let vals: Vec<f64> = (0..4096)
        .map(|i| {
            if i % 7 == 0 {
                specials[i / 7 % specials.len()]
            } else {
                rng.gauss()
            }
        })
        .collect();
    for dtype in FLOATS {
        for row_len in [1, 3, 64, 4096] {
            round_trip(dtype, row_len, &to_bytes(dtype, &vals));
        }
    }
    // NaN payloads and signalling NaNs are bits like any other.
    let mut data = Vec::new();
    for bits in [
        0x7fc0_0001u32,
        0xffc0_1234,
        0x7f80_0001,
        0x8000_0000,
        0x0000_0001,
        0x7f7f_ffff,
    ] {
        data.extend_from_slice(&bits.to_le_bytes());
    }
    round_trip(Dtype::F32, 2, &data);
}

#[test]
fn every_dtype_and_shape_round_trips() {
    let mut rng = Rng(4);
    for dtype in Dtype::ALL {
        for n in [1usize, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 5000] {
            let mut data: Vec<u8> = (0..n * dtype.size()).map(|_| rng.next() as u8).collect();
            if dtype == Dtype::Bool {
                data.iter_mut().for_each(|b| *b &= 1);
            }
            for row_len in [1, 2, 5, n] {
                round_trip(dtype, row_len, &data);
            }
            round_trip(dtype, n, &vec![0u8; n * dtype.size()]);
        }
        round_trip(dtype, 1, &[]);
    }
}

#[test]
fn integers_compress_by_planes() {
    let data: Vec<u8> = (0..10_000i64)
        .flat_map(|i| (i % 300).to_le_bytes())
        .collect();
    let size = round_trip(Dtype::I64, 10_000, &data);
    assert!(size < data.len() / 6, "{size}");
}

#[test]
fn incompressible_data_is_stored() {
    let mut rng = Rng(5);
    let data: Vec<u8> = (0..4000).map(|_| rng.next() as u8).collect();
    let payload = encode_chunk(Dtype::U8, 4000, &data).unwrap();
    assert_eq!(payload.len(), data.len() + 1);
    assert_eq!(payload[0], METHOD_STORED);
}

#[test]
fn corrupt_payloads_error_without_panicking() {
    let mut rng = Rng(6);
    let vals: Vec<f64> = (0..2048).map(|_| rng.gauss() * 0.1).collect();
    for dtype in [Dtype::F32, Dtype::BF16, Dtype::I16] {
        let data = if dtype == Dtype::I16 {
            (0..2048u16).flat_map(|i| (i % 50).to_le_bytes()).collect()
        } else {
            to_bytes(dtype, &vals)
        };
        let payload = encode_chunk(dtype, 64, &data).unwrap();
        let mut out = vec![0u8; data.len()];
        for cut in 0..payload.len() {
            let r = decode_chunk(dtype, &payload[..cut], &mut out);
            assert!(
                r.is_err(),
                "{dtype:?}: truncation at {cut} of {} decoded",
                payload.len()
            );
        }
        for i in 0..2000 {
            let mut bad = payload.clone();
            let pos = (rng.next() as usize) % bad.len();
            bad[pos] ^= 1 << (i % 8);
            // Either an error or some output: never a panic. (Checksums
            // catch the silent cases one level up.)
            let _ = decode_chunk(dtype, &bad, &mut out);
        }
        let mut extra = payload.clone();
        extra.push(0);
        assert!(decode_chunk(dtype, &extra, &mut out).is_err());
    }
    assert!(matches!(
        decode_chunk(Dtype::F32, &[9], &mut []),
        Err(Error::UnknownCodecMethod(9))
    ));
    assert!(matches!(
        decode_chunk(Dtype::F32, &[], &mut []),
        Err(Error::CodecTruncated)
    ));
}

#[test]
fn large_float_chunks_get_the_wide_stream_small_ones_the_narrow() {
    let mut rng = Rng(9);
    for (n, method) in [(1 << 16, METHOD_FLOAT_WIDE), ((1 << 16) - 1, METHOD_FLOAT)] {
        let vals: Vec<f64> = (0..n).map(|_| rng.gauss() * 0.05).collect();
        for dtype in FLOATS {
            let data = to_bytes(dtype, &vals);
            let payload = encode_chunk(dtype, 256, &data).unwrap();
            assert_eq!(payload[0], method, "{dtype:?} n {n}");
            round_trip(dtype, 256, &data);
            // The same body behind the other method byte is a different
            // stream layout: it must not decode to the data.
            let mut swapped = payload.clone();
            swapped[0] = if method == METHOD_FLOAT {
                METHOD_FLOAT_WIDE
            } else {
                METHOD_FLOAT
            };
            let mut out = vec![0u8; data.len()];
            let res = decode_chunk(dtype, &swapped, &mut out);
            assert!(res.is_err() || out != data, "{dtype:?} n {n}");
        }
    }
}

#[test]
fn wide_chunks_with_short_and_ragged_rows_round_trip() {
    // Blocks of the value loop run across row ends; rows of 1, 3 and 1000
    // values (not multiples of the lane count) and a ragged last row.
    let mut rng = Rng(10);
    let n = (1 << 16) + 333;
    let vals: Vec<f64> = (0..n)
        .map(|i| rng.gauss() * (1.0 + (i % 7) as f64))
        .collect();
    for dtype in FLOATS {
        let data = to_bytes(dtype, &vals);
        for row_len in [1, 3, 1000, n] {
            round_trip(dtype, row_len, &data);
        }
    }
}
