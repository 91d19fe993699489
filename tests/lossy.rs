//! Lossy mode: targets met on generated data, exact special values,
//! lossless integers, determinism, and clear errors for bad targets.

mod common;

use common::{safetensors, Rng};
use stzip::pipeline::{compress_lossy, decompress, Allocation, LossyOptions, Options, Target};
use stzip::safetensors::Header;
use stzip::Error;

fn lossy(
    file: &[u8],
    target: Target,
    threads: usize,
) -> Result<(Vec<u8>, stzip::pipeline::Report), Error> {
    let o = Options {
        threads,
        ..Options::default()
    };
    lossy_with(file, target, &o)
}

fn lossy_with(
    file: &[u8],
    target: Target,
    o: &Options,
) -> Result<(Vec<u8>, stzip::pipeline::Report), Error> {
    let mut out = Vec::new();
    let l = LossyOptions {
        target,
        allocation: Allocation::Uniform,
        tied_embeddings: None,
    };
    let report = compress_lossy(&mut || Ok(file), &mut out, o, &l, &|_| {})?;
    Ok((out, report))
}

fn restore(stz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    decompress(stz, Some(&mut out), &Options::default(), &|_| {}).unwrap();
    out
}

/// Weight SNR over all F32 tensors, measured from the two files.
fn measured_snr(original: &[u8], restored: &[u8]) -> f64 {
    let a = Header::parse(
        original[..8 + u64::from_le_bytes(original[..8].try_into().unwrap()) as usize].to_vec(),
    )
    .unwrap();
    let b = Header::parse(
        restored[..8 + u64::from_le_bytes(restored[..8].try_into().unwrap()) as usize].to_vec(),
    )
    .unwrap();
    assert_eq!(a.raw(), b.raw(), "names, shapes and dtypes are kept");
    let base = a.raw().len();
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for t in a.tensors().iter().filter(|t| t.dtype.name() == "F32") {
        let range = base + t.start as usize..base + t.end as usize;
        for (x, y) in original[range.clone()]
            .chunks_exact(4)
            .zip(restored[range].chunks_exact(4))
        {
            let (x, y) = (
                f32::from_le_bytes(x.try_into().unwrap()) as f64,
                f32::from_le_bytes(y.try_into().unwrap()) as f64,
            );
            if x.is_finite() {
                sig += x * x;
                err += (x - y) * (x - y);
            }
        }
    }
    10.0 * (sig / err).log10()
}

fn f32_file(
    name: &str,
    rows: usize,
    cols: usize,
    mut gen: impl FnMut(usize, usize) -> f64,
) -> Vec<u8> {
    let data: Vec<u8> = (0..rows * cols)
        .flat_map(|i| (gen(i / cols, i % cols) as f32).to_le_bytes())
        .collect();
    safetensors(
        &[(name, "F32", vec![rows as u64, cols as u64], data)],
        None,
        0,
    )
}

fn families() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Rng(31);
    let gauss = f32_file("gauss", 256, 512, |_, _| rng.gauss() * 0.02);
    let mut rng = Rng(32);
    let laplace = f32_file("laplace", 256, 512, |_, _| {
        let u = rng.unit() - 0.5;
        -0.02 * u.signum() * (1.0 - 2.0 * u.abs()).max(1e-300).ln()
    });
    let mut rng = Rng(33);
    let student = f32_file("student_t3", 256, 512, |_, _| {
        let z = rng.gauss();
        let chi2: f64 = (0..3).map(|_| rng.gauss().powi(2)).sum();
        0.02 * z / (chi2 / 3.0).sqrt()
    });
    let mut rng = Rng(34);
    let smooth = f32_file("smooth", 256, 512, |i, j| {
        (i as f64 * 0.05).sin() * (j as f64 * 0.01).cos() * 0.1 + rng.gauss() * 0.001
    });
    vec![
        ("gauss", gauss),
        ("laplace", laplace),
        ("student_t3", student),
        ("smooth", smooth),
    ]
}

#[test]
fn snr_targets_are_met_on_every_family() {
    for (name, file) in families() {
        for snr in [20.0, 27.0, 40.0] {
            let (stz, report) = lossy(&file, Target::Snr(snr), 2).unwrap();
            let got = measured_snr(&file, &restore(&stz));
            assert!(
                (got - snr).abs() < 0.3,
                "{name}: asked {snr} dB, got {got:.3}"
            );
            let reported = report.snr_db().unwrap();
            assert!(
                (reported - got).abs() < 1e-6,
                "{name}: report says {reported}, file gives {got}"
            );
        }
    }
}

#[test]
fn bits_per_weight_targets_are_met_on_every_family() {
    for (name, file) in families() {
        for bpw in [3.0, 4.5, 7.0] {
            let (stz, report) = lossy(&file, Target::BitsPerWeight(bpw), 2).unwrap();
            let got = stz.len() as f64 * 8.0 / report.float_params as f64;
            assert!(
                (got - bpw).abs() / bpw < 0.03,
                "{name}: asked {bpw} bits/weight, got {got:.3}"
            );
            assert!(got <= bpw * 1.03);
            assert!(measured_snr(&file, &restore(&stz)).is_finite());
        }
    }
}

#[test]
fn special_values_and_integers_survive_exactly() {
    let mut rng = Rng(35);
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(0x7fc0_1234),
    ];
    let weights: Vec<u8> = (0..64 * 64)
        .flat_map(|i| {
            if i % 97 == 0 {
                specials[i / 97 % 4]
            } else {
                (rng.gauss() * 0.05) as f32
            }
            .to_le_bytes()
        })
        .collect();
    let ids: Vec<u8> = (0..300i64).flat_map(|i| (i * 7919).to_le_bytes()).collect();
    let file = safetensors(
        &[
            ("w", "F32", vec![64, 64], weights.clone()),
            ("ids", "I64", vec![300], ids.clone()),
        ],
        None,
        0,
    );
    let (stz, _) = lossy(&file, Target::Snr(25.0), 1).unwrap();
    let back = restore(&stz);
    let base = file.len() - weights.len() - ids.len();
    for (i, (a, b)) in weights
        .chunks_exact(4)
        .zip(back[base..base + weights.len()].chunks_exact(4))
        .enumerate()
    {
        if i % 97 == 0 {
            assert_eq!(a, b, "special value {i} must keep its exact bits");
        }
    }
    assert_eq!(
        &back[base + weights.len()..],
        &ids[..],
        "integer tensors are lossless"
    );
}

#[test]
fn other_float_dtypes_meet_the_target() {
    let mut rng = Rng(36);
    let n = 128 * 256;
    let bf16: Vec<u8> = (0..n)
        .flat_map(|_| ((((rng.gauss() * 0.02) as f32).to_bits() >> 16) as u16).to_le_bytes())
        .collect();
    let f64s: Vec<u8> = (0..n)
        .flat_map(|_| (rng.gauss() * 0.02).to_le_bytes())
        .collect();
    let file = safetensors(
        &[
            ("a", "BF16", vec![128, 256], bf16),
            ("b", "F64", vec![128, 256], f64s),
        ],
        None,
        0,
    );
    let (stz, report) = lossy(&file, Target::Snr(30.0), 2).unwrap();
    assert!(
        (report.snr_db().unwrap() - 30.0).abs() < 0.3,
        "{:?}",
        report.snr_db()
    );
    let back = restore(&stz);
    assert_eq!(back.len(), file.len());
}

#[test]
fn output_is_identical_for_any_thread_count() {
    let (_, file) = families().remove(0);
    let (one, _) = lossy(&file, Target::Snr(27.0), 1).unwrap();
    let (two, _) = lossy(&file, Target::Snr(27.0), 2).unwrap();
    let (four, _) = lossy(&file, Target::Snr(27.0), 4).unwrap();
    assert_eq!(one, two);
    assert_eq!(one, four);
    // 256×512 F32 in 64 KiB chunks is eight chunks: the statistics pass
    // and rate control share them out among the threads, and record them
    // in file order.
    let small = |threads| Options {
        threads,
        chunk_bytes: 64 << 10,
        ..Options::default()
    };
    assert_eq!(
        file.len() - Header::read_from(&mut &file[..]).unwrap().raw().len(),
        8 << 16
    );
    let (one, _) = lossy_with(&file, Target::BitsPerWeight(4.0), &small(1)).unwrap();
    for threads in [2, 3, 4] {
        let (many, _) = lossy_with(&file, Target::BitsPerWeight(4.0), &small(threads)).unwrap();
        assert_eq!(one, many, "{threads} threads");
    }
}

#[test]
fn bad_targets_are_refused_with_a_reason() {
    let (_, file) = families().remove(0);
    for target in [
        Target::BitsPerWeight(0.0),
        Target::BitsPerWeight(-2.0),
        Target::BitsPerWeight(f64::NAN),
        Target::BitsPerWeight(32.0),
        Target::BitsPerWeight(40.0),
        Target::BitsPerWeight(0.001),
        Target::Snr(-5.0),
        Target::Snr(f64::NAN),
        Target::Snr(0.0),
        Target::Snr(1e9),
    ] {
        let err = lossy(&file, target, 1).unwrap_err();
        assert!(
            matches!(err, Error::InvalidLossyTarget { .. }),
            "{target:?}: {err:?}"
        );
    }
}

/// The transform comes from measurement, never from names: the smooth
/// family is coded as DCT coefficients, the noise-like ones as they are.
#[test]
fn transforms_are_chosen_by_measurement() {
    for (name, file) in families() {
        let (_, report) = lossy(&file, Target::Snr(27.0), 1).unwrap();
        let t = report.tensors[0].transform.map(|t| t.name());
        if name == "smooth" {
            assert!(t.is_some_and(|t| t.starts_with("dct")), "{name}: {t:?}");
        } else {
            assert_eq!(t, Some("none"), "{name}");
        }
    }
}

#[test]
fn progress_reports_each_pass_in_order_and_to_the_end() {
    use stzip::pipeline::{Progress, Stage};
    let (_, file) = families().remove(0);
    let seen = std::sync::Mutex::new(Vec::<Progress>::new());
    let o = Options {
        threads: 2,
        chunk_bytes: 64 << 10,
        ..Options::default()
    };
    let l = LossyOptions {
        target: Target::BitsPerWeight(4.0),
        allocation: Allocation::Uniform,
        tied_embeddings: None,
    };
    let mut out = Vec::new();
    compress_lossy(&mut || Ok(&file[..]), &mut out, &o, &l, &|p| {
        if let Ok(mut v) = seen.lock() {
            v.push(p);
        }
    })
    .unwrap();
    let seen = seen.into_inner().unwrap();
    let total = file.len() as u64;
    let stages: Vec<Stage> = seen.iter().map(|p| p.stage).collect();
    let measuring = stages
        .iter()
        .take_while(|&&s| s == Stage::Measuring)
        .count();
    // A report per chunk (eight), then the step search, then the coding.
    assert_eq!(measuring, 8, "{stages:?}");
    assert_eq!(stages.get(measuring), Some(&Stage::ChoosingStep));
    assert!(stages[measuring + 1..].iter().all(|&s| s == Stage::Coding));
    assert!(seen.iter().all(|p| p.raw_total == total));
    for pass in [Stage::Measuring, Stage::Coding] {
        let done: Vec<u64> = seen
            .iter()
            .filter(|p| p.stage == pass)
            .map(|p| p.raw_bytes)
            .collect();
        assert!(done.windows(2).all(|w| w[0] <= w[1]), "{pass:?}: {done:?}");
        assert_eq!(done.last(), Some(&total), "{pass:?}");
    }
    assert_eq!(seen[measuring].raw_bytes, total);
}

/// A tensor extracted by name from a lossy file has the values a full
/// decompression gives it, through plain and transformed chunks alike.
#[test]
fn extracted_tensors_match_the_full_decompression() {
    let mut rng = Rng(35);
    let gauss: Vec<u8> = (0..256 * 512)
        .flat_map(|_| ((rng.gauss() * 0.02) as f32).to_le_bytes())
        .collect();
    let smooth: Vec<u8> = (0..256 * 512)
        .flat_map(|i| {
            let (r, c) = ((i / 512) as f64, (i % 512) as f64);
            (((r * 0.05).sin() * (c * 0.01).cos() * 0.1 + rng.gauss() * 0.001) as f32).to_le_bytes()
        })
        .collect();
    let file = safetensors(
        &[
            ("gauss", "F32", vec![256, 512], gauss),
            ("ids", "I64", vec![2], vec![7; 16]),
            ("smooth", "F32", vec![256, 512], smooth),
        ],
        None,
        0,
    );
    let o = Options {
        chunk_bytes: 64 << 10,
        ..Options::default()
    };
    let (stz, report) = lossy_with(&file, Target::Snr(30.0), &o).unwrap();
    let smooth_coded = report.tensors.iter().find(|t| t.name == "smooth");
    assert!(
        matches!(
            smooth_coded.and_then(|t| t.transform),
            Some(stzip::pipeline::TensorTransform::Only(_))
        ),
        "the smooth tensor is coded transformed"
    );
    let restored = restore(&stz);
    let full = Header::read_from(&mut &restored[..]).unwrap();
    for name in ["gauss", "smooth", "ids"] {
        let mut out = Vec::new();
        let header = stzip::pipeline::extract_tensors(
            &mut std::io::Cursor::new(&stz),
            &[name],
            &mut out,
            &o,
            &|_| {},
        )
        .unwrap();
        let t = full.tensors().iter().find(|t| t.name == name).unwrap();
        let at = full.raw().len() + t.start as usize..full.raw().len() + t.end as usize;
        assert_eq!(&out[header.raw().len()..], &restored[at], "{name}");
        assert_eq!(header.tensors()[0].shape, t.shape);
    }
}
