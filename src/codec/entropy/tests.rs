//! Cross-module tests: rANS round trips, efficiency vs entropy, corruption.

use super::*;
use proptest::prelude::*;

use crate::codec::test_rng::Rng;

/// Samples `n` symbols from the distribution `p` (inverse CDF).
fn sample(p: &[f64], n: usize, rng: &mut Rng) -> Vec<u16> {
    let total: f64 = p.iter().sum();
    let mut cdf = Vec::with_capacity(p.len());
    let mut acc = 0.0;
    for &x in p {
        acc += x / total;
        cdf.push(acc);
    }
    (0..n)
        .map(|_| {
            let u = rng.unit();
            cdf.partition_point(|&c| c <= u).min(p.len() - 1) as u16
        })
        .collect()
}

fn counts_of(syms: &[u16], alphabet: usize) -> Vec<u64> {
    let mut c = vec![0u64; alphabet];
    for &s in syms {
        c[s as usize] += 1;
    }
    c
}

fn entropy_bits(counts: &[u64]) -> f64 {
    let n: u64 = counts.iter().sum();
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64 * (n as f64 / c as f64).log2())
        .sum()
}

fn encode_one(syms: &[u16], t: &FreqTable) -> Vec<u8> {
    let et = EncTable::new(t);
    let mut enc = RansEncoder::new();
    for &s in syms {
        enc.put(&et, s);
    }
    enc.finish()
}

fn decode_one(bytes: &[u8], t: &FreqTable, n: usize) -> Result<Vec<u16>, crate::Error> {
    let dt = DecTable::new(t);
    let mut dec = RansDecoder::new(bytes)?;
    let out: Vec<u16> = (0..n).map(|_| dec.get(&dt)).collect();
    dec.finish()?;
    Ok(out)
}

#[test]
fn round_trip_small_lengths() {
    let mut rng = Rng(1);
    for pb in MIN_PROB_BITS..=MAX_PROB_BITS {
        for n in [
            0,
            1,
            2,
            LANES - 1,
            LANES,
            LANES + 1,
            2 * LANES,
            3 * LANES + 5,
            1000,
        ] {
            let p: Vec<f64> = (0..50).map(|i| 0.8f64.powi(i)).collect();
            let syms = sample(&p, n, &mut rng);
            let t = FreqTable::from_counts(
                &counts_of(&syms, 50)
                    .iter()
                    .map(|&c| c + 1)
                    .collect::<Vec<_>>(),
                pb,
            )
            .unwrap();
            let bytes = encode_one(&syms, &t);
            assert_eq!(decode_one(&bytes, &t, n).unwrap(), syms, "pb {pb} n {n}");
            // Decoding one symbol too few or too many is detected.
            if n > 0 {
                assert!(decode_one(&bytes, &t, n - 1).is_err());
            }
            assert!(decode_one(&bytes, &t, n + 1).is_err());
        }
    }
}

#[test]
fn single_symbol_tables() {
    for pb in [10, 15] {
        let t = FreqTable::from_counts(&[0, 0, 7, 0], pb).unwrap();
        let syms = vec![2u16; 1000];
        let bytes = encode_one(&syms, &t);
        assert_eq!(bytes.len(), 4 * LANES); // zero information
        assert_eq!(decode_one(&bytes, &t, 1000).unwrap(), syms);
    }
}

#[test]
fn extreme_frequencies_all_states() {
    // One symbol with freq M-1 and one with freq 1 at pb 15: exercises the
    // reciprocal at the largest freq and the largest x_max.
    let t = FreqTable::from_freqs(vec![(1 << 15) - 1, 1], 15).unwrap();
    let mut rng = Rng(5);
    let syms: Vec<u16> = (0..200_000)
        .map(|_| u16::from(rng.below(50) == 0))
        .collect();
    let bytes = encode_one(&syms, &t);
    assert_eq!(decode_one(&bytes, &t, syms.len()).unwrap(), syms);
    let t = FreqTable::from_freqs(vec![1, (1 << 10) - 1], 10).unwrap();
    let syms: Vec<u16> = (0..200_000)
        .map(|_| u16::from(rng.below(50) != 0))
        .collect();
    let bytes = encode_one(&syms, &t);
    assert_eq!(decode_one(&bytes, &t, syms.len()).unwrap(), syms);
}

#[test]
fn reciprocal_division_is_exact() {
    // The encoder's q must equal x / f for every state it can see.
    for pb in [10u32, 15] {
        for f in [
            1u32,
            2,
            3,
            5,
            7,
            1000,
            (1 << pb) / 2 + 1,
            (1 << pb) - 1,
            1 << pb,
        ] {
            if f > 1 << pb {
                continue;
            }
            let shift = 32 - (f - 1).leading_zeros();
            let rcp = (1u64 << (32 + shift)).div_ceil(u64::from(f));
            let lo = rcp as u32;
            let x_max = (1u64 << (32 - pb)) * u64::from(f);
            let mut rng = Rng(u64::from(f));
            let probe = (0..20000)
                .map(|_| rng.below(x_max))
                .chain([0, x_max - 1, x_max / 2]);
            for x in probe {
                let q = (((x * u64::from(lo)) >> 32) + x) >> shift;
                assert_eq!(q, x / u64::from(f), "f {f} x {x}");
            }
        }
    }
}

#[test]
fn tables_switching_per_symbol() {
    let mut rng = Rng(3);
    // 8 tables over different alphabets and prob_bits; the table of symbol
    // i depends on the previous symbol (a real context model).
    let tables: Vec<FreqTable> = (0..8)
        .map(|k| {
            let alphabet = [2usize, 16, 256, 300, 4096, 3, 64, 1000][k];
            let counts: Vec<u64> = (0..alphabet)
                .map(|_| rng.below(100))
                .map(|c| if c < 30 { 0 } else { c })
                .collect();
            let mut counts = counts;
            counts[0] += 1;
            FreqTable::from_counts(&counts, 10 + (k as u32 % 6)).unwrap()
        })
        .collect();
    let enc_t: Vec<EncTable> = tables.iter().map(EncTable::new).collect();
    let dec_t: Vec<DecTable> = tables.iter().map(DecTable::new).collect();
    let used: Vec<Vec<u16>> = tables
        .iter()
        .map(|t| {
            (0..t.alphabet_size())
                .filter(|&s| t.freq(s) > 0)
                .map(|s| s as u16)
                .collect()
        })
        .collect();
    let mut syms = Vec::new();
    let mut ctx = Vec::new();
    let mut prev = 0usize;
    let mut enc = RansEncoder::new();
    for _ in 0..100_000 {
        let k = prev % 8;
        let s = used[k][rng.below(used[k].len() as u64) as usize];
        enc.put(&enc_t[k], s);
        syms.push(s);
        ctx.push(k);
        prev = s as usize;
    }
    let bytes = enc.finish();
    // The batch coder makes the same stream from the same pairs.
    let stride = 4096;
    let idx: Vec<u16> = ctx
        .iter()
        .zip(&syms)
        .map(|(&k, &s)| (k * stride) as u16 + s)
        .collect();
    let batch = encode_indexed::<LANES>(&enc_t, stride, &idx).unwrap();
    assert_eq!(batch.len(), bytes.len());
    assert_eq!(batch.to_bytes(), bytes);
    let mut appended = vec![7u8];
    batch.append_to(&mut appended);
    assert_eq!(appended[1..], bytes[..]);
    // A symbol without a frequency is an error, not a silent stream.
    let zero = (0..tables[1].alphabet_size())
        .find(|&s| tables[1].freq(s) == 0)
        .unwrap() as u16;
    assert!(encode_indexed::<LANES>(&enc_t, stride, &[stride as u16 + zero]).is_err());

    let mut dec = RansDecoder::new(&bytes).unwrap();
    let mut prev = 0usize;
    for (i, &s) in syms.iter().enumerate() {
        let k = prev % 8;
        assert_eq!(k, ctx[i]);
        let got = dec.get(&dec_t[k]);
        assert_eq!(got, s, "symbol {i}");
        prev = got as usize;
    }
    dec.finish().unwrap();
}

/// `get_many` decodes exactly what `get` does, from any lane position and
/// for any run length (whole lane groups, a head before the first group, a
/// tail after the last), with contexts taken modulo the table count.
#[test]
fn get_many_equals_get() {
    let mut rng = Rng(17);
    let tables: Vec<FreqTable> = (0..4)
        .map(|k| {
            let mut counts: Vec<u64> = (0..[5usize, 40, 300, 2][k])
                .map(|_| rng.below(50))
                .collect();
            counts[0] += 1;
            FreqTable::from_counts(&counts, 11 + k as u32).unwrap()
        })
        .collect();
    let enc_t: Vec<EncTable> = tables.iter().map(EncTable::new).collect();
    let dec_t: [DecTable; 4] = std::array::from_fn(|k| DecTable::new(&tables[k]));
    let n = 3000;
    // Contexts beyond the table count wrap around (`% C`).
    let ctxs: Vec<u8> = (0..n).map(|_| rng.below(8) as u8).collect();
    let mut enc = RansEncoder::new();
    let mut syms = Vec::with_capacity(n);
    for &c in &ctxs {
        let t = &tables[usize::from(c) % 4];
        let used: Vec<u16> = (0..t.alphabet_size())
            .filter(|&s| t.freq(s) > 0)
            .map(|s| s as u16)
            .collect();
        let s = used[rng.below(used.len() as u64) as usize];
        enc.put(&enc_t[usize::from(c) % 4], s);
        syms.push(s);
    }
    let bytes = enc.finish();
    for split in [0usize, 1, 3, 7, 8, 9, 15, 16, 17, 100, 2999] {
        let mut dec = RansDecoder::new(&bytes).unwrap();
        let mut got = Vec::with_capacity(n);
        for &c in &ctxs[..split] {
            got.push(dec.get(&dec_t[usize::from(c) % 4]));
        }
        // Runs of assorted lengths, including empty ones and lengths 1..7.
        let mut i = split;
        for len in [0usize, 5, 1, 8, 13, 64, 7].iter().cycle() {
            if i >= n {
                break;
            }
            let end = (i + len).min(n);
            let mut out = vec![0u16; end - i];
            dec.get_many(&dec_t, &ctxs[i..end], &mut out);
            got.extend_from_slice(&out);
            i = end;
        }
        assert_eq!(got, syms, "split {split}");
        dec.finish().unwrap();
    }
}

#[test]
fn efficiency_within_half_percent_of_entropy() {
    let n = 1_000_000;
    let mut rng = Rng(11);
    let mut cases: Vec<(&str, usize, Vec<f64>)> = vec![
        ("uniform 256", 256, vec![1.0; 256]),
        (
            "geometric 0.7",
            256,
            (0..256).map(|i| 0.7f64.powi(i)).collect(),
        ),
        (
            "geometric 0.95",
            256,
            (0..256).map(|i| 0.95f64.powi(i)).collect(),
        ),
        ("skewed 99%", 256, {
            let mut p: Vec<f64> = (0..256)
                .map(|i| if (1..9).contains(&i) { 0.01 / 8.0 } else { 0.0 })
                .collect();
            p[0] = 0.99;
            p
        }),
        (
            "4096 alphabet",
            4096,
            (0..4096)
                .map(|i| {
                    let d = (i as f64 - 2048.0) / 300.0;
                    0.05 + (-d * d / 2.0).exp()
                })
                .collect(),
        ),
    ];
    // A random "6-bit entropy" distribution like the benchmark's.
    cases.push((
        "random",
        256,
        (0..256).map(|_| (-4.0 * rng.unit()).exp()).collect(),
    ));
    for (name, alphabet, p) in cases {
        let syms = sample(&p, n, &mut rng);
        let counts = counts_of(&syms, alphabet);
        let h = entropy_bits(&counts);
        let t = FreqTable::from_counts(&counts, 14).unwrap();
        let bytes = encode_one(&syms, &t);
        assert_eq!(decode_one(&bytes, &t, n).unwrap(), syms);
        let mut tb = Vec::new();
        t.write(&mut tb);
        let coded = (bytes.len() * 8) as f64;
        let ratio = coded / h;
        eprintln!(
            "{name:>14}: entropy {:.4} b/sym, table-model {:.4}, coded {:.4} (x{ratio:.5}), table {} B for {} used",
            h / n as f64,
            t.cost_bits(&counts) / n as f64,
            coded / n as f64,
            tb.len(),
            t.used_symbols()
        );
        assert!(
            coded <= h * 1.005 + 8.0 * (4 * LANES) as f64,
            "{name}: {coded} vs {h}"
        );
    }
}

#[test]
fn corrupted_streams_never_panic() {
    let mut rng = Rng(21);
    let p: Vec<f64> = (0..64).map(|i| 0.9f64.powi(i)).collect();
    let syms = sample(&p, 3000, &mut rng);
    let t = FreqTable::from_counts(&counts_of(&syms, 64), 12).unwrap();
    let bytes = encode_one(&syms, &t);
    let dt = DecTable::new(&t);
    let mut detected = 0;
    let trials = 5000;
    for trial in 0..trials {
        let mut b = bytes.clone();
        match trial % 3 {
            0 => {
                let k = rng.below(b.len() as u64) as usize;
                b.truncate(k);
            }
            1 => {
                let bit = rng.below(b.len() as u64 * 8) as usize;
                b[bit / 8] ^= 1 << (bit % 8);
            }
            _ => {
                for _ in 0..1 + rng.below(4) {
                    let k = rng.below(b.len() as u64) as usize;
                    b[k] = rng.next() as u8;
                }
            }
        }
        let Ok(mut dec) = RansDecoder::new(&b) else {
            detected += 1;
            continue;
        };
        for _ in 0..syms.len() + 100 {
            dec.get(&dt); // keep going past the end: still no panic
        }
        let res = RansDecoder::new(&b).and_then(|mut d| {
            for _ in 0..syms.len() {
                d.get(&dt);
            }
            d.finish()
        });
        if res.is_err() || b == bytes {
            // (a random byte may be replaced by itself: nothing to detect)
            detected += 1;
        }
    }
    eprintln!("detected {detected}/{trials} corruptions");
    assert!(
        detected * 10 >= trials * 9,
        "only {detected}/{trials} detected"
    );
}

#[test]
fn byte_streams() {
    let mut rng = Rng(31);
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![7],
        vec![7; 1000],
        (0..=255).collect(),
        (0..100_000).map(|_| rng.next() as u8).collect(),
        (0..100_000)
            .map(|_| (rng.below(4) * rng.below(3)) as u8)
            .collect(),
        (0..50).map(|_| rng.below(3) as u8).collect(),
    ];
    cases.push(
        sample(
            &(0..256).map(|i| 0.97f64.powi(i)).collect::<Vec<_>>(),
            50_000,
            &mut rng,
        )
        .iter()
        .map(|&s| s as u8)
        .collect(),
    );
    for data in &cases {
        let mut out = vec![0xEE];
        encode_bytes(data, &mut out);
        out.push(0x55);
        let mut inp = &out[1..];
        let mut back = vec![0u8; data.len()];
        decode_bytes(&mut inp, &mut back).unwrap();
        assert_eq!(&back, data);
        assert_eq!(inp, &[0x55]);
        // Wrong expected length is an error.
        let mut wrong = vec![0u8; data.len() + 1];
        assert!(decode_bytes(&mut &out[1..], &mut wrong).is_err());
        // Every truncation is an error (never a panic).
        let body = &out[1..out.len() - 1];
        for k in 0..body.len().min(3000) {
            let mut inp = &body[..k];
            assert!(
                decode_bytes(&mut inp, &mut back).is_err(),
                "prefix {k} of {}",
                body.len()
            );
        }
        // Sizes are sane.
        let size = out.len() - 2;
        assert!(size <= data.len() + 1 + 10);
    }
    // Random data stays raw, skewed data compresses.
    let mut out = Vec::new();
    encode_bytes(&cases[4], &mut out);
    assert_eq!(out.len(), 100_000 + 1 + 3);
    let mut out = Vec::new();
    encode_bytes(&cases[5], &mut out);
    assert!(out.len() < 40_000, "{}", out.len());
}

#[test]
fn byte_stream_corruption_no_panic() {
    let mut rng = Rng(41);
    let data: Vec<u8> = sample(
        &(0..40).map(|i| 0.85f64.powi(i)).collect::<Vec<_>>(),
        2000,
        &mut rng,
    )
    .iter()
    .map(|&s| s as u8)
    .collect();
    let mut enc = Vec::new();
    encode_bytes(&data, &mut enc);
    let mut back = vec![0u8; data.len()];
    for _ in 0..5000 {
        let mut b = enc.clone();
        for _ in 0..1 + rng.below(3) {
            let bit = rng.below(b.len() as u64 * 8) as usize;
            b[bit / 8] ^= 1 << (bit % 8);
        }
        let _ = decode_bytes(&mut &b[..], &mut back);
    }
}

#[test]
fn symbol_streams() {
    let mut rng = Rng(51);
    for alphabet in [1usize, 2, 3, 255, 256, 1000, 4096] {
        for n in [0usize, 1, 5, 3000] {
            for kind in 0..3 {
                let data: Vec<u16> = (0..n)
                    .map(|_| match kind {
                        0 => rng.below(alphabet as u64) as u16,
                        1 => (alphabet - 1) as u16,
                        _ => {
                            (rng.below(alphabet as u64) * rng.below(2) / (1 + rng.below(8))) as u16
                        }
                    })
                    .collect();
                let mut out = Vec::new();
                encode_symbols(&data, alphabet, &mut out).unwrap();
                let mut back = vec![0u16; n];
                let mut inp = &out[..];
                decode_symbols(&mut inp, alphabet, &mut back).unwrap();
                assert_eq!(back, data);
                assert!(inp.is_empty());
                for k in 0..out.len().min(200) {
                    assert!(decode_symbols(&mut &out[..k], alphabet, &mut back).is_err());
                }
                for _ in 0..200 {
                    let mut b = out.clone();
                    let bit = rng.below(b.len() as u64 * 8) as usize;
                    b[bit / 8] ^= 1 << (bit % 8);
                    if decode_symbols(&mut &b[..], alphabet, &mut back).is_ok() {
                        assert!(back.iter().all(|&s| (s as usize) < alphabet));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    assert!(encode_symbols(&[5], 5, &mut out).is_err());
    assert!(encode_symbols(&[0], 0, &mut out).is_err());
    assert!(encode_symbols(&[0], 4097, &mut out).is_err());
}

#[test]
fn varints() {
    for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        let mut inp = &b[..];
        assert_eq!(get_varint(&mut inp).unwrap(), v);
        assert!(inp.is_empty());
        assert!(get_varint(&mut &b[..b.len() - 1]).is_err());
    }
    assert!(get_varint(&mut &[0xff; 10][..]).is_err());
    assert!(
        get_varint(&mut &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..]).is_err()
    );
}

proptest! {
    #[test]
    fn prop_rans_round_trip(
        weights in proptest::collection::vec(0u32..1000, 1..300),
        pb in 10u32..=15,
        n in 0usize..2000,
        seed in any::<u64>(),
    ) {
        let mut weights = weights;
        weights[0] += 1;
        let used = weights.iter().filter(|&&w| w > 0).count();
        prop_assume!(used <= 1 << pb);
        let counts: Vec<u64> = weights.iter().map(|&w| u64::from(w)).collect();
        let t = FreqTable::from_counts(&counts, pb).unwrap();
        let p: Vec<f64> = weights.iter().map(|&w| f64::from(w)).collect();
        let syms = sample(&p, n, &mut Rng(seed));
        let bytes = encode_one(&syms, &t);
        prop_assert_eq!(decode_one(&bytes, &t, n).unwrap(), syms);
    }

    #[test]
    fn prop_multi_table_round_trip(
        tables in proptest::collection::vec((proptest::collection::vec(0u64..50, 1..40), 10u32..=15), 1..6),
        choices in proptest::collection::vec((any::<u8>(), any::<u16>()), 0..500),
    ) {
        let ft: Vec<FreqTable> = tables.iter().map(|(c, pb)| {
            let mut c = c.clone();
            c[0] += 1;
            FreqTable::from_counts(&c, *pb).unwrap()
        }).collect();
        let et: Vec<EncTable> = ft.iter().map(EncTable::new).collect();
        let dt: Vec<DecTable> = ft.iter().map(DecTable::new).collect();
        let mut plan = Vec::new();
        let mut enc = RansEncoder::new();
        for &(k, s) in &choices {
            let k = k as usize % ft.len();
            let used: Vec<usize> = (0..ft[k].alphabet_size()).filter(|&i| ft[k].freq(i) > 0).collect();
            let s = used[s as usize % used.len()] as u16;
            enc.put(&et[k], s);
            plan.push((k, s));
        }
        let bytes = enc.finish();
        let mut dec = RansDecoder::new(&bytes).unwrap();
        for &(k, s) in &plan {
            prop_assert_eq!(dec.get(&dt[k]), s);
        }
        prop_assert!(dec.finish().is_ok());
    }

    #[test]
    fn prop_bytes_round_trip(data in proptest::collection::vec(prop_oneof![any::<u8>(), 0u8..4, Just(9u8)], 0..3000)) {
        let mut out = Vec::new();
        encode_bytes(&data, &mut out);
        let mut back = vec![0u8; data.len()];
        let mut inp = &out[..];
        decode_bytes(&mut inp, &mut back).unwrap();
        prop_assert_eq!(back, data);
        prop_assert!(inp.is_empty());
    }
}

/// 16 context tables of assorted precisions and alphabets (up to the flat
/// limit, and one that gives its only symbol all `2^P` slots), with a
/// 32-lane stream of `n` symbols over contexts drawn from all byte values.
fn wide_case(n: usize, seed: u64) -> ([FreqTable; FLAT_CONTEXTS], Vec<u8>, Vec<u16>, Vec<u8>) {
    let mut rng = Rng(seed);
    let tables: [FreqTable; FLAT_CONTEXTS] = std::array::from_fn(|k| {
        let pb = MIN_PROB_BITS + (k as u32 % 6);
        if k == 5 {
            return FreqTable::from_counts(&[0, 0, 7], pb).unwrap();
        }
        let alphabet = [3usize, 40, 300, FLAT_ALPHABET][k % 4];
        let mut counts: Vec<u64> = (0..alphabet).map(|_| rng.below(60)).collect();
        counts[alphabet - 1] += 1;
        FreqTable::from_counts(&counts, pb).unwrap()
    });
    let enc: Vec<EncTable> = tables.iter().map(EncTable::new).collect();
    let ctxs: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    let syms: Vec<u16> = ctxs
        .iter()
        .map(|&c| {
            let t = &tables[usize::from(c) % FLAT_CONTEXTS];
            let used: Vec<u16> = (0..t.alphabet_size())
                .filter(|&s| t.freq(s) > 0)
                .map(|s| s as u16)
                .collect();
            used[rng.below(used.len() as u64) as usize]
        })
        .collect();
    let idx: Vec<u16> = ctxs
        .iter()
        .zip(&syms)
        .map(|(&c, &s)| (usize::from(c) % FLAT_CONTEXTS * FLAT_ALPHABET) as u16 + s)
        .collect();
    let bytes = encode_indexed::<WIDE_LANES>(&enc, FLAT_ALPHABET, &idx)
        .unwrap()
        .to_bytes();
    (tables, ctxs, syms, bytes)
}

/// Decodes `ctxs.len()` symbols with `get_many` over flat tables, in runs
/// of assorted lengths after `split` single ones; the decoder is returned
/// to finish.
fn flat_runs<'a>(
    bytes: &'a [u8],
    flat: &FlatTables,
    ctxs: &[u8],
    split: usize,
) -> (Vec<u16>, RansDecoder<'a, WIDE_LANES>) {
    let mut dec = RansDecoder::<WIDE_LANES>::with_lanes(bytes).unwrap();
    let split = split.min(ctxs.len());
    let mut got: Vec<u16> = ctxs[..split]
        .iter()
        .map(|&c| dec.get_ctx(flat, c))
        .collect();
    let mut i = split;
    for len in [0usize, 31, 1, 32, 33, 64, 2048, 7, 4096].iter().cycle() {
        if i >= ctxs.len() {
            break;
        }
        let end = (i + len).min(ctxs.len());
        let mut out = vec![0u16; end - i];
        dec.get_many(flat, &ctxs[i..end], &mut out);
        got.extend_from_slice(&out);
        i = end;
    }
    (got, dec)
}

#[test]
fn wide_streams_decode_alike_through_every_path() {
    let n = 20_000 + 17;
    let (tables, ctxs, syms, bytes) = wide_case(n, 31);
    assert_eq!(bytes.len() % 2, 0);
    assert!(bytes.len() > 4 * WIDE_LANES);
    let flat = FlatTables::new(&tables).unwrap();
    // Lane by lane with the plain tables (the specification's decoder).
    let dec_t: [DecTable; FLAT_CONTEXTS] = std::array::from_fn(|k| DecTable::new(&tables[k]));
    let mut dec = RansDecoder::<WIDE_LANES>::with_lanes(&bytes).unwrap();
    let plain: Vec<u16> = ctxs
        .iter()
        .map(|&c| dec.get(&dec_t[usize::from(c) % FLAT_CONTEXTS]))
        .collect();
    assert_eq!(plain, syms);
    dec.finish().unwrap();
    // `get_many` over the plain tables, then `get_ctx` and `get_many` over
    // the flat ones (SIMD where the CPU has it) from assorted lane offsets.
    let mut dec = RansDecoder::<WIDE_LANES>::with_lanes(&bytes).unwrap();
    let mut many = vec![0u16; n];
    dec.get_many(&dec_t, &ctxs, &mut many);
    assert_eq!(many, syms);
    dec.finish().unwrap();
    for split in [0usize, 1, 31, 32, 33, 100, n] {
        let (got, dec) = flat_runs(&bytes, &flat, &ctxs, split);
        assert_eq!(got, syms, "split {split}");
        dec.finish().unwrap();
    }
}

/// A [`LaneSteps`] decoder whose context is `ctxs[i]`: it also peeks the
/// next context (a lookup that must not move the lane), then takes its own.
struct PeekTwice<'a> {
    flat: &'a FlatTables,
    ctxs: &'a [u8],
    got: Vec<u16>,
}

impl LaneSteps for PeekTwice<'_> {
    fn step(&mut self, i: usize, lane: Lane<'_>) {
        let c = usize::from(self.ctxs[i]);
        let other = self.flat.peek(c + 1, lane.state());
        let sym = self.flat.peek(c, lane.state());
        self.flat.take(c, sym, lane);
        // The other context's symbol is one of its table's.
        assert!(usize::from(other) < FLAT_ALPHABET);
        self.got.push(sym);
    }
}

#[test]
fn lane_steps_decode_like_get_from_every_lane_offset() {
    let n = 9000 + 5;
    let (tables, ctxs, syms, bytes) = wide_case(n, 34);
    let flat = FlatTables::new(&tables).unwrap();
    for split in [0usize, 1, 31, 32, 33, 100, n] {
        let mut dec = RansDecoder::<WIDE_LANES>::with_lanes(&bytes).unwrap();
        let mut got: Vec<u16> = ctxs[..split]
            .iter()
            .map(|&c| dec.get_ctx(&flat, c))
            .collect();
        let mut i = split;
        for len in [0usize, 31, 1, 32, 33, 64, 2048, 7].iter().cycle() {
            if i >= n {
                break;
            }
            let end = (i + len).min(n);
            let mut run = PeekTwice {
                flat: &flat,
                ctxs: &ctxs[i..end],
                got: Vec::new(),
            };
            dec.steps(end - i, &mut run);
            got.extend_from_slice(&run.got);
            i = end;
        }
        assert_eq!(got, syms, "split {split}");
        dec.finish().unwrap();
    }
}

#[test]
fn wide_corruption_gives_the_same_symbols_and_error_on_every_path() {
    let n = 6000;
    let (tables, ctxs, _, bytes) = wide_case(n, 32);
    let flat = FlatTables::new(&tables).unwrap();
    let mut rng = Rng(33);
    let mut detected = 0;
    let trials = 600;
    for trial in 0..trials {
        let mut b = bytes.clone();
        match trial % 3 {
            // Even lengths, so the stream opens and runs out of words.
            0 => b.truncate(
                4 * WIDE_LANES + 2 * rng.below(((b.len() - 4 * WIDE_LANES) / 2) as u64) as usize,
            ),
            1 => {
                let bit = rng.below(b.len() as u64 * 8) as usize;
                b[bit / 8] ^= 1 << (bit % 8);
            }
            _ => {
                let k = rng.below(b.len() as u64) as usize;
                b[k] = b[k].wrapping_add(1 + rng.below(255) as u8);
            }
        }
        let mut one = RansDecoder::<WIDE_LANES>::with_lanes(&b).unwrap();
        let singles: Vec<u16> = ctxs.iter().map(|&c| one.get_ctx(&flat, c)).collect();
        let (runs, many) = flat_runs(&b, &flat, &ctxs, 5);
        assert_eq!(runs, singles, "trial {trial}");
        assert_eq!(
            many.finish().map_err(|e| e.to_string()),
            one.finish().map_err(|e| e.to_string()),
            "trial {trial}"
        );
        detected += usize::from(one.finish().is_err());
    }
    assert!(
        detected * 10 >= trials * 9,
        "only {detected}/{trials} detected"
    );
}

/// Every SIMD whole-group decoder this CPU runs gives the lane steps'
/// symbols, states and read position, on a stream and on truncated and
/// corrupted copies of it (where it may stop early, at a group's end).
#[test]
fn simd_group_decoders_match_the_lane_steps() {
    let decoders = flat::simd_group_decoders();
    if decoders.is_empty() {
        eprintln!("skipped: no SIMD group decoder runs on this CPU");
        return;
    }
    let n = 8000 + 3;
    let (tables, ctxs, syms, bytes) = wide_case(n, 35);
    let flat = FlatTables::new(&tables).unwrap();
    let mut rng = Rng(36);
    for trial in 0..300 {
        let mut b = bytes.clone();
        match trial % 3 {
            0 if trial > 0 => b.truncate(
                4 * WIDE_LANES + 2 * rng.below(((b.len() - 4 * WIDE_LANES) / 2) as u64) as usize,
            ),
            1 => {
                let bit = rng.below(b.len() as u64 * 8) as usize;
                b[bit / 8] ^= 1 << (bit % 8);
            }
            2 => {
                let k = rng.below(b.len() as u64) as usize;
                b[k] = b[k].wrapping_add(1 + rng.below(255) as u8);
            }
            _ => {}
        }
        for &(name, decode) in &decoders {
            let mut dec = RansDecoder::<WIDE_LANES>::with_lanes(&b).unwrap();
            let mut lanes = dec.clone();
            let mut out = vec![0u16; n];
            // SAFETY: `simd_group_decoders` lists those this CPU runs.
            let done = unsafe { decode(&mut dec, &flat, &ctxs, &mut out) };
            assert_eq!(done % WIDE_LANES, 0, "{name}, trial {trial}");
            let want: Vec<u16> = ctxs[..done]
                .iter()
                .map(|&c| lanes.get_ctx(&flat, c))
                .collect();
            assert_eq!(out[..done], want, "{name}, trial {trial}");
            assert_eq!(dec.states, lanes.states, "{name}, trial {trial}");
            assert_eq!(dec.pos, lanes.pos, "{name}, trial {trial}");
            if trial == 0 {
                assert_eq!(done, n - n % WIDE_LANES, "{name}");
                assert_eq!(want, syms[..done], "{name}");
            }
        }
    }
}

#[test]
fn flat_tables_refuse_alphabets_beyond_their_stride() {
    let mut tables: [FreqTable; FLAT_CONTEXTS] =
        std::array::from_fn(|_| FreqTable::uniform(4, 10).unwrap());
    assert!(FlatTables::new(&tables).is_ok());
    tables[3] = FreqTable::uniform(FLAT_ALPHABET + 1, 10).unwrap();
    assert!(matches!(
        FlatTables::new(&tables),
        Err(crate::Error::BadFreqTable(_))
    ));
}
