//! Compression and decompression as explicit steps, for callers that do
//! their own I/O and scheduling — the browser, where a coordinator reads
//! the file, Web Workers code the chunks ([`super::encode_chunk`],
//! [`super::decode_chunk`]) and the results come back here in order. The
//! steps are the threaded pipeline's own (same chunking, coders, writer and
//! rate control), so the bytes written are the same as the CLI's.

use std::collections::VecDeque;
use std::io::Read;

use crate::container::hash::Xxh3;

use super::lossy::{check_target, choose_step, multipliers, Stats, StatsBuilder};
use super::{chunking, Assembler, Chunk, EncodedChunk, Expect, LossyOptions, Options, Report};
use crate::container::{parse_frame_header, ChunkHeader, Preamble, StzReader, Trailer};
use crate::error::{Error, Result};
use crate::safetensors::{Dtype, Header};

/// One file being compressed. Steps, in order: (lossy only) [`observe`]
/// every chunk then [`choose_step`]; then [`start`], [`add`] every coded
/// chunk, [`finish`]. Each returns the output bytes to append.
///
/// [`observe`]: Compression::observe
/// [`choose_step`]: Compression::choose_step
/// [`start`]: Compression::start
/// [`add`]: Compression::add
/// [`finish`]: Compression::finish
pub struct Compression {
    header: Header,
    chunks: Vec<Chunk>,
    lossy: Option<LossyOptions>,
    /// Per tensor: the quantizer step (`None`: lossless).
    steps: Vec<Option<f64>>,
    stats: Option<StatsBuilder>,
    observed: usize,
    asm: Option<Assembler<Vec<u8>>>,
    added: usize,
}

impl Compression {
    /// `header` is the file's header bytes (length prefix and JSON).
    pub fn new(header: Vec<u8>, chunk_bytes: usize, lossy: Option<LossyOptions>) -> Result<Self> {
        let header = Header::parse(header)?;
        let chunks = chunking::plan(&header, chunk_bytes);
        let stats = match &lossy {
            Some(l) => {
                check_target(l.target)?;
                Some(StatsBuilder::new(&header, l, &chunks)?)
            }
            None => None,
        };
        Ok(Compression {
            steps: vec![None; header.tensors().len()],
            header,
            chunks,
            lossy,
            stats,
            observed: 0,
            asm: None,
            added: 0,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Every chunk, in file order; together they cover the data section.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// Absolute offset of a chunk in the safetensors file.
    pub fn file_offset(&self, chunk: &Chunk) -> u64 {
        let start = self
            .header
            .tensors()
            .get(chunk.tensor)
            .map_or(0, |t| t.start);
        self.header.raw().len() as u64 + start + chunk.offset
    }

    /// Whether the statistics pass is still due (lossy mode).
    pub fn needs_stats(&self) -> bool {
        self.stats.is_some()
    }

    /// Statistics pass: the bytes of chunk `index`, in order from 0.
    pub fn observe(&mut self, index: usize, data: &[u8]) -> Result<()> {
        let stats = self.stats.as_mut().ok_or(Error::SessionOrder(
            "observe needs lossy mode, before the step is chosen",
        ))?;
        let chunk = self
            .chunks
            .get(index)
            .filter(|_| index == self.observed)
            .ok_or(Error::SessionOrder("observe takes the chunks in order"))?;
        stats.observe(&self.header, chunk, data)?;
        self.observed += 1;
        Ok(())
    }

    /// Picks the quantizer step meeting the target, after every chunk was
    /// observed; returns it.
    pub fn choose_step(&mut self) -> Result<f64> {
        let lossy = self
            .lossy
            .ok_or(Error::SessionOrder("choose_step needs lossy mode"))?;
        if self.observed != self.chunks.len() {
            return Err(Error::SessionOrder(
                "choose_step comes after observing every chunk",
            ));
        }
        let stats: Stats = self
            .stats
            .take()
            .ok_or(Error::SessionOrder("the step is already chosen"))?
            .finish();
        let one_thread = Options {
            threads: 1,
            chunk_bytes: chunking::DEFAULT_CHUNK_BYTES,
            ..Options::default()
        };
        let step = choose_step(&stats, lossy.target, &one_thread)?;
        let scales = multipliers(&self.header, &lossy);
        for ((s, t), m) in self
            .steps
            .iter_mut()
            .zip(self.header.tensors())
            .zip(&scales)
        {
            *s = t.dtype.float_layout().map(|_| step * m);
        }
        Ok(step)
    }

    /// The quantizer step of a chunk (`None`: coded losslessly).
    pub fn step(&self, chunk: &Chunk) -> Option<f64> {
        self.steps.get(chunk.tensor).copied().flatten()
    }

    /// The first output bytes: preamble and header.
    pub fn start(&mut self) -> Result<Vec<u8>> {
        if self.stats.is_some() {
            return Err(Error::SessionOrder(
                "start comes after choose_step in lossy mode",
            ));
        }
        if self.asm.is_some() {
            return Err(Error::SessionOrder("start is called once"));
        }
        let mut asm = Assembler::new(&self.header, Vec::new(), &self.steps)?;
        let out = std::mem::take(asm.output_mut());
        self.asm = Some(asm);
        Ok(out)
    }

    /// Adds chunk `index` (in order from 0), coded by
    /// [`super::encode_chunk`] at [`Compression::step`]; returns its frame.
    pub fn add(&mut self, index: usize, enc: &EncodedChunk) -> Result<Vec<u8>> {
        let asm = self
            .asm
            .as_mut()
            .ok_or(Error::SessionOrder("add comes after start"))?;
        let chunk = self
            .chunks
            .get(index)
            .filter(|_| index == self.added)
            .ok_or(Error::SessionOrder("add takes the chunks in order"))?;
        asm.add(chunk, enc)?;
        self.added += 1;
        Ok(std::mem::take(asm.output_mut()))
    }

    /// The last output bytes (index and trailer) and the report.
    pub fn finish(&mut self) -> Result<(Vec<u8>, Report)> {
        if self.added != self.chunks.len() {
            return Err(Error::SessionOrder(
                "finish comes after every chunk is added",
            ));
        }
        let asm = self
            .asm
            .take()
            .ok_or(Error::SessionOrder("finish comes after start, once"))?;
        asm.finish()
    }
}

/// Input bytes pushed so far and not yet parsed.
#[derive(Default)]
struct Pending {
    buf: VecDeque<u8>,
}

impl Read for Pending {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.buf.read(out)
    }
}

/// What [`Decompression::next_event`] found.
#[derive(Debug)]
pub enum Event {
    /// More input is needed (or [`Decompression::end`], if there is none).
    NeedInput,
    /// The safetensors header: the first bytes of the output.
    Header(Vec<u8>),
    /// A frame to decode with [`super::decode_chunk`], then hand back to
    /// [`Decompression::add`] under its `seq`.
    Chunk {
        seq: u64,
        dtype: Dtype,
        chunk: ChunkHeader,
        payload: Vec<u8>,
    },
    /// Every frame was seen and the index and trailer check out.
    End,
}

/// One `.stz` being decompressed from bytes pushed as they arrive. Frames
/// are handed out whole, so buffered input is at most one frame plus the
/// last push (and the index at the end).
pub struct Decompression {
    pending: Option<Pending>,
    reader: Option<StzReader<Pending>>,
    header: Option<Header>,
    expect: Option<Expect>,
    ended: bool,
    at_end: bool,
    file_hash: Xxh3,
    report: Option<Report>,
    /// Frames handed out and not yet added back: sequence, header, stored size.
    out: VecDeque<(u64, ChunkHeader, u64)>,
    next_seq: u64,
    trailer: Option<Trailer>,
    max_output_bytes: u64,
}

impl Default for Decompression {
    fn default() -> Self {
        Self::new()
    }
}

impl Decompression {
    pub fn new() -> Self {
        Decompression {
            pending: Some(Pending::default()),
            reader: None,
            header: None,
            expect: None,
            ended: false,
            at_end: false,
            file_hash: Xxh3::new(),
            report: None,
            out: VecDeque::new(),
            next_seq: 0,
            trailer: None,
            max_output_bytes: super::DEFAULT_MAX_OUTPUT_BYTES,
        }
    }

    /// The largest safetensors file the `.stz` may declare (default
    /// [`super::DEFAULT_MAX_OUTPUT_BYTES`]); see [`Options::max_output_bytes`].
    pub fn set_max_output_bytes(&mut self, limit: u64) {
        self.max_output_bytes = limit;
    }

    /// The file's header, once [`Event::Header`] was returned.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Appends input bytes.
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        if self.ended {
            return Err(Error::SessionOrder("push after end"));
        }
        let pending = match (&mut self.pending, &mut self.reader) {
            (Some(p), _) => p,
            (None, Some(r)) => r.source_mut(),
            (None, None) => return Err(Error::Internal("decompression without input")),
        };
        pending.buf.extend(data);
        Ok(())
    }

    /// No more input: what is missing is now a truncation.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Bytes pushed and not yet parsed.
    fn buffered(&mut self) -> &VecDeque<u8> {
        static EMPTY: VecDeque<u8> = VecDeque::new();
        match (&self.pending, &mut self.reader) {
            (Some(p), _) => &p.buf,
            (None, Some(r)) => &r.source_mut().buf,
            (None, None) => &EMPTY,
        }
    }

    /// Whether `n` bytes are buffered (or no more will come: then the
    /// reader reports the truncation itself).
    fn have(&mut self, n: u64) -> bool {
        self.ended || self.buffered().len() as u64 >= n
    }

    /// The next step: call until it returns [`Event::NeedInput`] before
    /// pushing more.
    pub fn next_event(&mut self) -> Result<Event> {
        if self.at_end {
            return Ok(Event::End);
        }
        if let Some(pending) = self.pending.take() {
            let preamble = pending
                .buf
                .iter()
                .take(Preamble::LEN)
                .copied()
                .collect::<Vec<u8>>();
            let enough = preamble.len() == Preamble::LEN
                && match Preamble::parse(&preamble) {
                    Ok(p) => pending.buf.len() as u64 >= p.data_start(),
                    Err(_) => true, // the reader reports it
                };
            if !enough && !self.ended {
                self.pending = Some(pending);
                return Ok(Event::NeedInput);
            }
            let reader = StzReader::new(pending)?;
            let header = Header::parse(reader.safetensors_header().to_vec())?;
            super::check_output_len(header.file_len(), self.max_output_bytes)?;
            self.file_hash.update(header.raw());
            self.expect = Some(Expect::new(&header));
            self.report = Some(Report::new(&header));
            let raw = header.raw().to_vec();
            self.header = Some(header);
            self.reader = Some(reader);
            return Ok(Event::Header(raw));
        }
        // A frame header, or the index: then everything up to the end.
        let head: Vec<u8> = self.buffered().iter().take(Trailer::LEN).copied().collect();
        if head.starts_with(b"STZX") || (head.len() < 4 && self.ended) {
            if !self.ended {
                return Ok(Event::NeedInput);
            }
            return self.read_index();
        }
        if !self.have(FRAME_HEADER_LEN) {
            return Ok(Event::NeedInput);
        }
        let frame_len = head
            .get(..FRAME_HEADER_LEN as usize)
            .and_then(|h| parse_frame_header(h).ok())
            .map_or(0, |f| f.frame_len());
        if !self.have(frame_len) {
            return Ok(Event::NeedInput);
        }
        let (Some(reader), Some(expect), Some(header)) = (
            self.reader.as_mut(),
            self.expect.as_mut(),
            self.header.as_ref(),
        ) else {
            return Err(Error::Internal("decompression lost its reader"));
        };
        let mut payload = Vec::new();
        match reader.next_chunk(&mut payload)? {
            Some(chunk) => {
                let dtype = expect.take(header, chunk.tensor, chunk.decoded_len)?;
                let seq = self.next_seq;
                self.next_seq += 1;
                self.out.push_back((seq, chunk, payload.len() as u64));
                Ok(Event::Chunk {
                    seq,
                    dtype,
                    chunk,
                    payload,
                })
            }
            None => self.read_index(),
        }
    }

    fn read_index(&mut self) -> Result<Event> {
        let (Some(reader), Some(expect), Some(header)) =
            (self.reader.take(), self.expect.take(), self.header.as_ref())
        else {
            return Err(Error::Internal("decompression lost its reader"));
        };
        let (_index, trailer) = reader.finish()?;
        expect.finish(header)?;
        self.trailer = Some(trailer);
        self.at_end = true;
        Ok(Event::End)
    }

    /// Hands back the decoded bytes of frame `seq`, in order; the caller
    /// writes them to the output.
    pub fn add(&mut self, seq: u64, decoded: &[u8]) -> Result<()> {
        let (want, chunk, stored) = self
            .out
            .pop_front()
            .ok_or(Error::SessionOrder("add of a frame not handed out"))?;
        if want != seq {
            return Err(Error::SessionOrder("add takes the frames in order"));
        }
        if decoded.len() as u64 != chunk.decoded_len {
            return Err(Error::ChunkLengthMismatch {
                tensor: chunk.tensor as usize,
                len: decoded.len() as u64,
                left: chunk.decoded_len,
            });
        }
        self.file_hash.update(decoded);
        if let Some(t) = self
            .report
            .as_mut()
            .and_then(|r| r.tensors.get_mut(chunk.tensor as usize))
        {
            t.stored_bytes += stored;
        }
        Ok(())
    }

    /// After [`Event::End`] and every frame added: checks the whole-file
    /// checksum and returns the report.
    pub fn finish(&mut self) -> Result<Report> {
        let trailer = self
            .trailer
            .ok_or(Error::SessionOrder("finish comes after the end event"))?;
        if !self.out.is_empty() {
            return Err(Error::SessionOrder(
                "finish comes after every frame is added",
            ));
        }
        let actual = self.file_hash.digest();
        if trailer.file_checksum != actual {
            return Err(Error::StzFileChecksum {
                expected: trailer.file_checksum,
                actual,
            });
        }
        let mut report = self
            .report
            .take()
            .ok_or(Error::SessionOrder("finish is called once"))?;
        report.stz_bytes = trailer.index_offset + trailer.index_len + Trailer::LEN as u64;
        Ok(report)
    }
}

const FRAME_HEADER_LEN: u64 = crate::container::FrameHeader::LEN as u64;
