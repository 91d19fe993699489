//! Compress and decompress drivers: safetensors in, `.stz` out and back,
//! streaming from any `Read` to any `Write` with memory bounded by
//! `threads × chunk size`, parallel over chunks, output independent of the
//! thread count.

pub mod chunking;
mod lossy;
mod parallel;

use std::io::{Read, Write};

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::codec::{self, lossless};
use crate::container::{ChunkHeader, StzReader, StzWriter, Trailer, MODE_LOSSY};
use crate::error::{Error, Result};
use crate::safetensors::{self, Dtype, Header};
pub use chunking::{Chunk, DEFAULT_CHUNK_BYTES};
pub use lossy::{compress_lossy, Allocation, LossyOptions, Target};

/// Chunks allocate and free buffers of several MiB each, and glibc serves
/// those with fresh `mmap`s: every chunk would pay page faults and zeroing
/// (about 15 % of the time). This keeps freed memory in the heap for the
/// next chunk; peak memory is unchanged (it is bounded by chunks in flight).
/// Call once at program start, before threads exist. A no-op elsewhere.
pub fn keep_freed_memory() {
    #[cfg(all(feature = "cli", target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters.
    unsafe {
        // 32 MiB is glibc's largest mmap threshold; chunks stay below it.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

/// Settings shared by compression and decompression.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (1 = everything on the calling thread).
    pub threads: usize,
    /// Uncompressed bytes per chunk (compression only).
    pub chunk_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
        }
    }
}

impl Options {
    fn in_flight(&self) -> usize {
        self.threads.max(1) * 2
    }
}

/// Progress so far, in bytes of the uncompressed file and of the `.stz`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Bytes of the safetensors file done so far.
    pub raw_bytes: u64,
    /// Size of the whole safetensors file.
    pub raw_total: u64,
    /// Bytes of `.stz` written so far (compression only).
    pub stz_bytes: u64,
}

/// What happened to one tensor.
#[derive(Debug, Clone)]
pub struct TensorReport {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    /// Quantizer step when the tensor was coded lossily.
    pub step: Option<f64>,
    /// Σ(w − ŵ)² and Σw² over its finite values (zero when lossless).
    pub err2: f64,
    pub sig2: f64,
}

impl TensorReport {
    /// Weight SNR in dB (`None` when lossless or all zero).
    pub fn snr_db(&self) -> Option<f64> {
        self.step.map(|_| snr_db(self.sig2, self.err2))
    }

    /// Stored bits per element.
    pub fn bits_per_weight(&self) -> f64 {
        let n: u64 = self.shape.iter().product();
        self.stored_bytes as f64 * 8.0 / n.max(1) as f64
    }
}

/// `10·log10(signal / error)`; infinite for a perfect reconstruction.
pub fn snr_db(sig2: f64, err2: f64) -> f64 {
    if err2 == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (sig2 / err2).log10()
    }
}

/// Per-tensor statistics of a lossy tensor, kept in its index record so
/// `inspect` can show them: format byte 1, then step, Σ(w−ŵ)², Σw² as f64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossyRecord {
    pub step: f64,
    pub err2: f64,
    pub sig2: f64,
}

impl LossyRecord {
    const VERSION: u8 = 1;

    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = vec![Self::VERSION];
        for x in [self.step, self.err2, self.sig2] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    /// `None` for extras this version does not know.
    pub fn parse(extras: &[u8]) -> Option<LossyRecord> {
        let (&version, rest) = extras.split_first()?;
        if version != Self::VERSION || rest.len() != 24 {
            return None;
        }
        let f = |i: usize| {
            Some(f64::from_le_bytes(
                rest.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        Some(LossyRecord {
            step: f(0)?,
            err2: f(1)?,
            sig2: f(2)?,
        })
    }
}

/// Totals of a compression or decompression.
#[derive(Debug, Clone)]
pub struct Report {
    pub raw_bytes: u64,
    pub stz_bytes: u64,
    /// Number of float elements (the denominator of bits per weight).
    pub float_params: u64,
    pub tensors: Vec<TensorReport>,
}

impl Report {
    /// Whole-file weight SNR over the float tensors (`None` if lossless).
    pub fn snr_db(&self) -> Option<f64> {
        if self.tensors.iter().all(|t| t.step.is_none()) {
            return None;
        }
        let (sig2, err2) = self
            .tensors
            .iter()
            .fold((0.0, 0.0), |(s, e), t| (s + t.sig2, e + t.err2));
        Some(snr_db(sig2, err2))
    }

    /// Compressed bits per float parameter, counting every byte of the file.
    pub fn bits_per_weight(&self) -> f64 {
        if self.float_params == 0 {
            return 0.0;
        }
        self.stz_bytes as f64 * 8.0 / self.float_params as f64
    }

    fn new(header: &Header) -> Report {
        Report {
            raw_bytes: header.file_len(),
            stz_bytes: 0,
            float_params: header
                .tensors()
                .iter()
                .filter(|t| t.dtype.is_float())
                .map(|t| t.num_elements())
                .sum(),
            tensors: header
                .tensors()
                .iter()
                .map(|t| TensorReport {
                    name: t.name.clone(),
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                    raw_bytes: t.byte_len(),
                    stored_bytes: 0,
                    step: None,
                    err2: 0.0,
                    sig2: 0.0,
                })
                .collect(),
        }
    }
}

/// A counting writer, so progress and reports know the `.stz` size.
struct Counted<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A coded chunk on its way to the writer.
struct EncodedChunk {
    chunk: Chunk,
    payload: Vec<u8>,
    /// What the decoder will produce (the input itself when lossless).
    decoded: Vec<u8>,
    /// Squared error and signal of the chunk's finite values (lossy only).
    err2: f64,
    sig2: f64,
}

impl EncodedChunk {
    fn lossless(chunk: Chunk, dtype: Dtype, buf: Vec<u8>) -> Result<EncodedChunk> {
        Ok(EncodedChunk {
            chunk,
            payload: lossless::encode_chunk(dtype, chunk.row_len, &buf)?,
            decoded: buf,
            err2: 0.0,
            sig2: 0.0,
        })
    }
}

/// Compress a safetensors stream into a `.stz` stream (lossless).
pub fn compress<R: Read, W: Write + Send>(
    input: R,
    output: W,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    let (header, data) = safetensors::open(input)?;
    let steps = vec![None; header.tensors().len()];
    encode_file(
        &header,
        data,
        output,
        opts,
        progress,
        &steps,
        &EncodedChunk::lossless,
    )
}

type ChunkCoder<'a> = dyn Fn(Chunk, Dtype, Vec<u8>) -> Result<EncodedChunk> + Sync + 'a;

/// Reads every chunk of `data`, codes it with `code` on the worker threads
/// and writes the container in order.
fn encode_file<R: Read, W: Write + Send>(
    header: &Header,
    mut data: safetensors::DataReader<R>,
    output: W,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
    steps: &[Option<f64>],
    code: &ChunkCoder,
) -> Result<Report> {
    let mut report = Report::new(header);
    for (t, &step) in report.tensors.iter_mut().zip(steps) {
        t.step = step;
    }
    let plan = chunking::plan(header, opts.chunk_bytes);
    let mut file_hash = Xxh3::new();
    file_hash.update(header.raw());
    let mut writer = StzWriter::new(
        Counted {
            inner: output,
            count: 0,
        },
        header.raw(),
    )?;
    let dtypes: Vec<Dtype> = header.tensors().iter().map(|t| t.dtype).collect();
    let mut next = plan.iter();
    let mut raw_done = header.raw().len() as u64;
    let raw_total = header.file_len();
    let tensors = &mut report.tensors;
    ordered_map_chunks(
        opts,
        || {
            let Some(&chunk) = next.next() else {
                return Ok(None);
            };
            let mut buf = vec![0u8; chunk.len];
            data.read_exact(&mut buf)?;
            Ok(Some((chunk, buf)))
        },
        |(chunk, buf): (Chunk, Vec<u8>)| {
            let dtype = dtypes
                .get(chunk.tensor)
                .copied()
                .ok_or(Error::Internal("chunk of no tensor"))?;
            code(chunk, dtype, buf)
        },
        |enc: EncodedChunk| {
            let tensor =
                u32::try_from(enc.chunk.tensor).map_err(|_| Error::Internal("too many tensors"))?;
            file_hash.update(&enc.decoded);
            let before = writer.bytes_written();
            writer.write_chunk(
                tensor,
                enc.chunk.len as u64,
                xxh3_64(&enc.decoded),
                &enc.payload,
            )?;
            if let Some(t) = tensors.get_mut(enc.chunk.tensor) {
                t.stored_bytes += writer.bytes_written() - before;
                t.err2 += enc.err2;
                t.sig2 += enc.sig2;
            }
            raw_done += enc.chunk.len as u64;
            progress(Progress {
                raw_bytes: raw_done,
                raw_total,
                stz_bytes: writer.bytes_written(),
            });
            Ok(())
        },
    )?;
    data.finish()?;
    for (i, t) in report.tensors.iter().enumerate() {
        if let Some(step) = t.step {
            let tensor = u32::try_from(i).map_err(|_| Error::Internal("too many tensors"))?;
            writer.set_tensor_record(
                tensor,
                MODE_LOSSY,
                LossyRecord {
                    step,
                    err2: t.err2,
                    sig2: t.sig2,
                }
                .to_bytes(),
            );
        }
    }
    let counted = writer.finish(file_hash.digest(), header.file_len())?;
    report.stz_bytes = counted.count;
    progress(Progress {
        raw_bytes: raw_total,
        raw_total,
        stz_bytes: report.stz_bytes,
    });
    Ok(report)
}

fn ordered_map_chunks<J: Send, O: Send>(
    opts: &Options,
    produce: impl FnMut() -> Result<Option<J>>,
    work: impl Fn(J) -> Result<O> + Sync,
    consume: impl FnMut(O) -> Result<()> + Send,
) -> Result<()> {
    parallel::ordered_map(opts.threads, opts.in_flight(), produce, work, consume)
}

/// Where decoded chunks must land: the tensor and the bytes left in it.
struct Expect<'h> {
    header: &'h Header,
    tensor: usize,
    left: u64,
}

impl Expect<'_> {
    /// Check the next frame against the header and return the dtype.
    fn take(&mut self, tensor: u32, len: u64) -> Result<Dtype> {
        let tensor = tensor as usize;
        while self.left == 0 && self.tensor < tensor {
            self.tensor += 1;
            self.left = self
                .header
                .tensors()
                .get(self.tensor)
                .map_or(0, |t| t.byte_len());
        }
        let info = self
            .header
            .tensors()
            .get(self.tensor)
            .filter(|_| self.tensor == tensor)
            .ok_or(Error::ChunkOutOfOrder { tensor })?;
        if len == 0 || len > self.left || len % info.dtype.size() as u64 != 0 {
            return Err(Error::ChunkLengthMismatch {
                tensor,
                len,
                left: self.left,
            });
        }
        self.left -= len;
        Ok(info.dtype)
    }

    fn finish(mut self) -> Result<()> {
        loop {
            if self.left != 0 {
                return Err(Error::MissingChunks {
                    tensor: self.tensor,
                    missing: self.left,
                });
            }
            self.tensor += 1;
            match self.header.tensors().get(self.tensor) {
                Some(t) => self.left = t.byte_len(),
                None => return Ok(()),
            }
        }
    }
}

/// Decompress a `.stz` stream, writing the safetensors file to `output`
/// (or nowhere, for `verify`). Every chunk checksum and the whole-file
/// checksum are checked.
pub fn decompress<R: Read, W: Write + Send>(
    input: R,
    mut output: Option<W>,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    let mut reader = StzReader::new(input)?;
    let header = Header::parse(reader.safetensors_header().to_vec())?;
    let mut report = Report::new(&header);
    let mut file_hash = Xxh3::new();
    file_hash.update(header.raw());
    if let Some(w) = output.as_mut() {
        w.write_all(header.raw())?;
    }
    let mut expect = Expect {
        header: &header,
        tensor: 0,
        left: header.tensors().first().map_or(0, |t| t.byte_len()),
    };
    let mut raw_done = header.raw().len() as u64;
    let raw_total = header.file_len();
    let tensors = &mut report.tensors;
    ordered_map_chunks(
        opts,
        || {
            let mut payload = Vec::new();
            let Some(ch) = reader.next_chunk(&mut payload)? else {
                return Ok(None);
            };
            let dtype = expect.take(ch.tensor, ch.decoded_len)?;
            Ok(Some((ch, dtype, payload)))
        },
        |(ch, dtype, payload): (ChunkHeader, Dtype, Vec<u8>)| {
            let len =
                usize::try_from(ch.decoded_len).map_err(|_| Error::Internal("chunk too large"))?;
            let mut out = vec![0u8; len];
            codec::decode_chunk(dtype, &payload, &mut out)?;
            ch.verify(&out)?;
            Ok((ch, payload.len(), out))
        },
        |(ch, stored, out): (ChunkHeader, usize, Vec<u8>)| {
            file_hash.update(&out);
            if let Some(w) = output.as_mut() {
                w.write_all(&out)?;
            }
            if let Some(t) = tensors.get_mut(ch.tensor as usize) {
                t.stored_bytes += stored as u64;
            }
            raw_done += out.len() as u64;
            progress(Progress {
                raw_bytes: raw_done,
                raw_total,
                stz_bytes: 0,
            });
            Ok(())
        },
    )?;
    expect.finish()?;
    let (_index, trailer) = reader.finish()?;
    let stz_len = trailer.index_offset + trailer.index_len + Trailer::LEN as u64;
    let actual = file_hash.digest();
    if trailer.file_checksum != actual {
        return Err(Error::StzFileChecksum {
            expected: trailer.file_checksum,
            actual,
        });
    }
    if let Some(w) = output.as_mut() {
        w.flush()?;
    }
    report.stz_bytes = stz_len;
    Ok(report)
}
