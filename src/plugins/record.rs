//! Lock recording: the first download of an artifact without a checksum is checked against its
//! publisher's checksum and its sha256 recorded in the lock file, all of a build's or none.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use serde::Serialize;

use super::checksum::Algorithm;
use super::definition::Plugin;
use super::error::PluginError;
use super::{Options, concurrently, fetch, lock, publisher, unlocked};
use crate::output::Printer;

/// One artifact recorded in the lock file.
#[derive(Debug, Serialize)]
pub struct Recorded {
    pub url: String,
    pub sha256: String,
    pub check: publisher::Check,
}

/// Downloads every artifact of `selected` (and their bundles) that has no checksum yet, checks
/// each against its publisher's checksum, and records their sha256 in the lock file: all of
/// them, or (on any failure) none.
pub(super) fn record(
    plugins: &BTreeMap<String, Plugin>,
    selected: &[&Plugin],
    options: &Options,
    printer: &Printer,
) -> Result<Vec<Recorded>, PluginError> {
    let unlocked = unlocked(plugins, selected);
    if unlocked.is_empty() {
        return Ok(Vec::new());
    }
    if options.locked {
        return Err(PluginError::Unlocked(unlocked.into_values().collect()));
    }
    if options.offline {
        return Err(PluginError::NotCached(
            unlocked
                .keys()
                .map(|url| format!("{url} (no checksum recorded yet)"))
                .collect(),
        ));
    }
    let recorded = concurrently(unlocked.keys(), |url| {
        let (digest, file) = fetch::fetch_unverified(&options.cache, url, printer)?;
        match publisher::check(url, &file) {
            Ok(check) => Ok(Recorded {
                url: url.clone(),
                sha256: digest.hex,
                check,
            }),
            Err(e) => {
                let _ = fs::remove_file(&file);
                Err(e)
            }
        }
    })?;
    let dir = &options.plugins_dir;
    let lock_file = lock::path(dir);
    let mut lock = lock::read(dir)?;
    for r in &recorded {
        let check = r.check.token();
        let digest =
            super::checksum::digest(Algorithm::Sha256, &r.sha256).expect("a sha256 it computed");
        lock.insert(r.url.clone(), lock::Entry { digest, check });
    }
    // Entries of artifacts no definition names any more are dropped.
    let named: BTreeSet<&str> = plugins
        .values()
        .flat_map(|p| {
            p.artifacts
                .iter()
                .map(|a| a.url.as_str())
                .chain(p.unlocked.iter().map(|u| u.url.as_str()))
        })
        .collect();
    lock.retain(|url| named.contains(url));
    lock::write(dir, &lock).map_err(|e| PluginError::io(&lock_file, e))?;
    for r in &recorded {
        printer.status(&format!(
            "  recorded sha256:{} for {} in {}: {}",
            r.sha256,
            r.url,
            lock_file.display(),
            r.check.describe()
        ));
    }
    Ok(recorded)
}
