//! What can go wrong with a plugin, kept apart from the build so every step names the same
//! failures; a plugin error becomes the program's error with its exit code and hint.

use std::path::{Path, PathBuf};

use crate::config::ConfigError;
use crate::error::Error;

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
            PluginError::Io { path, source } => {
                Error::user(format!("{}: {source}", path.display())).because(source)
            }
            other => Error::user(other.to_string()),
        };
        match hint {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }
}
