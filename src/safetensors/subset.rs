//! The header of a safetensors file that holds some of another file's
//! tensors: what extracting tensors by name writes before their data.

use super::header::{METADATA_KEY, PREFIX_LEN};
use super::{Header, TensorInfo};
use crate::error::{Error, Result};

/// Header alignment: the JSON is padded with spaces so the data starts at a
/// multiple of 8 bytes, as the `safetensors` libraries write it (readers
/// that map the file then see aligned tensors).
const ALIGN: usize = 8;

impl Header {
    /// The header of a file holding the tensors named in `names` (any
    /// order; a name given twice counts once), with their data back to back
    /// in this file's order, and this file's `__metadata__`. Errors with
    /// [`Error::TensorNotFound`] on the first name this header lacks.
    /// Returns the new header and, for each of its tensors, the position
    /// of the same tensor in [`Header::tensors`] of this one.
    pub fn subset<S: AsRef<str>>(&self, names: &[S]) -> Result<(Header, Vec<usize>)> {
        for name in names {
            let name = name.as_ref();
            if !self.tensors().iter().any(|t| t.name == name) {
                return Err(Error::TensorNotFound {
                    name: name.to_string(),
                });
            }
        }
        let picked: Vec<usize> = self
            .tensors()
            .iter()
            .enumerate()
            .filter(|(_, t)| names.iter().any(|n| n.as_ref() == t.name))
            .map(|(i, _)| i)
            .collect();
        let tensors = picked.iter().filter_map(|&i| self.tensors().get(i));
        let json = subset_json(tensors, self.metadata())?;
        Ok((Header::parse(json)?, picked))
    }
}

/// Length prefix and JSON: `__metadata__` first, then the tensors in the
/// order given with consecutive `data_offsets`, padded with spaces to
/// [`ALIGN`].
fn subset_json<'a>(
    tensors: impl Iterator<Item = &'a TensorInfo>,
    metadata: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<Vec<u8>> {
    let quote = |s: &str| serde_json::to_string(s).map_err(|_| Error::Internal("JSON string"));
    let mut entries = Vec::new();
    if let Some(m) = metadata {
        let map = serde_json::to_string(m).map_err(|_| Error::Internal("JSON metadata"))?;
        entries.push(format!("{}:{map}", quote(METADATA_KEY)?));
    }
    let mut offset = 0u64;
    for t in tensors {
        let end = offset
            .checked_add(t.byte_len())
            .ok_or(Error::FileLenOverflow { data_len: offset })?;
        let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
        entries.push(format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            quote(&t.name)?,
            t.dtype.name(),
            shape.join(",")
        ));
        offset = end;
    }
    let mut json = format!("{{{}}}", entries.join(",")).into_bytes();
    let padded = (PREFIX_LEN + json.len()).next_multiple_of(ALIGN) - PREFIX_LEN;
    json.resize(padded, b' ');
    let mut raw = (json.len() as u64).to_le_bytes().to_vec();
    raw.extend_from_slice(&json);
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> Header {
        let mut raw = (json.len() as u64).to_le_bytes().to_vec();
        raw.extend_from_slice(json.as_bytes());
        Header::parse(raw).unwrap()
    }

    #[test]
    fn a_subset_keeps_metadata_and_packs_the_data_in_file_order() {
        let h = header(concat!(
            r#"{"z":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"#,
            r#""a \"q\"":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},"#,
            r#""e":{"dtype":"I64","shape":[],"data_offsets":[32,40]},"#,
            r#""__metadata__":{"format":"pt"}}"#
        ));
        let (sub, picked) = h.subset(&["e", "z", "e"]).unwrap();
        let json = concat!(
            r#"{"__metadata__":{"format":"pt"},"#,
            r#""z":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"#,
            r#""e":{"dtype":"I64","shape":[],"data_offsets":[24,32]}}"#
        );
        let pad = (8 + json.len()).next_multiple_of(8) - 8 - json.len();
        let mut raw = ((json.len() + pad) as u64).to_le_bytes().to_vec();
        raw.extend_from_slice(json.as_bytes());
        raw.extend(std::iter::repeat_n(b' ', pad));
        assert_eq!(sub.raw(), raw.as_slice());
        assert_eq!(sub.raw().len() % 8, 0);
        assert_eq!(picked, vec![0, 2]);
        assert_eq!(sub.file_len(), sub.raw().len() as u64 + 32);

        let (quoted, picked) = h.subset(&["a \"q\""]).unwrap();
        assert_eq!(picked, vec![1]);
        assert_eq!(quoted.tensors()[0].name, "a \"q\"");
        assert_eq!(quoted.tensors()[0].shape, vec![4]);
    }

    #[test]
    fn a_subset_of_unknown_names_is_an_error_and_of_none_is_empty() {
        let h = header(r#"{"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}"#);
        match h.subset(&["w", "nope"]) {
            Err(Error::TensorNotFound { name }) => assert_eq!(name, "nope"),
            other => panic!("{other:?}"),
        }
        let (empty, picked) = h.subset::<&str>(&[]).unwrap();
        assert!(empty.tensors().is_empty() && picked.is_empty());
        assert_eq!(empty.raw(), b"\x08\0\0\0\0\0\0\0{}      ");
    }
}
