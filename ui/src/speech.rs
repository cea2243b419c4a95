//! The display's chime and spoken announcement of a call: "Nummer P 12, bitte zu
//! Platz 3", produced offline on the device by the `espeak-ng` program (Debian package
//! `espeak-ng`), after an optional chime played with `aplay`. Off unless the node's
//! settings switch it on; tests record the sentences instead ([`Recorder`]).

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// A call the display announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The display number, e.g. "P 012".
    pub number: String,
    /// The desk's name, e.g. "Platz 3".
    pub desk: String,
}

impl Announcement {
    /// The German sentence spoken in the foyer: "Nummer P 12, bitte zu Platz 3". The
    /// number's leading zeros are dropped, so it is read as a number.
    pub fn sentence_de(&self) -> String {
        format!(
            "Nummer {}, bitte zu {}",
            spoken_number(&self.number),
            self.desk
        )
    }
}

/// "P 012" → "P 12"; a number without digits stays as it is.
fn spoken_number(number: &str) -> String {
    number
        .split_whitespace()
        .map(|part| {
            if part.chars().all(|c| c.is_ascii_digit()) {
                let trimmed = part.trim_start_matches('0');
                if trimmed.is_empty() { "0" } else { trimmed }
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Makes a call heard in the foyer. Must not block the screen: the work happens
/// elsewhere.
pub trait Announcer: fmt::Debug {
    fn announce(&self, call: &Announcement);
}

/// Says nothing: the default, and what headless devices use.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Announcer for Silent {
    fn announce(&self, _call: &Announcement) {}
}

/// Keeps the sentences it would have said, for tests.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    said: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// The sentences so far, oldest first.
    pub fn said(&self) -> Vec<String> {
        self.said
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Announcer for Recorder {
    fn announce(&self, call: &Announcement) {
        self.said
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(call.sentence_de());
    }
}

/// How the display speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechSettings {
    /// The speech program, `espeak-ng` on the device's path by default.
    pub program: PathBuf,
    /// The espeak-ng voice, `de`.
    pub voice: String,
    /// Words per minute; a little slower than espeak-ng's 175 for a foyer.
    pub speed: u32,
    /// A sound file (WAV) played with `aplay` before each announcement.
    pub chime: Option<PathBuf>,
}

impl Default for SpeechSettings {
    fn default() -> Self {
        SpeechSettings {
            program: PathBuf::from("espeak-ng"),
            voice: "de".into(),
            speed: 140,
            chime: None,
        }
    }
}

/// Speaks through `espeak-ng`, one announcement after the other, on a thread of its
/// own: calls in quick succession queue up instead of talking over each other.
#[derive(Debug)]
pub struct Espeak {
    queue: mpsc::Sender<Announcement>,
}

impl Espeak {
    pub fn start(settings: SpeechSettings) -> Self {
        let (queue, announcements) = mpsc::channel::<Announcement>();
        std::thread::Builder::new()
            .name("announcer".into())
            .spawn(move || {
                for call in announcements {
                    speak(&settings, &call);
                }
            })
            .map_err(|e| tracing::error!(error = %e, "no announcer thread: calls are not spoken"))
            .ok();
        Espeak { queue }
    }
}

impl Announcer for Espeak {
    fn announce(&self, call: &Announcement) {
        // The thread is gone only if it could not start; that was logged then.
        let _ = self.queue.send(call.clone());
    }
}

fn speak(settings: &SpeechSettings, call: &Announcement) {
    if let Some(chime) = &settings.chime {
        run(Command::new("aplay").arg("-q").arg(chime));
    }
    run(Command::new(&settings.program)
        .arg("-v")
        .arg(&settings.voice)
        .arg("-s")
        .arg(settings.speed.to_string())
        .arg(call.sentence_de()));
}

fn run(command: &mut Command) {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => tracing::warn!(?command, %s, "announcement failed"),
        Err(e) => tracing::warn!(?command, error = %e, "announcement failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentence_reads_the_number_without_leading_zeros() {
        let call = Announcement {
            number: "P 012".into(),
            desk: "Platz 3".into(),
        };
        assert_eq!(call.sentence_de(), "Nummer P 12, bitte zu Platz 3");
        assert_eq!(spoken_number("A 000"), "A 0");
        assert_eq!(spoken_number("K 100"), "K 100");
    }
}
