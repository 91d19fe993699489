//! `stzip compress hf://…` against the mock Hub (`tests/hub/mock-hub.mjs`,
//! started here on 127.0.0.1): whole repos and sharded models round-trip
//! byte for byte, the token reaches the Hub's origin only, dropped
//! connections resume within their byte budget, expired signed URLs are
//! resolved again, and every failure says what is wrong. `stzip
//! decompress hf://…` of a `.stz`: whole, or tensors picked by name with
//! only the parts they need fetched.
//! Each test starts its own mock (its log and cut counters are its own).
//! Without node the tests skip, saying so.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// The pipeline's chunk: the unit a drop may cost twice.
const CHUNK: u64 = 8 << 20;

struct Mock {
    child: Child,
    hub: String,
    repos: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mock {
    /// The mock with its standard test repos.
    fn start() -> Option<Mock> {
        Mock::start_with(|_| {})
    }

    /// The mock serving the repos `prepare` writes into the directory it is
    /// given (`owner/name/file`); when it writes none, the standard ones.
    fn start_with(prepare: impl FnOnce(&Path)) -> Option<Mock> {
        if Command::new("node").arg("--version").output().is_err() {
            eprintln!("SKIP: node not found; the Hub tests need Node 20 for the mock Hub");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let repos = dir.path().join("repos");
        prepare(&repos);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hub/mock-hub.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg("--repos")
            .arg(&repos)
            .args(["--lifeline", "--max-seconds", "600"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line).expect("the mock's ready line");
        Some(Mock {
            child,
            hub: ready["hub"].as_str().unwrap().to_string(),
            repos,
            _dir: dir,
        })
    }

    fn log(&self) -> Vec<Value> {
        let text = ureq::get(format!("{}/__log", self.hub))
            .call()
            .unwrap()
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap();
        serde_json::from_str::<Value>(&text)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn reset_log(&self) {
        ureq::post(format!("{}/__log/reset", self.hub))
            .send_empty()
            .unwrap();
    }

    fn original(&self, repo: &str, file: &str) -> Vec<u8> {
        std::fs::read(self.repos.join(repo).join(file)).unwrap()
    }

    /// Run stzip with the mock as the Hub (through `HF_ENDPOINT`), no
    /// token unless `env` gives one, short backoff.
    fn stzip(&self, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stzip"));
        for var in [
            "HF_TOKEN",
            "HF_TOKEN_PATH",
            "HUGGING_FACE_HUB_TOKEN",
            "XDG_CACHE_HOME",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .current_dir(dir)
            .env("HF_ENDPOINT", &self.hub)
            .env("HF_HOME", dir.join("hf-home"))
            .env("STZIP_HUB_RETRY_MS", "20")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Decompress `stz` and return the bytes.
fn restore(stz: &Path) -> Vec<u8> {
    let out = stz.with_extension("restored");
    let o = Command::new(env!("CARGO_BIN_EXE_stzip"))
        .args(["decompress", "-q", "-f", "-o"])
        .arg(&out)
        .arg(stz)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::read(out).unwrap()
}

fn cdn_gets(log: &[Value]) -> Vec<&Value> {
    log.iter()
        .filter(|e| e["origin"] == "cdn" && e["method"] == "GET")
        .collect()
}

#[test]
fn tiny_and_sharded_repos_round_trip() {
    let Some(mock) = Mock::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let o = mock.stzip(&["compress", "hf://test/tiny"], d, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        restore(&d.join("tiny/model.safetensors.stz")),
        mock.original("test/tiny", "model.safetensors")
    );

    // A sharded model, through --hub (HF_ENDPOINT pointing nowhere).
    let o = mock.stzip(
        &[
            "compress",
            "hf://test/sharded@main",
            "-o",
            "out",
            "--hub",
            &mock.hub,
        ],
        d,
        &[("HF_ENDPOINT", "http://127.0.0.1:1")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let shards: Vec<String> = (1..=3)
        .map(|i| format!("model-0000{i}-of-00003.safetensors"))
        .collect();
    for s in &shards {
        assert_eq!(
            restore(&d.join("out").join(format!("{s}.stz"))),
            mock.original("test/sharded", s),
            "{s}"
        );
    }
    let index: Value =
        serde_json::from_slice(&std::fs::read(d.join("out/model.safetensors.index.json")).unwrap())
            .unwrap();
    let original: Value =
        serde_json::from_slice(&mock.original("test/sharded", "model.safetensors.index.json"))
            .unwrap();
    assert_eq!(index["metadata"], original["metadata"]);
    let map = index["weight_map"].as_object().unwrap();
    assert_eq!(map.len(), original["weight_map"].as_object().unwrap().len());
    for (tensor, shard) in map {
        assert_eq!(
            shard.as_str().unwrap(),
            format!("{}.stz", original["weight_map"][tensor].as_str().unwrap())
        );
    }

    // One file by its Hub URL.
    let o = mock.stzip(
        &[
            "compress",
            "https://huggingface.co/test/sharded/blob/main/model-00002-of-00003.safetensors",
            "-o",
            "one.stz",
        ],
        d,
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        restore(&d.join("one.stz")),
        mock.original("test/sharded", &shards[1])
    );

    // Outputs that exist are refused before anything is downloaded.
    mock.reset_log();
    let o = mock.stzip(&["compress", "hf://test/sharded", "-o", "out"], d, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert!(cdn_gets(&mock.log()).is_empty());

    // A safetensors file on the Hub lists from its header alone, as the
    // same file does locally.
    mock.reset_log();
    let url = format!("hf://test/sharded/{}", shards[0]);
    let o = mock.stzip(&["inspect", "--json", &url], d, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let remote: Value = serde_json::from_slice(&o.stdout).unwrap();
    std::fs::write(
        d.join("local.safetensors"),
        mock.original("test/sharded", &shards[0]),
    )
    .unwrap();
    let o = mock.stzip(&["inspect", "--json", "local.safetensors"], d, &[]);
    let local: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(remote["tensors"], local["tensors"]);
    assert_eq!(remote["float_params"], local["float_params"]);
    let fetched: u64 = cdn_gets(&mock.log())
        .iter()
        .map(|e| e["bytes"].as_u64().unwrap())
        .sum();
    let size = mock.original("test/sharded", &shards[0]).len() as u64;
    assert!(
        fetched < 70_000 && fetched < size,
        "fetched {fetched} of {size} bytes"
    );
}

#[test]
fn gated_repo_needs_a_token_that_stays_on_the_hub() {
    let Some(mock) = Mock::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let o = mock.stzip(&["compress", "hf://test/gated"], d, &[]);
    assert_eq!(o.status.code(), Some(1));
    let msg = stderr(&o);
    assert!(
        msg.contains("gated or private") && msg.contains("HF_TOKEN"),
        "{msg}"
    );

    let o = mock.stzip(
        &["compress", "hf://test/gated"],
        d,
        &[("HF_TOKEN", "hf_wrong")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refused the access token"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("hf_wrong"));

    mock.reset_log();
    let o = mock.stzip(
        &["compress", "hf://test/gated", "-o", "env"],
        d,
        &[("HF_TOKEN", "hf_testtoken")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("hf_testtoken")
            && !String::from_utf8_lossy(&o.stdout).contains("hf_testtoken")
    );
    assert_eq!(
        restore(&d.join("env/model.safetensors.stz")),
        mock.original("test/gated", "model.safetensors")
    );

    // The token file, as `hf auth login` leaves it.
    std::fs::create_dir_all(d.join("hf-home")).unwrap();
    std::fs::write(d.join("hf-home/token"), "hf_testtoken\n").unwrap();
    let o = mock.stzip(&["compress", "hf://test/gated", "-o", "file"], d, &[]);
    assert!(o.status.success(), "{}", stderr(&o));

    let log = mock.log();
    let with_auth: Vec<&Value> = log
        .iter()
        .filter(|e| e["has_authorization"] == true)
        .collect();
    assert!(
        with_auth.iter().all(|e| e["origin"] == "hub"),
        "{with_auth:?}"
    );
    assert!(with_auth
        .iter()
        .all(|e| e["authorization"] == "Bearer hf_testtoken"));
    assert!(
        with_auth.len() >= 4,
        "listing and resolve, twice: {with_auth:?}"
    );
    let cdn = cdn_gets(&log);
    assert_eq!(cdn.len(), 2);
    assert!(cdn.iter().all(|e| e["has_authorization"] == false));
    println!(
        "token: {} Hub-origin requests carried it, {} CDN requests did not",
        with_auth.len(),
        cdn.len()
    );
}

#[test]
fn dropped_connections_resume_within_budget() {
    let Some(mock) = Mock::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = mock.stzip(&["compress", "hf://test/flaky", "-j", "1"], d, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let original = mock.original("test/flaky", "model.safetensors");
    assert_eq!(restore(&d.join("flaky/model.safetensors.stz")), original);

    let log = mock.log();
    let gets = cdn_gets(&log);
    let drops = gets.iter().filter(|e| e["cut"] == true).count() as u64;
    let fetched: u64 = gets.iter().map(|e| e["bytes"].as_u64().unwrap()).sum();
    let size = original.len() as u64;
    let budget = size + 2 * CHUNK * drops;
    println!(
        "flaky: file {size} bytes, {drops} drops, CDN sent {fetched} bytes \
         ({} over the file size; budget {budget})",
        fetched - size.min(fetched)
    );
    assert_eq!(drops, 2);
    assert!(fetched <= budget, "{fetched} > {budget}");
    // The resumes asked for the rest only, guarded by the ETag.
    for e in gets.iter().skip(1) {
        assert!(e["range"].as_str().unwrap().starts_with("bytes="), "{e}");
        assert!(e["if_range"].as_str().unwrap().starts_with('"'), "{e}");
        assert_eq!(e["status"], 206);
    }
}

#[test]
fn expired_signed_url_is_resolved_again() {
    let Some(mock) = Mock::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = mock.stzip(&["compress", "hf://test/expiring"], d, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        restore(&d.join("expiring/model.safetensors.stz")),
        mock.original("test/expiring", "model.safetensors")
    );
    let log = mock.log();
    let resolves = log
        .iter()
        .filter(|e| e["origin"] == "hub" && e["path"].as_str().unwrap().contains("/resolve/"))
        .count();
    let expired = cdn_gets(&log).iter().filter(|e| e["status"] == 403).count();
    assert_eq!(expired, 1, "{log:?}");
    assert_eq!(resolves, 2, "{log:?}");
    assert!(
        stderr(&o).contains("1 signed URLs renewed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn failures_say_what_is_wrong() {
    let Some(mock) = Mock::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (input, want) in [
        (
            "hf://test/nope",
            "not found on the Hub: repository test/nope",
        ),
        (
            "hf://test/tiny/nope.safetensors",
            "not found on the Hub: file \"nope.safetensors\" in test/tiny@main",
        ),
        (
            "hf://test/tiny@v9",
            "not found on the Hub: revision \"v9\" of test/tiny",
        ),
        ("hf://test", "not a usable Hugging Face Hub reference"),
        ("hf://-x/y", "bad Hub repo id"),
        ("hf://test/tiny/../x", "bad file path \"../x\""),
        ("hf://test/tiny@main/config.json", "safetensors"),
    ] {
        let o = mock.stzip(&["compress", input, "-o", "x.stz"], d, &[]);
        assert_eq!(o.status.code(), Some(1), "{input}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{input}: {}", stderr(&o));
        assert!(!d.join("x.stz").exists());
    }

    // A hostile index is refused before any weight is fetched.
    mock.reset_log();
    let o = mock.stzip(&["compress", "hf://test/evil"], d, &[]);
    assert_eq!(o.status.code(), Some(1));
    let msg = stderr(&o);
    assert!(msg.contains("bad shard name \"../x.safetensors\""), "{msg}");
    assert!(cdn_gets(&mock.log()).is_empty());

    // Nobody listening: bounded retries, then a message.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let o = mock.stzip(&["compress", "hf://test/tiny", "--hub", &dead], d, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("giving up after 6 failed attempts"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lossy_from_the_hub() {
    let Some(mock) = Mock::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = mock.stzip(&["compress", "hf://test/tiny", "--snr", "25"], d, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("weight SNR"), "{}", stderr(&o));
    let restored = restore(&d.join("tiny/model.safetensors.stz"));
    assert_eq!(
        restored.len(),
        mock.original("test/tiny", "model.safetensors").len()
    );
    // Two passes: the file was fetched twice; config.json once.
    let log = mock.log();
    assert_eq!(cdn_gets(&log).len(), 2);
    assert!(log.iter().any(|e| e["path"]
        .as_str()
        .unwrap()
        .ends_with("/resolve/main/config.json")));
}

/// A `.stz` on the Hub: decompressed whole as it streams in, or tensors
/// picked by name, fetching only the trailer, the index and their frames in
/// small Range requests (a few percent of the file here), with the bytes
/// the local random access gives; and listed from its index alone.
#[test]
fn tensors_are_picked_from_a_stz_on_the_hub() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // Four tensors: two large (about 6 MB of .stz), two small.
    let mut x = 1u64;
    let mut gauss = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                (((u - 0.5) * 0.05) as f32).to_le_bytes()
            })
            .collect()
    };
    let tensors = [
        ("big.a", vec![1024u64, 768], gauss(1024 * 768)),
        ("small.b", vec![64], gauss(64)),
        ("big.c", vec![768, 1024], gauss(768 * 1024)),
        ("small.d", vec![8, 8], gauss(64)),
    ];
    let mut json = String::from("{");
    let mut data = Vec::new();
    for (i, (name, shape, bytes)) in tensors.iter().enumerate() {
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        json += &format!(
            "{}\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            if i > 0 { "," } else { "" },
            dims.join(","),
            data.len(),
            data.len() + bytes.len()
        );
        data.extend_from_slice(bytes);
    }
    json.push('}');
    let mut original = (json.len() as u64).to_le_bytes().to_vec();
    original.extend_from_slice(json.as_bytes());
    original.extend_from_slice(&data);
    std::fs::write(w.join("m.safetensors"), &original).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_stzip"))
            .args(args)
            .current_dir(w)
            .output()
            .unwrap()
    };
    let o = run(&["compress", "-q", "m.safetensors", "-o", "m.stz"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "decompress",
        "-q",
        "m.stz",
        "-t",
        "small.d",
        "-t",
        "small.b",
        "-o",
        "local.safetensors",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stz = std::fs::read(w.join("m.stz")).unwrap();
    let Some(mock) = Mock::start_with(|repos| {
        std::fs::create_dir_all(repos.join("test/packed")).unwrap();
        std::fs::write(repos.join("test/packed/model.stz"), &stz).unwrap();
    }) else {
        return;
    };
    let d = w.join("out");
    std::fs::create_dir_all(&d).unwrap();

    let o = mock.stzip(
        &[
            "decompress",
            "hf://test/packed/model.stz",
            "-t",
            "small.d",
            "-t",
            "small.b",
            "-o",
            "part.safetensors",
        ],
        &d,
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(d.join("part.safetensors")).unwrap(),
        std::fs::read(w.join("local.safetensors")).unwrap()
    );
    let log = mock.log();
    let gets = cdn_gets(&log);
    let fetched: u64 = gets.iter().map(|e| e["bytes"].as_u64().unwrap()).sum();
    assert!(
        fetched * 20 < stz.len() as u64 && gets.len() <= 6,
        "fetched {fetched} of {} bytes in {} requests",
        stz.len(),
        gets.len()
    );
    assert!(gets
        .iter()
        .all(|e| e["range"].as_str().is_some_and(|r| r.starts_with("bytes="))));

    // Its listing: the header and index only.
    mock.reset_log();
    let o = mock.stzip(
        &["inspect", "hf://test/packed/model.stz", "--json"],
        &d,
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let listing: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listing["stz_bytes"], stz.len() as u64);
    let names: Vec<&str> = listing["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["big.a", "small.b", "big.c", "small.d"]);
    let log = mock.log();
    let fetched: u64 = cdn_gets(&log)
        .iter()
        .map(|e| e["bytes"].as_u64().unwrap())
        .sum();
    assert!(fetched < 200_000, "inspect fetched {fetched} bytes");

    // The whole file, streaming; then the errors.
    mock.reset_log();
    let o = mock.stzip(&["decompress", "hf://test/packed/model.stz"], &d, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(d.join("model")).unwrap(), original);
    let o = mock.stzip(&["verify", "hf://test/packed/model.stz"], &d, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(": OK — 4 tensors"), "{}", stderr(&o));
    let refused = [
        (
            vec!["hf://test/packed/model.stz", "-t", "nope", "-o", "x"],
            1,
            "no tensor named \"nope\"",
        ),
        (
            vec!["hf://test/packed", "-t", "small.b", "-o", "x"],
            2,
            "name the .stz file",
        ),
        (vec!["hf://test/packed/model.stz", "-t", "small.b"], 2, "-o"),
        (
            vec!["hf://test/packed/missing.stz", "-o", "x"],
            1,
            "missing.stz",
        ),
    ];
    for (args, code, message) in refused {
        let mut all = vec!["decompress"];
        all.extend(args);
        let o = mock.stzip(&all, &d, &[]);
        assert_eq!(o.status.code(), Some(code), "{all:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{all:?}: {}", stderr(&o));
    }
    assert!(!d.join("x").exists());
}
