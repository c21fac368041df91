//! The output cache: the manifest `build` writes beside each ZIP (its inputs and output, with
//! digests), and which outputs are current for the definitions as they are now.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::definition::Plugin;
use super::{Built, Options, recipe, select};

/// What `build` writes beside each ZIP: the inputs and the output, with digests.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Manifest {
    pub(super) plugin: String,
    pub(super) release: String,
    pub(super) recipe: String,
    pub(super) inputs: Vec<ManifestInput>,
    pub(super) entries: Vec<ManifestEntry>,
    pub(super) output: ManifestOutput,
    /// The plugin classes the ZIP provides.
    pub(super) provides: BTreeSet<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ManifestInput {
    pub(super) from: String,
    pub(super) url: String,
    pub(super) digest: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ManifestEntry {
    pub(super) path: String,
    pub(super) sha256: String,
    pub(super) from: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ManifestOutput {
    pub(super) file: String,
    pub(super) sha256: String,
    pub(super) size: u64,
}

pub(super) fn manifest_path(options: &Options, name: &str) -> PathBuf {
    options.out_dir.join(format!("{name}.json"))
}

pub(super) fn read_manifest(options: &Options, name: &str) -> Option<Manifest> {
    serde_json::from_slice(&fs::read(manifest_path(options, name)).ok()?).ok()
}

/// The current output of `plugin`, if one was built from the same recipe and is still there.
pub(super) fn current(
    plugins: &BTreeMap<String, Plugin>,
    plugin: &Plugin,
    options: &Options,
) -> Option<Built> {
    let manifest = read_manifest(options, &plugin.name)?;
    let zip = options.out_dir.join(&manifest.output.file);
    let size = fs::metadata(&zip).ok()?.len();
    (manifest.recipe == recipe(plugins, plugin) && size == manifest.output.size).then(|| Built {
        name: plugin.name.clone(),
        zip,
        sha256: manifest.output.sha256,
        size,
        rebuilt: false,
        kept_own: Vec::new(),
        provides: manifest.provides,
    })
}

/// The named plugins' current outputs, where built already: what a plan can read without
/// building (downloading) anything.
pub fn current_outputs(
    plugins: &BTreeMap<String, Plugin>,
    names: &[String],
    options: &Options,
) -> Vec<Built> {
    select(plugins, names)
        .map(|selected| {
            selected
                .into_iter()
                .filter_map(|plugin| current(plugins, plugin, options))
                .collect()
        })
        .unwrap_or_default()
}
