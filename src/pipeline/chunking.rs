//! How tensors are cut into chunks: whole rows where rows fit, equal pieces
//! of a row otherwise. The rule depends only on the header and the chunk
//! size, never on the thread count, so output bytes never depend on it.

use crate::safetensors::{Header, TensorInfo};

/// Default uncompressed bytes per chunk: large enough that per-chunk
/// tables cost little, small enough for many workers in bounded memory.
pub const DEFAULT_CHUNK_BYTES: usize = 8 << 20;
/// The container's limit on one chunk's decoded size.
pub const MAX_CHUNK_BYTES: usize = crate::container::MAX_CHUNK_RAW as usize;

/// One chunk: a byte range of one tensor and its row length for the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Ordinal of the tensor in offset order.
    pub tensor: usize,
    /// Byte offset of the chunk inside the tensor.
    pub offset: u64,
    /// Length in bytes.
    pub len: usize,
    /// Elements per row for the codec's row/column contexts.
    pub row_len: usize,
}

/// Chunks of one tensor, in order.
pub fn tensor_chunks(tensor: usize, info: &TensorInfo, chunk_bytes: usize) -> Vec<Chunk> {
    let elem = info.dtype.size() as u64;
    let total = info.byte_len();
    if total == 0 {
        return Vec::new();
    }
    let chunk_bytes = (chunk_bytes.clamp(elem as usize, MAX_CHUNK_BYTES) as u64 / elem) * elem;
    let row_len = info.row_len().max(1);
    let row_bytes = row_len.saturating_mul(elem);
    let mut out = Vec::new();
    if row_bytes <= chunk_bytes {
        let rows = total / row_bytes;
        let pieces = total.div_ceil(chunk_bytes);
        let rows_per = rows.div_ceil(pieces).max(1);
        let mut offset = 0;
        while offset < total {
            let len = (rows_per * row_bytes).min(total - offset);
            out.push(Chunk {
                tensor,
                offset,
                len: len as usize,
                row_len: row_len as usize,
            });
            offset += len;
        }
    } else {
        let elems = total / elem;
        let pieces = total.div_ceil(chunk_bytes);
        let per = elems.div_ceil(pieces);
        let mut offset = 0;
        while offset < total {
            let len = (per * elem).min(total - offset);
            out.push(Chunk {
                tensor,
                offset,
                len: len as usize,
                row_len: (len / elem) as usize,
            });
            offset += len;
        }
    }
    out
}

/// Every chunk of the file, in file order.
pub fn plan(header: &Header, chunk_bytes: usize) -> Vec<Chunk> {
    header
        .tensors()
        .iter()
        .enumerate()
        .flat_map(|(i, t)| tensor_chunks(i, t, chunk_bytes))
        .collect()
}
