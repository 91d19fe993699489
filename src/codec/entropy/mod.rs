//! Table-driven entropy coding (static rANS) plus raw bit fields.
//!
//! Pieces, bottom up:
//! - [`FreqTable`]: a static model (frequencies summing to `2^prob_bits`,
//!   `prob_bits` in 10..=15, alphabet up to 4096), built cost-optimally from
//!   counts, with an exact [`FreqTable::cost_bits`] to choose between models
//!   and a compact serialization (tables travel with every chunk).
//! - [`RansEncoder`] / [`RansDecoder`]: interleaved rANS with any table per
//!   symbol. **Contract:** the decoder must be driven with the same sequence
//!   of tables, symbol by symbol, as the encoder was; `finish` then checks
//!   the stream was consumed exactly and the states came back to the start.
//! - [`FlatTables`]: context tables in one layout, for decoding
//!   [`WIDE_LANES`]-lane streams (AVX2 where the CPU has it), and for
//!   decoders that look a lane's state up in two contexts before they know
//!   which applies ([`RansDecoder::steps`]).
//! - [`BitWriter`] / [`BitReader`]: uniform bit fields (mantissa bits etc.).
//! - [`encode_bytes`] / [`encode_symbols`]: self-describing streams choosing
//!   constant, raw or order-0 rANS.
//!
//! Nothing here panics on corrupt input: decoders feed zeros past the end
//! and report problems from `finish` / as `Err`.
//!
//! # Stream formats (all integers little-endian)
//!
//! **Bit fields** ([`BitWriter`]): bit `k` of the stream is bit `k % 8` of
//! byte `k / 8`; an `n`-bit field takes the next `n` bits, LSB first; the
//! last byte is zero padded. `gamma(v)` (v >= 1, `n` = bit length of v) is
//! `n-1` zero bits, a one bit, then the low `n-1` bits of `v` as a field.
//!
//! **FreqTable** (bit fields, padded to a byte):
//! 1. 12 bits `alphabet_size - 1`; 3 bits `prob_bits - 10` (0..=5 valid).
//! 2. `gamma(used)`: number of symbols with nonzero frequency (>= 1).
//! 3. For each used symbol in increasing order:
//!    - unless `used == alphabet_size`: `gamma(gap + 1)`, `gap` = number of
//!      unused symbols since the previous used one (or since symbol 0);
//!    - except for the last used symbol, whose frequency is
//!      `2^prob_bits - sum(others)` (must be >= 1): the frequency `f` as
//!      `len` = bit length of f (1..=16), sent as `gamma(zigzag(len -
//!      prev_len) + 1)` with `prev_len` starting at 8 and `zigzag(d) = 2d`
//!      for d >= 0, `-2d - 1` otherwise; then the low `len - 1` bits of f.
//!
//! **rANS stream** ([`RansEncoder::finish`], [`encode_indexed`]): `N` u32
//! final encoder states (`N` = [`LANES`] = 8, or [`WIDE_LANES`] = 32 where a
//! format says so), then u16 words in decoding order; nothing else (the
//! container frames its length). Decoding symbol `i` uses lane `i % N`,
//! state `x`, table `(M = 2^prob_bits, freq, start)`:
//! `slot = x & (M-1)`; `s` = symbol whose `[start, start+freq)` holds slot;
//! `x = freq * (x >> prob_bits) + slot - start`; if `x < 2^16`:
//! `x = (x << 16) | next_word`. Initial encoder states are `2^16`, so a
//! valid stream ends with all states `2^16` and all words consumed.
//! Encoding runs in reverse: if `x >= 2^(32 - prob_bits) * freq`, emit
//! `x & 0xffff` and `x >>= 16`; then `x = (x / freq) * M + x % freq + start`.
//!
//! **Byte / symbol stream** ([`encode_bytes`], [`encode_symbols`]):
//! mode byte, LEB128 length `n`, body:
//! - 0 raw: `n` bytes / `n` fields of `ceil(log2 alphabet)` bits (padded);
//! - 1 constant (`n >= 1`): the byte / the symbol as LEB128;
//! - 2 rANS: FreqTable (alphabet <= 256 resp. <= the given alphabet),
//!   LEB128 rANS stream length, rANS stream of `n` symbols (one table).

mod bits;
mod bytes;
mod flat;
mod rans;
mod table;

pub use bits::{BitReader, BitWriter, MAX_FIELD_BITS};
pub use bytes::{
    decode_bytes, decode_symbols, encode_bytes, encode_symbols, get_varint, put_varint,
};
#[cfg(test)]
pub(crate) use flat::LANE_STEPS_ONLY;
pub use flat::{FlatTables, PairSteps, FLAT_ALPHABET, FLAT_CONTEXTS, PAIR_LANES};
pub use rans::{
    encode_indexed, ContextTables, DecTable, EncTable, Lane, LaneSteps, RansDecoder, RansEncoder,
    RansStream, LANES, RANS_L, WIDE_LANES,
};
pub use table::{FreqTable, MAX_ALPHABET, MAX_PROB_BITS, MIN_PROB_BITS};

#[cfg(test)]
mod tests;
