//! Parsing and strict validation of the safetensors header.
//!
//! A safetensors file is `u64 LE header length N` + `N bytes of JSON` + a
//! data section. The header is kept verbatim ([`Header::raw`]) so lossless
//! decompression can write it back byte for byte, while the parsed view
//! ([`Header::tensors`]) drives the streaming walk over the data section.
//!
//! Validation is stricter than `serde_json`'s defaults: duplicate keys (which
//! `serde_json::Map` would silently collapse) are refused, because a file
//! whose meaning depends on which duplicate a reader keeps cannot be
//! reproduced faithfully. Every failure maps to its own [`Error`] variant.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::error::Category;

use super::dtype::Dtype;
use crate::error::{Error, Result};
use crate::io::read_full;

/// Largest accepted JSON header, as in the reference `safetensors` crate.
/// Checked before allocating, so a hostile length prefix cannot make us
/// reserve gigabytes.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Size of the little-endian length prefix.
pub(super) const PREFIX_LEN: usize = 8;

/// The key under which free-form string metadata lives.
pub(super) const METADATA_KEY: &str = "__metadata__";

/// One tensor entry of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    /// Start offset, relative to the beginning of the data section.
    pub start: u64,
    /// End offset (exclusive), relative to the beginning of the data section.
    pub end: u64,
}

impl TensorInfo {
    /// Number of elements (product of the shape; 1 for a scalar). Saturates
    /// instead of overflowing; never saturates for a parsed header.
    pub fn num_elements(&self) -> u64 {
        product(&self.shape)
    }

    /// Bytes this tensor occupies in the data section (`end - start`, which
    /// a parsed header guarantees equals elements × dtype size).
    pub fn byte_len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Elements per row: the product of all dims but the first; for a 1-D
    /// tensor the whole length (one row), for a scalar 1. Zero if a trailing
    /// dim is zero — callers must not divide by it; use [`Self::num_rows`].
    pub fn row_len(&self) -> u64 {
        match self.shape.as_slice() {
            [] => 1,
            [n] => *n,
            [_, rest @ ..] => product(rest),
        }
    }

    /// Number of rows, consistent with [`Self::row_len`]:
    /// `num_rows() * row_len() == num_elements()` (computed without division).
    pub fn num_rows(&self) -> u64 {
        match self.shape.as_slice() {
            [] | [_] => 1,
            [n, ..] => *n,
        }
    }
}

fn product(dims: &[u64]) -> u64 {
    dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
}

/// A parsed, validated safetensors header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    raw: Vec<u8>,
    tensors: Vec<TensorInfo>,
    metadata: Option<BTreeMap<String, String>>,
}

impl Header {
    /// The exact header bytes from the file: the 8-byte length prefix and the
    /// JSON including any trailing padding.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The JSON part of [`Self::raw`] (without the length prefix).
    pub fn json(&self) -> &[u8] {
        self.raw.get(PREFIX_LEN..).unwrap_or_default()
    }

    /// Tensors in data layout order: sorted by `(start, end, name)`, so
    /// zero-length tensors sharing an offset come out deterministically.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The `__metadata__` map, if the header had one (and it was not `null`).
    pub fn metadata(&self) -> Option<&BTreeMap<String, String>> {
        self.metadata.as_ref()
    }

    /// Length of the data section: end of the last tensor, 0 if none.
    pub fn data_len(&self) -> u64 {
        self.tensors.last().map_or(0, |t| t.end)
    }

    /// Total file length: header bytes plus data section. Validated at parse
    /// time not to overflow.
    pub fn file_len(&self) -> u64 {
        (self.raw.len() as u64).saturating_add(self.data_len())
    }

    /// Parse and validate `raw` = 8-byte length prefix + JSON header bytes
    /// (exactly as many as the prefix declares).
    pub fn parse(raw: Vec<u8>) -> Result<Header> {
        let prefix: [u8; PREFIX_LEN] = match raw.get(..PREFIX_LEN).map(<[u8; PREFIX_LEN]>::try_from)
        {
            Some(Ok(p)) => p,
            _ => {
                return Err(Error::HeaderTooShort {
                    len: raw.len() as u64,
                })
            }
        };
        let declared = check_declared_len(prefix)?;
        let actual = raw.len().saturating_sub(PREFIX_LEN) as u64;
        if actual < declared {
            return Err(Error::TruncatedHeader {
                expected: declared,
                got: actual,
            });
        }
        if actual > declared {
            return Err(Error::HeaderLenMismatch { declared, actual });
        }

        let json = raw.get(PREFIX_LEN..).unwrap_or_default();
        let (mut tensors, metadata) = parse_json(json)?;
        for t in &tensors {
            check_tensor(t)?;
        }
        tensors.sort_by(|a, b| (a.start, a.end, &a.name).cmp(&(b.start, b.end, &b.name)));
        check_layout(&tensors)?;

        let header = Header {
            raw,
            tensors,
            metadata,
        };
        let data_len = header.data_len();
        if (header.raw.len() as u64).checked_add(data_len).is_none() {
            return Err(Error::FileLenOverflow { data_len });
        }
        Ok(header)
    }

    /// Read the header from the start of a stream, leaving `r` positioned at
    /// the first data byte. The declared length is checked against
    /// [`MAX_HEADER_LEN`] before anything is allocated, and the buffer only
    /// grows as bytes actually arrive.
    pub fn read_from<R: Read + ?Sized>(r: &mut R) -> Result<Header> {
        let mut prefix = [0u8; PREFIX_LEN];
        let got = read_full(r, &mut prefix)?;
        if got < PREFIX_LEN {
            return Err(Error::HeaderTooShort { len: got as u64 });
        }
        let declared = check_declared_len(prefix)?;

        // Start small: the declared length is untrusted until the bytes exist.
        let initial = PREFIX_LEN.saturating_add(declared.min(64 * 1024) as usize);
        let mut raw = Vec::with_capacity(initial);
        raw.extend_from_slice(&prefix);
        let got = (&mut *r).take(declared).read_to_end(&mut raw)? as u64;
        if got < declared {
            return Err(Error::TruncatedHeader {
                expected: declared,
                got,
            });
        }
        Header::parse(raw)
    }
}

/// Validate the length prefix on its own (before any allocation) and
/// return the JSON length it declares.
pub fn check_declared_len(prefix: [u8; PREFIX_LEN]) -> Result<u64> {
    // Compressing a compressed file is a common slip: say so, rather than
    // report its magic bytes as an absurd header length.
    if prefix == crate::container::MAGIC {
        return Err(Error::InputIsStz);
    }
    let len = u64::from_le_bytes(prefix);
    if len == 0 {
        return Err(Error::HeaderLenZero);
    }
    if len > MAX_HEADER_LEN {
        return Err(Error::HeaderTooLarge {
            len,
            max: MAX_HEADER_LEN,
        });
    }
    Ok(len)
}

/// Per-tensor checks: sizes fit in u64 and agree with the offsets.
fn check_tensor(t: &TensorInfo) -> Result<()> {
    let overflow = || Error::TensorSizeOverflow {
        tensor: t.name.clone(),
        dtype: t.dtype,
        shape: t.shape.clone(),
    };
    let elements = t
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    let bytes = elements
        .checked_mul(t.dtype.size() as u64)
        .ok_or_else(overflow)?;
    if t.start > t.end {
        return Err(Error::OffsetsReversed {
            tensor: t.name.clone(),
            begin: t.start,
            end: t.end,
        });
    }
    let span = t.end - t.start;
    if span != bytes {
        return Err(Error::TensorSizeMismatch {
            tensor: t.name.clone(),
            expected: bytes,
            actual: span,
        });
    }
    Ok(())
}

/// The data section must be covered exactly: sorted tensors start at 0 and
/// each begins where the previous ended (no overlap, no gap), as the
/// safetensors spec requires.
fn check_layout(sorted: &[TensorInfo]) -> Result<()> {
    let mut cursor = 0u64;
    let mut previous: Option<&str> = None;
    for t in sorted {
        if t.start < cursor {
            return Err(Error::OverlappingTensors {
                tensor: t.name.clone(),
                previous: previous.unwrap_or_default().to_string(),
                start: t.start,
                previous_end: cursor,
            });
        }
        if t.start > cursor {
            return Err(Error::DataGap {
                tensor: t.name.clone(),
                expected_start: cursor,
                start: t.start,
            });
        }
        cursor = t.end;
        previous = Some(&t.name);
    }
    Ok(())
}

type Parsed = (Vec<TensorInfo>, Option<BTreeMap<String, String>>);

/// Parse the JSON header into tensors and metadata.
///
/// Semantic failures found inside serde visitors are stashed in a side slot
/// (serde errors can only carry a string) and take precedence over the
/// generic JSON error they abort the parse with — unless serde_json reports a
/// syntax/EOF error, which means the JSON itself is broken.
fn parse_json(json: &[u8]) -> Result<Parsed> {
    let text = std::str::from_utf8(json).map_err(|e| Error::HeaderNotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    check_depth(json)?;
    match json.first() {
        Some(b'{') => {}
        Some(&found) => return Err(classify_non_object(text, found)),
        None => return Err(Error::HeaderLenZero),
    }

    let mut slot: Option<Error> = None;
    // `from_str` keeps serde_json's recursion limit (128), so deeply nested
    // input is refused with an error rather than overflowing the stack.
    let mut de = serde_json::Deserializer::from_str(text);
    let result = HeaderSeed { slot: &mut slot }
        .deserialize(&mut de)
        .and_then(|parsed| de.end().map(|()| parsed));
    match result {
        Ok(parsed) => Ok(parsed),
        Err(e) => Err(match (e.classify(), slot) {
            (Category::Data, Some(ours)) => ours,
            _ => json_error(e),
        }),
    }
}

/// Deepest JSON nesting accepted (serde_json's own recursion limit): a
/// header nested deeper is refused before it is parsed. Real headers nest
/// 3 levels.
pub const MAX_JSON_DEPTH: usize = 128;

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`] with one linear scan
/// (brackets inside strings do not count), so deep nesting gives the same
/// error wherever it is, whatever else is wrong further in.
fn check_depth(json: &[u8]) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(Error::HeaderTooDeep {
                        limit: MAX_JSON_DEPTH,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A JSON error, with nesting beyond [`MAX_JSON_DEPTH`] named on its own.
fn json_error(e: serde_json::Error) -> Error {
    let message = e.to_string();
    if message.starts_with("recursion limit exceeded") {
        Error::HeaderTooDeep {
            limit: MAX_JSON_DEPTH,
        }
    } else {
        Error::InvalidJson { message }
    }
}

/// Name the problem with a header that does not start with `{`.
fn classify_non_object(text: &str, found: u8) -> Error {
    match serde_json::from_str::<IgnoredAny>(text) {
        Err(e) => json_error(e),
        Ok(_) if text.trim_start_matches(is_json_ws).starts_with('{') => {
            Error::HeaderBadStart { found }
        }
        Ok(_) => Error::HeaderNotObject,
    }
}

fn is_json_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Record `err` unless an inner (more specific) error is already recorded.
fn record(slot: &mut Option<Error>, err: Error) {
    if slot.is_none() {
        *slot = Some(err);
    }
}

/// [`record`] `err` and return a serde error that aborts the parse.
fn fail<E: de::Error>(slot: &mut Option<Error>, err: Error) -> E {
    record(slot, err);
    E::custom("safetensors header rejected")
}

/// Top level: a JSON object of tensor entries plus optional `__metadata__`.
struct HeaderSeed<'a> {
    slot: &'a mut Option<Error>,
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a safetensors header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let slot = self.slot;
        let mut tensors = Vec::new();
        let mut names = HashSet::new();
        let mut metadata = None;
        let mut seen_metadata = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == METADATA_KEY {
                if seen_metadata {
                    return Err(fail(slot, Error::DuplicateKey { key }));
                }
                seen_metadata = true;
                metadata = map.next_value_seed(MetadataSeed { slot: &mut *slot })?;
            } else {
                if names.contains(&key) {
                    return Err(fail(slot, Error::DuplicateKey { key }));
                }
                let info = map.next_value_seed(TensorSeed {
                    slot: &mut *slot,
                    name: &key,
                })?;
                names.insert(key);
                tensors.push(info);
            }
        }
        Ok((tensors, metadata))
    }
}

/// `__metadata__`: `null` (as the reference crate accepts) or an object of
/// string values with unique keys.
struct MetadataSeed<'a> {
    slot: &'a mut Option<Error>,
}

impl<'de> DeserializeSeed<'de> for MetadataSeed<'_> {
    type Value = Option<BTreeMap<String, String>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let slot = self.slot;
        d.deserialize_option(MetadataVisitor { slot: &mut *slot })
            .map_err(|e| {
                let detail = e.to_string();
                fail(slot, Error::MetadataNotStringMap { detail })
            })
    }
}

struct MetadataVisitor<'a> {
    slot: &'a mut Option<Error>,
}

impl<'de> Visitor<'de> for MetadataVisitor<'_> {
    type Value = Option<BTreeMap<String, String>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of string to string")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let slot = self.slot;
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(fail(slot, Error::DuplicateMetadataKey { key }));
            }
            let value = match map.next_value::<String>() {
                Ok(v) => v,
                Err(e) => {
                    let detail = format!("value of {key:?}: {e}");
                    record(slot, Error::MetadataNotStringMap { detail });
                    return Err(e);
                }
            };
            out.insert(key, value);
        }
        Ok(Some(out))
    }
}

/// One tensor entry: exactly `dtype`, `shape` and `data_offsets`.
struct TensorSeed<'a> {
    slot: &'a mut Option<Error>,
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for TensorSeed<'_> {
    type Value = TensorInfo;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TensorInfo, D::Error> {
        let TensorSeed { slot, name } = self;
        d.deserialize_map(TensorVisitor {
            slot: &mut *slot,
            name,
        })
        .inspect_err(|_| {
            // Only recorded when the value is not an object at all; any
            // failure inside the object has already recorded something better.
            let tensor = name.to_string();
            record(slot, Error::TensorNotObject { tensor });
        })
    }
}

struct TensorVisitor<'a> {
    slot: &'a mut Option<Error>,
    name: &'a str,
}

impl TensorVisitor<'_> {
    fn field_type_error(&self, field: &'static str, message: String) -> Error {
        Error::TensorFieldType {
            tensor: self.name.to_string(),
            field,
            message,
        }
    }

    /// Read the value of `field`, turning a type error into `TensorFieldType`.
    fn value<'de, T: de::Deserialize<'de>, A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        field: &'static str,
    ) -> Result<T, A::Error> {
        map.next_value::<T>().inspect_err(|e| {
            let err = self.field_type_error(field, e.to_string());
            record(self.slot, err);
        })
    }
}

impl<'de> Visitor<'de> for TensorVisitor<'_> {
    type Value = TensorInfo;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tensor entry object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<TensorInfo, A::Error> {
        let mut dtype: Option<Dtype> = None;
        let mut shape: Option<Vec<u64>> = None;
        let mut offsets: Option<(u64, u64)> = None;
        while let Some(field) = map.next_key::<String>()? {
            let already = match field.as_str() {
                "dtype" => dtype.is_some(),
                "shape" => shape.is_some(),
                "data_offsets" => offsets.is_some(),
                _ => {
                    let err = Error::TensorUnknownField {
                        tensor: self.name.to_string(),
                        field,
                    };
                    return Err(fail(self.slot, err));
                }
            };
            if already {
                let err = Error::TensorDuplicateField {
                    tensor: self.name.to_string(),
                    field,
                };
                return Err(fail(self.slot, err));
            }
            match field.as_str() {
                "dtype" => {
                    let name: String = self.value(&mut map, "dtype")?;
                    dtype = Some(Dtype::from_name(&name).map_err(|e| fail(self.slot, e))?);
                }
                "shape" => shape = Some(self.value(&mut map, "shape")?),
                _ => {
                    let v: Vec<u64> = self.value(&mut map, "data_offsets")?;
                    match v.as_slice() {
                        [begin, end] => offsets = Some((*begin, *end)),
                        other => {
                            let msg = format!("expected 2 offsets, found {}", other.len());
                            let err = self.field_type_error("data_offsets", msg);
                            return Err(fail(self.slot, err));
                        }
                    }
                }
            }
        }
        let missing = |field: &'static str| Error::TensorMissingField {
            tensor: self.name.to_string(),
            field,
        };
        let (dtype, shape, (start, end)) = match (dtype, shape, offsets) {
            (Some(d), Some(s), Some(o)) => (d, s, o),
            (None, _, _) => return Err(fail(self.slot, missing("dtype"))),
            (_, None, _) => return Err(fail(self.slot, missing("shape"))),
            (_, _, None) => return Err(fail(self.slot, missing("data_offsets"))),
        };
        Ok(TensorInfo {
            name: self.name.to_string(),
            dtype,
            shape,
            start,
            end,
        })
    }
}
