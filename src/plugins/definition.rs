//! Plugin definitions (`plugins/<name>.yaml`): what to download, its required checksum, and which
//! bundles to merge in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::checksum::{Algorithm, Digest, digest};
use super::lock::{self, Lock};
use crate::config::ConfigError;
use crate::config::load::read_typed;
use crate::config::path::KeyPath;
use crate::config::yaml::Node;

const FORMAT_VERSION: u32 = 1;
const MAVEN_CENTRAL: &str = "https://repo1.maven.org/maven2";

/// A plugin file as written.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct PluginFile {
    /// Format version; this is version 1.
    pub version: u32,
    /// The plugin's name; the file is `plugins/<name>.yaml`.
    pub name: String,
    pub description: Option<String>,
    /// The upstream release packaged (shown by `plugins list`).
    pub release: String,
    /// `connector`: packaged into a ZIP; `bundle`: merged into connectors that name it.
    pub kind: PluginKind,
    /// What to download. An artifact without a `sha256` or `sha512` has its sha256 recorded in
    /// `plugins.lock` by its first download.
    pub artifacts: Vec<ArtifactFile>,
    /// Bundles merged into this plugin (`[avro-converter]`).
    #[serde(default)]
    pub bundle: Vec<String>,
    /// When one jar comes at two versions, the version that wins, by artifact name.
    #[serde(default)]
    pub prefer: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    Connector,
    Bundle,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct ArtifactFile {
    /// Download URL.
    pub url: Option<String>,
    /// Maven coordinates `group:artifact:version[:classifier][@extension]`, fetched from Maven
    /// Central (or `DEPLOY_MAVEN_REPOSITORY`).
    pub maven: Option<String>,
    /// `tgz`, `zip` or `jar`; taken from the file name when left out.
    pub archive: Option<ArchiveKind>,
    pub sha256: Option<String>,
    pub sha512: Option<String>,
    /// Only the jars whose file name matches one of these patterns (`*` any characters, `?` one),
    /// for an archive that carries more than the plugin needs. Each pattern must match a jar.
    /// Every jar of the archive when left out.
    pub jars: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveKind {
    Tgz,
    Zip,
    Jar,
}

/// A checked plugin definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plugin {
    pub name: String,
    pub release: String,
    pub kind: PluginKind,
    pub description: Option<String>,
    pub artifacts: Vec<Artifact>,
    /// Artifacts with a checksum neither in their definition nor in the lock yet: the next
    /// build (or `plugins pin`) downloads them and records one.
    pub unlocked: Vec<Unlocked>,
    pub bundle: Vec<String>,
    pub prefer: BTreeMap<String, String>,
    #[serde(skip)]
    pub source: PathBuf,
}

/// An artifact without a checksum in its definition or in the lock, and where its
/// `url:`/`maven:` key stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unlocked {
    pub url: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    pub url: String,
    pub archive: ArchiveKind,
    pub digest: Digest,
    /// The `jars:` patterns; empty takes every jar.
    pub jars: Vec<JarPattern>,
}

/// One `jars:` pattern and where it is written, for the error when it matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JarPattern {
    pub pattern: String,
    #[serde(skip)]
    pub at: String,
}

impl JarPattern {
    /// `*` matches any run of characters, `?` one; everything else itself.
    pub fn matches(&self, name: &str) -> bool {
        glob(self.pattern.as_bytes(), name.as_bytes())
    }
}

fn glob(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative wildcard matching with one backtrack point: linear in practice, never
    // exponential, whatever the pattern.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The JSON Schema of plugin files, as checked in under `schema/`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(PluginFile);
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}

/// Where plugin files live: `DEPLOY_PLUGINS_DIR`, else `plugins/`.
pub(super) fn plugins_dir() -> PathBuf {
    std::env::var_os("DEPLOY_PLUGINS_DIR").map_or_else(|| PathBuf::from("plugins"), PathBuf::from)
}

/// Reads every `*.yaml` in `dir`, checks each, and checks the references between them; an
/// artifact without a checksum takes the one `dir`'s lock file recorded.
pub fn load_all(dir: &Path) -> Result<BTreeMap<String, Plugin>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ConfigError::file(dir, format!("cannot read the plugins directory: {e}"))
            .with_hint("run from the project root, or set DEPLOY_PLUGINS_DIR")
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let lock = lock::read(dir)?;
    let mut plugins = BTreeMap::new();
    let mut trees = BTreeMap::new();
    for file in files {
        let (tree, raw) = read_typed::<PluginFile>(&file)?;
        let plugin = resolve(&file, &tree, raw, &lock)?;
        trees.insert(plugin.name.clone(), tree);
        plugins.insert(plugin.name.clone(), plugin);
    }
    for plugin in plugins.values() {
        for (i, name) in plugin.bundle.iter().enumerate() {
            let path = KeyPath::root().key("bundle").index(i);
            let error = |message: String| {
                ConfigError::new(path.mark(&trees[&plugin.name]), path.to_string(), message)
            };
            match plugins.get(name) {
                None => {
                    return Err(error(format!(
                        "no plugin named `{name}` in {}",
                        dir.display()
                    )));
                }
                Some(p) if p.kind != PluginKind::Bundle => {
                    return Err(error(format!(
                        "`{name}` is a connector; only bundles can be merged in"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(plugins)
}

fn resolve(file: &Path, tree: &Node, raw: PluginFile, lock: &Lock) -> Result<Plugin, ConfigError> {
    let error = |path: KeyPath, message: String| {
        ConfigError::new(path.mark(tree), path.to_string(), message)
    };
    let root = KeyPath::root();
    if raw.version != FORMAT_VERSION {
        return Err(error(
            root.key("version"),
            format!("unsupported format version {}", raw.version),
        ));
    }
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    if raw.name != stem {
        return Err(error(
            root.key("name"),
            format!("the name must match the file name `{stem}`"),
        ));
    }
    if raw.artifacts.is_empty() {
        return Err(error(
            root.key("artifacts"),
            "at least one artifact is needed".into(),
        ));
    }
    if raw.kind == PluginKind::Bundle && !raw.bundle.is_empty() {
        return Err(error(
            root.key("bundle"),
            "a bundle cannot merge other bundles".into(),
        ));
    }
    let mut artifacts = Vec::new();
    let mut unlocked = Vec::new();
    for (i, artifact) in raw.artifacts.iter().enumerate() {
        let path = root.key("artifacts").index(i);
        let url = match (&artifact.url, &artifact.maven) {
            (Some(url), None) => url.clone(),
            (None, Some(coordinates)) => maven_url(coordinates).ok_or_else(|| {
                error(
                    path.key("maven"),
                    format!(
                        "`{coordinates}` is not `group:artifact:version[:classifier][@extension]`"
                    ),
                )
            })?,
            _ => return Err(error(path, "give exactly one of `url` and `maven`".into())),
        };
        let archive = match artifact.archive {
            Some(kind) => kind,
            None => archive_of(&url).ok_or_else(|| {
                error(
                    path.clone(),
                    format!("cannot tell the archive type of `{url}`: add `archive: tgz|zip|jar`"),
                )
            })?,
        };
        let digest = match (&artifact.sha256, &artifact.sha512) {
            (Some(hex), None) => digest(Algorithm::Sha256, hex),
            (None, Some(hex)) => digest(Algorithm::Sha512, hex),
            (None, None) => match lock.get(&url) {
                Some(entry) => Some(entry.digest.clone()),
                None => {
                    let key = if artifact.url.is_some() {
                        "url"
                    } else {
                        "maven"
                    };
                    unlocked.push(Unlocked {
                        url,
                        line: path.key(key).key_mark(tree).line,
                    });
                    continue;
                }
            },
            (Some(_), Some(_)) => {
                return Err(error(
                    path,
                    "give one checksum, `sha256` or `sha512`".into(),
                ));
            }
        }
        .ok_or_else(|| {
            let key = if artifact.sha256.is_some() {
                "sha256"
            } else {
                "sha512"
            };
            error(path.key(key), "not a hex digest of the right length".into())
        })?;
        let jars = artifact
            .jars
            .iter()
            .flatten()
            .enumerate()
            .map(|(j, pattern)| {
                let at = path.key("jars").index(j);
                let mark = at.mark(tree);
                if pattern.trim().is_empty() {
                    return Err(error(at, "an empty pattern matches no jar".into()));
                }
                Ok(JarPattern {
                    pattern: pattern.clone(),
                    at: format!("{}:{}: {at}", file.display(), mark.line),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if artifact.jars.as_ref().is_some_and(Vec::is_empty) {
            return Err(error(
                path.key("jars"),
                "an empty list takes no jar; leave `jars` out to take every jar".into(),
            ));
        }
        artifacts.push(Artifact {
            url,
            archive,
            digest,
            jars,
        });
    }
    Ok(Plugin {
        name: raw.name,
        release: raw.release,
        kind: raw.kind,
        description: raw.description,
        artifacts,
        unlocked,
        bundle: raw.bundle,
        prefer: raw.prefer,
        source: file.to_path_buf(),
    })
}

fn archive_of(url: &str) -> Option<ArchiveKind> {
    let name = url.rsplit('/').next()?.split(['?', '#']).next()?;
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(ArchiveKind::Tgz)
    } else if name.ends_with(".zip") {
        Some(ArchiveKind::Zip)
    } else if name.ends_with(".jar") {
        Some(ArchiveKind::Jar)
    } else {
        None
    }
}

/// `group:artifact:version[:classifier][@extension]` in a Maven repository layout.
pub(super) fn maven_url(coordinates: &str) -> Option<String> {
    let repository =
        std::env::var("DEPLOY_MAVEN_REPOSITORY").unwrap_or_else(|_| MAVEN_CENTRAL.into());
    let (coordinates, extension) = coordinates.split_once('@').unwrap_or((coordinates, "jar"));
    let parts: Vec<&str> = coordinates.split(':').collect();
    let (group, artifact, version, classifier) = match parts.as_slice() {
        [g, a, v] => (*g, *a, *v, None),
        [g, a, v, c] => (*g, *a, *v, Some(*c)),
        _ => return None,
    };
    if [group, artifact, version, extension]
        .iter()
        .any(|p| p.is_empty())
    {
        return None;
    }
    let file = match classifier {
        Some(c) => format!("{artifact}-{version}-{c}.{extension}"),
        None => format!("{artifact}-{version}.{extension}"),
    };
    Some(format!(
        "{}/{}/{artifact}/{version}/{file}",
        repository.trim_end_matches('/'),
        group.replace('.', "/")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maven_coordinates_become_repository_paths() {
        assert_eq!(
            maven_url("io.debezium:debezium-connector-postgres:2.7.4.Final:plugin@tar.gz")
                .as_deref(),
            Some(
                "https://repo1.maven.org/maven2/io/debezium/debezium-connector-postgres/2.7.4.Final/debezium-connector-postgres-2.7.4.Final-plugin.tar.gz"
            )
        );
        assert_eq!(
            maven_url("com.google.guava:guava:33.0.0-jre").as_deref(),
            Some(
                "https://repo1.maven.org/maven2/com/google/guava/guava/33.0.0-jre/guava-33.0.0-jre.jar"
            )
        );
        assert_eq!(maven_url("just:two"), None);
    }

    #[test]
    fn jar_patterns() {
        let pattern = |p: &str| JarPattern {
            pattern: p.into(),
            at: String::new(),
        };
        assert!(pattern("debezium-*.jar").matches("debezium-api-3.6.3.Final.jar"));
        assert!(pattern("postgresql-42.?.*.jar").matches("postgresql-42.7.13.jar"));
        assert!(!pattern("debezium-*.jar").matches("kafka-clients-4.3.0.jar"));
        assert!(pattern("*").matches("anything.jar"));
        assert!(!pattern("a*b*c").matches("abx"));
        // Many stars against a long name that fails only at its end: answered, not exponential.
        let long = "a".repeat(10_000);
        assert!(!pattern(&"*a".repeat(40)).matches(&(long.clone() + "b")));
        assert!(pattern(&"*a".repeat(40)).matches(&long));
    }

    #[test]
    fn archive_types_from_names() {
        assert_eq!(
            archive_of("https://x/a-plugin.tar.gz"),
            Some(ArchiveKind::Tgz)
        );
        assert_eq!(
            archive_of("https://x/a.zip?download=1"),
            Some(ArchiveKind::Zip)
        );
        assert_eq!(archive_of("https://x/a.jar"), Some(ArchiveKind::Jar));
        assert_eq!(archive_of("https://x/a"), None);
    }
}
