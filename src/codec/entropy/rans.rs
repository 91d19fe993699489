//! Interleaved static rANS: 32-bit states, 16-bit renormalisation words,
//! `N` lanes (symbol `i` is coded by lane `i % N`), after Fabian Giesen's
//! ryg_rans. Streams have [`LANES`] lanes unless a format says otherwise:
//! [`WIDE_LANES`] lanes give a SIMD decoder independent lane vectors to
//! overlap. See the `codec::entropy` module docs for the format.

use std::cell::Cell;

use super::table::FreqTable;
use crate::error::{Error, Result};

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Number of interleaved rANS states of a default stream.
pub const LANES: usize = 8;
/// Lanes of a wide stream: four 8-lane vectors whose table lookups
/// (gathers) overlap, where one vector would wait on each in turn.
pub const WIDE_LANES: usize = 32;
/// Lower bound of the normalized state interval `[L, L << 16)`.
pub const RANS_L: u32 = 1 << 16;

/// Per-symbol encoder constants (division-free encoding).
#[derive(Debug, Clone, Copy, Default)]
pub struct EncSym {
    /// Renormalize (emit a word) while `x > x_max_m1`, i.e. `x >= x_max`
    /// with `x_max = 2^(32-prob_bits) * freq` (which may be 2^32).
    x_max_m1: u32,
    /// Low 32 bits of `ceil(2^(32+shift) / freq)`; the high part is always 1.
    rcp_lo: u32,
    start: u32,
    /// `M - freq`.
    cmpl: u32,
    /// `ceil(log2(freq))`.
    shift: u32,
}

/// Encoder view of a [`FreqTable`].
#[derive(Debug, Clone)]
pub struct EncTable {
    syms: Vec<EncSym>,
    freqs: Vec<u32>,
}

impl EncTable {
    pub fn new(t: &FreqTable) -> EncTable {
        let pb = t.prob_bits();
        let m = 1u32 << pb;
        let mut start = 0u32;
        let mut syms = Vec::with_capacity(t.alphabet_size());
        for &f in t.freqs() {
            let e = if f == 0 {
                EncSym::default()
            } else {
                let shift = 32 - (f - 1).leading_zeros(); // ceil(log2 f), 0 for f=1
                                                          // rcp = ceil(2^(32+shift)/f) lies in [2^32, 2^33).
                let num = 1u64 << (32 + shift);
                let rcp = num.div_ceil(u64::from(f));
                let x_max = (u64::from(RANS_L >> pb) << 16) * u64::from(f);
                EncSym {
                    x_max_m1: (x_max - 1) as u32,
                    rcp_lo: rcp as u32,
                    start,
                    cmpl: m - f,
                    shift,
                }
            };
            syms.push(e);
            start += f;
        }
        EncTable {
            syms,
            freqs: t.freqs().to_vec(),
        }
    }
}

impl EncSym {
    /// False for the entries of zero-frequency symbols (all fields zero): a
    /// coded symbol always has `x_max >= 2^16`.
    #[inline(always)]
    fn is_coded(&self) -> bool {
        self.x_max_m1 != 0
    }
}

impl EncTable {
    /// A table with no symbols: any use of it is an error.
    pub fn empty() -> EncTable {
        EncTable {
            syms: Vec::new(),
            freqs: Vec::new(),
        }
    }
}

impl From<&FreqTable> for EncTable {
    fn from(t: &FreqTable) -> Self {
        EncTable::new(t)
    }
}

/// Records symbols in forward order and rANS-encodes them in reverse on
/// [`RansEncoder::finish`]. Each symbol keeps a reference to its table
/// entry, so tables must outlive the encoder; any table may be used for
/// any symbol (context modelling).
#[derive(Debug, Default)]
pub struct RansEncoder<'a> {
    syms: Vec<&'a EncSym>,
}

impl<'a> RansEncoder<'a> {
    pub fn new() -> Self {
        RansEncoder { syms: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        RansEncoder {
            syms: Vec::with_capacity(n),
        }
    }

    /// Number of symbols recorded.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// Records `sym` coded with `table`.
    ///
    /// # Panics
    /// If `sym` is outside the table's alphabet or has frequency 0: the
    /// table must come from counts that include every coded symbol.
    #[inline]
    pub fn put(&mut self, table: &'a EncTable, sym: u16) {
        let s = sym as usize;
        let ok = table.freqs.get(s).is_some_and(|&f| f > 0);
        assert!(ok, "rANS: symbol {sym} has zero frequency in its table");
        if let Some(e) = table.syms.get(s) {
            self.syms.push(e);
        }
    }

    /// Encodes everything recorded and returns the self-contained stream:
    /// `LANES` final states (u32 LE) followed by the 16-bit words (LE) in
    /// the order the decoder consumes them.
    pub fn finish(self) -> Vec<u8> {
        let syms = self.syms;
        encode_reverse::<LANES, _>(syms.len(), |i| syms.get(i).copied())
            .map_or_else(Vec::new, |s| s.to_bytes())
    }
}

/// Encodes symbol `idx[i] % stride` with table `idx[i] / stride` for
/// every `i` into an `N`-lane stream: with `N` = [`LANES`], the same stream
/// as [`RansEncoder`] fed the same pairs, without recording them first.
/// Context and symbol packed in one index make one array to write and
/// read, and one table lookup per symbol. Errors if an index names a
/// symbol without a frequency.
///
/// With AVX2 (detected at run time), 8 lanes at a time: the same stream.
pub fn encode_indexed<const N: usize>(
    tables: &[EncTable],
    stride: usize,
    idx: &[u16],
) -> Result<RansStream<N>> {
    #[cfg(target_arch = "x86_64")]
    if N.is_multiple_of(8)
        && N <= WIDE_LANES
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the CPU has AVX2 and POPCNT; N is a multiple of 8 up to 32.
        return unsafe { avx2::encode_indexed::<N>(tables, stride, idx) }.ok_or(UNCODED);
    }
    encode_indexed_portable(tables, stride, idx)
}

/// The error of an index naming a symbol without a frequency.
const UNCODED: Error = Error::EntropyStreamCorrupt("symbol without a frequency in its table");

/// [`encode_indexed`] in scalar code: on wasm and CPUs without AVX2, and
/// the reference the AVX2 encoder is tested against.
fn encode_indexed_portable<const N: usize>(
    tables: &[EncTable],
    stride: usize,
    idx: &[u16],
) -> Result<RansStream<N>> {
    let mut flat = vec![EncSym::default(); tables.len() * stride];
    for (row, t) in flat.chunks_exact_mut(stride).zip(tables) {
        for (d, e) in row.iter_mut().zip(&t.syms) {
            *d = *e;
        }
    }
    encode_reverse(idx.len(), |i| {
        flat.get(usize::from(*idx.get(i)?)).filter(|e| e.is_coded())
    })
    .ok_or(UNCODED)
}

/// A coded `N`-lane rANS stream: the final lane states and the
/// renormalisation words in the order the encoder emitted them (the decoder
/// reads them backwards). Appended to a payload in place, without an extra
/// copy.
#[derive(Debug)]
pub struct RansStream<const N: usize = LANES> {
    states: [u32; N],
    words: Vec<u16>,
}

impl<const N: usize> RansStream<N> {
    /// Length in bytes of the stream as laid out by [`RansStream::append_to`].
    pub fn len(&self) -> usize {
        4 * N + 2 * self.words.len()
    }

    /// Always false: the states are always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Lays out the stream: `N` final states (u32 LE), then the 16-bit
    /// words (LE) in the order the decoder consumes them.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.len());
        for s in self.states {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out.extend(self.words.iter().rev().flat_map(|w| w.to_le_bytes()));
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.append_to(&mut out);
        out
    }
}

/// The rANS core: encodes symbols `n-1` down to `0` (`sym_at(i)`, `None`
/// aborts) into `N` lanes.
#[inline(always)]
fn encode_reverse<'e, const N: usize, S: Fn(usize) -> Option<&'e EncSym>>(
    n: usize,
    sym_at: S,
) -> Option<RansStream<N>> {
    let mut states = [RANS_L; N];
    // At most one word per symbol: write unconditionally, advance `nw`
    // only when renormalising (branchless; the branch is unpredictable).
    let mut words: Vec<u16> = vec![0; n + 1];
    let mut nw = 0usize;
    let put = |x: &mut u32, e: &EncSym, words: &mut [u16], nw: &mut usize| {
        let s = *x;
        let renorm = s > e.x_max_m1;
        if let Some(slot) = words.get_mut(*nw) {
            *slot = s as u16;
        }
        *nw += usize::from(renorm);
        let s = if renorm { s >> 16 } else { s };
        // q = floor(s / freq), exact for all s < 2^32.
        let q = (((u64::from(s) * u64::from(e.rcp_lo)) >> 32) + u64::from(s)) >> e.shift;
        *x = s + e.start + (q as u32) * e.cmpl;
    };
    // Tail (lanes beyond the last full group) first, then full groups.
    let full = n - n % N;
    for (i, x) in (full..n).zip(&mut states).rev() {
        put(x, sym_at(i)?, &mut words, &mut nw);
    }
    for g in (0..full / N).rev() {
        let base = g * N;
        // A constant trip count: the loop unrolls, lane indices become
        // constants (and 8 states stay in registers).
        for (l, x) in states.iter_mut().enumerate().rev() {
            put(x, sym_at(base + l)?, &mut words, &mut nw);
        }
    }
    words.truncate(nw);
    Some(RansStream { states, words })
}

/// Decoder view of a [`FreqTable`]: `slot_sym[state & mask]` is the symbol
/// (2 bytes per slot: 32 KiB at prob_bits 14, L1-resident), then
/// `sym_info[symbol] = freq | start << 16` (tiny). Smaller than one packed
/// 8-byte entry per slot, which matters when several tables alternate.
#[derive(Debug, Clone)]
pub struct DecTable {
    slot_sym: Vec<u16>,
    sym_info: Vec<u32>,
    mask: u32,
    prob_bits: u32,
}

impl DecTable {
    pub fn new(t: &FreqTable) -> DecTable {
        let pb = t.prob_bits();
        let mut slot_sym = Vec::with_capacity(1 << pb);
        let mut sym_info = Vec::with_capacity(t.alphabet_size());
        let mut start = 0u32;
        for (s, &f) in t.freqs().iter().enumerate() {
            slot_sym.resize(slot_sym.len() + f as usize, s as u16);
            sym_info.push(f | (start << 16));
            start += f;
        }
        // FreqTable guarantees the sum is exactly 1 << pb; keep the
        // invariant `len == 1 << pb` regardless.
        slot_sym.resize(1 << pb, 0);
        DecTable {
            slot_sym,
            sym_info,
            mask: (1 << pb) - 1,
            prob_bits: pb,
        }
    }
}

impl From<&FreqTable> for DecTable {
    fn from(t: &FreqTable) -> Self {
        DecTable::new(t)
    }
}

/// Tables a run of symbols is decoded with, chosen per symbol by a context
/// byte: one lane step, and optionally whole groups of lanes by a faster
/// path that gives the same symbols.
pub trait ContextTables<const N: usize> {
    /// One symbol of lane state `x` with context `ctx`; a renormalisation
    /// takes `words[*pos]` (zero past the end) and advances `pos`.
    fn step(&self, ctx: u8, x: &mut u32, pos: &mut usize, words: &[u16]) -> u16;

    /// Decodes whole groups of `N` symbols from lane 0, updating the
    /// decoder's states and position; returns the symbols done (a multiple
    /// of `N`, possibly 0: the lane steps do the rest).
    fn groups(&self, _dec: &mut RansDecoder<'_, N>, _ctxs: &[u8], _out: &mut [u16]) -> usize {
        0
    }
}

/// Table `ctx % C`.
impl<const C: usize, const N: usize> ContextTables<N> for [DecTable; C] {
    #[inline(always)]
    fn step(&self, ctx: u8, x: &mut u32, pos: &mut usize, words: &[u16]) -> u16 {
        match self.get(usize::from(ctx) % C) {
            Some(t) => decode_step(t, x, pos, words),
            None => 0,
        }
    }
}

/// One symbol of one lane.
#[inline(always)]
fn decode_step(t: &DecTable, x: &mut u32, pos: &mut usize, words: &[u16]) -> u16 {
    let slot = *x & t.mask;
    let sym = t.slot_sym.get(slot as usize).copied().unwrap_or(0);
    let info = t.sym_info.get(usize::from(sym)).copied().unwrap_or(0);
    advance(x, slot, t.prob_bits, info, pos, words);
    sym
}

/// The state update once a lane's symbol is known (`info` = `freq | start
/// << 16`, `slot` = the state's low `prob_bits` bits), and the branchless
/// renormalisation: what every table layout's lane step shares.
#[inline(always)]
pub(super) fn advance(
    x: &mut u32,
    slot: u32,
    prob_bits: u32,
    info: u32,
    pos: &mut usize,
    words: &[u16],
) {
    let y = (info & 0xffff)
        .wrapping_mul(*x >> prob_bits)
        .wrapping_add(slot.wrapping_sub(info >> 16));
    // Renormalisation is taken ~bits/16 of the time, i.e. unpredictably:
    // always fetch the next word and select with a cmov.
    let w = u32::from(words.get(*pos).copied().unwrap_or(0));
    let renorm = y < RANS_L;
    *x = if renorm { (y << 16) | w } else { y };
    *pos += usize::from(renorm);
}

/// The per-symbol work of [`RansDecoder::steps`]: a trait rather than a
/// closure so that implementations can be `#[inline(always)]` (a closure
/// with a lossy value's worth of work was called, not inlined).
pub trait LaneSteps {
    /// Symbol `i`: find it from `lane`'s state and move the lane past it.
    fn step(&mut self, i: usize, lane: Lane<'_>);
}

/// One lane's turn in [`RansDecoder::steps`]: its state, to find the
/// symbol, and what moving past the symbol needs.
pub struct Lane<'s> {
    pub(super) x: &'s mut u32,
    pub(super) pos: &'s mut usize,
    pub(super) words: &'s [u16],
}

impl<'s> Lane<'s> {
    #[inline(always)]
    fn new(x: &'s mut u32, pos: &'s mut usize, words: &'s [u16]) -> Self {
        Lane { x, pos, words }
    }

    /// The lane's state.
    #[inline(always)]
    pub fn state(&self) -> u32 {
        *self.x
    }
}

/// Zero words kept after a stream's last word: a SIMD step loads 8 words
/// at a time, up to a whole wide group of steps before it checks the
/// position again (`finish` still compares against the real length).
pub(super) const WORD_PAD: usize = WIDE_LANES;

thread_local! {
    /// The word buffer of this thread's last dropped decoder, for its next
    /// one: a fresh megabyte-sized buffer per chunk cost page faults and
    /// zeroing that showed beside the decoder. At most one chunk's words.
    static SPARE_WORDS: Cell<Vec<u16>> = const { Cell::new(Vec::new()) };
}

/// Decodes an `N`-lane stream made by [`RansEncoder::finish`] (`N` =
/// [`LANES`]) or [`encode_indexed`]. The caller must call
/// [`RansDecoder::get`] with the same table sequence, in the same order,
/// as was used with [`RansEncoder::put`]; then [`RansDecoder::finish`]
/// verifies the stream was consumed exactly.
#[derive(Debug, Clone)]
pub struct RansDecoder<'a, const N: usize = LANES> {
    pub(super) states: [u32; N],
    /// Lane of the next symbol.
    pub(super) lane: usize,
    /// The renormalisation words, decoded once up front (cheaper per symbol
    /// than re-checking byte bounds), then [`WORD_PAD`] zeros.
    pub(super) words: Vec<u16>,
    /// Words in the stream.
    pub(super) len: usize,
    /// Index of the next word; passes `len` on overrun.
    pub(super) pos: usize,
    _input: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> RansDecoder<'a> {
    /// A decoder of a [`LANES`]-lane stream; errors if `bytes` is too short
    /// for the states or has odd length.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        Self::with_lanes(bytes)
    }
}

impl<'a, const N: usize> RansDecoder<'a, N> {
    /// A decoder of an `N`-lane stream; errors if `bytes` is too short for
    /// the states or has odd length.
    pub fn with_lanes(bytes: &'a [u8]) -> Result<Self> {
        let (head, rest) = bytes
            .split_at_checked(4 * N)
            .ok_or(Error::EntropyStreamCorrupt(
                "rANS stream shorter than its states",
            ))?;
        if rest.len() % 2 != 0 {
            return Err(Error::EntropyStreamCorrupt("rANS stream has odd length"));
        }
        let mut states = [0u32; N];
        for (s, c) in states.iter_mut().zip(head.chunks_exact(4)) {
            *s = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        let len = rest.len() / 2;
        // Zeros, then the words over them: a loop the compiler turns into
        // a copy (collecting from an iterator went a word at a time). The
        // buffer is this thread's previous decoder's, if it had one.
        let mut words = SPARE_WORDS.try_with(Cell::take).unwrap_or_default();
        words.clear();
        words.resize(len + WORD_PAD, 0);
        for (w, c) in words.iter_mut().zip(rest.chunks_exact(2)) {
            *w = u16::from_le_bytes([c[0], c[1]]);
        }
        Ok(RansDecoder {
            states,
            lane: 0,
            words,
            len,
            pos: 0,
            _input: std::marker::PhantomData,
        })
    }

    /// Decodes the next symbol with `table`. Never panics: on corrupt input
    /// it returns some symbol of the table and `finish` reports the error.
    #[inline(always)]
    pub fn get(&mut self, table: &DecTable) -> u16 {
        self.get_ctx(std::array::from_ref(table), 0)
    }

    /// Decodes the next symbol with context `ctx` of `tables`.
    #[inline(always)]
    pub fn get_ctx<T: ContextTables<N>>(&mut self, tables: &T, ctx: u8) -> u16 {
        let lane = self.lane % N;
        let mut pos = self.pos;
        let sym = match self.states.get_mut(lane) {
            Some(x) => tables.step(ctx, x, &mut pos, &self.words),
            None => 0,
        };
        self.pos = pos;
        self.lane = lane + 1;
        sym
    }

    /// Decodes `out.len()` symbols, symbol `k` with context `ctxs[k]`: the
    /// same as calling [`RansDecoder::get_ctx`] for each, but whole groups
    /// of `N` symbols run together (the tables' faster path first, if they
    /// have one), so the lanes' dependency chains overlap.
    pub fn get_many<T: ContextTables<N>>(&mut self, tables: &T, ctxs: &[u8], out: &mut [u16]) {
        let n = ctxs.len().min(out.len());
        let (ctxs, out) = (&ctxs[..n], &mut out[..n]);
        let head = ((N - self.lane % N) % N).min(n);
        let (ctx_head, ctxs) = ctxs.split_at(head);
        let (out_head, out) = out.split_at_mut(head);
        for (o, &c) in out_head.iter_mut().zip(ctx_head) {
            *o = self.get_ctx(tables, c);
        }
        let fast = tables.groups(self, ctxs, out);
        let mut done = fast - fast % N;
        let mut st = self.states;
        let mut pos = self.pos;
        let words = self.words.as_slice();
        let rest = ctxs.get(done..).unwrap_or(&[]);
        let rest_out = out.get_mut(done..).unwrap_or(&mut []);
        for (cg, og) in rest.chunks_exact(N).zip(rest_out.chunks_exact_mut(N)) {
            // A constant trip count: the loop unrolls, lane indices become
            // constants (and 8 states stay in registers).
            for ((o, &c), x) in og.iter_mut().zip(cg).zip(st.iter_mut()) {
                *o = tables.step(c, x, &mut pos, words);
            }
            done += N;
        }
        self.states = st;
        self.pos = pos;
        self.lane = (self.lane + done) % N;
        let tail = ctxs.get(done..).unwrap_or(&[]);
        for (o, &c) in out.iter_mut().skip(done).zip(tail) {
            *o = self.get_ctx(tables, c);
        }
    }

    /// Runs `n` lane steps in stream order, `f.step(i, lane)` for step `i`:
    /// for decoders whose table choice hangs on earlier symbols, so that
    /// they cannot hand [`RansDecoder::get_many`] their contexts up front.
    /// Whole groups of `N` steps run from lane 0 over a local copy of the
    /// states.
    #[inline(always)]
    pub fn steps<F: LaneSteps>(&mut self, n: usize, f: &mut F) {
        let words = self.words.as_slice();
        let mut pos = self.pos;
        let mut st = self.states;
        let first = self.lane % N;
        // Lanes before the next group, then whole groups, then the rest.
        let head = ((N - first) % N).min(n);
        for (i, x) in st.iter_mut().skip(first).take(head).enumerate() {
            f.step(i, Lane::new(x, &mut pos, words));
        }
        let mut i = head;
        while n - i >= N {
            for (l, x) in st.iter_mut().enumerate() {
                f.step(i + l, Lane::new(x, &mut pos, words));
            }
            i += N;
        }
        for (l, x) in st.iter_mut().take(n - i).enumerate() {
            f.step(i + l, Lane::new(x, &mut pos, words));
        }
        self.states = st;
        self.pos = pos;
        self.lane = (first + n) % N;
    }

    /// Checks the whole stream was consumed (no overrun, no trailing words)
    /// and every lane returned to its initial state.
    pub fn finish(&self) -> Result<()> {
        if self.pos > self.len {
            return Err(Error::EntropyStreamCorrupt("rANS stream truncated"));
        }
        if self.pos < self.len {
            return Err(Error::EntropyStreamCorrupt("rANS stream has trailing data"));
        }
        if self.states.iter().any(|&s| s != RANS_L) {
            return Err(Error::EntropyStreamCorrupt("rANS final state mismatch"));
        }
        Ok(())
    }
}

impl<const N: usize> Drop for RansDecoder<'_, N> {
    /// Keeps the larger of this decoder's and the spare word buffer.
    fn drop(&mut self) {
        let mine = std::mem::take(&mut self.words);
        let _ = SPARE_WORDS.try_with(|spare| {
            let old = spare.take();
            spare.set(if mine.capacity() >= old.capacity() {
                mine
            } else {
                old
            });
        });
    }
}
