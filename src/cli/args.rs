//! Command-line arguments.

use clap::{Args, Parser, Subcommand};

/// Compress safetensors weight files losslessly, and restore them byte for byte.
#[derive(Parser)]
#[command(name = "stzip", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Compress a .safetensors file into .stz (`-` reads stdin), or
    /// straight from the Hugging Face Hub.
    Compress {
        /// Input .safetensors file, `-` for stdin (lossless only), or on the
        /// Hub: hf://owner/repo[@rev][/file] or a https://huggingface.co/…
        /// URL (token from HF_TOKEN or ~/.cache/huggingface/token). Several
        /// inputs (shards) are compressed in turn, each to its default output.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        /// Output file (default: INPUT.stz; `-` for stdout). For a whole
        /// Hub repo, a directory (default: the repo's name).
        #[arg(short, long)]
        output: Option<String>,
        /// Hub base URL (default: $HF_ENDPOINT, else https://huggingface.co).
        #[arg(long, value_name = "URL")]
        hub: Option<String>,
        #[command(flatten)]
        lossy: LossyArgs,
        /// Print the per-tensor report as JSON on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Restore the original .safetensors file from a .stz (a file, stdin,
    /// or one on the Hugging Face Hub).
    Decompress {
        /// Input .stz file, `-` for stdin, or on the Hub:
        /// hf://owner/repo[@rev]/file.stz or a https://huggingface.co/… URL.
        /// Several inputs are restored in turn, each to its name without .stz.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        /// Output file (default: INPUT without .stz; `-` for stdout).
        #[arg(short, long)]
        output: Option<String>,
        /// Hub base URL (default: $HF_ENDPOINT, else https://huggingface.co).
        #[arg(long, value_name = "URL")]
        hub: Option<String>,
        /// Only this tensor (repeat for more): writes a safetensors file of
        /// just those tensors, decoding only their chunks (random access
        /// through the index, so a file or the Hub, not stdin; needs -o).
        /// From the Hub only the index and those chunks are fetched.
        #[arg(short, long, value_name = "NAME")]
        tensor: Vec<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Decode a .stz completely and check every checksum, writing nothing.
    Verify {
        /// Input .stz file, `-` for stdin, or on the Hub:
        /// hf://owner/repo[@rev]/file.stz or a https://huggingface.co/… URL.
        /// Several inputs are verified in turn.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        /// Hub base URL (default: $HF_ENDPOINT, else https://huggingface.co).
        #[arg(long, value_name = "URL")]
        hub: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List the tensors of a .safetensors or .stz file.
    Inspect {
        /// A .safetensors or .stz file, or one on the Hub:
        /// hf://owner/repo[@rev]/file or a https://huggingface.co/… URL
        /// (only its header, or a .stz's index, is fetched). Several inputs
        /// are listed in turn (with --json, one JSON document each).
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Hub base URL (default: $HF_ENDPOINT, else https://huggingface.co).
        #[arg(long, value_name = "URL")]
        hub: Option<String>,
    },
}

impl Command {
    /// The input files named (at least one: clap requires it).
    pub fn inputs(&self) -> &[String] {
        match self {
            Command::Compress { inputs, .. }
            | Command::Decompress { inputs, .. }
            | Command::Verify { inputs, .. }
            | Command::Inspect { inputs, .. } => inputs,
        }
    }
}

#[derive(Args)]
pub struct CommonArgs {
    /// Overwrite the output if it exists; write binary output to a terminal.
    #[arg(short, long)]
    pub force: bool,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Decompression: refuse a .stz declaring a safetensors file larger
    /// than this many GiB (checked before anything is written).
    #[arg(long, value_name = "GIB", default_value_t = 1024)]
    pub max_output_size: u64,
}

/// Lossy mode: quantize float tensors to a size or an error target.
/// Without either flag compression is lossless.
#[derive(Args)]
pub struct LossyArgs {
    /// Lossy: average bits per float weight over the whole file.
    #[arg(
        long,
        value_name = "B",
        conflicts_with = "snr",
        allow_negative_numbers = true
    )]
    pub bits_per_weight: Option<f64>,
    /// Lossy: weight SNR in dB, 10·log10(Σw²/Σ(w−ŵ)²) over all float tensors.
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    pub snr: Option<f64>,
    /// How bits are spread over tensors: `model` scales the step by tensor
    /// role (coarser token-embedding lookup tables, finer 1-D tensors) for
    /// the model's outputs; `uniform` uses one step for all (the most weight
    /// SNR for a size). The model's config.json beside the input, if any,
    /// says whether the embedding is tied to the output head.
    #[arg(long, value_enum, default_value_t = AllocationArg::Model)]
    pub allocation: AllocationArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AllocationArg {
    Model,
    Uniform,
}
