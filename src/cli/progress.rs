//! A progress bar on stderr when it is a terminal: bytes done, MB/s, ETA.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use stzip::pipeline::{Progress, Stage};

pub struct Bar(Option<Shown>);

struct Shown {
    bar: ProgressBar,
    verb: Cow<'static, str>,
    stage: Mutex<Stage>,
}

impl Bar {
    pub fn new(quiet: bool, verb: impl Into<Cow<'static, str>>) -> Bar {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let verb = verb.into();
        bar.set_message(verb.clone());
        Bar(Some(Shown {
            bar,
            verb,
            stage: Mutex::new(Stage::Coding),
        }))
    }

    pub fn update(&self, p: Progress) {
        if let Some(shown) = &self.0 {
            let changed = shown
                .stage
                .lock()
                .is_ok_and(|mut s| std::mem::replace(&mut *s, p.stage) != p.stage);
            if changed {
                // Lossy compression's passes each get their own bar: the
                // rate and ETA start again.
                shown.bar.reset();
                shown.bar.set_message(match p.stage {
                    Stage::Measuring => Cow::Borrowed("measuring"),
                    Stage::ChoosingStep => Cow::Borrowed("choosing the step"),
                    Stage::Coding => shown.verb.clone(),
                });
            }
            shown.bar.set_length(p.raw_total);
            shown.bar.set_position(p.raw_bytes);
        }
    }

    pub fn finish(&self) {
        if let Some(shown) = &self.0 {
            shown.bar.finish_and_clear();
        }
    }
}
