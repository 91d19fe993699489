//! Compress and decompress drivers: safetensors in, `.stz` out and back,
//! streaming from any `Read` to any `Write` with memory bounded by
//! `threads × chunk size`, parallel over chunks, output independent of the
//! thread count.

pub mod chunking;
mod extract;
mod lossy;
mod parallel;
pub mod session;

use std::io::{Read, Write};

use crate::container::hash::{xxh3_64, Xxh3};

use crate::codec::lossy::Domain;
use crate::codec::transform::Transform;
use crate::codec::{self, lossless};
use crate::container::{ChunkHeader, StzReader, StzWriter, Trailer, MODE_LOSSY};
use crate::error::{Error, Result};
use crate::safetensors::{self, Dtype, Header};
pub use chunking::{Chunk, DEFAULT_CHUNK_BYTES};
pub use extract::{decompress_tensor, extract_tensors};
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

/// Default of [`Options::max_output_bytes`]: 1 TiB, beyond any single
/// safetensors file published (large models ship as shards of a few GB).
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1 << 40;

/// Settings shared by compression and decompression.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (1 = everything on the calling thread).
    pub threads: usize,
    /// Uncompressed bytes per chunk (compression only).
    pub chunk_bytes: usize,
    /// Decompression only: the largest safetensors file (or, for
    /// [`decompress_tensor`], tensor; for [`extract_tensors`], the file of the
    /// tensors picked) a `.stz` may declare. Checked against
    /// the stored header before anything is allocated for the data or
    /// written, so a small file claiming terabytes is refused up front.
    pub max_output_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// Refuses a declared output beyond `limit` (see [`Options::max_output_bytes`]).
pub(crate) fn check_output_len(declared: u64, limit: u64) -> Result<()> {
    if declared > limit {
        return Err(Error::StzOutputTooLarge { declared, limit });
    }
    Ok(())
}

impl Options {
    /// Chunks in memory at once (see [`parallel::jobs_in_flight`]).
    fn in_flight(&self) -> usize {
        parallel::jobs_in_flight(self.threads)
    }
}

/// Progress so far, in bytes of the uncompressed file and of the `.stz`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Bytes of the safetensors file done so far (in this stage).
    pub raw_bytes: u64,
    /// Size of the whole safetensors file.
    pub raw_total: u64,
    /// Bytes of `.stz` written so far (compression only).
    pub stz_bytes: u64,
    pub stage: Stage,
}

impl Progress {
    /// Decoding: `done` of the `total` bytes of the safetensors file.
    fn decoded(done: u64, total: u64) -> Progress {
        Progress {
            raw_bytes: done,
            raw_total: total,
            stz_bytes: 0,
            stage: Stage::Coding,
        }
    }
}

/// The pass a [`Progress`] reports on: lossy compression reads its input
/// twice, with the step search between the two passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// Lossy compression's statistics pass over the input.
    Measuring,
    /// Lossy rate control: estimating candidate steps on the sample (no
    /// bytes move; `raw_bytes` stays at the total).
    ChoosingStep,
    /// Coding the file (or decoding it).
    #[default]
    Coding,
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
    /// The transform its chunks were coded in (`None` before any chunk).
    pub transform: Option<TensorTransform>,
}

/// Which transform a lossy tensor's chunks were coded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorTransform {
    /// The values themselves.
    Identity,
    /// Every chunk in this transform.
    Only(Transform),
    /// Chunks chose differently.
    Mixed,
}

impl TensorTransform {
    /// Merges the transform of one more chunk.
    fn with(prev: Option<TensorTransform>, chunk: Option<Transform>) -> TensorTransform {
        let this = chunk.map_or(TensorTransform::Identity, TensorTransform::Only);
        match prev {
            Some(p) if p != this => TensorTransform::Mixed,
            _ => this,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TensorTransform::Identity => "none",
            TensorTransform::Only(t) => t.name(),
            TensorTransform::Mixed => "mixed",
        }
    }

    fn code(self) -> u8 {
        match self {
            TensorTransform::Identity => 0,
            TensorTransform::Only(t) => t.code(),
            TensorTransform::Mixed => 255,
        }
    }

    fn from_code(code: u8) -> Option<TensorTransform> {
        match code {
            0 => Some(TensorTransform::Identity),
            255 => Some(TensorTransform::Mixed),
            c => Transform::from_code(c).map(TensorTransform::Only),
        }
    }
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
        10.0 * codec::math::log10(sig2 / err2)
    }
}

/// Per-tensor statistics of a lossy tensor, kept in its index record so
/// `inspect` can show them: format byte 2, then step, Σ(w−ŵ)², Σw² as f64,
/// then the transform (0 none, 1..=4 as in a chunk, 255 mixed). Format 1
/// (earlier files) has no transform byte.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossyRecord {
    pub step: f64,
    pub err2: f64,
    pub sig2: f64,
    pub transform: TensorTransform,
}

impl LossyRecord {
    const VERSION: u8 = 2;

    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = vec![Self::VERSION];
        for x in [self.step, self.err2, self.sig2] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.push(self.transform.code());
        out
    }

    /// `None` for extras this version does not know.
    pub fn parse(extras: &[u8]) -> Option<LossyRecord> {
        let (&version, rest) = extras.split_first()?;
        let transform = match (version, rest.len()) {
            (1, 24) => TensorTransform::Identity,
            (2, 25) => TensorTransform::from_code(*rest.get(24)?)?,
            _ => return None,
        };
        let f = |i: usize| {
            Some(f64::from_le_bytes(
                rest.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        Some(LossyRecord {
            step: f(0)?,
            err2: f(1)?,
            sig2: f(2)?,
            transform,
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
                    transform: None,
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
#[derive(Debug, Clone)]
pub struct EncodedChunk {
    /// The codec payload stored in the frame.
    pub payload: Vec<u8>,
    /// What the decoder will produce (the input itself when lossless).
    pub decoded: Vec<u8>,
    /// XXH3-64 of `decoded`, the frame's check.
    pub checksum: u64,
    /// Squared error and signal of the chunk's finite values (lossy only).
    pub err2: f64,
    pub sig2: f64,
}

/// Code one chunk of a `dtype` tensor: quantized at `step` when given (a
/// float tensor in lossy mode), lossless otherwise. The one chunk coder of
/// every front end (threads here, Web Workers in the browser).
pub fn encode_chunk(
    dtype: Dtype,
    row_len: usize,
    step: Option<f64>,
    data: Vec<u8>,
) -> Result<EncodedChunk> {
    encode_chunk_in(dtype, row_len, step, Domain::Measure, data)
}

/// [`encode_chunk`], lossy in a domain that may be known already.
fn encode_chunk_in(
    dtype: Dtype,
    row_len: usize,
    step: Option<f64>,
    domain: Domain,
    data: Vec<u8>,
) -> Result<EncodedChunk> {
    match step {
        Some(step) if dtype.float_layout().is_some() => {
            let enc = codec::lossy::encode_in(dtype, row_len, data, step, domain)?;
            Ok(EncodedChunk {
                payload: enc.payload,
                checksum: xxh3_64(&enc.decoded),
                decoded: enc.decoded,
                err2: enc.err2,
                sig2: enc.sig2,
            })
        }
        _ => Ok(EncodedChunk {
            payload: lossless::encode_chunk(dtype, row_len, &data)?,
            checksum: xxh3_64(&data),
            decoded: data,
            err2: 0.0,
            sig2: 0.0,
        }),
    }
}

/// Compress a safetensors stream into a `.stz` stream (lossless).
pub fn compress<R: Read + Send, W: Write + Send>(
    input: R,
    output: W,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    let (header, data) = safetensors::open(input)?;
    let steps = vec![None; header.tensors().len()];
    encode_file(&header, data, output, opts, progress, &steps, &[])
}

/// Writes coded chunks in file order: the container, the whole-file hash
/// and the per-tensor report. Shared by the threaded pipeline and
/// [`session::Compression`].
struct Assembler<W: Write> {
    writer: StzWriter<Counted<W>>,
    file_hash: Xxh3,
    report: Report,
    raw_done: u64,
}

impl<W: Write> Assembler<W> {
    fn new(header: &Header, output: W, steps: &[Option<f64>]) -> Result<Self> {
        let mut report = Report::new(header);
        for (t, &step) in report.tensors.iter_mut().zip(steps) {
            t.step = step;
        }
        let mut file_hash = Xxh3::new();
        file_hash.update(header.raw());
        let writer = StzWriter::new(
            Counted {
                inner: output,
                count: 0,
            },
            header.raw(),
        )?;
        Ok(Assembler {
            writer,
            file_hash,
            report,
            raw_done: header.raw().len() as u64,
        })
    }

    /// Appends the frame of `chunk`, which must come right after the
    /// previous one.
    fn add(&mut self, chunk: &Chunk, enc: &EncodedChunk) -> Result<()> {
        if enc.decoded.len() != chunk.len {
            return Err(Error::Internal(
                "a coded chunk does not decode to its length",
            ));
        }
        let tensor =
            u32::try_from(chunk.tensor).map_err(|_| Error::Internal("too many tensors"))?;
        self.file_hash.update(&enc.decoded);
        let before = self.writer.bytes_written();
        self.writer
            .write_chunk(tensor, chunk.len as u64, enc.checksum, &enc.payload)?;
        if let Some(t) = self.report.tensors.get_mut(chunk.tensor) {
            t.stored_bytes += self.writer.bytes_written() - before;
            t.err2 += enc.err2;
            t.sig2 += enc.sig2;
            t.transform = Some(TensorTransform::with(
                t.transform,
                codec::transform_of(&enc.payload),
            ));
        }
        self.raw_done += chunk.len as u64;
        Ok(())
    }

    fn progress(&self) -> Progress {
        Progress {
            raw_bytes: self.raw_done,
            raw_total: self.report.raw_bytes,
            stz_bytes: self.writer.bytes_written(),
            stage: Stage::Coding,
        }
    }

    /// The output so far (to drain it, for callers writing to memory).
    fn output_mut(&mut self) -> &mut W {
        &mut self.writer.get_mut().inner
    }

    /// Writes the lossy records, the index and the trailer.
    fn finish(mut self) -> Result<(W, Report)> {
        for (i, t) in self.report.tensors.iter().enumerate() {
            if let Some(step) = t.step {
                let tensor = u32::try_from(i).map_err(|_| Error::Internal("too many tensors"))?;
                self.writer.set_tensor_record(
                    tensor,
                    MODE_LOSSY,
                    LossyRecord {
                        step,
                        err2: t.err2,
                        sig2: t.sig2,
                        transform: t.transform.unwrap_or(TensorTransform::Identity),
                    }
                    .to_bytes(),
                );
            }
        }
        let counted = self
            .writer
            .finish(self.file_hash.digest(), self.report.raw_bytes)?;
        self.report.stz_bytes = counted.count;
        Ok((counted.inner, self.report))
    }
}

/// Reads every chunk of `data`, codes it on the worker threads (lossy at
/// the tensor's step when it has one; chunk `i` in `domains[i]` when the
/// statistics pass found it) and writes the container in order.
fn encode_file<R: Read + Send, W: Write + Send>(
    header: &Header,
    mut data: safetensors::DataReader<R>,
    output: W,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
    steps: &[Option<f64>],
    domains: &[Domain],
) -> Result<Report> {
    let mut asm = Assembler::new(header, output, steps)?;
    let plan = chunking::plan(header, opts.chunk_bytes);
    let dtypes: Vec<Dtype> = header.tensors().iter().map(|t| t.dtype).collect();
    let mut next = plan
        .iter()
        .zip(domains.iter().chain(std::iter::repeat(&Domain::Measure)));
    // Chunk buffers go round from the reader through the coder to the
    // assembler and back.
    let pool = BufferPool::new(opts.in_flight() + 2);
    parallel::ordered_map(
        opts.threads,
        || {
            let Some((&chunk, &domain)) = next.next() else {
                return Ok(None);
            };
            let mut buf = pool.take();
            data.read_into(&mut buf, chunk.len)?;
            Ok(Some((chunk, domain, buf)))
        },
        |(chunk, domain, buf): (Chunk, Domain, Vec<u8>)| {
            let dtype = dtypes
                .get(chunk.tensor)
                .copied()
                .ok_or(Error::Internal("chunk of no tensor"))?;
            let step = steps.get(chunk.tensor).copied().flatten();
            let enc = encode_chunk_in(dtype, chunk.row_len, step, domain, buf)?;
            Ok((chunk, enc))
        },
        |(chunk, enc): (Chunk, EncodedChunk)| {
            asm.add(&chunk, &enc)?;
            pool.give(enc.decoded);
            progress(asm.progress());
            Ok(())
        },
    )?;
    data.finish()?;
    let (_, report) = asm.finish()?;
    progress(Progress {
        raw_bytes: report.raw_bytes,
        raw_total: report.raw_bytes,
        stz_bytes: report.stz_bytes,
        stage: Stage::Coding,
    });
    Ok(report)
}

/// Where decoded chunks must land: the tensor and the bytes left in it.
struct Expect {
    tensor: usize,
    left: u64,
}

impl Expect {
    fn new(header: &Header) -> Expect {
        Expect {
            tensor: 0,
            left: header.tensors().first().map_or(0, |t| t.byte_len()),
        }
    }

    /// Check the next frame against the header and return the dtype.
    fn take(&mut self, header: &Header, tensor: u32, len: u64) -> Result<Dtype> {
        let tensor = tensor as usize;
        // Bounded by the header's tensors, not by the frame's ordinal (a
        // corrupt ordinal of 2^32 − 1 must not mean 2^32 steps).
        let count = header.tensors().len();
        while self.left == 0 && self.tensor < tensor && self.tensor < count {
            self.tensor += 1;
            self.left = header
                .tensors()
                .get(self.tensor)
                .map_or(0, |t| t.byte_len());
        }
        let info = header
            .tensors()
            .get(self.tensor)
            .filter(|_| self.tensor == tensor)
            .ok_or(Error::ChunkOutOfOrder { tensor })?;
        if len == 0 || len > self.left || !len.is_multiple_of(info.dtype.size() as u64) {
            return Err(Error::ChunkLengthMismatch {
                tensor,
                len,
                left: self.left,
            });
        }
        self.left -= len;
        Ok(info.dtype)
    }

    fn finish(mut self, header: &Header) -> Result<()> {
        loop {
            if self.left != 0 {
                return Err(Error::MissingChunks {
                    tensor: self.tensor,
                    missing: self.left,
                });
            }
            self.tensor += 1;
            match header.tensors().get(self.tensor) {
                Some(t) => self.left = t.byte_len(),
                None => return Ok(()),
            }
        }
    }
}

/// Decode one frame's payload and check it against the frame: the one
/// chunk decoder of every front end (threads here, Web Workers in the
/// browser). The decoded length is checked against the container's limit
/// before anything is allocated.
pub fn decode_chunk(dtype: Dtype, chunk: &ChunkHeader, payload: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let len = decode_chunk_into(dtype, chunk, payload, &mut out)?;
    out.truncate(len);
    Ok(out)
}

/// [`decode_chunk`] into the start of a buffer that may be reused; returns
/// the decoded length. Its old bytes are overwritten, not cleared first
/// (every decoder writes every byte, and the checksum would catch one that
/// did not), and it is never shortened: kept at the longest chunk it has
/// held, it is zeroed once, not again whenever a long chunk follows a
/// short one.
pub fn decode_chunk_into(
    dtype: Dtype,
    chunk: &ChunkHeader,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize> {
    let limit = crate::container::MAX_CHUNK_RAW;
    let len = usize::try_from(chunk.decoded_len)
        .ok()
        .filter(|_| chunk.decoded_len <= limit)
        .ok_or(Error::StzChunkDecodedTooLarge {
            offset: 0,
            len: chunk.decoded_len,
            limit,
        })?;
    if out.len() < len {
        out.resize(len, 0);
    }
    let decoded = out
        .get_mut(..len)
        .ok_or(Error::Internal("decode buffer shorter than its chunk"))?;
    let checksum = codec::decode_chunk(dtype, payload, decoded)?;
    chunk.verify_digest(len as u64, checksum)?;
    Ok(len)
}

/// Bytes of a decoded chunk hashed and then written together (fits L2).
/// A writer whose buffer is no larger takes each piece without copying it
/// (the CLI's are this size).
pub const HASH_WRITE_PIECE: usize = 256 << 10;

/// Chunk buffers handed back once used, for the next chunks: a fresh
/// multi-megabyte buffer per chunk costs page faults and zeroing that show
/// next to the decoder. Keeps at most `keep` buffers: about as many as are
/// in use at once (one per chunk in flight, and a couple changing hands),
/// so memory stays what the chunks in flight need.
struct BufferPool {
    free: std::sync::Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl BufferPool {
    fn new(keep: usize) -> BufferPool {
        BufferPool {
            free: std::sync::Mutex::new(Vec::with_capacity(keep)),
            keep,
        }
    }

    fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }

    fn give(&self, buf: Vec<u8>) {
        if let Ok(mut v) = self.free.lock() {
            if v.len() < self.keep {
                v.push(buf);
            }
        }
    }
}

/// Decompress a `.stz` stream, writing the safetensors file to `output`
/// (or nowhere, for `verify`). Every chunk checksum and the whole-file
/// checksum are checked.
pub fn decompress<R: Read + Send, W: Write + Send>(
    input: R,
    mut output: Option<W>,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    let mut reader = StzReader::new(input)?;
    let header = Header::parse(reader.safetensors_header().to_vec())?;
    check_output_len(header.file_len(), opts.max_output_bytes)?;
    let mut report = Report::new(&header);
    let mut file_hash = Xxh3::new();
    file_hash.update(header.raw());
    if let Some(w) = output.as_mut() {
        w.write_all(header.raw())?;
    }
    let mut expect = Expect::new(&header);
    let mut raw_done = header.raw().len() as u64;
    let raw_total = header.file_len();
    let tensors = &mut report.tensors;
    // Payloads and decoded chunks go round separate pools: a buffer keeps
    // its size and contents for its next use, which is then read or decoded
    // over, not grown and zeroed.
    let payloads = BufferPool::new(opts.in_flight() + 2);
    let outputs = BufferPool::new(opts.in_flight() + 2);
    parallel::ordered_map(
        opts.threads,
        || {
            let mut payload = payloads.take();
            let Some(ch) = reader.next_chunk(&mut payload)? else {
                return Ok(None);
            };
            let dtype = expect.take(&header, ch.tensor, ch.decoded_len)?;
            Ok(Some((ch, dtype, payload)))
        },
        |(ch, dtype, payload): (ChunkHeader, Dtype, Vec<u8>)| {
            let mut out = outputs.take();
            let len = decode_chunk_into(dtype, &ch, &payload, &mut out)?;
            let stored = payload.len();
            payloads.give(payload);
            Ok((ch, stored, out, len))
        },
        |(ch, stored, out, len): (ChunkHeader, usize, Vec<u8>, usize)| {
            let decoded = out.get(..len).unwrap_or(&[]);
            // Hash and write a cache-sized piece at a time: the write then
            // reads what the hash just brought in (the chunk was decoded on
            // another core).
            for piece in decoded.chunks(HASH_WRITE_PIECE) {
                file_hash.update(piece);
                if let Some(w) = output.as_mut() {
                    w.write_all(piece)?;
                }
            }
            if let Some(t) = tensors.get_mut(ch.tensor as usize) {
                t.stored_bytes += stored as u64;
            }
            raw_done += len as u64;
            outputs.give(out);
            progress(Progress::decoded(raw_done, raw_total));
            Ok(())
        },
    )?;
    expect.finish(&header)?;
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
