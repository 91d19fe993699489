//! Orthonormal transforms a lossy chunk may be coded in: a DCT-II or the
//! golden-ratio "RFT", along the rows or down the columns of the chunk, in
//! blocks of at most `block` values (recorded in the chunk; the encoder
//! uses [`DEFAULT_BLOCK`]). The encoder measures whether one
//! codes the chunk in fewer bits than the weights themselves ([`choose`]);
//! most weight matrices are noise-like and stay untransformed.
//!
//! Orthonormal means the squared error of the quantized coefficients is the
//! squared error of the weights, so the quantizer step keeps its meaning
//! and rate control needs no change.
//!
//! Decoding must give the same bytes on every platform. FFT libraries
//! choose different algorithms per CPU (AVX, wasm SIMD, scalar) and take
//! their twiddles from the platform's `sin`/`cos`, so their results differ
//! in the last bit. Here a block is a product with a basis matrix whose
//! entries come from `libm`, each sum taken in a fixed order (no FMA, no
//! reassociation): O(B) per value, cheap at B = 64 for the few chunks
//! that choose a transform (longer blocks gained nothing measurable on
//! MiniLM and cost proportionally more). `tests/transform_reference.rs`
//! checks both against their FFT forms computed with `rustfft`.

mod basis;
mod choose;

pub use basis::Family;
pub use choose::choose;

use basis::Basis;

/// Longest block the encoder cuts a line into.
pub const DEFAULT_BLOCK: usize = 64;
/// Longest block a decoder accepts: bounds its work per value.
pub const MAX_BLOCK: usize = 1024;

/// Which way the lines run through a chunk of `rows × row_len` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Down each column (across rows): axis 0 of the tensor.
    Columns,
    /// Along each row: the last axis of the tensor.
    Rows,
}

/// A transform as recorded in a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform {
    pub family: Family,
    pub axis: Axis,
    /// Longest block a line is cut into (2..=[`MAX_BLOCK`]).
    pub block: usize,
}

impl Transform {
    pub const ALL: [Transform; 4] = [
        Transform::new(Family::Dct, Axis::Columns),
        Transform::new(Family::Dct, Axis::Rows),
        Transform::new(Family::Rft, Axis::Columns),
        Transform::new(Family::Rft, Axis::Rows),
    ];

    /// With the encoder's block length.
    pub const fn new(family: Family, axis: Axis) -> Transform {
        Transform {
            family,
            axis,
            block: DEFAULT_BLOCK,
        }
    }

    /// Its byte in the chunk body and in the tensor record (1..=4).
    pub fn code(self) -> u8 {
        match (self.family, self.axis) {
            (Family::Dct, Axis::Columns) => 1,
            (Family::Dct, Axis::Rows) => 2,
            (Family::Rft, Axis::Columns) => 3,
            (Family::Rft, Axis::Rows) => 4,
        }
    }

    /// The transform of a code, with the encoder's block length.
    pub fn from_code(code: u8) -> Option<Transform> {
        Transform::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Short name for reports: `dct-0` is a DCT down the columns (tensor
    /// axis 0), `dct-1` along the rows (the last axis).
    pub fn name(self) -> &'static str {
        match self.code() {
            1 => "dct-0",
            2 => "dct-1",
            3 => "rft-0",
            _ => "rft-1",
        }
    }
}

/// Cuts a line of `len` values into `⌈len / max⌉` blocks of equal size
/// (the first ones one longer): `(start, size)` pairs.
pub fn blocks(len: usize, max: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = len.div_ceil(max.max(1)).max(1);
    let (base, extra) = (len / count, len % count);
    (0..count).scan(0, move |start, i| {
        let size = base + usize::from(i < extra);
        let at = *start;
        *start += size;
        Some((at, size))
    })
}

/// The (at most two) bases a line of `len` needs.
struct Bases {
    family: Family,
    bases: Vec<Basis>,
}

impl Bases {
    fn new(family: Family) -> Bases {
        Bases {
            family,
            bases: Vec::new(),
        }
    }

    fn get(&mut self, size: usize) -> &Basis {
        let at = match self.bases.iter().position(|b| b.size == size) {
            Some(at) => at,
            None => {
                self.bases.push(Basis::new(self.family, size));
                self.bases.len() - 1
            }
        };
        &self.bases[at]
    }
}

/// Coefficients of `values` (`rows × row_len`, row-major); `None` when the
/// values are not whole rows.
pub fn forward(t: Transform, values: &[f64], row_len: usize) -> Option<Vec<f64>> {
    apply(Pass::new(t, values, row_len, false, 1))
}

/// Values from `coeffs`, undoing [`forward`].
pub fn inverse(t: Transform, coeffs: &[f64], row_len: usize) -> Option<Vec<f64>> {
    apply(Pass::new(t, coeffs, row_len, true, 1))
}

/// Rows `0, every, 2·every, …` of [`forward`]'s coefficients, the same
/// bits, one after another: what a row sample of the coefficients needs,
/// at `1/every` of the work.
pub fn forward_rows(
    t: Transform,
    values: &[f64],
    row_len: usize,
    every: usize,
) -> Option<Vec<f64>> {
    apply(Pass::new(t, values, row_len, false, every.max(1)))
}

/// `y += m · x`, given `mt` = mᵀ (row-major, `x.len()` square): as
/// Σ_n x[n] · mᵀ[n][..], so each output accumulates over n in order and
/// the inner loop runs over contiguous outputs (vectorizable).
#[inline(always)]
fn add_product(mt: &[f64], x: &[f64], y: &mut [f64]) {
    for (&xn, mrow) in x.iter().zip(mt.chunks_exact(x.len().max(1))) {
        for (yk, &m) in y.iter_mut().zip(mrow) {
            *yk += xn * m;
        }
    }
}

/// One run of a transform over a chunk: which, over what, which way, and
/// which output rows (`r % every == 0`).
#[derive(Clone, Copy)]
struct Pass<'a> {
    t: Transform,
    input: &'a [f64],
    row_len: usize,
    inverse: bool,
    every: usize,
}

impl<'a> Pass<'a> {
    fn new(t: Transform, input: &'a [f64], row_len: usize, inverse: bool, every: usize) -> Self {
        Pass {
            t,
            input,
            row_len,
            inverse,
            every,
        }
    }
}

fn apply(p: Pass) -> Option<Vec<f64>> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { apply_avx2(p) };
    }
    apply_portable(p)
}

/// [`apply`] compiled for AVX2: four lanes of the same IEEE multiplies and
/// adds, each output summed in the same order, so the same bits as the
/// portable build (AVX2 brings no FMA, which would round once instead of
/// twice). Twice as fast where a transform is chosen.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn apply_avx2(p: Pass) -> Option<Vec<f64>> {
    apply_portable(p)
}

#[inline(always)]
fn apply_portable(p: Pass) -> Option<Vec<f64>> {
    let Pass {
        t,
        input,
        row_len,
        inverse,
        every,
    } = p;
    if row_len == 0 || input.len() % row_len != 0 || every == 0 {
        return None;
    }
    let rows = input.len() / row_len;
    let mut out = vec![0.0; rows.div_ceil(every) * row_len];
    let mut bases = Bases::new(t.family);
    match t.axis {
        Axis::Rows => {
            for (start, size) in blocks(row_len, t.block) {
                let b = bases.get(size);
                let mt = if inverse { &b.forward } else { &b.inverse };
                for (irow, orow) in input
                    .chunks_exact(row_len)
                    .step_by(every)
                    .zip(out.chunks_exact_mut(row_len))
                {
                    let (Some(x), Some(y)) = (
                        irow.get(start..start + size),
                        orow.get_mut(start..start + size),
                    ) else {
                        continue;
                    };
                    add_product(mt, x, y);
                }
            }
        }
        Axis::Columns => {
            for (start, size) in blocks(rows, t.block) {
                let b = bases.get(size);
                let m = if inverse { &b.inverse } else { &b.forward };
                let Some(x) = input.get(start * row_len..(start + size) * row_len) else {
                    continue;
                };
                // Row k of the output block is Σ_n m[k][n] · row n (kept
                // when its row of the chunk, start + k, is one in `every`).
                for (k, mrow) in m.chunks_exact(size).enumerate() {
                    let r = start + k;
                    if r % every != 0 {
                        continue;
                    }
                    let at = r / every * row_len;
                    let Some(yrow) = out.get_mut(at..at + row_len) else {
                        continue;
                    };
                    for (xrow, &mkn) in x.chunks_exact(row_len).zip(mrow) {
                        for (yj, &xj) in yrow.iter_mut().zip(xrow) {
                            *yj += mkn * xj;
                        }
                    }
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_rng::Rng;

    #[test]
    fn blocks_cover_the_line_evenly() {
        assert_eq!(blocks(10, 256).collect::<Vec<_>>(), [(0, 10)]);
        assert_eq!(blocks(256, 256).collect::<Vec<_>>(), [(0, 256)]);
        assert_eq!(blocks(257, 256).collect::<Vec<_>>(), [(0, 129), (129, 128)]);
        assert_eq!(
            blocks(1000, 256).collect::<Vec<_>>(),
            [(0, 250), (250, 250), (500, 250), (750, 250)]
        );
        assert_eq!(
            blocks(130, 64).collect::<Vec<_>>(),
            [(0, 44), (44, 43), (87, 43)]
        );
        assert_eq!(blocks(0, 64).collect::<Vec<_>>(), [(0, 0)]);
    }

    #[test]
    fn codes_round_trip() {
        for t in Transform::ALL {
            assert_eq!(Transform::from_code(t.code()), Some(t));
        }
        assert_eq!(Transform::from_code(0), None);
        assert_eq!(Transform::from_code(5), None);
    }

    /// The AVX2 build gives the portable build's bits, both ways, on
    /// shapes with one block, blocks of two sizes, and odd lengths.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_build_gives_the_same_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Rng(8);
        for (rows, row_len) in [(1, 300), (7, 5), (300, 3), (130, 70)] {
            let x: Vec<f64> = (0..rows * row_len).map(|_| rng.gauss()).collect();
            let long = Transform::ALL.map(|t| Transform { block: 256, ..t });
            for t in Transform::ALL.into_iter().chain(long) {
                for (inverse, every) in [(false, 1), (true, 1), (false, 3)] {
                    let pass = Pass::new(t, &x, row_len, inverse, every);
                    // SAFETY: the CPU has AVX2 (checked above).
                    let fast = unsafe { apply_avx2(pass) }.unwrap();
                    let portable = apply_portable(pass).unwrap();
                    let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&fast), bits(&portable), "{t:?} {rows}×{row_len}");
                }
            }
        }
    }

    /// A row sample of the coefficients is those rows of the whole
    /// transform, bit for bit, along either axis.
    #[test]
    fn forward_rows_are_rows_of_forward() {
        let mut rng = Rng(9);
        for (rows, row_len) in [(1, 300), (7, 5), (300, 3), (513, 9), (130, 70)] {
            let v: Vec<f64> = (0..rows * row_len).map(|_| rng.gauss()).collect();
            for t in Transform::ALL {
                let all = forward(t, &v, row_len).unwrap();
                for every in [1, 2, 3, 7, 64, 1000] {
                    let some = forward_rows(t, &v, row_len, every).unwrap();
                    let want: Vec<u64> = all
                        .chunks(row_len)
                        .step_by(every)
                        .flatten()
                        .map(|x| x.to_bits())
                        .collect();
                    let got: Vec<u64> = some.iter().map(|x| x.to_bits()).collect();
                    assert_eq!(got, want, "{t:?}, {rows}×{row_len}, every {every}");
                }
            }
        }
        assert_eq!(forward_rows(Transform::ALL[0], &[1.0; 6], 4, 2), None);
    }

    /// Forward then inverse gives the values back to rounding, on shapes
    /// with one block, several blocks of two sizes, and odd block lengths.
    #[test]
    fn inverse_undoes_forward() {
        let mut rng = Rng(7);
        for (rows, row_len) in [(1, 300), (7, 5), (300, 3), (513, 9), (40, 600)] {
            let x: Vec<f64> = (0..rows * row_len).map(|_| rng.gauss()).collect();
            let long = Transform::ALL.map(|t| Transform { block: 256, ..t });
            for t in Transform::ALL.into_iter().chain(long) {
                let y = forward(t, &x, row_len).unwrap();
                let e: f64 = x.iter().map(|v| v * v).sum();
                let ey: f64 = y.iter().map(|v| v * v).sum();
                assert!((e - ey).abs() < 1e-9 * e, "{t:?} keeps the energy");
                let back = inverse(t, &y, row_len).unwrap();
                for (a, b) in x.iter().zip(&back) {
                    assert!((a - b).abs() < 1e-12, "{t:?} {rows}×{row_len}");
                }
            }
        }
        assert!(forward(Transform::ALL[0], &[1.0; 7], 2).is_none());
    }
}
