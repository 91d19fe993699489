#!/usr/bin/env python3
"""Generate src/codec/lossless/builtin.rs: the float model's built-in tables.

The float model codes `L - q`, a value's log-magnitude (in eighth octaves,
`L = exponent << 3 | top 3 mantissa bits`) relative to the rounded mean `q`
of `L` over its row and column. For a tensor drawn from a generalized
Gaussian with shape beta (2: Gaussian, 1: Laplace), the distribution of
`L - q` depends only on beta and on `q mod 8` (L's steps are linear within
an octave). These tables are those distributions, computed exactly by
integrating the density over each L bin and averaging over scales spread
log-uniformly across an octave. A chunk can name one instead of sending its
own table, which is what makes rich contexts affordable on small tensors.

Deterministic: pure float arithmetic in numpy; the output is checked in,
so the codec never computes these at run time. Regenerating changes the
format (the tables are part of it).
"""
import sys

import numpy as np
from scipy.special import gammainc

SHAPES = [1.25, 1.6, 2.0, 2.6]   # generalized Gaussian shapes (beta)
PROB_BITS = 15
REL_MIN, REL_MAX = -128, 63      # window of L - q with nonzero frequency
FIRST_REL, BIAS = 2, 400         # symbol = L - q + BIAS + FIRST_REL
SCALES = 256                     # scales per octave averaged over


def gg_cdf(x, beta):
    """P(|X| < x) for X ~ generalized Gaussian(beta), scale 1: the
    regularized lower incomplete gamma P(1/beta, x^beta)."""
    return gammainc(1.0 / beta, np.power(x, beta))


def l_bins(lo, hi):
    """Bounds [a, b) of every L in [lo, hi) for binary32 (exp bias 127)."""
    ls = np.arange(lo, hi)
    e, m = ls >> 3, ls & 7
    a = np.ldexp(1.0 + m / 8.0, e - 127)
    b = np.ldexp(1.0 + (m + 1) / 8.0, e - 127)
    return ls, a, b


def tables(beta):
    acc = np.zeros((8, REL_MAX - REL_MIN + 1))
    ls, a, b = l_bins(8 * 60, 8 * 200)
    for k in range(SCALES):
        sigma = 2.0 ** (-7 + k / SCALES)
        # Large-x tail via 1 - cdf is fine here: probabilities far below
        # 2^-15 are floored anyway.
        p = np.clip(gg_cdf(b / sigma, beta) - gg_cdf(a / sigma, beta), 0, None)
        p /= p.sum()
        q = int(round(float((p * ls).sum())))
        rel = ls - q
        keep = (rel >= REL_MIN) & (rel <= REL_MAX)
        acc[q & 7, rel[keep] - REL_MIN] += p[keep]
    return acc / acc.sum(axis=1, keepdims=True)


def quantize(p):
    """Frequencies summing to 2^PROB_BITS, every window symbol >= 1, and
    one unit each for escape and zero-exponent."""
    total = (1 << PROB_BITS) - 2
    f = np.maximum(1, np.floor(p * total)).astype(np.int64)
    # Give the remainder to the largest fractional parts, deterministically.
    short = total - int(f.sum())
    order = np.lexsort((np.arange(len(p)), -(p * total - np.floor(p * total))))
    i = 0
    while short != 0:
        j = order[i % len(p)]
        if short > 0:
            f[j] += 1
            short -= 1
        elif f[j] > 1:
            f[j] -= 1
            short += 1
        i += 1
    return f


def main(out_path):
    lines = [
        "//! Built-in symbol tables of the float model (see `float.rs`), generated",
        "//! by `scripts/gen_builtin_tables.py`. Part of the `.stz` v1 format: never",
        "//! edit or regenerate for an existing format version.",
        "",
        f"/// Shapes (generalized-Gaussian beta): {SHAPES}.",
        f"pub const SHAPES: usize = {len(SHAPES)};",
        f"/// Precision of every built-in table.",
        f"pub const PROB_BITS: u32 = {PROB_BITS};",
        f"/// First symbol of the window (`L - q = {REL_MIN}`).",
        f"pub const FIRST_SYMBOL: usize = {REL_MIN + BIAS + FIRST_REL};",
        f"/// Window width; symbols 0 (escape) and 1 (zero exponent) have frequency 1.",
        f"pub const WIDTH: usize = {REL_MAX - REL_MIN + 1};",
        "",
        "/// `FREQS[shape][q & 7]`: frequencies of the window's symbols.",
        "pub const FREQS: [[[u16; WIDTH]; 8]; SHAPES] = [",
    ]
    for beta in SHAPES:
        t = tables(beta)
        lines.append(f"    // beta = {beta}")
        lines.append("    [")
        for frac in range(8):
            f = quantize(t[frac])
            assert f.sum() == (1 << PROB_BITS) - 2 and f.min() >= 1
            body = ", ".join(str(int(x)) for x in f)
            lines.append(f"        [{body}],")
        lines.append("    ],")
    lines.append("];")
    with open(out_path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "src/codec/lossless/builtin.rs")
