//! Random access: tensors decoded by name from a seekable `.stz` through
//! its index (trailer, index, stored header, then only those tensors'
//! frames), every chunk checksum checked. The whole-file checksum covers
//! the whole file, so it is not checked here: the rest is never decoded.

use std::io::{Read, Seek, Write};

use super::{
    check_output_len, decode_chunk, decode_chunk_into, parallel, BufferPool, Options, Progress,
};
use crate::container::{read_chunk_at, read_index, ChunkHeader, ChunkLocation, StzIndex, Trailer};
use crate::error::{Error, Result};
use crate::safetensors::{Dtype, Header, TensorInfo};

/// The stored safetensors header of a `.stz` against its trailer: checked
/// after the names and the output limit, whose errors say more.
fn check_total(header: &Header, trailer: &Trailer) -> Result<()> {
    if header.file_len() != trailer.decoded_total {
        return Err(Error::StzIndexMismatch {
            what: "decoded total differs from the safetensors header",
        });
    }
    Ok(())
}

/// The index's chunks of tensor `ordinal`, checked before anything is
/// allocated for them: each a whole number of elements, adding up to the
/// tensor's size in the header.
fn chunks_of<'a>(
    index: &'a StzIndex,
    ordinal: usize,
    info: &TensorInfo,
) -> Result<&'a [ChunkLocation]> {
    let chunks = u32::try_from(ordinal)
        .map(|o| index.chunks_of(o))
        .unwrap_or(&[]);
    let mut expect = info.byte_len();
    for c in chunks {
        if c.decoded_len == 0
            || c.decoded_len > expect
            || c.decoded_len % info.dtype.size() as u64 != 0
        {
            return Err(Error::ChunkLengthMismatch {
                tensor: ordinal,
                len: c.decoded_len,
                left: expect,
            });
        }
        expect -= c.decoded_len;
    }
    if expect != 0 {
        return Err(Error::MissingChunks {
            tensor: ordinal,
            missing: expect,
        });
    }
    Ok(chunks)
}

/// Decodes one tensor, by name, into memory. Before the output is
/// allocated the tensor's chunks are checked (see [`chunks_of`]) and its
/// size against [`Options::max_output_bytes`]. Decodes on the calling
/// thread. (For tensors too large for memory, [`extract_tensors`] streams.)
pub fn decompress_tensor<R: Read + Seek>(
    r: &mut R,
    name: &str,
    opts: &Options,
) -> Result<(TensorInfo, Vec<u8>)> {
    let (raw, index, trailer) = read_index(r)?;
    let header = Header::parse(raw)?;
    let (ordinal, info) = header
        .tensors()
        .iter()
        .enumerate()
        .find(|(_, t)| t.name == name)
        .ok_or_else(|| Error::TensorNotFound {
            name: name.to_string(),
        })?;
    check_output_len(info.byte_len(), opts.max_output_bytes)?;
    check_total(&header, &trailer)?;
    let chunks = chunks_of(&index, ordinal, info)?;
    let len = usize::try_from(info.byte_len()).map_err(|_| Error::StzOutputTooLarge {
        declared: info.byte_len(),
        limit: usize::MAX as u64,
    })?;
    // Grows as chunks decode: never more up front than one chunk.
    let mut out = Vec::with_capacity(len.min(crate::container::MAX_CHUNK_RAW as usize));
    let mut payload = Vec::new();
    for loc in chunks {
        let ch = read_chunk_at(r, loc, &mut payload)?;
        out.extend_from_slice(&decode_chunk(info.dtype, &ch, &payload)?);
    }
    Ok((info.clone(), out))
}

/// Writes a safetensors file of just the tensors named (see
/// [`Header::subset`]: file order, `__metadata__` kept, unknown names an
/// error) to `output`, decoding their chunks on `opts.threads` workers and
/// writing them as they come: memory stays at the chunks in flight however
/// large the tensors. Each tensor's bytes are what a full decompression
/// gives for it. Returns the header written.
pub fn extract_tensors<R: Read + Seek + Send, W: Write + Send, S: AsRef<str>>(
    r: &mut R,
    names: &[S],
    mut output: W,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Header> {
    let (raw, index, trailer) = read_index(r)?;
    let header = Header::parse(raw)?;
    let (subset, picked) = header.subset(names)?;
    check_output_len(subset.file_len(), opts.max_output_bytes)?;
    check_total(&header, &trailer)?;
    let mut jobs: Vec<(Dtype, ChunkLocation)> = Vec::new();
    for &ordinal in &picked {
        let info = header
            .tensors()
            .get(ordinal)
            .ok_or(Error::Internal("picked tensor out of range"))?;
        let chunks = chunks_of(&index, ordinal, info)?;
        jobs.extend(chunks.iter().map(|c| (info.dtype, *c)));
    }
    output.write_all(subset.raw())?;
    let raw_total = subset.file_len();
    let mut raw_done = subset.raw().len() as u64;
    let payloads = BufferPool::new(opts.in_flight() + 2);
    let outputs = BufferPool::new(opts.in_flight() + 2);
    let mut next = jobs.iter();
    parallel::ordered_map(
        opts.threads,
        || {
            let Some(&(dtype, loc)) = next.next() else {
                return Ok(None);
            };
            let mut payload = payloads.take();
            let ch = read_chunk_at(r, &loc, &mut payload)?;
            Ok(Some((ch, dtype, payload)))
        },
        |(ch, dtype, payload): (ChunkHeader, Dtype, Vec<u8>)| {
            let mut out = outputs.take();
            let len = decode_chunk_into(dtype, &ch, &payload, &mut out)?;
            payloads.give(payload);
            Ok((out, len))
        },
        |(out, len): (Vec<u8>, usize)| {
            output.write_all(out.get(..len).unwrap_or(&[]))?;
            outputs.give(out);
            raw_done += len as u64;
            progress(Progress::decoded(raw_done, raw_total));
            Ok(())
        },
    )?;
    output.flush()?;
    Ok(subset)
}
