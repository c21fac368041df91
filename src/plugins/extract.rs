//! Local extraction: a built ZIP unpacked once per digest under the cache, readable by all, for
//! a read-only mount into the local Connect.

use super::error::PluginError;
use super::{Built, Options, archive, definition};
use std::fs;
use std::path::{Path, PathBuf};

/// The folder `extracted` makes of a built plugin's ZIP: under the cache, by the ZIP's digest,
/// so it is known before it is made.
pub fn extracted_folder(built: &Built, options: &Options) -> PathBuf {
    options
        .cache
        .join("extracted")
        .join(&built.sha256)
        .join(&built.name)
}

/// Extracts a built plugin's jars once per digest (`extracted_folder`), for a read-only mount.
/// The folder and jars are readable by everyone whatever the umask: the image's own user (not
/// root in `apache/kafka`) reads them, and they are public jars.
pub fn extracted(built: &Built, options: &Options) -> Result<PathBuf, PluginError> {
    let target = options.cache.join("extracted").join(&built.sha256);
    let folder = target.join(&built.name);
    if target.join(".complete").is_file() && readable_by_all(&folder) {
        return Ok(folder);
    }
    let temporary = options
        .cache
        .join("extracted")
        .join(format!("{}.partial", built.sha256));
    let _ = fs::remove_dir_all(&temporary);
    let jars = archive::read_jars(
        &built.zip,
        definition::ArchiveKind::Zip,
        &built.name,
        options.limits,
        &|_| true,
    )?;
    let partial = temporary.join(&built.name);
    fs::create_dir_all(&partial).map_err(|e| PluginError::io(&partial, e))?;
    for jar in jars {
        let path = partial.join(&jar.file_name);
        fs::write(&path, &jar.data).map_err(|e| PluginError::io(&path, e))?;
        set_mode(&path, 0o644)?;
    }
    for dir in [&temporary, &partial] {
        set_mode(dir, 0o755)?;
    }
    fs::write(temporary.join(".complete"), &built.sha256)
        .map_err(|e| PluginError::io(&temporary, e))?;
    let _ = fs::remove_dir_all(&target);
    fs::rename(&temporary, &target).map_err(|e| PluginError::io(&target, e))?;
    Ok(folder)
}

/// The folder and every file in it readable (and the folder searchable) by everyone.
pub(super) fn readable_by_all(folder: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| fs::metadata(path).map(|m| m.permissions().mode());
    mode(folder).is_ok_and(|m| m & 0o555 == 0o555)
        && fs::read_dir(folder).is_ok_and(|entries| {
            entries
                .flatten()
                .all(|e| mode(&e.path()).is_ok_and(|m| m & 0o444 == 0o444))
        })
}

pub(super) fn set_mode(path: &Path, mode: u32) -> Result<(), PluginError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| PluginError::io(path, e))
}
