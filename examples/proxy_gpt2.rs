//! End-to-end check of `--allocation model` on a model whose token
//! embedding is tied to the output head: a generated GPT-2-shaped model
//! (names and shapes as Hugging Face's GPT-2 safetensors, no `lm_head`),
//! compressed at the same bits per weight with each allocation, and its
//! output logits compared with the original's on random token sequences.
//!
//! The tied embedding is the output projection, so treating it as a mere
//! lookup table (a coarser step) would hurt every logit; the model
//! allocation must recognise the tie and do no worse than uniform. The
//! third row forces the untied assumption to show what is at stake.
//!
//! `cargo run --release --example proxy_gpt2`

mod common;

use common::{safetensors, Rng};
use stzip::pipeline::{compress_lossy, decompress, Allocation, LossyOptions, Options, Target};
use stzip::safetensors::Header;

const VOCAB: usize = 4096;
const CTX: usize = 64;
const D: usize = 256;
const HEADS: usize = 4;
const LAYERS: usize = 4;
const SEQS: usize = 16;
const SEQ_LEN: usize = 32;

type Weights = std::collections::HashMap<String, Vec<f32>>;

/// The generated model: GPT-2's initialisation (N(0, 0.02), output
/// projections scaled by 1/√(2·layers)), with norms and biases perturbed
/// so they are not trivially constant.
fn generate() -> Vec<u8> {
    let mut rng = Rng(2718);
    let mut tensors: Vec<(String, Vec<u64>, Vec<f32>)> = Vec::new();
    let mut add = |name: String, shape: Vec<u64>, std: f64, mean: f64, rng: &mut Rng| {
        let n: u64 = shape.iter().product();
        let v = (0..n)
            .map(|_| (mean + std * rng.gaussian()) as f32)
            .collect();
        tensors.push((name, shape, v));
    };
    let proj = 0.02 / (2.0 * LAYERS as f64).sqrt();
    let (d, d3, d4) = (D as u64, 3 * D as u64, 4 * D as u64);
    add(
        "wte.weight".into(),
        vec![VOCAB as u64, d],
        0.02,
        0.0,
        &mut rng,
    );
    add(
        "wpe.weight".into(),
        vec![CTX as u64, d],
        0.01,
        0.0,
        &mut rng,
    );
    for l in 0..LAYERS {
        let p = format!("h.{l}.");
        add(format!("{p}ln_1.weight"), vec![d], 0.1, 1.0, &mut rng);
        add(format!("{p}ln_1.bias"), vec![d], 0.02, 0.0, &mut rng);
        add(
            format!("{p}attn.c_attn.weight"),
            vec![d, d3],
            0.02,
            0.0,
            &mut rng,
        );
        add(
            format!("{p}attn.c_attn.bias"),
            vec![d3],
            0.02,
            0.0,
            &mut rng,
        );
        add(
            format!("{p}attn.c_proj.weight"),
            vec![d, d],
            proj,
            0.0,
            &mut rng,
        );
        add(format!("{p}attn.c_proj.bias"), vec![d], 0.02, 0.0, &mut rng);
        add(format!("{p}ln_2.weight"), vec![d], 0.1, 1.0, &mut rng);
        add(format!("{p}ln_2.bias"), vec![d], 0.02, 0.0, &mut rng);
        add(
            format!("{p}mlp.c_fc.weight"),
            vec![d, d4],
            0.02,
            0.0,
            &mut rng,
        );
        add(format!("{p}mlp.c_fc.bias"), vec![d4], 0.02, 0.0, &mut rng);
        add(
            format!("{p}mlp.c_proj.weight"),
            vec![d4, d],
            proj,
            0.0,
            &mut rng,
        );
        add(format!("{p}mlp.c_proj.bias"), vec![d], 0.02, 0.0, &mut rng);
    }
    add("ln_f.weight".into(), vec![d], 0.1, 1.0, &mut rng);
    add("ln_f.bias".into(), vec![d], 0.02, 0.0, &mut rng);
    safetensors(
        tensors
            .iter()
            .map(|(n, s, v)| {
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (n.as_str(), "F32", s.clone(), bytes)
            })
            .collect(),
    )
}

fn load(file: &[u8]) -> Weights {
    let header = Header::read_from(&mut &file[..]).expect("a safetensors header");
    let body = &file[header.raw().len()..];
    header
        .tensors()
        .iter()
        .map(|t| {
            let bytes = &body[t.start as usize..t.end as usize];
            let v = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (t.name.clone(), v)
        })
        .collect()
}

/// `x (rows × k) · w (k × n) + b`, GPT-2's Conv1D layout.
fn linear(x: &[f32], k: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
    let n = b.len();
    let mut out = Vec::with_capacity(x.len() / k * n);
    for row in x.chunks_exact(k) {
        let mut acc = b.to_vec();
        for (&xi, wrow) in row.iter().zip(w.chunks_exact(n)) {
            for (a, &wv) in acc.iter_mut().zip(wrow) {
                *a += xi * wv;
            }
        }
        out.extend_from_slice(&acc);
    }
    out
}

fn layer_norm(x: &[f32], g: &[f32], b: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(g.len()) {
        let n = row.len() as f32;
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + 1e-5).sqrt();
        out.extend(
            row.iter()
                .zip(g)
                .zip(b)
                .map(|((v, g), b)| (v - mean) * inv * g + b),
        );
    }
    out
}

fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

/// Logits (`tokens × VOCAB`) of one sequence.
fn forward(w: &Weights, tokens: &[usize]) -> Vec<f32> {
    let t = tokens.len();
    let g = |name: &str| {
        w.get(name)
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let (wte, wpe) = (g("wte.weight"), g("wpe.weight"));
    let mut x: Vec<f32> = Vec::with_capacity(t * D);
    for (pos, &tok) in tokens.iter().enumerate() {
        let e = &wte[tok * D..(tok + 1) * D];
        let p = &wpe[pos * D..(pos + 1) * D];
        x.extend(e.iter().zip(p).map(|(a, b)| a + b));
    }
    let hd = D / HEADS;
    for l in 0..LAYERS {
        let p = |s: &str| format!("h.{l}.{s}");
        let h = layer_norm(&x, g(&p("ln_1.weight")), g(&p("ln_1.bias")));
        let qkv = linear(
            &h,
            D,
            g(&p("attn.c_attn.weight")),
            g(&p("attn.c_attn.bias")),
        );
        let mut att = vec![0f32; t * D];
        for head in 0..HEADS {
            for i in 0..t {
                let q = &qkv[i * 3 * D + head * hd..][..hd];
                let scores: Vec<f32> = (0..=i)
                    .map(|j| {
                        let k = &qkv[j * 3 * D + D + head * hd..][..hd];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() / (hd as f32).sqrt()
                    })
                    .collect();
                let m = scores.iter().cloned().fold(f32::MIN, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f32 = e.iter().sum();
                let out = &mut att[i * D + head * hd..][..hd];
                for (j, &ej) in e.iter().enumerate() {
                    let v = &qkv[j * 3 * D + 2 * D + head * hd..][..hd];
                    for (o, &vv) in out.iter_mut().zip(v) {
                        *o += ej / z * vv;
                    }
                }
            }
        }
        let a = linear(
            &att,
            D,
            g(&p("attn.c_proj.weight")),
            g(&p("attn.c_proj.bias")),
        );
        x.iter_mut().zip(&a).for_each(|(x, a)| *x += a);
        let h = layer_norm(&x, g(&p("ln_2.weight")), g(&p("ln_2.bias")));
        let mut f = linear(&h, D, g(&p("mlp.c_fc.weight")), g(&p("mlp.c_fc.bias")));
        f.iter_mut().for_each(|v| *v = gelu(*v));
        let m = linear(
            &f,
            4 * D,
            g(&p("mlp.c_proj.weight")),
            g(&p("mlp.c_proj.bias")),
        );
        x.iter_mut().zip(&m).for_each(|(x, m)| *x += m);
    }
    let h = layer_norm(&x, g("ln_f.weight"), g("ln_f.bias"));
    // Tied head: logits = h · wteᵀ.
    let mut logits = Vec::with_capacity(t * VOCAB);
    for row in h.chunks_exact(D) {
        logits.extend(
            wte.chunks_exact(D)
                .map(|e| row.iter().zip(e).map(|(a, b)| a * b).sum::<f32>()),
        );
    }
    logits
}

/// Mean KL(p‖p̂) of the next-token distributions in nats, relative logit
/// error ‖z − ẑ‖/‖z‖, and top-1 agreement.
fn compare(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f64, f64, f64) {
    let (mut kl, mut n, mut agree, mut e2, mut s2) = (0f64, 0usize, 0usize, 0f64, 0f64);
    for (za, zb) in a.iter().zip(b) {
        for (ra, rb) in za.chunks_exact(VOCAB).zip(zb.chunks_exact(VOCAB)) {
            let lse = |r: &[f32]| {
                let m = r.iter().cloned().fold(f32::MIN, f32::max) as f64;
                m + r.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln()
            };
            let (la, lb) = (lse(ra), lse(rb));
            kl += ra
                .iter()
                .zip(rb)
                .map(|(&x, &y)| {
                    let (lp, lq) = (x as f64 - la, y as f64 - lb);
                    lp.exp() * (lp - lq)
                })
                .sum::<f64>();
            let arg = |r: &[f32]| {
                r.iter()
                    .enumerate()
                    .max_by(|x, y| x.1.total_cmp(y.1))
                    .map(|(i, _)| i)
            };
            agree += usize::from(arg(ra) == arg(rb));
            n += 1;
            for (&x, &y) in ra.iter().zip(rb) {
                e2 += f64::from(x - y).powi(2);
                s2 += f64::from(x).powi(2);
            }
        }
    }
    (kl / n as f64, (e2 / s2).sqrt(), agree as f64 / n as f64)
}

fn main() {
    let file = generate();
    let original = load(&file);
    let mut rng = Rng(99);
    let seqs: Vec<Vec<usize>> = (0..SEQS)
        .map(|_| {
            (0..SEQ_LEN)
                .map(|_| rng.next_u64() as usize % VOCAB)
                .collect()
        })
        .collect();
    let reference: Vec<Vec<f32>> = seqs.iter().map(|s| forward(&original, s)).collect();
    let params: usize = original.values().map(Vec::len).sum();
    println!(
        "## Tied-embedding GPT-2-shaped model ({params} params: vocab {VOCAB}, d {D}, \
         {LAYERS} layers; {SEQS} random sequences of {SEQ_LEN} tokens)\n"
    );
    println!("| bits/weight | allocation | weight SNR dB | logit rel. error | KL nats | top-1 agreement |");
    println!("|---:|---|---:|---:|---:|---:|");
    let variants = [
        ("uniform", Allocation::Uniform, None),
        ("model (tie detected)", Allocation::Model, None),
        ("model, forced untied", Allocation::Model, Some(false)),
    ];
    let mut worst_ratio: f64 = 0.0;
    for bpw in [4.0, 4.5] {
        let mut kls = Vec::new();
        for (label, allocation, tied) in variants {
            let lossy = LossyOptions {
                target: Target::BitsPerWeight(bpw),
                allocation,
                tied_embeddings: tied,
            };
            let mut stz = Vec::new();
            let report = compress_lossy(
                &mut || Ok(&file[..]),
                &mut stz,
                &Options::default(),
                &lossy,
                &|_| {},
            )
            .expect("compress");
            let mut restored = Vec::new();
            decompress(&stz[..], Some(&mut restored), &Options::default(), &|_| {})
                .expect("decompress");
            let w = load(&restored);
            let logits: Vec<Vec<f32>> = seqs.iter().map(|s| forward(&w, s)).collect();
            let (kl, rel, top1) = compare(&reference, &logits);
            println!(
                "| {:.3} | {label} | {:.2} | {rel:.4} | {kl:.2e} | {:.1} % |",
                report.bits_per_weight(),
                report.snr_db().unwrap_or(f64::INFINITY),
                100.0 * top1
            );
            kls.push(kl);
        }
        worst_ratio = worst_ratio.max(kls[1] / kls[0]);
    }
    println!(
        "\nmodel allocation vs uniform, KL ratio (worst rate): {worst_ratio:.3} — {}",
        if worst_ratio <= 1.05 {
            "PASS (no worse than uniform)"
        } else {
            "MISS"
        }
    );
}
