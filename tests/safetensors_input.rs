//! Tests of the streaming safetensors input module: header parsing, exact
//! raw-byte preservation, every named validation error, and the data reader.

use std::io::{self, Cursor, Read};

use stzip::safetensors::{open, DataReader, Dtype, Header, TensorInfo, MAX_HEADER_LEN};
use stzip::Error;

// ---- helpers ---------------------------------------------------------------

/// Length prefix + JSON + `pad` spaces.
fn raw_header(json: &str, pad: usize) -> Vec<u8> {
    let mut body = json.as_bytes().to_vec();
    body.extend(std::iter::repeat_n(b' ', pad));
    let mut raw = (body.len() as u64).to_le_bytes().to_vec();
    raw.extend(body);
    raw
}

fn parse_json(json: &str) -> Result<Header, Error> {
    Header::parse(raw_header(json, 0))
}

/// A tensor to serialize: (name, dtype, shape).
type Spec<'a> = (&'a str, Dtype, &'a [u64]);

/// Serialize tensors (laid out contiguously in the given order) and optional
/// metadata into a safetensors file; the data bytes are a counter pattern.
/// Returns (header JSON, whole file).
fn build(tensors: &[Spec], metadata: Option<&[(&str, &str)]>, pad: usize) -> (String, Vec<u8>) {
    let mut entries = Vec::new();
    if let Some(md) = metadata {
        let kv: Vec<String> = md
            .iter()
            .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
            .collect();
        entries.push(format!("\"__metadata__\":{{{}}}", kv.join(",")));
    }
    let mut offset = 0u64;
    for (name, dtype, shape) in tensors {
        let len = shape.iter().product::<u64>() * dtype.size() as u64;
        entries.push(format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":{:?},\"data_offsets\":[{},{}]}}",
            json_str(name),
            dtype.name(),
            shape,
            offset,
            offset + len
        ));
        offset += len;
    }
    let json = format!("{{{}}}", entries.join(","));
    let mut file = raw_header(&json, pad);
    file.extend((0..offset).map(|i| (i * 7 + 3) as u8));
    (json, file)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn header_of(file: &[u8]) -> Header {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    Header::parse(file[..8 + n].to_vec()).unwrap()
}

/// Read the whole data section through `open` in chunks of `chunk` bytes.
fn read_all<R: Read>(r: R, chunk: usize) -> Result<(Header, Vec<u8>), Error> {
    let (header, mut data) = open(r)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk];
    while data.remaining() > 0 {
        let n = (data.remaining() as usize).min(chunk);
        data.read_exact(&mut buf[..n])?;
        out.extend_from_slice(&buf[..n]);
        assert_eq!(data.position(), out.len() as u64);
    }
    data.finish()?;
    Ok((header, out))
}

/// Returns at most one byte per `read` call, and `Interrupted` every other
/// call, to exercise the retry/short-read paths.
struct Trickle<R> {
    inner: R,
    calls: usize,
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(2) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "again"));
        }
        let n = buf.len().min(1);
        self.inner.read(&mut buf[..n])
    }
}

fn trickle(bytes: &[u8]) -> Trickle<Cursor<&[u8]>> {
    Trickle {
        inner: Cursor::new(bytes),
        calls: 0,
    }
}

const SPECS: &[Spec] = &[
    ("embed.weight", Dtype::BF16, &[4, 3]),
    ("layer.0.bias", Dtype::F32, &[5]),
    ("scale", Dtype::F64, &[]),
    ("mask", Dtype::Bool, &[2, 2, 2]),
];

// ---- round trips -----------------------------------------------------------

#[test]
fn round_trip_with_metadata() {
    let md: &[(&str, &str)] = &[("format", "pt"), ("note", "quote \" and \\u00e9 é")];
    let (_, file) = build(SPECS, Some(md), 3);
    let header = header_of(&file);

    assert_eq!(header.raw(), &file[..header.raw().len()]);
    assert_eq!(header.file_len(), file.len() as u64);
    assert_eq!(header.data_len(), 24 + 20 + 8 + 8);
    let md_map = header.metadata().unwrap();
    assert_eq!(md_map.len(), 2);
    assert_eq!(md_map["note"], "quote \" and \\u00e9 é");

    let names: Vec<&str> = header.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["embed.weight", "layer.0.bias", "scale", "mask"]);
    let t = &header.tensors()[0];
    assert_eq!(
        *t,
        TensorInfo {
            name: "embed.weight".into(),
            dtype: Dtype::BF16,
            shape: vec![4, 3],
            start: 0,
            end: 24
        }
    );
    assert_eq!(
        (t.num_elements(), t.byte_len(), t.row_len(), t.num_rows()),
        (12, 24, 3, 4)
    );
    let bias = &header.tensors()[1];
    assert_eq!((bias.row_len(), bias.num_rows()), (5, 1));
    let scalar = &header.tensors()[2];
    assert_eq!(
        (scalar.num_elements(), scalar.row_len(), scalar.num_rows()),
        (1, 1, 1)
    );
    let mask = &header.tensors()[3];
    assert_eq!((mask.row_len(), mask.num_rows()), (4, 2));

    // Whole file through the streaming reader, several chunk sizes.
    for chunk in [1, 3, 8, 1000] {
        let (h2, data) = read_all(Cursor::new(&file), chunk).unwrap();
        assert_eq!(h2, header);
        assert_eq!(data, &file[header.raw().len()..]);
    }
}

#[test]
fn raw_preserves_padding_exactly() {
    for pad in [0, 1, 7, 8, 100] {
        let (json, file) = build(SPECS, Some(&[("a", "b")]), pad);
        let header = header_of(&file);
        assert_eq!(header.raw().len(), 8 + json.len() + pad);
        assert_eq!(header.raw(), &file[..8 + json.len() + pad]);
        assert_eq!(&header.json()[..json.len()], json.as_bytes());
        assert!(header.json()[json.len()..].iter().all(|&b| b == b' '));
        assert_eq!(header.file_len(), file.len() as u64);
    }
}

#[test]
fn whitespace_inside_and_after_json_is_kept() {
    let json = "{ \"__metadata__\" : { \"k\" : \"v\" } ,\n\t\"t\" : { \"shape\" : [ 2 ] , \"data_offsets\" : [ 0 , 2 ] , \"dtype\" : \"U8\" } }\n\r\t ";
    let header = parse_json(json).unwrap();
    assert_eq!(&header.raw()[8..], json.as_bytes());
    assert_eq!(header.tensors()[0].shape, vec![2]);
}

#[test]
fn tensors_sorted_by_offset_not_json_order() {
    let json = r#"{"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]},"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}"#;
    let h = parse_json(json).unwrap();
    let names: Vec<&str> = h.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(h.data_len(), 5);
}

#[test]
fn zero_element_tensors_anywhere_with_deterministic_ties() {
    let json = r#"{
        "z2":{"dtype":"F32","shape":[0,4],"data_offsets":[4,4]},
        "a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
        "z1":{"dtype":"F16","shape":[3,0],"data_offsets":[4,4]},
        "z0":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},
        "b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},
        "zend":{"dtype":"I64","shape":[0],"data_offsets":[6,6]}
    }"#;
    let h = parse_json(json).unwrap();
    let names: Vec<&str> = h.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["z0", "a", "z1", "z2", "b", "zend"]);
    assert_eq!(h.data_len(), 6);
    let z1 = &h.tensors()[2];
    assert_eq!(
        (
            z1.num_elements(),
            z1.byte_len(),
            z1.row_len(),
            z1.num_rows()
        ),
        (0, 0, 0, 3)
    );
    let z2 = &h.tensors()[3];
    assert_eq!((z2.num_elements(), z2.row_len(), z2.num_rows()), (0, 4, 0));
    let z0 = &h.tensors()[0];
    assert_eq!((z0.num_elements(), z0.row_len(), z0.num_rows()), (0, 0, 1));
    for t in h.tensors() {
        assert_eq!(t.num_rows() * t.row_len(), t.num_elements());
    }
}

#[test]
fn only_metadata_no_tensors() {
    let (_, file) = build(&[], Some(&[("k", "v")]), 2);
    let h = header_of(&file);
    assert!(h.tensors().is_empty());
    assert_eq!(h.data_len(), 0);
    assert_eq!(h.file_len(), file.len() as u64);
    let (_, data) = read_all(Cursor::new(&file), 16).unwrap();
    assert!(data.is_empty());

    let empty = parse_json("{}").unwrap();
    assert!(empty.metadata().is_none());
    assert_eq!(empty.file_len(), 10);
}

#[test]
fn metadata_null_is_accepted_like_reference_crate() {
    let h = parse_json(r#"{"__metadata__":null}"#).unwrap();
    assert!(h.metadata().is_none());
    let h = parse_json(r#"{"__metadata__":{}}"#).unwrap();
    assert!(h.metadata().unwrap().is_empty());
}

#[test]
fn cross_check_with_safetensors_crate() {
    use safetensors::tensor::{Dtype as StDtype, TensorView};
    let a: Vec<u8> = (0..24).collect();
    let b: Vec<u8> = (0..6).collect();
    let c: Vec<u8> = vec![];
    let d: Vec<u8> = (0..8).collect();
    let views = vec![
        ("w", TensorView::new(StDtype::F32, vec![2, 3], &a).unwrap()),
        ("b", TensorView::new(StDtype::I16, vec![3], &b).unwrap()),
        ("e", TensorView::new(StDtype::BF16, vec![0, 7], &c).unwrap()),
        ("s", TensorView::new(StDtype::F64, vec![], &d).unwrap()),
    ];
    let md = std::collections::HashMap::from([("x".to_string(), "y".to_string())]);
    let file = safetensors::serialize(views, Some(md)).unwrap();

    let (n, reference) = safetensors::SafeTensors::read_metadata(&file).unwrap();
    let (ours, data) = read_all(trickle(&file), 5).unwrap();
    assert_eq!(ours.raw().len(), 8 + n);
    assert_eq!(ours.data_len() as usize, reference.data_len());
    assert_eq!(data, &file[8 + n..]);
    let names: Vec<String> = ours.tensors().iter().map(|t| t.name.clone()).collect();
    // Same offsets for every tensor; our order is by (start, end, name).
    let ref_tensors = reference.tensors();
    for t in ours.tensors() {
        let r = ref_tensors[&t.name];
        assert_eq!((t.start as usize, t.end as usize), r.data_offsets);
        let shape: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
        assert_eq!(shape, r.shape);
        assert_eq!(t.dtype.name(), format!("{:?}", r.dtype));
    }
    assert_eq!(names.len(), 4);
    assert_eq!(ours.metadata().unwrap()["x"], "y");
}

/// Our layout validation agrees with the reference crate on accept/reject.
#[test]
fn layout_validation_agrees_with_reference_crate() {
    let cases = [
        (
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
            true,
        ),
        (
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#,
            false,
        ),
        (
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,0]}}"#,
            false,
        ),
        (
            r#"{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,2]}}"#,
            false,
        ),
        (
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#,
            false,
        ),
        (
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}"#,
            false,
        ),
        (
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}"#,
            true,
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}}"#,
            true,
        ),
    ];
    for (json, ok) in cases {
        let reference = serde_json::from_str::<safetensors::tensor::Metadata>(json);
        assert_eq!(reference.is_ok(), ok, "reference on {json}");
        assert_eq!(
            parse_json(json).is_ok(),
            ok,
            "ours on {json}: {:?}",
            parse_json(json)
        );
    }
}

// ---- malformed headers -----------------------------------------------------

fn err(json: &str) -> Error {
    parse_json(json).unwrap_err()
}

const OK_ENTRY: &str = r#"{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#;

#[test]
fn too_short_zero_and_too_large_lengths() {
    for len in 0..8 {
        let e = Header::parse(vec![0; len]).unwrap_err();
        assert!(matches!(e, Error::HeaderTooShort { len: l } if l == len as u64));
        let e = Header::read_from(&mut Cursor::new(vec![1u8; len])).unwrap_err();
        assert!(matches!(e, Error::HeaderTooShort { len: l } if l == len as u64));
    }
    let zero = 0u64.to_le_bytes().to_vec();
    assert!(matches!(
        Header::parse(zero.clone()),
        Err(Error::HeaderLenZero)
    ));
    assert!(matches!(
        Header::read_from(&mut &zero[..]),
        Err(Error::HeaderLenZero)
    ));

    for len in [MAX_HEADER_LEN + 1, u64::MAX] {
        let prefix = len.to_le_bytes().to_vec();
        let e = Header::parse(prefix.clone()).unwrap_err();
        assert!(matches!(e, Error::HeaderTooLarge { len: l, max: MAX_HEADER_LEN } if l == len));
        // No allocation of the declared size happens: it fails immediately.
        let e = Header::read_from(&mut &prefix[..]).unwrap_err();
        assert!(matches!(e, Error::HeaderTooLarge { .. }));
    }
}

#[test]
fn truncated_and_mismatched_header() {
    let mut raw = raw_header(r#"{"__metadata__":{"k":"v"}}"#, 0);
    let full = raw.len() as u64 - 8;
    raw.truncate(15);
    let e = Header::parse(raw.clone()).unwrap_err();
    assert!(matches!(e, Error::TruncatedHeader { expected, got: 7 } if expected == full));
    let e = Header::read_from(&mut trickle(&raw)).unwrap_err();
    assert!(matches!(e, Error::TruncatedHeader { expected, got: 7 } if expected == full));

    let mut raw = raw_header("{}", 0);
    raw.push(b' ');
    let e = Header::parse(raw).unwrap_err();
    assert!(matches!(
        e,
        Error::HeaderLenMismatch {
            declared: 2,
            actual: 3
        }
    ));
}

#[test]
fn header_not_utf8() {
    let mut raw = raw_header("{\"__metadata__\":{\"k\":\"v?\"}}", 0);
    let pos = raw.iter().position(|&b| b == b'?').unwrap();
    raw[pos] = 0xff;
    let e = Header::parse(raw).unwrap_err();
    assert!(matches!(e, Error::HeaderNotUtf8 { valid_up_to } if valid_up_to == pos - 8));
}

#[test]
fn bad_start_not_object_and_invalid_json() {
    assert!(matches!(err(" {}"), Error::HeaderBadStart { found: b' ' }));
    assert!(matches!(
        err("\n{}"),
        Error::HeaderBadStart { found: b'\n' }
    ));
    for json in ["[1]", "\"x\"", "1", "null", "true", " []"] {
        assert!(matches!(err(json), Error::HeaderNotObject), "{json}");
    }
    for json in [
        "{",
        "{\"a\":",
        "{}x",
        "{} {}",
        "\u{feff}{}",
        "x",
        "{\"a\" 1}",
        "{,}",
        " {",
    ] {
        let e = err(json);
        assert!(
            matches!(e, Error::InvalidJson { ref message } if !message.is_empty()),
            "{json}: {e:?}"
        );
    }
    // A syntax error inside a tensor entry is still a JSON error.
    assert!(matches!(
        err(r#"{"a":{"dtype":"U8","shape":[1,}}"#),
        Error::InvalidJson { .. }
    ));
}

#[test]
fn tensor_entry_shape_errors() {
    for v in ["1", "[]", "null", "\"x\"", "true"] {
        let e = err(&format!("{{\"a\":{v}}}"));
        assert!(
            matches!(e, Error::TensorNotObject { ref tensor } if tensor == "a"),
            "{v}: {e:?}"
        );
    }
    let missing = [
        (r#"{"shape":[1],"data_offsets":[0,1]}"#, "dtype"),
        (r#"{"dtype":"U8","data_offsets":[0,1]}"#, "shape"),
        (r#"{"dtype":"U8","shape":[1]}"#, "data_offsets"),
        ("{}", "dtype"),
    ];
    for (entry, want) in missing {
        let e = err(&format!("{{\"t\":{entry}}}"));
        assert!(
            matches!(e, Error::TensorMissingField { ref tensor, field } if tensor == "t" && field == want),
            "{entry}: {e:?}"
        );
    }
    let wrong = [
        (r#"{"dtype":1,"shape":[1],"data_offsets":[0,1]}"#, "dtype"),
        (
            r#"{"dtype":null,"shape":[1],"data_offsets":[0,1]}"#,
            "dtype",
        ),
        (
            r#"{"dtype":"U8","shape":"1","data_offsets":[0,1]}"#,
            "shape",
        ),
        (
            r#"{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}"#,
            "shape",
        ),
        (
            r#"{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}"#,
            "shape",
        ),
        (
            r#"{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}"#,
            "shape",
        ),
        (
            r#"{"dtype":"U8","shape":[[1]],"data_offsets":[0,1]}"#,
            "shape",
        ),
        (
            r#"{"dtype":"U8","shape":[1],"data_offsets":[0]}"#,
            "data_offsets",
        ),
        (
            r#"{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}"#,
            "data_offsets",
        ),
        (
            r#"{"dtype":"U8","shape":[1],"data_offsets":{"a":0}}"#,
            "data_offsets",
        ),
        (
            r#"{"dtype":"U8","shape":[1],"data_offsets":[0,"1"]}"#,
            "data_offsets",
        ),
    ];
    for (entry, want) in wrong {
        let e = err(&format!("{{\"t\":{entry}}}"));
        assert!(
            matches!(e, Error::TensorFieldType { ref tensor, field, ref message }
                if tensor == "t" && field == want && !message.is_empty()),
            "{entry}: {e:?}"
        );
    }
    let e = err(r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":0}}"#);
    assert!(
        matches!(e, Error::TensorUnknownField { ref tensor, ref field } if tensor == "t" && field == "extra")
    );
    let e = err(r#"{"t":{"dtype":"U8","shape":[1],"shape":[1],"data_offsets":[0,1]}}"#);
    assert!(matches!(e, Error::TensorDuplicateField { ref field, .. } if field == "shape"));
    let e = err(r#"{"t":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}"#);
    assert!(matches!(e, Error::UnknownDtype(ref d) if d == "F4"));
    let e = err(r#"{"t":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#);
    assert!(matches!(e, Error::UnknownDtype(ref d) if d == "f32"));
}

#[test]
fn metadata_errors() {
    for v in [
        "1",
        "[]",
        "\"x\"",
        r#"{"k":1}"#,
        r#"{"k":null}"#,
        r#"{"k":["v"]}"#,
        r#"{"k":{}}"#,
    ] {
        let e = err(&format!("{{\"__metadata__\":{v}}}"));
        assert!(
            matches!(e, Error::MetadataNotStringMap { ref detail } if !detail.is_empty()),
            "{v}: {e:?}"
        );
    }
    let e = err(r#"{"__metadata__":{"k":"a","j":"b","k":"c"}}"#);
    assert!(matches!(e, Error::DuplicateMetadataKey { ref key } if key == "k"));
}

#[test]
fn duplicate_top_level_keys() {
    let e = err(&format!("{{\"a\":{OK_ENTRY},\"a\":{OK_ENTRY}}}"));
    assert!(matches!(e, Error::DuplicateKey { ref key } if key == "a"));
    // Escapes decode to the same key: still a duplicate.
    let e = err(&format!("{{\"a\":{OK_ENTRY},\"\\u0061\":{OK_ENTRY}}}"));
    assert!(matches!(e, Error::DuplicateKey { ref key } if key == "a"));
    let e = err(r#"{"__metadata__":{},"__metadata__":{}}"#);
    assert!(matches!(e, Error::DuplicateKey { ref key } if key == "__metadata__"));
    // serde_json alone would silently keep the last one.
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&format!("{{\"a\":{OK_ENTRY},\"a\":{OK_ENTRY}}}")).unwrap();
    assert_eq!(map.len(), 1);
}

#[test]
fn size_and_offset_errors() {
    let e = err(r#"{"t":{"dtype":"U8","shape":[18446744073709551615,2],"data_offsets":[0,1]}}"#);
    assert!(
        matches!(e, Error::TensorSizeOverflow { ref tensor, dtype: Dtype::U8, ref shape } if tensor == "t" && shape.len() == 2)
    );
    // Element count fits, byte size does not.
    let e = err(r#"{"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,1]}}"#);
    assert!(matches!(
        e,
        Error::TensorSizeOverflow {
            dtype: Dtype::F32,
            ..
        }
    ));

    let e = err(r#"{"t":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#);
    assert!(matches!(e, Error::OffsetsReversed { ref tensor, begin: 4, end: 0 } if tensor == "t"));

    let e = err(r#"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,15]}}"#);
    assert!(
        matches!(e, Error::TensorSizeMismatch { ref tensor, expected: 16, actual: 15 } if tensor == "t")
    );

    let e = err(
        r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#,
    );
    assert!(
        matches!(e, Error::OverlappingTensors { ref tensor, ref previous, start: 2, previous_end: 4 }
            if tensor == "b" && previous == "a")
    );
    // A zero-length tensor inside another one also overlaps.
    let e = err(
        r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"z":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}"#,
    );
    assert!(matches!(e, Error::OverlappingTensors { ref tensor, .. } if tensor == "z"));
    // Identical ranges.
    let e = err(
        r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#,
    );
    assert!(
        matches!(e, Error::OverlappingTensors { ref tensor, ref previous, .. } if tensor == "b" && previous == "a")
    );

    let e = err(r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[1,5]}}"#);
    assert!(
        matches!(e, Error::DataGap { ref tensor, expected_start: 0, start: 1 } if tensor == "a")
    );
    let e = err(
        r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}}"#,
    );
    assert!(
        matches!(e, Error::DataGap { ref tensor, expected_start: 4, start: 8 } if tensor == "b")
    );
    let e = err(
        r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"z":{"dtype":"U8","shape":[0],"data_offsets":[9,9]}}"#,
    );
    assert!(matches!(e, Error::DataGap { ref tensor, .. } if tensor == "z"));

    let e = err(
        r#"{"t":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]}}"#,
    );
    assert!(matches!(e, Error::FileLenOverflow { data_len: u64::MAX }));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = "[".repeat(100_000);
    let deep_obj = "{\"a\":".repeat(100_000);
    for json in [
        deep.clone(),
        format!("{{\"t\":{deep}"),
        format!("{{\"t\":{{\"dtype\":\"U8\",\"shape\":{deep}"),
        format!("{{\"t\":{{\"extra\":{deep}"),
        format!("{{\"__metadata__\":{deep}"),
        format!("{{\"__metadata__\":{{\"k\":{deep}"),
        deep_obj.clone(),
        format!("{{\"t\":{deep_obj}"),
        format!("{{\"__metadata__\":{deep_obj}"),
        format!(" {deep}"),
    ] {
        assert!(matches!(
            parse_json(&json),
            Err(Error::HeaderTooDeep { limit: 128 })
        ));
    }
    // Moderately deep but complete JSON inside a tensor entry: still refused.
    let nested = format!(
        "{{\"t\":{{\"x\":{}1{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(matches!(
        parse_json(&nested),
        Err(Error::HeaderTooDeep { .. })
    ));
}

// ---- data reader -----------------------------------------------------------

#[test]
fn truncated_data_at_every_point() {
    let (_, file) = build(SPECS, None, 5);
    let header = header_of(&file);
    let hlen = header.raw().len();
    for cut in hlen..file.len() {
        let e = read_all(Cursor::new(&file[..cut]), 7).unwrap_err();
        assert!(
            matches!(e, Error::TruncatedData { expected_total, got }
                if expected_total == file.len() as u64 && got == cut as u64),
            "cut {cut}: {e:?}"
        );
        let e = read_all(trickle(&file[..cut]), 64).unwrap_err();
        assert!(matches!(e, Error::TruncatedData { got, .. } if got == cut as u64));
    }
    // Cuts inside the header.
    for cut in [0, 3, 8, 9, hlen - 1] {
        let e = read_all(Cursor::new(&file[..cut]), 7).unwrap_err();
        assert!(
            matches!(
                e,
                Error::HeaderTooShort { .. } | Error::TruncatedHeader { .. }
            ),
            "cut {cut}: {e:?}"
        );
    }
}

#[test]
fn trailing_data_is_refused() {
    let (_, mut file) = build(SPECS, Some(&[("k", "v")]), 0);
    let len = file.len() as u64;
    file.push(0);
    let e = read_all(Cursor::new(&file), 16).unwrap_err();
    assert!(matches!(e, Error::TrailingData { file_len } if file_len == len));
    let e = read_all(trickle(&file), 16).unwrap_err();
    assert!(matches!(e, Error::TrailingData { .. }));

    // Also with no tensors at all.
    let mut file = raw_header("{}", 6);
    file.extend_from_slice(b"junk");
    let e = read_all(Cursor::new(&file), 16).unwrap_err();
    assert!(matches!(e, Error::TrailingData { file_len: 16 }));
}

#[test]
fn reader_refuses_misuse() {
    let (_, file) = build(SPECS, None, 0);
    let (header, mut data) = open(Cursor::new(&file)).unwrap();
    let total = header.data_len();
    let mut buf = vec![0u8; total as usize + 1];
    let e = data.read_exact(&mut buf).unwrap_err();
    assert!(
        matches!(e, Error::ReadBeyondData { position: 0, requested, data_len }
        if requested == total + 1 && data_len == total)
    );

    data.read_exact(&mut buf[..10]).unwrap();
    assert_eq!(data.position(), 10);
    assert_eq!(data.remaining(), total - 10);
    let e = data.finish().unwrap_err();
    assert!(matches!(e, Error::DataNotConsumed { position: 10, data_len } if data_len == total));
}

#[test]
fn reader_from_header_and_finish_returns_source() {
    let (_, file) = build(SPECS, None, 1);
    let mut cursor = Cursor::new(&file);
    let header = Header::read_from(&mut cursor).unwrap();
    assert_eq!(cursor.position(), header.raw().len() as u64);
    let mut data = DataReader::new(cursor, &header);
    let mut buf = vec![0u8; header.data_len() as usize];
    data.read_exact(&mut buf).unwrap();
    data.read_exact(&mut []).unwrap();
    let cursor = data.finish().unwrap();
    assert_eq!(cursor.position(), file.len() as u64);
    assert_eq!(buf, &file[header.raw().len()..]);
}

#[test]
fn one_byte_at_a_time_reader() {
    let (_, file) = build(SPECS, Some(&[("a", "b")]), 7);
    let (h, data) = read_all(trickle(&file), 13).unwrap();
    assert_eq!(h.raw(), &file[..h.raw().len()]);
    assert_eq!(data, &file[h.raw().len()..]);
}

#[test]
fn io_errors_propagate() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    assert!(matches!(open(Failing), Err(Error::Io(_))));
}

#[test]
fn error_messages_are_readable() {
    assert_eq!(
        err(" {}").to_string(),
        "safetensors header must start with '{', found byte 0x20"
    );
    let e = err(r#"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,15]}}"#);
    assert_eq!(
        e.to_string(),
        "tensor \"t\": shape and dtype need 16 bytes but data_offsets span 15"
    );
    let e = err(r#"{"t":{"dtype":"U8","shape":[18446744073709551615,2],"data_offsets":[0,1]}}"#);
    assert!(e.to_string().contains("x U8 overflows"), "{e}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any contiguous layout round-trips: raw bytes, tensor list, data.
    #[test]
    fn random_layouts_round_trip(
        specs in proptest::collection::vec(
            (0usize..15, proptest::collection::vec(0u64..4, 0..4)),
            0..6,
        ),
        pad in 0usize..9,
        chunk in 1usize..40,
    ) {
        let names: Vec<String> = (0..specs.len()).map(|i| format!("t{i}")).collect();
        let tensors: Vec<Spec> = specs
            .iter()
            .zip(&names)
            .map(|((d, shape), name)| (name.as_str(), Dtype::ALL[*d], shape.as_slice()))
            .collect();
        let (_, file) = build(&tensors, None, pad);
        let (header, data) = read_all(trickle(&file), chunk).unwrap();
        proptest::prop_assert_eq!(header.raw(), &file[..header.raw().len()]);
        proptest::prop_assert_eq!(header.file_len(), file.len() as u64);
        proptest::prop_assert_eq!(&data[..], &file[header.raw().len()..]);
        proptest::prop_assert_eq!(header.tensors().len(), tensors.len());
        let mut cursor = 0;
        for t in header.tensors() {
            proptest::prop_assert_eq!(t.start, cursor);
            proptest::prop_assert_eq!(t.byte_len(), t.num_elements() * t.dtype.size() as u64);
            proptest::prop_assert_eq!(t.num_rows() * t.row_len(), t.num_elements());
            cursor = t.end;
        }
    }
}

#[test]
fn read_into_replaces_the_buffer_and_checks_like_read_exact() {
    let (_, file) = build(SPECS, None, 0);
    let (header, mut data) = open(Cursor::new(&file)).unwrap();
    let total = header.data_len() as usize;
    let body = &file[header.raw().len()..];
    assert!(total > 10);
    // Stale bytes and spare capacity must not show through.
    let mut buf = vec![0xAA; 3 * total];
    let e = data.read_into(&mut buf, total + 1).unwrap_err();
    assert!(
        matches!(e, Error::ReadBeyondData { position: 0, requested, data_len }
        if requested == total as u64 + 1 && data_len == total as u64)
    );
    data.read_into(&mut buf, 10).unwrap();
    assert_eq!(buf, &body[..10]);
    data.read_into(&mut buf, total - 10).unwrap();
    assert_eq!(buf, &body[10..]);
    data.read_into(&mut buf, 0).unwrap();
    assert!(buf.is_empty());
    data.finish().unwrap();

    // A source that ends inside the data section.
    let cut = &file[..file.len() - 3];
    let (header, mut data) = open(Cursor::new(cut)).unwrap();
    let e = data
        .read_into(&mut buf, header.data_len() as usize)
        .unwrap_err();
    assert!(matches!(e, Error::TruncatedData { expected_total, got }
        if expected_total == file.len() as u64 && got == cut.len() as u64));
}
