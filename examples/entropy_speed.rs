//! Throughput of the rANS coder: `cargo run --release --example entropy_speed`.
//!
//! Symbols: i.i.d. from a random ~6-bit-entropy distribution over 256 symbols;
//! then the same with 8 tables alternating per symbol (context switching).

use std::hint::black_box;
use std::time::Instant;

mod common;

use common::Rng;
use stzip::codec::entropy::{
    decode_bytes, encode_bytes, BitReader, BitWriter, DecTable, EncTable, FreqTable, RansDecoder,
    RansEncoder,
};

/// A distribution with entropy near `target` bits: Gaussian-ish bump over
/// 256 symbols whose width is tuned by bisection.
fn distribution(target: f64, shift: f64) -> Vec<f64> {
    let make = |w: f64| -> Vec<f64> {
        (0..256)
            .map(|i| {
                let d = (i as f64 - 128.0 - shift) / w;
                (-d * d / 2.0).exp() + 1e-7
            })
            .collect()
    };
    let ent = |p: &[f64]| {
        let s: f64 = p.iter().sum();
        p.iter().map(|&x| -(x / s) * (x / s).log2()).sum::<f64>()
    };
    let (mut lo, mut hi) = (0.5, 200.0);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if ent(&make(mid)) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    make(lo)
}

fn sample(p: &[f64], n: usize, rng: &mut Rng) -> Vec<u16> {
    let total: f64 = p.iter().sum();
    let mut cdf = Vec::new();
    let mut acc = 0.0;
    for &x in p {
        acc += x / total;
        cdf.push(acc);
    }
    (0..n)
        .map(|_| {
            let u = rng.uniform();
            cdf.partition_point(|&c| c <= u).min(p.len() - 1) as u16
        })
        .collect()
}

fn entropy_bits(syms: &[u16], alphabet: usize) -> (Vec<u64>, f64) {
    let mut c = vec![0u64; alphabet];
    for &s in syms {
        c[s as usize] += 1;
    }
    let n = syms.len() as f64;
    let h = c
        .iter()
        .filter(|&&x| x > 0)
        .map(|&x| x as f64 * (n / x as f64).log2())
        .sum();
    (c, h)
}

/// Best of `reps` timings, in symbols per second.
fn rate(n: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    n as f64 / best
}

fn main() {
    let n = 4_000_000;
    let reps = 7;
    let mut rng = Rng(42);
    let pb = 14;

    // ---- single table --------------------------------------------------
    let p = distribution(6.0, 0.0);
    let syms = sample(&p, n, &mut rng);
    let (counts, h) = entropy_bits(&syms, 256);
    let ft = FreqTable::from_counts(&counts, pb).expect("table");
    let et = EncTable::new(&ft);
    let dt = DecTable::new(&ft);
    let mut stream = Vec::new();
    let enc_rate = rate(n, reps, || {
        let mut enc = RansEncoder::with_capacity(n);
        for &s in &syms {
            enc.put(&et, s);
        }
        stream = enc.finish();
    });
    let mut out = vec![0u16; n];
    let dec_rate = rate(n, reps, || {
        let mut dec = RansDecoder::new(&stream).expect("stream");
        for o in out.iter_mut() {
            *o = dec.get(&dt);
        }
        dec.finish().expect("finish");
    });
    assert_eq!(out, syms);
    let mut tb = Vec::new();
    ft.write(&mut tb);
    println!(
        "single table, prob_bits {pb}, {n} symbols, {} used of 256:",
        ft.used_symbols()
    );
    println!(
        "  entropy {:.4} b/sym, model {:.4}, coded {:.4} b/sym (+{:.3} %), table {} B",
        h / n as f64,
        ft.cost_bits(&counts) / n as f64,
        (stream.len() * 8) as f64 / n as f64,
        ((stream.len() * 8) as f64 / h - 1.0) * 100.0,
        tb.len()
    );
    println!(
        "  encode {:.0} M sym/s, decode {:.0} M sym/s",
        enc_rate / 1e6,
        dec_rate / 1e6
    );

    // ---- 8 tables, switching every symbol ------------------------------
    let k = 8;
    let dists: Vec<Vec<f64>> = (0..k)
        .map(|i| distribution(4.0 + i as f64 * 0.5, i as f64 * 7.0 - 25.0))
        .collect();
    let per: Vec<Vec<u16>> = dists.iter().map(|d| sample(d, n / k, &mut rng)).collect();
    let syms8: Vec<u16> = (0..n).map(|i| per[i % k][i / k]).collect();
    let fts: Vec<FreqTable> = (0..k)
        .map(|j| FreqTable::from_counts(&entropy_bits(&per[j], 256).0, pb).expect("table"))
        .collect();
    let h8: f64 = per.iter().map(|s| entropy_bits(s, 256).1).sum();
    let ets: Vec<EncTable> = fts.iter().map(EncTable::new).collect();
    let dts: Vec<DecTable> = fts.iter().map(DecTable::new).collect();
    let mut stream8 = Vec::new();
    let enc8 = rate(n, reps, || {
        let mut enc = RansEncoder::with_capacity(n);
        for (i, &s) in syms8.iter().enumerate() {
            enc.put(&ets[i % k], s);
        }
        stream8 = enc.finish();
    });
    let dec8 = rate(n, reps, || {
        let mut dec = RansDecoder::new(&stream8).expect("stream");
        for (i, o) in out.iter_mut().enumerate() {
            *o = dec.get(&dts[i % k]);
        }
        dec.finish().expect("finish");
    });
    assert_eq!(out, syms8);
    println!("8 tables alternating per symbol (entropies 4..7.5 bits):");
    println!(
        "  entropy {:.4} b/sym, coded {:.4} b/sym (+{:.3} %)",
        h8 / n as f64,
        (stream8.len() * 8) as f64 / n as f64,
        ((stream8.len() * 8) as f64 / h8 - 1.0) * 100.0
    );
    println!(
        "  encode {:.0} M sym/s, decode {:.0} M sym/s",
        enc8 / 1e6,
        dec8 / 1e6
    );

    // ---- byte streams and bit fields -----------------------------------
    let bytes: Vec<u8> = syms.iter().map(|&s| s as u8).collect();
    let mut enc = Vec::new();
    let eb = rate(n, reps, || {
        enc.clear();
        encode_bytes(&bytes, &mut enc);
    });
    let mut back = vec![0u8; n];
    let db = rate(n, reps, || {
        decode_bytes(&mut &enc[..], &mut back).expect("decode");
    });
    assert_eq!(back, bytes);
    println!(
        "encode_bytes/decode_bytes: {:.0} / {:.0} M B/s, {:.4} b/B",
        eb / 1e6,
        db / 1e6,
        (enc.len() * 8) as f64 / n as f64
    );
    let fields: Vec<(u64, u32)> = (0..n)
        .map(|i| (rng.next_u64(), 1 + (i % 23) as u32))
        .collect();
    let mut bits = Vec::new();
    let wb = rate(n, reps, || {
        let mut w = BitWriter::with_capacity(n * 2);
        for &(v, nb) in &fields {
            w.put(v, nb);
        }
        bits = w.finish();
    });
    let rb = rate(n, reps, || {
        let mut r = BitReader::new(&bits);
        let mut acc = 0u64;
        for &(_, nb) in &fields {
            acc ^= r.get(nb);
        }
        black_box(acc);
        r.finish().expect("bits");
    });
    println!(
        "bit fields (1..23 bits): write {:.0} M/s, read {:.0} M/s",
        wb / 1e6,
        rb / 1e6
    );
}
