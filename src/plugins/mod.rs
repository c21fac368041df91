//! Connector plugins: fetched by checksum into a cache, read safely, merged with their bundles
//! (the Avro converter), and packaged as deterministic ZIPs named after their content. The same
//! ZIPs are mounted into the local Connect and uploaded to MSK Connect.

mod archive;
mod checksum;
mod definition;
mod error;
mod extract;
mod fetch;
mod inspect;
mod lock;
mod manifests;
mod merge;
mod outputs;
mod package;
mod parity;
mod publisher;
mod record;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::output::Printer;
use archive::Limits;
use definition::{Artifact, Plugin, PluginKind};

// The face the rest of the program uses: definitions read, parity checked, lock file located.
pub use definition::{json_schema, load_all};
pub use error::PluginError;
pub use extract::{extracted, extracted_folder};
pub use inspect::{Listed, list, verify};
pub use lock::path as lock_path;
pub use manifests::JAR_NAME;
pub use outputs::current_outputs;
use outputs::{Manifest, ManifestEntry, ManifestInput, ManifestOutput, current, manifest_path};
pub use parity::check as check_parity;
pub use record::Recorded;
use record::record;

/// Bumped when the ZIP layout changes, so old outputs are rebuilt.
const PACKAGE_FORMAT: u32 = 3;

#[derive(Debug, Clone)]
pub struct Options {
    /// Use the cache only.
    pub offline: bool,
    /// Record nothing new in the lock file (`--locked`, for CI).
    pub locked: bool,
    /// The plugin definitions and their lock file.
    pub plugins_dir: PathBuf,
    pub cache: PathBuf,
    pub out_dir: PathBuf,
    pub limits: Limits,
}

impl Options {
    /// The defaults (online): `plugins/`, the user's cache, `build/plugins`, limits from the
    /// environment.
    pub fn new(locked: bool) -> Self {
        Options {
            offline: false,
            locked,
            plugins_dir: definition::plugins_dir(),
            cache: fetch::cache_dir(),
            out_dir: std::env::var_os("DEPLOY_BUILD_DIR")
                .map_or_else(|| PathBuf::from("build"), PathBuf::from)
                .join("plugins"),
            limits: Limits::from_env(),
        }
    }
}

/// A packaged plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Built {
    pub name: String,
    pub zip: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// False when an up-to-date output was reused.
    pub rebuilt: bool,
    /// Artifacts kept at the connector's own version over a bundle's (see `merge`).
    pub kept_own: Vec<String>,
    /// The Kafka Connect plugin classes in the ZIP (connectors, converters, transforms, …).
    pub provides: BTreeSet<String>,
}

/// The connectors to build: the names given, or every connector.
fn select<'a>(
    plugins: &'a BTreeMap<String, Plugin>,
    names: &[String],
) -> Result<Vec<&'a Plugin>, PluginError> {
    let connectors: Vec<String> = plugins
        .values()
        .filter(|p| p.kind == PluginKind::Connector)
        .map(|p| p.name.clone())
        .collect();
    if names.is_empty() {
        return Ok(plugins
            .values()
            .filter(|p| p.kind == PluginKind::Connector)
            .collect());
    }
    names
        .iter()
        .map(|name| match plugins.get(name) {
            Some(p) if p.kind == PluginKind::Connector => Ok(p),
            _ => Err(PluginError::Unknown(name.clone(), connectors.clone())),
        })
        .collect()
}

/// The plugin and its bundles, in merge order.
fn parts<'a>(plugins: &'a BTreeMap<String, Plugin>, plugin: &'a Plugin) -> Vec<&'a Plugin> {
    std::iter::once(plugin)
        .chain(plugin.bundle.iter().map(|b| &plugins[b]))
        .collect()
}

/// A digest of everything the output depends on: when it matches, the output is current.
fn recipe(plugins: &BTreeMap<String, Plugin>, plugin: &Plugin) -> String {
    let parts: Vec<serde_json::Value> = parts(plugins, plugin)
        .iter()
        .map(|p| json!({"name": p.name, "artifacts": p.artifacts.iter().map(|a| json!({"digest": a.digest.to_string(), "jars": a.jars.iter().map(|j| &j.pattern).collect::<Vec<_>>()})).collect::<Vec<_>>()}))
        .collect();
    let input = json!({"format": PACKAGE_FORMAT, "parts": parts, "prefer": plugin.prefer});
    fetch::sha256(input.to_string().as_bytes())
}

/// Builds the named connectors (all of them without names), reusing current outputs. An
/// artifact without a checksum anywhere is downloaded, checked and recorded in the lock first.
pub fn build(
    plugins: &BTreeMap<String, Plugin>,
    names: &[String],
    options: &Options,
    printer: &Printer,
) -> Result<Vec<Built>, PluginError> {
    let selected = select(plugins, names)?;
    if unlocked(plugins, &selected).is_empty() {
        return build_selected(plugins, &selected, options, printer);
    }
    record(plugins, &selected, options, printer)?;
    let plugins = definition::load_all(&options.plugins_dir)?;
    let selected = select(&plugins, names)?;
    build_selected(&plugins, &selected, options, printer)
}

/// The artifacts of `selected` and their bundles that have no checksum yet, each once: URL and
/// where the definition names it.
fn unlocked(plugins: &BTreeMap<String, Plugin>, selected: &[&Plugin]) -> BTreeMap<String, String> {
    selected
        .iter()
        .flat_map(|p| parts(plugins, p))
        .flat_map(|part| {
            part.unlocked.iter().map(move |u| {
                (
                    u.url.clone(),
                    format!("{}:{}: {}", part.source.display(), u.line, u.url),
                )
            })
        })
        .collect()
}

fn build_selected(
    plugins: &BTreeMap<String, Plugin>,
    selected: &[&Plugin],
    options: &Options,
    printer: &Printer,
) -> Result<Vec<Built>, PluginError> {
    // Nothing is ever built without every input's digest.
    let missing = unlocked(plugins, selected);
    if !missing.is_empty() {
        return Err(PluginError::Unlocked(missing.into_values().collect()));
    }
    let mut built = Vec::new();
    let mut todo = Vec::new();
    for plugin in selected {
        match current(plugins, plugin, options) {
            Some(done) => built.push(done),
            None => todo.push(*plugin),
        }
    }
    if todo.is_empty() {
        return Ok(built);
    }
    // Every artifact the stale plugins need, once, fetched concurrently.
    let mut needed: BTreeMap<String, &Artifact> = BTreeMap::new();
    for plugin in &todo {
        for part in parts(plugins, plugin) {
            for artifact in &part.artifacts {
                needed
                    .entry(artifact.digest.to_string())
                    .or_insert(artifact);
            }
        }
    }
    if options.offline {
        let missing: Vec<String> = needed
            .values()
            .filter(|a| !fetch::cached_path(&options.cache, &a.digest).is_file())
            .map(|a| format!("{} ({})", a.url, a.digest))
            .collect();
        if !missing.is_empty() {
            return Err(PluginError::NotCached(missing));
        }
    }
    let files: BTreeMap<String, PathBuf> = concurrently(needed.iter(), |(key, artifact)| {
        fetch::fetch(&options.cache, artifact, options.offline, printer).map(|p| (key.clone(), p))
    })?
    .into_iter()
    .collect();
    fs::create_dir_all(&options.out_dir).map_err(|e| PluginError::io(&options.out_dir, e))?;
    for plugin in todo {
        built.push(package_one(plugins, plugin, &files, options)?);
        let last = built.last().expect("just built");
        printer.status(&format!("  built {}", last.zip.display()));
        for kept in &last.kept_own {
            printer.status(&format!("    {}: keeps {kept}", last.name));
        }
    }
    built.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(built)
}

/// `work` on every item at once (downloads); every failure is kept, so that a machine without
/// network hears about each download it needs, not only the first.
fn concurrently<I, T, F>(items: I, work: F) -> Result<Vec<T>, PluginError>
where
    I: Iterator + Send,
    I::Item: Send,
    T: Send,
    F: Fn(I::Item) -> Result<T, PluginError> + Sync,
{
    let results: Vec<Result<T, PluginError>> = std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = items.map(|item| scope.spawn(move || work(item))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("download thread"))
            .collect()
    });
    let (done, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    let mut failed: Vec<PluginError> = failed.into_iter().filter_map(Result::err).collect();
    if failed.is_empty() {
        return Ok(done.into_iter().filter_map(Result::ok).collect());
    }
    if failed.len() > 1
        && failed
            .iter()
            .all(|e| matches!(e, PluginError::Download(..)))
    {
        return Err(PluginError::Downloads(
            failed
                .into_iter()
                .map(|e| match e {
                    PluginError::Download(url, why) => format!("{url}: {why}"),
                    other => other.to_string(),
                })
                .collect(),
        ));
    }
    // Anything else (a checksum mismatch, a cache that cannot be written) comes first.
    let first = failed
        .iter()
        .position(|e| !matches!(e, PluginError::Download(..)))
        .unwrap_or(0);
    Err(failed.swap_remove(first))
}

fn package_one(
    plugins: &BTreeMap<String, Plugin>,
    plugin: &Plugin,
    files: &BTreeMap<String, PathBuf>,
    options: &Options,
) -> Result<Built, PluginError> {
    let mut sets = Vec::new();
    let mut inputs = Vec::new();
    for part in parts(plugins, plugin) {
        let mut jars = Vec::new();
        for artifact in &part.artifacts {
            let file = &files[&artifact.digest.to_string()];
            let keep = |name: &str| {
                artifact.jars.is_empty() || artifact.jars.iter().any(|p| p.matches(name))
            };
            let taken =
                archive::read_jars(file, artifact.archive, &artifact.url, options.limits, &keep)?;
            if let Some(unmatched) = artifact
                .jars
                .iter()
                .find(|p| !taken.iter().any(|jar| p.matches(&jar.file_name)))
            {
                return Err(PluginError::NoJarMatches {
                    at: unmatched.at.clone(),
                    pattern: unmatched.pattern.clone(),
                    url: artifact.url.clone(),
                });
            }
            jars.extend(taken);
            inputs.push(ManifestInput {
                from: part.name.clone(),
                url: artifact.url.clone(),
                digest: artifact.digest.to_string(),
            });
        }
        sets.push((part.name.clone(), jars));
    }
    let own = (plugin.kind == PluginKind::Connector).then_some(plugin.name.as_str());
    let merge::Merged {
        jars: mut merged,
        kept_own,
    } = merge::merge(&plugin.name, own, sets, &plugin.prefer)?;
    // ServiceLoader manifests for the plugins no jar names, so workers can skip the scan.
    let jars: Vec<&archive::Jar> = merged.iter().map(|s| &s.jar).collect();
    let manifests::Scan {
        missing: manifests,
        provided: provides,
    } = manifests::scan(&jars);
    if !manifests.is_empty() {
        let data = manifests::jar(&manifests);
        merged.push(merge::Sourced {
            sha256: fetch::sha256(&data),
            jar: archive::Jar {
                file_name: manifests::JAR_NAME.into(),
                data,
            },
            origin: "deploy".into(),
        });
    }
    let bytes = package::zip_bytes(&plugin.name, &merged);
    let sha256 = fetch::sha256(&bytes);
    let file = format!("{}-{}.zip", plugin.name, &sha256[..12]);
    let zip = options.out_dir.join(&file);
    write_atomically(&zip, &bytes)?;
    // Older outputs of this plugin are gone once the new one is in place.
    for entry in fs::read_dir(&options.out_dir)
        .map_err(|e| PluginError::io(&options.out_dir, e))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != file && name.starts_with(&format!("{}-", plugin.name)) && name.ends_with(".zip")
        {
            let _ = fs::remove_file(entry.path());
        }
    }
    let manifest = Manifest {
        plugin: plugin.name.clone(),
        release: plugin.release.clone(),
        recipe: recipe(plugins, plugin),
        inputs,
        entries: merged
            .iter()
            .map(|s| ManifestEntry {
                path: format!("{}/{}", plugin.name, s.jar.file_name),
                sha256: s.sha256.clone(),
                from: s.origin.clone(),
            })
            .collect(),
        output: ManifestOutput {
            file,
            sha256: sha256.clone(),
            size: bytes.len() as u64,
        },
        provides: provides.clone(),
    };
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n";
    write_atomically(&manifest_path(options, &plugin.name), text.as_bytes())?;
    Ok(Built {
        name: plugin.name.clone(),
        zip,
        sha256,
        size: bytes.len() as u64,
        rebuilt: true,
        kept_own,
        provides,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let temporary = path.with_extension("partial");
    fs::write(&temporary, bytes).map_err(|e| PluginError::io(&temporary, e))?;
    fs::rename(&temporary, path).map_err(|e| PluginError::io(path, e))
}

/// Records the sha256 of every artifact of the plugins named (or all) that has no checksum yet,
/// without building: `build` does the same on its way.
pub fn pin(
    plugins: &BTreeMap<String, Plugin>,
    names: &[String],
    options: &Options,
    printer: &Printer,
) -> Result<Vec<Recorded>, PluginError> {
    let known: Vec<String> = plugins.keys().cloned().collect();
    let selected: Vec<&Plugin> = if names.is_empty() {
        plugins.values().collect()
    } else {
        names
            .iter()
            .map(|n| {
                plugins
                    .get(n)
                    .ok_or_else(|| PluginError::Unknown(n.clone(), known.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    record(plugins, &selected, options, printer)
}
