//! `plugins list` and `plugins verify`: what is defined, cached, locked and built, and whether
//! the built ZIPs still match their manifests.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::checksum::Algorithm;
use super::definition::{Plugin, PluginKind};
use super::outputs::{current, read_manifest};
use super::{Options, fetch, recipe};

/// One row of `plugins list`.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub name: String,
    pub kind: PluginKind,
    pub release: String,
    pub inputs: usize,
    pub cached: usize,
    /// Inputs whose checksum is neither in the definition nor in the lock file yet.
    pub unlocked: usize,
    pub bundle: Vec<String>,
    /// The current output's digest, when built from the current definition.
    pub output: Option<String>,
}

pub fn list(plugins: &BTreeMap<String, Plugin>, options: &Options) -> Vec<Listed> {
    plugins
        .values()
        .map(|plugin| {
            let cached = plugin
                .artifacts
                .iter()
                .filter(|a| fetch::cached_path(&options.cache, &a.digest).is_file())
                .count();
            let output = (plugin.kind == PluginKind::Connector)
                .then(|| current(plugins, plugin, options).map(|b| b.sha256))
                .flatten();
            Listed {
                name: plugin.name.clone(),
                kind: plugin.kind,
                release: plugin.release.clone(),
                inputs: plugin.artifacts.len() + plugin.unlocked.len(),
                cached,
                unlocked: plugin.unlocked.len(),
                bundle: plugin.bundle.clone(),
                output,
            }
        })
        .collect()
}

/// `plugins verify`: every cached input and every output re-hashed; the problems found.
pub fn verify(plugins: &BTreeMap<String, Plugin>, options: &Options) -> Vec<String> {
    let mut problems: Vec<String> = plugins
        .values()
        .flat_map(|p| {
            p.unlocked.iter().map(move |u| {
                format!(
                    "no checksum recorded yet (the next build records it): {}:{}: {}",
                    p.source.display(),
                    u.line,
                    u.url
                )
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for artifact in plugins.values().flat_map(|p| p.artifacts.iter()) {
        if !seen.insert(artifact.digest.to_string()) {
            continue;
        }
        let path = fetch::cached_path(&options.cache, &artifact.digest);
        if !path.is_file() {
            problems.push(format!(
                "not cached: {} ({})",
                artifact.url, artifact.digest
            ));
            continue;
        }
        match fetch::hash_file(&path, artifact.digest.algorithm) {
            Ok(hex) if hex == artifact.digest.hex => {}
            Ok(hex) => problems.push(format!(
                "cached file {} does not match: expected {}, got {hex}",
                path.display(),
                artifact.digest
            )),
            Err(e) => problems.push(format!("cannot read {}: {e}", path.display())),
        }
    }
    for plugin in plugins.values().filter(|p| p.kind == PluginKind::Connector) {
        let Some(manifest) = read_manifest(options, &plugin.name) else {
            problems.push(format!("not built: {}", plugin.name));
            continue;
        };
        if manifest.recipe != recipe(plugins, plugin) {
            problems.push(format!(
                "stale: {} was built from another definition",
                plugin.name
            ));
        }
        let zip = options.out_dir.join(&manifest.output.file);
        match fetch::hash_file(&zip, Algorithm::Sha256) {
            Ok(hex) if hex == manifest.output.sha256 => {}
            Ok(hex) => problems.push(format!(
                "{} does not match its manifest: expected sha256:{}, got sha256:{hex}",
                zip.display(),
                manifest.output.sha256
            )),
            Err(e) => problems.push(format!("cannot read {}: {e}", zip.display())),
        }
    }
    problems
}
