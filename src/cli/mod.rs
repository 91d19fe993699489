//! Command-line front end over [`stzip::pipeline`].
//!
//! Exit codes: 0 success, 1 the input is bad or an I/O operation failed,
//! 2 a usage error (bad arguments, refusing to overwrite an output).

mod args;
mod files;
mod hub;
mod inspect;
mod progress;
mod report;

use std::borrow::Cow;
use std::io::{Read, Seek, Write};

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use stzip::pipeline::{self, Allocation, LossyOptions, Options, Report, Target};

use args::{AllocationArg, Cli, Command, CommonArgs, LossyArgs};
use files::{Input, Output};

/// An error and the exit code it maps to.
pub struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 2,
        }
    }
}

impl From<stzip::Error> for Failure {
    fn from(e: stzip::Error) -> Failure {
        let message = match &e {
            stzip::Error::Io(io) => io_message(io),
            e => e.to_string(),
        };
        Failure { message, code: 1 }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure {
            message: io_message(&e),
            code: 1,
        }
    }
}

/// Writes a report to stdout. A reader that closed the pipe early (`stzip
/// inspect f | head`) has what it wanted: that is not a failure, and must
/// not panic as `println!` would.
fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// An I/O error's message; an stzip error carried inside one (a Hub
/// download fails through `Read`) speaks for itself.
fn io_message(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<stzip::Error>()) {
        Some(stzip::Error::Io(inner)) => io_message(inner),
        Some(inner) => inner.to_string(),
        None => format!("I/O error: {e}"),
    }
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.inputs() {
        [input] => run_one(&cli.command, input),
        inputs => run_each(&cli.command, inputs),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("stzip: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Several inputs (the shards of a model, say), each as if it were named
/// alone with no `-o`. A failure is reported and the rest still run, as
/// gzip and zstd do; the exit code is the worst one.
fn run_each(command: &Command, inputs: &[String]) -> Result<(), Failure> {
    let (output, tensors) = match command {
        Command::Compress { output, .. } => (output.as_ref(), &[][..]),
        Command::Decompress { output, tensor, .. } => (output.as_ref(), tensor.as_slice()),
        Command::Verify { .. } | Command::Inspect { .. } => (None, &[][..]),
    };
    if output.is_some() {
        return Err(Failure::usage(
            "-o names one output: with several inputs each goes to its default name",
        ));
    }
    if !tensors.is_empty() {
        return Err(Failure::usage("--tensor takes one input file"));
    }
    if inputs.iter().any(|i| i == "-") {
        return Err(Failure::usage("`-` (stdin) can only be the one input"));
    }
    // Tables of several files are told apart as `ls` tells directories.
    let headed = matches!(command, Command::Inspect { json: false, .. });
    let mut worst: Option<Failure> = None;
    let mut failed = 0;
    for (i, input) in inputs.iter().enumerate() {
        let heading = || write_stdout(&format!("{}{input}:\n", if i > 0 { "\n" } else { "" }));
        let done = if headed { heading() } else { Ok(()) };
        if let Err(f) = done.and_then(|()| run_one(command, input)) {
            eprintln!("stzip: {input}: {}", f.message);
            failed += 1;
            if worst.as_ref().is_none_or(|w| f.code > w.code) {
                worst = Some(f);
            }
        }
    }
    match worst {
        None => Ok(()),
        Some(f) => Err(Failure {
            message: format!("{failed} of {} inputs failed", inputs.len()),
            code: f.code,
        }),
    }
}

/// The command for one of its inputs.
fn run_one(command: &Command, input: &str) -> Result<(), Failure> {
    let on_hub = stzip::hub::refs::is_hub_ref(input);
    match command {
        Command::Compress {
            output,
            hub,
            lossy,
            json,
            common,
            ..
        } => {
            let to_stdout = output.as_deref().unwrap_or(input) == "-";
            if *json && to_stdout {
                Err(Failure::usage(
                    "--json prints the report on stdout, where the .stz is going: give -o FILE",
                ))
            } else if on_hub {
                hub::compress(
                    input,
                    output.as_deref(),
                    hub.as_deref(),
                    lossy,
                    *json,
                    common,
                )
            } else if hub.is_some() {
                Err(Failure::usage("--hub applies to hf:// and Hub URL inputs"))
            } else {
                compress(input, output.as_deref(), lossy, *json, common)
            }
        }
        Command::Decompress {
            output,
            hub,
            tensor,
            common,
            ..
        } if on_hub => hub::decompress(input, output.as_deref(), hub.as_deref(), tensor, common),
        Command::Decompress {
            output,
            tensor,
            common,
            ..
        } if !tensor.is_empty() => extract_local(input, output.as_deref(), tensor, common),
        Command::Decompress { output, common, .. } => decompress(input, output.as_deref(), common),
        Command::Verify { hub, common, .. } if on_hub => hub::verify(input, hub.as_deref(), common),
        Command::Verify { common, .. } => {
            Input::open(input).and_then(|src| verify(src, input, common))
        }
        Command::Inspect { json, hub, .. } if on_hub => hub::inspect(input, hub.as_deref(), *json),
        Command::Inspect { json, .. } => inspect::run(input, *json),
    }
}

fn options(common: &CommonArgs) -> Result<Options, Failure> {
    let mut opts = Options::default();
    if let Some(t) = common.threads {
        if t == 0 {
            return Err(Failure::usage("--threads must be at least 1"));
        }
        opts.threads = t;
    }
    opts.max_output_bytes = common.max_output_size.saturating_mul(1 << 30);
    Ok(opts)
}

/// The lossy settings asked for, if any (`None`: lossless).
fn lossy_options(lossy: &LossyArgs, tied_embeddings: Option<bool>) -> Option<LossyOptions> {
    let target = match (lossy.bits_per_weight, lossy.snr) {
        (Some(b), _) => Target::BitsPerWeight(b),
        (None, Some(s)) => Target::Snr(s),
        (None, None) => return None,
    };
    Some(LossyOptions {
        target,
        allocation: match lossy.allocation {
            AllocationArg::Model => Allocation::Model,
            AllocationArg::Uniform => Allocation::Uniform,
        },
        tied_embeddings,
    })
}

fn compress(
    input: &str,
    output: Option<&str>,
    lossy: &LossyArgs,
    json: bool,
    common: &CommonArgs,
) -> Result<(), Failure> {
    let out_path = match output {
        Some(o) => o.to_string(),
        None if input == "-" => "-".to_string(),
        None => format!("{input}.stz"),
    };
    let (report, secs) = match lossy_options(lossy, tied_embeddings(input)) {
        None => run_job(input, &out_path, common, "compressing", |r, w, opts, p| {
            pipeline::compress(r, w, opts, p)
        })?,
        Some(lossy) => {
            if input == "-" {
                return Err(Failure::usage(
                    "lossy compression reads its input twice (statistics, then coding): give a file, not stdin",
                ));
            }
            run_job(input, &out_path, common, "compressing", |_, w, opts, p| {
                let mut open = || {
                    files::Input::open(input)
                        .map_err(|f| stzip::Error::Io(std::io::Error::other(f.message)))
                };
                pipeline::compress_lossy(&mut open, w, opts, &lossy, p)
            })?
        }
    };
    print_summary(input, &out_path, &report, secs, json, common)
}

/// The per-tensor table (lossy), the JSON report when asked, and the
/// one-line summary.
fn print_summary(
    input: &str,
    out_path: &str,
    report: &Report,
    secs: f64,
    json: bool,
    common: &CommonArgs,
) -> Result<(), Failure> {
    if json {
        write_stdout(&format!("{}\n", report::json(input, report)))?;
    }
    if !common.quiet {
        if report.snr_db().is_some() {
            eprint!("{}", report::table(report));
        }
        let mode = match report.snr_db() {
            Some(snr) => format!("lossy, weight SNR {snr:.2} dB"),
            None => "lossless".to_string(),
        };
        eprintln!(
            "{input} → {out_path}: {} → {} ({:.1} %, {:.3} bits/weight), {mode}, {:.1} s",
            human(report.raw_bytes),
            human(report.stz_bytes),
            100.0 * report.stz_bytes as f64 / report.raw_bytes.max(1) as f64,
            report.bits_per_weight(),
            secs
        );
    }
    Ok(())
}

fn decompress(input: &str, output: Option<&str>, common: &CommonArgs) -> Result<(), Failure> {
    let out_path = match output {
        Some(o) => o.to_string(),
        None if input == "-" => "-".to_string(),
        None => restored_name(input)?,
    };
    let (report, secs) = run_job(
        input,
        &out_path,
        common,
        "decompressing",
        |r, w, opts, p| pipeline::decompress(r, Some(w), opts, p),
    )?;
    print_restored(input, &out_path, &report, secs, common);
    Ok(())
}

/// The default output of decompressing `name`: the name without `.stz`.
fn restored_name(name: &str) -> Result<String, Failure> {
    match name.strip_suffix(".stz") {
        Some(stem) if !stem.is_empty() => Ok(stem.to_string()),
        _ => Err(Failure::usage(format!(
            "{name} does not end in .stz: name the output with -o"
        ))),
    }
}

/// The summary of a whole decompression (unless `--quiet`).
fn print_restored(label: &str, out_path: &str, report: &Report, secs: f64, common: &CommonArgs) {
    if !common.quiet {
        eprintln!(
            "{label} → {out_path}: {} restored, all checksums match, {secs:.1} s",
            human(report.raw_bytes),
        );
    }
}

/// Where `decompress --tensor` writes: only where `-o` says, as the file
/// holds just some of the tensors.
fn extract_output<'a>(input: &str, output: Option<&'a str>) -> Result<&'a str, Failure> {
    let out = output.ok_or_else(|| {
        Failure::usage(
            "--tensor writes a file of only those tensors: name it with -o (`-` for stdout)",
        )
    })?;
    if input == out && input != "-" {
        return Err(Failure::usage("input and output are the same file"));
    }
    Ok(out)
}

/// `decompress --tensor` of a local `.stz`.
fn extract_local(
    input: &str,
    output: Option<&str>,
    names: &[String],
    common: &CommonArgs,
) -> Result<(), Failure> {
    let out = extract_output(input, output)?;
    let src = Input::open_seekable(input, "--tensor")?;
    extract(src, input, out, names, common)
}

/// `decompress --tensor`: a safetensors file of the tensors named, read
/// from `src` (`label` in messages) at the offsets its index gives.
fn extract(
    mut src: impl Read + Seek + Send,
    label: &str,
    out_path: &str,
    names: &[String],
    common: &CommonArgs,
) -> Result<(), Failure> {
    let (header, secs) = run_job_from(
        Box::new(std::io::empty()),
        out_path,
        common,
        "extracting",
        &mut |_, w, opts, p| pipeline::extract_tensors(&mut src, names, w, opts, p),
    )?;
    if !common.quiet {
        eprintln!(
            "{label} → {out_path}: {} tensors, {} written, every chunk checksum matches, {secs:.1} s",
            header.tensors().len(),
            human(header.file_len()),
        );
    }
    Ok(())
}

/// `verify`: decode all that `src` (`input` in messages) holds, writing
/// nothing.
fn verify(src: impl Read + Send, input: &str, common: &CommonArgs) -> Result<(), Failure> {
    let opts = options(common)?;
    let bar = progress::Bar::new(common.quiet, "verifying");
    let start = Instant::now();
    let report = pipeline::decompress(src, None::<std::io::Sink>, &opts, &|p| bar.update(p))?;
    bar.finish();
    if !common.quiet {
        eprintln!(
            "{input}: OK — {} tensors, {} decoded, every chunk and the whole-file checksum match, {:.1} s",
            report.tensors.len(),
            human(report.raw_bytes),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// A job writing one output: input, output, options, progress; it gives
/// a report (compression, decompression) or the header written
/// (extraction).
type Job<'a, T> = dyn FnMut(
        Box<dyn Read + Send>,
        &mut Output,
        &Options,
        &(dyn Fn(pipeline::Progress) + Sync),
    ) -> stzip::Result<T>
    + 'a;

/// Open input and output, run the job with a progress bar, and commit the
/// output only when the job succeeded.
fn run_job(
    input: &str,
    output: &str,
    common: &CommonArgs,
    verb: &'static str,
    mut job: impl FnMut(
        Box<dyn Read + Send>,
        &mut Output,
        &Options,
        &(dyn Fn(pipeline::Progress) + Sync),
    ) -> stzip::Result<Report>,
) -> Result<(Report, f64), Failure> {
    if input != "-" && input == output {
        return Err(Failure::usage("input and output are the same file"));
    }
    options(common)?;
    let src = Input::open(input)?;
    run_job_from(Box::new(src), output, common, verb, &mut job)
}

/// [`run_job`] over an input that is already open.
fn run_job_from<T>(
    src: Box<dyn Read + Send>,
    output: &str,
    common: &CommonArgs,
    verb: impl Into<Cow<'static, str>>,
    job: &mut Job<T>,
) -> Result<(T, f64), Failure> {
    let opts = options(common)?;
    let mut dst = Output::create(output, common.force)?;
    let bar = progress::Bar::new(common.quiet, verb);
    let start = Instant::now();
    let result = job(src, &mut dst, &opts, &|p| bar.update(p));
    bar.finish();
    match result {
        Ok(report) => {
            dst.flush()?;
            dst.commit()?;
            Ok((report, start.elapsed().as_secs_f64()))
        }
        Err(e) => {
            dst.discard();
            Err(e.into())
        }
    }
}

/// Bytes in human units (powers of 1000, as file managers show them).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// Whether the model beside `input` ties its token embedding to the output
/// head, from its config.json: an explicit `tie_word_embeddings`, else
/// encoder-only architectures (the embedding is only a lookup table) are
/// untied; `None` when there is no config or it doesn't say.
fn tied_embeddings(input: &str) -> Option<bool> {
    let dir = std::path::Path::new(input).parent()?;
    tied_from_config(&std::fs::read_to_string(dir.join("config.json")).ok()?)
}

/// [`tied_embeddings`] from the text of a config.json.
fn tied_from_config(text: &str) -> Option<bool> {
    let config: serde_json::Value = serde_json::from_str(text).ok()?;
    if let Some(tied) = config.get("tie_word_embeddings").and_then(|v| v.as_bool()) {
        return Some(tied);
    }
    let encoder_only = [
        "bert",
        "roberta",
        "xlm-roberta",
        "distilbert",
        "mpnet",
        "electra",
        "deberta",
        "deberta-v2",
    ];
    let model_type = config.get("model_type").and_then(|v| v.as_str())?;
    let with_head = config
        .get("architectures")
        .and_then(|a| a.as_array())
        .is_some_and(|a| {
            a.iter().filter_map(|x| x.as_str()).any(|x| {
                x.contains("MaskedLM") || x.contains("PreTraining") || x.contains("LMHead")
            })
        });
    (encoder_only.contains(&model_type) && !with_head).then_some(false)
}
