//! Reading the jars out of a downloaded archive, refusing what could escape or explode: absolute
//! paths, `..`, links that leave the tree, and archives past the size or entry limits. Nothing
//! is written to disk here; the jars are returned in memory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use super::definition::ArchiveKind;
use super::error::PluginError;

/// Limits on what one archive may expand to (`DEPLOY_ARCHIVE_MAX_BYTES`,
/// `DEPLOY_ARCHIVE_MAX_ENTRIES` override them).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_entries: usize,
}

impl Limits {
    pub fn from_env() -> Self {
        let number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        Limits {
            max_bytes: number("DEPLOY_ARCHIVE_MAX_BYTES").unwrap_or(2 << 30),
            max_entries: number("DEPLOY_ARCHIVE_MAX_ENTRIES").map_or(100_000, |n: u64| n as usize),
        }
    }
}

/// A jar taken from an archive: its file name and content.
#[derive(Debug, Clone)]
pub(super) struct Jar {
    pub file_name: String,
    pub data: Vec<u8>,
}

/// The jars of the archive whose file name `keep` accepts (only those are read into memory).
pub(super) fn read_jars(
    path: &Path,
    kind: ArchiveKind,
    name_hint: &str,
    limits: Limits,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<Jar>, PluginError> {
    let file = File::open(path).map_err(|e| PluginError::io(path, e))?;
    let refuse = |message: String| PluginError::UnsafeArchive(name_hint.to_string(), message);
    match kind {
        ArchiveKind::Jar => {
            let mut data = Vec::new();
            BufReader::new(file)
                .read_to_end(&mut data)
                .map_err(|e| PluginError::io(path, e))?;
            let file_name = name_hint
                .rsplit('/')
                .next()
                .unwrap_or(name_hint)
                .to_string();
            Ok(if keep(&file_name) {
                vec![Jar { file_name, data }]
            } else {
                Vec::new()
            })
        }
        ArchiveKind::Tgz => {
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
            let mut jars = Vec::new();
            let mut count = 0usize;
            let mut total = 0u64;
            let entries = archive
                .entries()
                .map_err(|e| refuse(format!("not a tar.gz archive: {e}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| refuse(format!("broken tar entry: {e}")))?;
                let entry_path = entry.path_bytes().into_owned();
                let entry_path = String::from_utf8_lossy(&entry_path).into_owned();
                count += 1;
                total += entry.header().size().unwrap_or(0);
                check_limits(count, total, limits).map_err(&refuse)?;
                let inside = safe_path(&entry_path).map_err(&refuse)?;
                let kind = entry.header().entry_type();
                if kind.is_symlink() || kind.is_hard_link() {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    check_link(&inside, &target, kind.is_hard_link()).map_err(&refuse)?;
                    continue;
                }
                if kind.is_file() && entry_path.ends_with(".jar") && keep(&file_name(&inside)) {
                    let mut data = Vec::new();
                    entry
                        .read_to_end(&mut data)
                        .map_err(|e| refuse(format!("broken tar entry `{entry_path}`: {e}")))?;
                    jars.push(Jar {
                        file_name: file_name(&inside),
                        data,
                    });
                }
            }
            Ok(jars)
        }
        ArchiveKind::Zip => {
            let mut archive = zip::ZipArchive::new(BufReader::new(file))
                .map_err(|e| refuse(format!("not a zip archive: {e}")))?;
            check_limits(archive.len(), 0, limits).map_err(&refuse)?;
            let mut jars = Vec::new();
            let mut total = 0u64;
            for index in 0..archive.len() {
                let mut entry = archive
                    .by_index(index)
                    .map_err(|e| refuse(format!("broken zip entry {index}: {e}")))?;
                let entry_path = entry
                    .name()
                    .map_err(|e| refuse(format!("zip entry {index} has no readable name: {e}")))?
                    .into_owned();
                total += entry.size();
                check_limits(index + 1, total, limits).map_err(&refuse)?;
                let inside = safe_path(&entry_path).map_err(&refuse)?;
                let is_link = entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000);
                if is_link {
                    let mut target = String::new();
                    entry
                        .read_to_string(&mut target)
                        .map_err(|e| refuse(format!("broken link `{entry_path}`: {e}")))?;
                    check_link(&inside, &target, false).map_err(&refuse)?;
                    continue;
                }
                if entry.is_file() && entry_path.ends_with(".jar") && keep(&file_name(&inside)) {
                    let mut data = Vec::with_capacity(entry.size() as usize);
                    // Read no more than the entry claims, so a lying header cannot pass the limit.
                    (&mut entry)
                        .take(limits.max_bytes)
                        .read_to_end(&mut data)
                        .map_err(|e| refuse(format!("broken zip entry `{entry_path}`: {e}")))?;
                    jars.push(Jar {
                        file_name: file_name(&inside),
                        data,
                    });
                }
            }
            Ok(jars)
        }
    }
}

fn check_limits(count: usize, total: u64, limits: Limits) -> Result<(), String> {
    if count > limits.max_entries {
        return Err(format!("more than {} entries", limits.max_entries));
    }
    if total > limits.max_bytes {
        return Err(format!("expands to more than {} bytes", limits.max_bytes));
    }
    Ok(())
}

/// An entry path must stay inside the archive's tree.
fn safe_path(path: &str) -> Result<PathBuf, String> {
    let candidate = Path::new(path);
    let mut clean = PathBuf::new();
    for component in candidate.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "entry `{path}` climbs out of the archive with `..`"
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("entry `{path}` has an absolute path"));
            }
        }
    }
    Ok(clean)
}

/// A link is allowed when its target stays inside the tree.
fn check_link(entry: &Path, target: &str, hard: bool) -> Result<(), String> {
    let escapes = || {
        format!(
            "link `{}` → `{target}` points outside the archive",
            entry.display()
        )
    };
    if target.starts_with('/') {
        return Err(escapes());
    }
    // Hard link targets are relative to the archive root; symbolic ones to the link's folder.
    let mut depth: i64 = if hard {
        0
    } else {
        entry.components().count() as i64 - 1
    };
    for component in Path::new(target).components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
        if depth < 0 {
            return Err(escapes());
        }
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside() {
        assert_eq!(safe_path("./a/b.jar").unwrap(), PathBuf::from("a/b.jar"));
        assert!(safe_path("../evil.jar").is_err());
        assert!(safe_path("a/../../evil.jar").is_err());
        assert!(safe_path("/etc/passwd").is_err());
    }

    #[test]
    fn links_must_stay_inside() {
        assert!(check_link(Path::new("a/link"), "b.jar", false).is_ok());
        assert!(check_link(Path::new("a/link"), "../b.jar", false).is_ok());
        assert!(check_link(Path::new("a/link"), "../../b.jar", false).is_err());
        assert!(check_link(Path::new("link"), "/etc/passwd", false).is_err());
        assert!(check_link(Path::new("a/link"), "a/b.jar", true).is_ok());
    }
}
