//! The `stzip` command line: happy paths, exit codes and messages.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{f32_gauss, safetensors, Rng};

fn stzip(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stzip"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sample() -> Vec<u8> {
    let mut rng = Rng(21);
    safetensors(
        &[
            (
                "layer.weight",
                "F32",
                vec![64, 32],
                f32_gauss(&mut rng, 2048, 0.02),
            ),
            ("layer.bias", "F32", vec![32], f32_gauss(&mut rng, 32, 0.01)),
            (
                "ids",
                "I64",
                vec![4],
                [1i64, 2, 3, 4]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            ),
        ],
        Some(&[("format", "pt")]),
        2,
    )
}

#[test]
fn compress_decompress_verify_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let original = sample();
    std::fs::write(dir.path().join("m.safetensors"), &original).unwrap();

    let o = stzip(&["compress", "m.safetensors"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("bits/weight"), "{}", stderr(&o));
    assert!(dir.path().join("m.safetensors.stz").exists());

    let o = stzip(&["verify", "m.safetensors.stz"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("OK"));

    let o = stzip(
        &["decompress", "m.safetensors.stz", "-o", "back.safetensors"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.path().join("back.safetensors")).unwrap(),
        original
    );

    let o = stzip(&["inspect", "m.safetensors.stz"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("layer.weight") && text.contains("[64, 32]") && text.contains("lossless"),
        "{text}"
    );

    let o = stzip(&["inspect", "--json", "m.safetensors"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["format"], "safetensors");
    assert_eq!(doc["tensors"].as_array().unwrap().len(), 3);
    assert_eq!(doc["float_params"], 2048 + 32);
    assert_eq!(doc["metadata"]["format"], "pt");

    let o = stzip(&["inspect", "--json", "m.safetensors.stz"], dir.path());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["format"], "stz");
    assert_eq!(doc["tensors"][0]["mode"], "lossless");
}

#[test]
fn decompressing_to_the_default_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.safetensors"), sample()).unwrap();
    assert!(stzip(
        &["compress", "-q", "a.safetensors", "-o", "b.stz"],
        dir.path()
    )
    .status
    .success());
    let o = stzip(&["decompress", "b.stz"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), sample());
}

#[test]
fn stdin_to_stdout() {
    let original = sample();
    let run = |args: &[&str], input: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stzip"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        o.stdout
    };
    let packed = run(&["compress", "-q", "-"], &original);
    assert_eq!(&packed[..4], b"\x89STZ");
    assert_eq!(
        run(&["decompress", "-q", "-", "-o", "-"], &packed),
        original
    );
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.safetensors"), sample()).unwrap();
    std::fs::write(dir.path().join("m.safetensors.stz"), b"keep me").unwrap();
    let o = stzip(&["compress", "m.safetensors"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("already exists") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(dir.path().join("m.safetensors.stz")).unwrap(),
        b"keep me"
    );
    let o = stzip(&["compress", "--force", "m.safetensors"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(
        std::fs::read(dir.path().join("m.safetensors.stz")).unwrap(),
        b"keep me"
    );
}

#[test]
fn error_paths_have_messages_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let o = stzip(&["compress", "missing.safetensors"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot open missing.safetensors"),
        "{}",
        stderr(&o)
    );

    // A safetensors file given to decompress: not an .stz, and said so.
    std::fs::write(dir.path().join("m.safetensors"), sample()).unwrap();
    let o = stzip(&["decompress", "m.safetensors", "-o", "out"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("this is a safetensors file, not .stz: compress it"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("out").exists(), "no output on failure");

    // No .stz suffix and no -o.
    let o = stzip(&["decompress", "m.safetensors"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("-o"), "{}", stderr(&o));

    // Garbage given to compress.
    std::fs::write(
        dir.path().join("junk.safetensors"),
        b"hello world, not a model",
    )
    .unwrap();
    let o = stzip(&["compress", "junk.safetensors"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("header"), "{}", stderr(&o));
    assert!(!dir.path().join("junk.safetensors.stz").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");

    // A corrupted .stz fails verification.
    assert!(stzip(&["compress", "-q", "m.safetensors"], dir.path())
        .status
        .success());
    let mut bytes = std::fs::read(dir.path().join("m.safetensors.stz")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(dir.path().join("bad.stz"), &bytes).unwrap();
    let o = stzip(&["verify", "bad.stz"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("stzip:"), "{}", stderr(&o));

    let o = stzip(
        &["compress", "--threads", "0", "m.safetensors", "-o", "x.stz"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn lossy_compression_reports_its_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.safetensors"), sample()).unwrap();
    let o = stzip(
        &["compress", "--snr", "30", "--json", "m.safetensors"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("weight SNR") && err.contains("layer.weight") && err.contains("lossy"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let snr = doc["snr_db"].as_f64().unwrap();
    assert!((snr - 30.0).abs() < 0.5, "{snr}");
    assert_eq!(doc["tensors"][0]["mode"], "lossy");
    assert!(doc["tensors"][0]["step"].as_f64().unwrap() > 0.0);
    assert_eq!(
        doc["tensors"][2]["mode"], "lossless",
        "integer tensors stay lossless"
    );

    let o = stzip(&["inspect", "m.safetensors.stz"], dir.path());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("lossy, weight SNR"), "{text}");
    let o = stzip(&["inspect", "--json", "m.safetensors.stz"], dir.path());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((doc["snr_db"].as_f64().unwrap() - snr).abs() < 1e-9);

    assert!(stzip(&["verify", "m.safetensors.stz"], dir.path())
        .status
        .success());
    let o = stzip(
        &["decompress", "m.safetensors.stz", "-o", "back.safetensors"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.path().join("back.safetensors"))
            .unwrap()
            .len(),
        sample().len()
    );
}

#[test]
fn bad_lossy_parameters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.safetensors"), sample()).unwrap();
    for bad in [
        ["--bits-per-weight", "0"],
        ["--bits-per-weight", "-3"],
        ["--bits-per-weight", "NaN"],
        ["--bits-per-weight", "33"],
        ["--snr", "-1"],
    ] {
        let o = stzip(
            &["compress", bad[0], bad[1], "m.safetensors", "-o", "x.stz"],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(1), "{bad:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("invalid lossy target"),
            "{bad:?}: {}",
            stderr(&o)
        );
        assert!(!dir.path().join("x.stz").exists());
    }
    let o = stzip(&["compress", "--snr", "20", "-"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("stdin"), "{}", stderr(&o));
    let o = stzip(
        &[
            "compress",
            "--snr",
            "20",
            "--bits-per-weight",
            "4",
            "m.safetensors",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
}

/// `stzip inspect f | head`: the reader closing the pipe early is not an
/// error, and must not panic (as `println!` would).
#[test]
fn inspect_into_a_closed_pipe_succeeds_quietly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.safetensors"), sample()).unwrap();
    for args in [
        &["inspect", "m.safetensors"][..],
        &["inspect", "--json", "m.safetensors"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stzip"))
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the listing is written.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

/// `--json` prints the report on stdout: with the `.stz` going there too
/// the stream would end in JSON, so that is a usage error, before any work.
#[test]
fn json_report_and_stz_on_stdout_conflict() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.safetensors"), sample()).unwrap();
    let o = stzip(
        &["compress", "--json", "m.safetensors", "-o", "-"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("-o FILE"), "{}", stderr(&o));
    // stdin in, no -o: the .stz would go to stdout as well.
    let mut child = Command::new(env!("CARGO_BIN_EXE_stzip"))
        .args(["compress", "--json", "-"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The input is refused before it is read: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(&sample());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    // With -o FILE the report goes to stdout and the file is whole.
    let o = stzip(
        &["compress", "--json", "-q", "m.safetensors", "-o", "m.stz"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["stz_bytes"].as_u64().unwrap(),
        std::fs::metadata(dir.path().join("m.stz")).unwrap().len()
    );
}

/// Binary output to a terminal is refused (as gzip and zstd do) unless
/// forced. `script` (util-linux) gives the command a terminal.
#[test]
fn binary_output_to_a_terminal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.safetensors"), sample()).unwrap();
    let bin = env!("CARGO_BIN_EXE_stzip");
    let on_terminal = |command: &str| {
        Command::new("script")
            .args(["-qec", command, "/dev/null"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    if !on_terminal("test -t 1 && echo on-a-terminal").contains("on-a-terminal") {
        eprintln!("skipped: `script` (util-linux) cannot give a terminal here");
        return;
    }
    let on_terminal = |args: &str| on_terminal(&format!("{bin} {args}; echo rc=$?"));
    let text = on_terminal("compress -q m.safetensors -o -");
    assert!(
        text.contains("not writing binary data to a terminal"),
        "{text}"
    );
    assert!(text.contains("rc=2"), "{text}");
    let text = on_terminal("compress -q -f m.safetensors -o -");
    assert!(text.contains("rc=0"), "{text}");
    assert!(!text.contains("terminal"), "{text}");
}

/// An existing output that is not a regular file is written in place:
/// renaming the temporary file over a FIFO (or `/dev/null`) would replace
/// it with a regular file.
#[test]
#[cfg(unix)]
fn output_to_a_fifo_is_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let original = sample();
    std::fs::write(dir.path().join("m.safetensors"), &original).unwrap();
    assert!(stzip(&["compress", "m.safetensors"], dir.path())
        .status
        .success());
    let fifo = dir.path().join("out.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    // No --force: nothing is overwritten.
    let o = stzip(
        &["decompress", "m.safetensors.stz", "-o", "out.fifo"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Checked before joining: a replaced FIFO would leave the reader waiting.
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(reader.join().unwrap(), original);
}

/// `decompress --tensor`: a safetensors file of the tensors named, from
/// their chunks alone; unknown names, stdin and a missing -o are refused
/// with nothing written.
#[test]
fn decompress_picks_tensors_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let original = sample();
    std::fs::write(dir.path().join("m.safetensors"), &original).unwrap();
    assert!(stzip(&["compress", "-q", "m.safetensors"], dir.path())
        .status
        .success());

    let o = stzip(
        &[
            "decompress",
            "m.safetensors.stz",
            "--tensor",
            "ids",
            "-t",
            "layer.weight",
            "-o",
            "part.safetensors",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 tensors"), "{}", stderr(&o));
    let part = std::fs::read(dir.path().join("part.safetensors")).unwrap();
    let header = stzip::safetensors::Header::read_from(&mut &part[..]).unwrap();
    assert_eq!(header.raw().len() % 8, 0);
    assert_eq!(header.metadata().unwrap()["format"], "pt");
    let full = stzip::safetensors::Header::read_from(&mut &original[..]).unwrap();
    let names: Vec<&str> = header.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["layer.weight", "ids"], "file order");
    for t in header.tensors() {
        let f = full.tensors().iter().find(|f| f.name == t.name).unwrap();
        let (a, b) = (full.raw().len() as u64, header.raw().len() as u64);
        assert_eq!(
            &part[(b + t.start) as usize..(b + t.end) as usize],
            &original[(a + f.start) as usize..(a + f.end) as usize],
            "{}",
            t.name
        );
        assert_eq!((t.dtype, &t.shape), (f.dtype, &f.shape));
    }
    assert_eq!(part.len() as u64, header.file_len());
    // The safetensors crate reads it.
    let st = safetensors::SafeTensors::deserialize(&part).unwrap();
    assert_eq!(
        st.tensor("ids").unwrap().data(),
        &original[original.len() - 32..]
    );

    let refused = [
        (
            vec!["-t", "nope", "-o", "x.safetensors"],
            1,
            "no tensor named \"nope\"",
        ),
        (vec!["-t", "ids"], 2, "-o"),
    ];
    for (args, code, message) in refused {
        let mut all = vec!["decompress", "m.safetensors.stz"];
        all.extend(args);
        let o = stzip(&all, dir.path());
        assert_eq!(o.status.code(), Some(code), "{all:?}");
        assert!(stderr(&o).contains(message), "{}", stderr(&o));
    }
    let o = Command::new(env!("CARGO_BIN_EXE_stzip"))
        .args(["decompress", "-", "-t", "ids", "-o", "x.safetensors"])
        .current_dir(dir.path())
        .stdin(std::fs::File::open(dir.path().join("m.safetensors.stz")).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not stdin"), "{}", stderr(&o));
    assert!(
        !dir.path().join("x.safetensors").exists(),
        "no output on failure"
    );
}

/// A second model unlike [`sample`]: shards of one model differ.
fn other_sample() -> Vec<u8> {
    let mut rng = Rng(22);
    safetensors(
        &[(
            "h.1.weight",
            "F32",
            vec![16, 48],
            f32_gauss(&mut rng, 768, 0.05),
        )],
        None,
        0,
    )
}

#[test]
fn several_inputs_each_go_to_their_default_names() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (sample(), other_sample());
    std::fs::write(dir.path().join("a.safetensors"), &a).unwrap();
    std::fs::write(dir.path().join("b.safetensors"), &b).unwrap();

    let o = stzip(&["compress", "a.safetensors", "b.safetensors"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a.safetensors → a.safetensors.stz")
            && stderr(&o).contains("b.safetensors → b.safetensors.stz"),
        "{}",
        stderr(&o)
    );
    let o = stzip(
        &["verify", "a.safetensors.stz", "b.safetensors.stz"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches(": OK").count(), 2, "{}", stderr(&o));

    std::fs::remove_file(dir.path().join("a.safetensors")).unwrap();
    std::fs::remove_file(dir.path().join("b.safetensors")).unwrap();
    let o = stzip(
        &["decompress", "-q", "a.safetensors.stz", "b.safetensors.stz"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("a.safetensors")).unwrap(), a);
    assert_eq!(std::fs::read(dir.path().join("b.safetensors")).unwrap(), b);

    // Tables headed by their file, as `ls` heads directories.
    let o = stzip(
        &["inspect", "a.safetensors.stz", "b.safetensors"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("a.safetensors.stz:\nname "), "{text}");
    let second = text
        .find("\n\nb.safetensors:\nname ")
        .expect("second heading");
    assert!(text[..second].contains("layer.weight"), "{text}");
    assert!(text[second..].contains("h.1.weight"), "{text}");

    // JSON: one document per file, in order.
    let o = stzip(
        &["inspect", "--json", "a.safetensors.stz", "b.safetensors"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&o.stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let files: Vec<_> = docs.iter().map(|d| d["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["a.safetensors.stz", "b.safetensors"]);
    assert_eq!(docs[1]["tensors"][0]["name"], "h.1.weight");
}

#[test]
fn a_failing_input_among_several_does_not_stop_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.safetensors"), sample()).unwrap();
    std::fs::write(dir.path().join("b.safetensors"), other_sample()).unwrap();
    let o = stzip(
        &[
            "compress",
            "a.safetensors",
            "missing.safetensors",
            "b.safetensors",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("stzip: missing.safetensors: cannot open missing.safetensors"),
        "{err}"
    );
    assert!(err.ends_with("stzip: 1 of 3 inputs failed\n"), "{err}");
    assert!(dir.path().join("a.safetensors.stz").exists());
    assert!(dir.path().join("b.safetensors.stz").exists());

    let o = stzip(&["verify", "missing.stz", "a.safetensors.stz"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // An existing output is a usage error (2): the worst code wins.
    let o = stzip(
        &["decompress", "missing.stz", "a.safetensors.stz"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stzip: a.safetensors.stz: a.safetensors already exists"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).ends_with("stzip: 2 of 2 inputs failed\n"));

    // What names one output, or reads stdin, takes one input: refused
    // before anything runs.
    for args in [
        &["compress", "-o", "x.stz", "a.safetensors", "b.safetensors"][..],
        &["compress", "a.safetensors", "-"],
        &[
            "decompress",
            "-t",
            "h.1.weight",
            "a.safetensors.stz",
            "b.safetensors.stz",
        ],
    ] {
        let o = stzip(args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    assert!(!dir.path().join("x.stz").exists());
}
