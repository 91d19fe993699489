//! A progress bar on stderr when it is a terminal: bytes done, MB/s, ETA.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use stzip::pipeline::Progress;

pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn new(quiet: bool, verb: impl Into<std::borrow::Cow<'static, str>>) -> Bar {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(verb);
        Bar(Some(bar))
    }

    pub fn update(&self, p: Progress) {
        if let Some(bar) = &self.0 {
            bar.set_length(p.raw_total);
            bar.set_position(p.raw_bytes);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
