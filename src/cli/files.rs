//! Input and output files: `-` for stdin/stdout; outputs are written to a
//! temporary file beside the target and renamed into place only on success,
//! so a failed or interrupted run never leaves a half-written output. An
//! existing output that is not a regular file (`/dev/null`, a FIFO) is
//! written in place: renaming over it would replace it with a file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use super::Failure;
use stzip::pipeline::HASH_WRITE_PIECE;

/// The buffers of files read and written: they gather the small reads and
/// writes (frame headers, the safetensors header), while a chunk or a
/// decoded piece at least this long goes straight between the file and
/// the pipeline's buffer (through a larger buffer it was copied once more).
const FILE_BUFFER: usize = HASH_WRITE_PIECE;

pub enum Input {
    Stdin(io::Stdin),
    File(BufReader<File>),
}

impl Input {
    pub fn open(path: &str) -> Result<Input, Failure> {
        if path == "-" {
            return Ok(Input::Stdin(io::stdin()));
        }
        let file = File::open(path).map_err(|e| Failure {
            message: format!("cannot open {path}: {e}"),
            code: 1,
        })?;
        Ok(Input::File(BufReader::with_capacity(FILE_BUFFER, file)))
    }

    /// A file read at the offsets its index names (random access), which
    /// stdin can't do: `what` says what needed it.
    pub fn open_seekable(path: &str, what: &str) -> Result<BufReader<File>, Failure> {
        match Input::open(path)? {
            Input::File(f) => Ok(f),
            Input::Stdin(_) => Err(Failure::usage(format!(
                "{what} reads the .stz at the offsets its index gives: name a file, not stdin"
            ))),
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Stdin(s) => s.read(buf),
            Input::File(f) => f.read(buf),
        }
    }
}

pub enum Output {
    Stdout(BufWriter<io::Stdout>),
    /// A device or FIFO, written directly.
    Special(BufWriter<File>),
    File {
        file: BufWriter<File>,
        temp: PathBuf,
        target: PathBuf,
    },
}

impl Output {
    pub fn create(path: &str, force: bool) -> Result<Output, Failure> {
        if path == "-" {
            // As gzip and zstd do: binary on a terminal is noise, and
            // usually a forgotten redirection.
            if io::stdout().is_terminal() && !force {
                return Err(Failure::usage(
                    "not writing binary data to a terminal: redirect stdout or give -o FILE (--force to write anyway)",
                ));
            }
            return Ok(Output::Stdout(BufWriter::with_capacity(
                FILE_BUFFER,
                io::stdout(),
            )));
        }
        let target = PathBuf::from(path);
        let kind = std::fs::metadata(&target).map(|m| m.file_type());
        if kind.as_ref().is_ok_and(|k| !k.is_file() && !k.is_dir()) {
            // Nothing is overwritten, so no --force needed (as zstd does).
            let file = OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(|e| Failure {
                    message: format!("cannot open {path}: {e}"),
                    code: 1,
                })?;
            return Ok(Output::Special(BufWriter::with_capacity(FILE_BUFFER, file)));
        }
        if kind.is_ok() && !force {
            return Err(Failure::usage(format!(
                "{path} already exists (use --force to overwrite)"
            )));
        }
        let temp = temp_path(&target);
        let file = File::create(&temp).map_err(|e| Failure {
            message: format!("cannot create {}: {e}", temp.display()),
            code: 1,
        })?;
        Ok(Output::File {
            file: BufWriter::with_capacity(FILE_BUFFER, file),
            temp,
            target,
        })
    }

    /// Move the finished output into place.
    pub fn commit(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut s) => s.flush(),
            Output::Special(mut f) => f.flush(),
            Output::File { file, temp, target } => {
                let file = file.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                std::fs::rename(&temp, &target)
            }
        }
    }

    /// Drop a failed output.
    pub fn discard(self) {
        if let Output::File { file, temp, .. } = self {
            drop(file);
            let _ = std::fs::remove_file(temp);
        }
    }
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(s) => s.write(buf),
            Output::Special(f) => f.write(buf),
            Output::File { file, .. } => file.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.flush(),
            Output::Special(f) => f.flush(),
            Output::File { file, .. } => file.flush(),
        }
    }
}
