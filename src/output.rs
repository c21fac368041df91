//! The only place that prints. Data goes to stdout (text or JSON), progress and messages to
//! stderr. Colour only on a terminal and never with NO_COLOR. Every line passes the secret mask.

use std::io::{IsTerminal, Write};
use std::sync::RwLock;

use crate::error::Error;
use crate::secrets::Secrets;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub struct Printer {
    pub format: Format,
    pub verbosity: Verbosity,
    color: bool,
    secrets: RwLock<Secrets>,
}

/// What a command has to say on stdout, in both formats; `main` prints it once, in the format
/// asked for. Progress and messages are not part of it: they go to stderr as they happen.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `None`: nothing on stdout in text mode (what happened was said on stderr).
    text: Option<String>,
    /// `None`: the text is printed in either format (a schema, a completion script).
    json: Option<serde_json::Value>,
}

impl Report {
    pub fn new(text: impl Into<String>, json: serde_json::Value) -> Self {
        Report {
            text: Some(text.into()),
            json: Some(json),
        }
    }

    /// Said only in JSON mode.
    pub fn json_only(json: serde_json::Value) -> Self {
        Report {
            text: None,
            json: Some(json),
        }
    }

    /// The same text in either format.
    pub fn raw(text: impl Into<String>) -> Self {
        Report {
            text: Some(text.into()),
            json: None,
        }
    }
}

/// A command's result: its exit code and what it has to say.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub code: u8,
    pub report: Option<Report>,
}

impl Outcome {
    pub fn code(code: u8) -> Self {
        Outcome { code, report: None }
    }

    pub fn with(code: u8, report: Report) -> Self {
        Outcome {
            code,
            report: Some(report),
        }
    }
}

#[derive(Clone, Copy)]
pub enum Style {
    Ok,
    Warn,
    Bad,
    Dim,
}

impl Printer {
    pub fn new(format: Format, verbosity: Verbosity) -> Self {
        let color = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Printer {
            format,
            verbosity,
            color,
            secrets: RwLock::new(Secrets::default()),
        }
    }

    /// From here on, these values are masked in everything printed.
    pub fn set_secrets(&self, secrets: Secrets) {
        *self.secrets.write().expect("secrets lock") = secrets;
    }

    pub fn mask(&self, text: &str) -> String {
        self.secrets
            .read()
            .expect("secrets lock")
            .mask(text)
            .into_owned()
    }

    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Ok => "32",
            Style::Warn => "33",
            Style::Bad => "31",
            Style::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// A progress or status line on stderr (hidden by -q).
    pub fn status(&self, line: &str) {
        if self.verbosity >= Verbosity::Normal {
            let _ = writeln!(std::io::stderr().lock(), "{}", self.mask(line));
        }
    }

    /// Detail shown with -v.
    pub fn debug(&self, line: &str) {
        if self.verbosity >= Verbosity::Verbose {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}",
                self.paint(Style::Dim, &self.mask(line))
            );
        }
    }

    /// Data for stdout, in text mode.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(self.mask(text).as_bytes());
        let _ = out.flush();
    }

    /// A command's report, in the format asked for.
    pub fn report(&self, report: &Report) {
        match (self.format, &report.json, &report.text) {
            (Format::Json, Some(json), _) => self.json(json),
            (_, _, Some(text)) => self.data(text),
            (Format::Text, _, None) | (Format::Json, None, None) => {}
        }
    }

    /// A JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).expect("JSON serializes");
        self.data(&(text + "\n"));
    }

    pub fn error(&self, error: &Error) {
        let text = self.error_text(error);
        let _ = std::io::stderr()
            .lock()
            .write_all(self.mask(&text).as_bytes());
    }

    /// An error as it is shown: the message, where in the file, the causes under it, the
    /// details, the hint, and the other errors found with it.
    fn error_text(&self, error: &Error) -> String {
        let mut text = format!("{}: {}\n", self.paint(Style::Bad, "error"), error);
        if let Some(snippet) = match error {
            Error::Config(config) => config.snippet(),
            _ => None,
        } {
            text.push_str(&snippet);
            text.push('\n');
        }
        // The message names the immediate cause; the causes under it follow.
        let immediate: Option<&(dyn std::error::Error + 'static)> = match error {
            Error::Docker { source, .. } => Some(source),
            Error::User {
                source: Some(source),
                ..
            } => Some(source.as_ref()),
            _ => None,
        };
        let mut cause = immediate.and_then(std::error::Error::source);
        while let Some(c) = cause {
            text.push_str(&format!("  caused by: {c}\n"));
            cause = c.source();
        }
        if let Error::User { details, .. } = error {
            for line in details {
                text.push_str(&format!("  | {line}\n"));
            }
        }
        if let Some(hint) = error.hint() {
            text.push_str(&format!("{}: {hint}\n", self.paint(Style::Warn, "hint")));
        }
        // The other errors the same pass over the file found, each with its place.
        if let Error::Config(config) = error {
            for also in config.others() {
                text.push_str(&format!("{}: {also}\n", self.paint(Style::Bad, "error")));
                if let Some(snippet) = also.snippet() {
                    text.push_str(&snippet);
                    text.push('\n');
                }
                if let Some(hint) = &also.hint {
                    text.push_str(&format!("{}: {hint}\n", self.paint(Style::Warn, "hint")));
                }
            }
            let count = config.others().count();
            if count > 0 {
                text.push_str(&format!("{} errors\n", count + 1));
            }
        }
        text
    }
}

/// Left-aligned columns separated by two spaces.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == row.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Asks `question` on the terminal before a change; `approved` (a `--yes` or `--auto-approve`)
/// skips the question, and without a terminal the change is refused with `hint`.
pub fn confirm(question: &str, approved: bool, hint: &str) -> Result<(), crate::error::Error> {
    use crate::error::Error;
    use std::io::BufRead;
    if approved {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::user(
            "refusing to change anything without confirmation: there is no terminal to ask",
        )
        .with_hint(hint));
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::user(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::user("not confirmed: nothing was changed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a cause of its own, as a library's transport error has.
    #[derive(Debug, thiserror::Error)]
    #[error("io: connection refused")]
    struct Transport(#[source] std::io::Error);

    #[test]
    fn a_user_error_keeps_its_cause_and_shows_the_causes_under_it() {
        let printer = Printer::new(Format::Text, Verbosity::Normal);
        let cause = Transport(std::io::Error::other("port 8083 closed"));
        let error = Error::user(
            "cannot reach Kafka Connect at http://127.0.0.1:8083: io: connection refused",
        )
        .with_hint("is the Connect service up?")
        .because(cause);
        assert!(std::error::Error::source(&error).is_some());
        let text = printer.error_text(&error);
        assert!(text.contains("  caused by: port 8083 closed\n"), "{text}");
        assert!(
            !text.contains("caused by: io: connection refused"),
            "{text}"
        );
        assert!(
            text.ends_with("hint: is the Connect service up?\n"),
            "{text}"
        );
    }
}
