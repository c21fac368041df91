//! Connector plugins: fetched by checksum into a cache, read safely, merged with their bundles
//! (the Avro converter), and packaged as deterministic ZIPs named after their content. The same
//! ZIPs are mounted into the local Connect and uploaded to MSK Connect.

mod archive;
mod definition;
mod fetch;
mod lock;
mod manifests;
mod merge;
mod package;
mod parity;
mod publisher;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::ConfigError;
use crate::error::Error;
use crate::output::Printer;
use archive::Limits;
use definition::{Algorithm, Artifact, Plugin, PluginKind};

// The face the rest of the program uses: definitions read, parity checked, lock file located.
pub use definition::{json_schema, load_all};
pub use lock::path as lock_path;
pub use manifests::JAR_NAME;
pub use parity::check as check_parity;

/// Bumped when the ZIP layout changes, so old outputs are rebuilt.
const PACKAGE_FORMAT: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("offline, and not in the cache: {}", .0.join(", "))]
    NotCached(Vec<String>),
    #[error(
        "checksum mismatch for {url}: expected {expected}, got {actual}; the download was deleted"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("cannot download {0}: {1}")]
    Download(String, String),
    #[error("refusing archive {0}: {1}")]
    UnsafeArchive(String, String),
    #[error("plugin `{plugin}`: {message}")]
    Conflict { plugin: String, message: String },
    #[error("no connector plugin named `{0}`")]
    Unknown(String, Vec<String>),
    #[error("--locked, and not in the lock file: {}", .0.join(", "))]
    Unlocked(Vec<String>),
    #[error(
        "the publisher's checksum disagrees for {url}: {from} says {published}, the download is {actual}; nothing was recorded"
    )]
    PublisherMismatch {
        url: String,
        from: String,
        published: String,
        actual: String,
    },
    /// Several downloads failed: each URL with why.
    #[error("cannot download {}", .0.join(", "))]
    Downloads(Vec<String>),
    #[error("{at}: `{pattern}` matches no jar in {url}")]
    NoJarMatches {
        at: String,
        pattern: String,
        url: String,
    },
}

impl PluginError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        PluginError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<PluginError> for Error {
    fn from(error: PluginError) -> Self {
        let hint = match &error {
            PluginError::Config(e) => return Error::from(e.clone()),
            PluginError::NotCached(_) => Some("run `deploy plugins build` once with network access, or point DEPLOY_CACHE_DIR at a cache that has these".to_string()),
            PluginError::ChecksumMismatch { .. } => {
                Some("the file changed upstream or in transit; check the source before changing the checksum".into())
            }
            PluginError::Unknown(_, known) => Some(format!("connector plugins: {}", known.join(", "))),
            PluginError::Unlocked(_) => Some(
                "run `deploy plugins pin` (or a build) without --locked to record them, then commit the lock file"
                    .into(),
            ),
            PluginError::PublisherMismatch { .. } => Some(
                "the file differs from what its publisher published: check the source (a mirror, a proxy) before trusting it"
                    .into(),
            ),
            PluginError::Downloads(_) => Some(
                "check the network (or a proxy); with a warm cache, `--offline` builds without it".into(),
            ),
            _ => None,
        };
        let error = match error {
            PluginError::NotCached(list) => Error::user(format!(
                "offline, and not in the cache: {} artifact(s)",
                list.len()
            ))
            .with_details(list),
            PluginError::Unlocked(list) => Error::user(format!(
                "--locked, and {} artifact(s) have no checksum in their definition or the lock file",
                list.len()
            ))
            .with_details(list),
            PluginError::Downloads(list) => {
                Error::user(format!("cannot download {} artifact(s)", list.len()))
                    .with_details(list)
            }
            other => Error::user(other.to_string()),
        };
        match hint {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }
}

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

/// What `build` writes beside each ZIP: the inputs and the output, with digests.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    plugin: String,
    release: String,
    recipe: String,
    inputs: Vec<ManifestInput>,
    entries: Vec<ManifestEntry>,
    output: ManifestOutput,
    /// The plugin classes the ZIP provides.
    provides: BTreeSet<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestInput {
    from: String,
    url: String,
    digest: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestEntry {
    path: String,
    sha256: String,
    from: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestOutput {
    file: String,
    sha256: String,
    size: u64,
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

fn manifest_path(options: &Options, name: &str) -> PathBuf {
    options.out_dir.join(format!("{name}.json"))
}

fn read_manifest(options: &Options, name: &str) -> Option<Manifest> {
    serde_json::from_slice(&fs::read(manifest_path(options, name)).ok()?).ok()
}

/// The current output of `plugin`, if one was built from the same recipe and is still there.
fn current(
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
fn record(
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
            definition::digest(Algorithm::Sha256, &r.sha256).expect("a sha256 it computed");
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
fn readable_by_all(folder: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| fs::metadata(path).map(|m| m.permissions().mode());
    mode(folder).is_ok_and(|m| m & 0o555 == 0o555)
        && fs::read_dir(folder).is_ok_and(|entries| {
            entries
                .flatten()
                .all(|e| mode(&e.path()).is_ok_and(|m| m & 0o444 == 0o444))
        })
}

fn set_mode(path: &Path, mode: u32) -> Result<(), PluginError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| PluginError::io(path, e))
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
