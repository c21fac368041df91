//! A configuration error points at the file, line, column and key path it is about.

use std::fmt;
use std::path::PathBuf;

use super::mark::Mark;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column; `None` when the error is about the file as a whole.
    pub position: Option<(usize, usize)>,
    /// Dotted key path (`services.kafka.ports[0]`); empty at the top of the file.
    pub path: String,
    pub message: String,
    pub hint: Option<Box<str>>,
    /// The next error found in the same pass over the file: errors are reported together, as a
    /// compiler does (every unset variable at once, not one per run). A chain keeps the error
    /// small on the common path, where there is one.
    pub next: Option<Box<ConfigError>>,
}

impl ConfigError {
    pub fn new(mark: Mark, path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: mark.file.as_ref().clone(),
            position: Some((mark.line, mark.column)),
            path: path.into(),
            message: message.into(),
            hint: None,
            next: None,
        }
    }

    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.into(),
            position: None,
            path: String::new(),
            message: message.into(),
            hint: None,
            next: None,
        }
    }

    /// The first of several errors, the others chained to it; `None` when there are none.
    pub fn all(errors: Vec<ConfigError>) -> Option<Self> {
        errors.into_iter().rev().fold(None, |next, mut error| {
            error.next = next.map(Box::new);
            Some(error)
        })
    }

    /// The errors found with this one, in file order.
    pub fn others(&self) -> impl Iterator<Item = &ConfigError> {
        std::iter::successors(self.next.as_deref(), |e| e.next.as_deref())
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into().into_boxed_str());
        self
    }

    /// The offending line of the file with a caret under the column, when it can be read.
    pub fn snippet(&self) -> Option<String> {
        let (line, column) = self.position?;
        let text = std::fs::read_to_string(&self.file).ok()?;
        let source = text.lines().nth(line.checked_sub(1)?)?;
        let number = line.to_string();
        let pad = " ".repeat(number.len());
        let caret = " ".repeat(column.saturating_sub(1));
        Some(format!("{pad} |\n{number} | {source}\n{pad} | {caret}^"))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The closest candidate by edit distance, for "did you mean" hints.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}
