//! How the tour prints: chapter headings, the two kinds of block ("the client saw" and
//! "inside the broker"), the file and function that did the work. Counts and runs of
//! offsets are said as the broker's log lines say them, by its `explain::count`
//! (`1 partition`, `3 entries`) and `explain::offsets` (`offsets 4 to 6`, both ends
//! included), re-exported here.
//!
//! Where it sits: under every chapter; nothing here knows Kafka.
//!
//! What must stay true:
//! - Colour only when stdout is a terminal and `NO_COLOR` is unset or empty
//!   (<https://no-color.org>): piped output holds no escape sequence at all.
//! - Everything goes to stdout, one `println!` per line, so the lines of the tour and
//!   of its test come in order.

use std::io::{IsTerminal, Write};

pub use minikafka_broker::explain::{count, offsets};

use super::refs::CodeRef;

/// The printer. Cheap to copy; every chapter gets one.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    color: bool,
}

/// SGR codes, used only when [`Out::color`] is on.
const BOLD: &str = "1";
const DIM: &str = "2";
const CYAN: &str = "36";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const MAGENTA: &str = "35";

impl Out {
    /// Colour if stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn from_env() -> Out {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Out {
            color: std::io::stdout().is_terminal() && !no_color,
        }
    }

    fn paint(&self, sgr: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// `== Chapter 1 of 9: Partitioning ==` and what the chapter shows.
    pub fn chapter(&self, n: usize, title: &str, what: &str) {
        let of = super::CHAPTERS.len();
        emit("");
        emit(&self.heading(&format!("== Chapter {n} of {of}: {title} ==")));
        for line in what.lines() {
            emit(line);
        }
    }

    /// A title line, bold.
    pub fn heading(&self, text: &str) -> String {
        self.paint(&format!("{BOLD};{MAGENTA}"), text)
    }

    /// The start of a block of what the clients saw.
    pub fn client(&self, what: impl AsRef<str>) {
        emit("");
        let what = format!("[client] {}", what.as_ref());
        emit(&self.paint(&format!("{BOLD};{CYAN}"), &what));
    }

    /// The start of a block read inside the broker, in-process.
    pub fn broker(&self, what: impl AsRef<str>) {
        emit("");
        let what = format!("[broker] {}", what.as_ref());
        emit(&self.paint(&format!("{BOLD};{GREEN}"), &what));
    }

    /// One line of a block, indented under it.
    pub fn line(&self, text: impl AsRef<str>) {
        emit(&format!("  {}", text.as_ref()));
    }

    /// A line that matters most in its block (the moment of a lesson).
    pub fn key_line(&self, text: impl AsRef<str>) {
        emit(&format!("  {}", self.paint(BOLD, text.as_ref())));
    }

    /// A remark between blocks: what to notice.
    pub fn note(&self, text: impl AsRef<str>) {
        emit("");
        for line in text.as_ref().lines() {
            emit(&self.paint(YELLOW, line));
        }
    }

    /// `code: file.rs: name  (what it did)`: where to open the code next.
    pub fn code(&self, r: &CodeRef, did: &str) {
        let name = format!("{}: {}", r.file, r.name);
        emit(&format!(
            "  code: {}  {}",
            self.paint(BOLD, &name),
            self.paint(DIM, did)
        ));
    }

    /// A dim line, for side information (timings, paths).
    pub fn dim(&self, text: impl AsRef<str>) {
        emit(&self.paint(DIM, text.as_ref()));
    }
}

/// Writes one line to stdout. A closed stdout (`tour | head`) is ignored rather than a
/// panic: the tour runs to its end and stops its broker and child process cleanly.
pub fn emit(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// `0, 1, 2` for a list of numbers; `(none)` when empty.
pub fn list<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "(none)".to_string();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(list::<i32>(&[]), "(none)");
        assert_eq!(list(&[0, 2]), "0, 2");
    }

    #[test]
    fn no_escapes_without_color() {
        let out = Out { color: false };
        assert_eq!(out.paint(BOLD, "x"), "x");
    }
}
