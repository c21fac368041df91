//! The lock file, `plugins.lock` beside the plugin definitions: the sha256 of every artifact
//! whose definition gives no checksum, recorded when it is first downloaded (after a check
//! against its publisher's checksum where one is published, see `publisher`) and verified by
//! every later build, as Cargo.lock or go.sum are. The tool writes it; the user commits it.
//!
//! One line per artifact, sorted by URL: `<url> sha256:<hex> <check>`, where `<check>` is
//! `<algorithm>@<where the publisher's checksum was read>` or `unchecked`. Lines starting with
//! `#` are comments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checksum::{Algorithm, Digest, digest};
use crate::config::ConfigError;
use crate::config::load::read_text;
use crate::config::mark::Mark;

pub(super) const FILE: &str = "plugins.lock";

const HEADER: &str = "\
# Written by `deploy plugins build` (and `deploy plugins pin`): the sha256 of each plugin
# artifact whose definition gives no checksum, recorded at its first download, with what checked
# it then. Later builds verify against it; `--locked` refuses to add to it. Commit this file.
";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Lock {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub digest: Digest,
    /// `sha1@https://…` or `unchecked`, as written.
    pub check: String,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

impl Lock {
    pub(super) fn get(&self, url: &str) -> Option<&Entry> {
        self.entries.get(url)
    }

    pub(super) fn insert(&mut self, url: String, entry: Entry) {
        self.entries.insert(url, entry);
    }

    /// Only the entries of these URLs (the artifacts the definitions still name).
    pub(super) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.entries.retain(|url, _| keep(url));
    }
}

/// The lock in `dir`; empty when there is none yet. Every malformed line is reported at once.
pub(super) fn read(dir: &Path) -> Result<Lock, ConfigError> {
    let file = path(dir);
    if !file.exists() {
        return Ok(Lock::default());
    }
    let text = read_text(&file)?;
    let name = Arc::new(file.clone());
    let mut lock = Lock::default();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let at = |column: usize, message: String| {
            let mark = Mark {
                file: name.clone(),
                line: index + 1,
                column,
            };
            ConfigError::new(mark, "", message)
        };
        match parse(line) {
            Ok((url, _)) if lock.entries.contains_key(&url) => {
                errors.push(at(1, format!("`{url}` is locked twice")));
            }
            Ok((url, entry)) => lock.insert(url, entry),
            Err((column, message)) => errors.push(at(column, message).with_hint(
                "each line is `<url> sha256:<hex> <check>`; delete a line to record it again",
            )),
        }
    }
    match ConfigError::all(errors) {
        Some(error) => Err(error),
        None => Ok(lock),
    }
}

/// One line: the URL and its entry, or the column and what is wrong there.
fn parse(line: &str) -> Result<(String, Entry), (usize, String)> {
    let mut fields = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        let field = &rest[start..];
        let end = field.find(char::is_whitespace).unwrap_or(field.len());
        fields.push((line.len() - field.len() + 1, &field[..end]));
        rest = &field[end..];
    }
    let [(_, url), (at, locked), (check_at, check)] = fields[..] else {
        return Err((1, format!("expected 3 fields, found {}", fields.len())));
    };
    let digest = locked
        .strip_prefix("sha256:")
        .and_then(|hex| digest(Algorithm::Sha256, hex))
        .ok_or((at, format!("`{locked}` is not `sha256:` and 64 hex digits")))?;
    let valid_check = check == "unchecked"
        || check.split_once('@').is_some_and(|(algorithm, source)| {
            Algorithm::named(algorithm).is_some() && !source.is_empty()
        });
    if !valid_check {
        return Err((
            check_at,
            format!("`{check}` is neither `unchecked` nor `<algorithm>@<source>`"),
        ));
    }
    Ok((
        url.to_string(),
        Entry {
            digest,
            check: check.to_string(),
        },
    ))
}

/// Writes the lock into `dir` in one step (a reader sees the old file or the new one).
pub(super) fn write(dir: &Path, lock: &Lock) -> std::io::Result<()> {
    let mut text = HEADER.to_string();
    for (url, entry) in &lock.entries {
        text.push_str(&format!("{url} {} {}\n", entry.digest, entry.check));
    }
    let file = path(dir);
    let temporary = dir.join(format!(".{FILE}.{}.partial", std::process::id()));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "45dc671c2cec8412c436371abddff644598d00035a73487ab6db191db3563911";

    #[test]
    fn a_written_lock_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut lock = Lock::default();
        for (url, check) in [
            ("https://b.example/b.jar", "unchecked"),
            (
                "https://a.example/a.jar",
                "sha1@https://a.example/a.jar.sha1",
            ),
        ] {
            lock.insert(
                url.into(),
                Entry {
                    digest: digest(Algorithm::Sha256, HEX).expect("digest"),
                    check: check.into(),
                },
            );
        }
        write(dir.path(), &lock).expect("write");
        assert_eq!(read(dir.path()).expect("read"), lock);
        let text = std::fs::read_to_string(path(dir.path())).expect("text");
        assert!(
            text.ends_with(&format!(
                "https://a.example/a.jar sha256:{HEX} sha1@https://a.example/a.jar.sha1\nhttps://b.example/b.jar sha256:{HEX} unchecked\n"
            )),
            "sorted by URL: {text}"
        );
    }

    #[test]
    fn every_malformed_line_is_reported_with_its_column() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            path(dir.path()),
            format!(
                "# comment\nhttps://a/a.jar sha256:abc unchecked\nhttps://b/b.jar sha256:{HEX}\nhttps://c/c.jar sha256:{HEX} crc32@x\nhttps://d/d.jar sha256:{HEX} unchecked\nhttps://d/d.jar sha256:{HEX} unchecked\n"
            ),
        )
        .expect("write");
        let error = read(dir.path()).expect_err("malformed");
        let all: Vec<String> = std::iter::once(&error)
            .chain(error.others())
            .map(|e| {
                let (line, column) = e.position.expect("placed");
                format!("{line}:{column}: {}", e.message)
            })
            .collect();
        assert_eq!(
            all,
            [
                "2:17: `sha256:abc` is not `sha256:` and 64 hex digits".to_string(),
                "3:1: expected 3 fields, found 2".into(),
                "4:89: `crc32@x` is neither `unchecked` nor `<algorithm>@<source>`".into(),
                "6:1: `https://d/d.jar` is locked twice".into(),
            ]
        );
    }
}
