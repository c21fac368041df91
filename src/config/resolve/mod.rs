//! Raw types to the model: names checked, references followed, defaults applied, services put
//! in dependency order. Every error points at the key it is about. The sections resolve in
//! their own files (`aws`, `connectors`, `services`); what several share is here.

mod aws;
mod connectors;
mod services;

use aws::resolve_aws;
use connectors::resolve_connectors;
use services::{check_ports_unique, dependency_order, resolve_service};

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::error::ConfigError;
use super::load::Loaded;
use super::path::KeyPath;
use crate::model::{Environment, SqlFile};
use crate::secrets::Secrets;

const FORMAT_VERSION: u32 = 1;
/// How long a connector, or a service's readiness probe, gets by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The WAL a source's slot may hold back before `verify` fails: half the local PostgreSQL's
/// `max_slot_wal_keep_size` (2GB), so `verify` says so well before the slot would be lost.
const DEFAULT_MAX_RETAINED_WAL: u64 = 1 << 30;

pub(super) fn resolve(loaded: &Loaded) -> Result<Environment, ConfigError> {
    let raw = &loaded.raw;
    let root = KeyPath::root();
    if raw.version != FORMAT_VERSION {
        return Err(loaded
            .error(
                &root.key("version"),
                format!("unsupported format version {}", raw.version),
            )
            .with_hint(format!("this deploy reads version {FORMAT_VERSION}")));
    }
    check_name(loaded, &root.key("name"), &raw.name, "environment name")?;
    let publish_address: IpAddr = match &raw.local.publish_address {
        None => IpAddr::from([127, 0, 0, 1]),
        Some(text) => text.parse().map_err(|_| {
            loaded.error(
                &root.key("local").key("publish-address"),
                format!("`{text}` is not an IP address"),
            )
        })?,
    };
    let mut services = Vec::new();
    for (name, service) in &raw.services {
        let path = root.key("services").key(name);
        services.push(resolve_service(
            loaded,
            &path,
            name,
            service,
            publish_address,
        )?);
    }
    check_ports_unique(loaded, &services)?;
    let services = dependency_order(loaded, services)?;
    for name in raw.volumes.keys() {
        check_name(loaded, &root.key("volumes").key(name), name, "volume name")?;
    }
    let (connect, connectors) = resolve_connectors(loaded, &services)?;
    let aws = resolve_aws(loaded)?;
    Ok(Environment {
        connect,
        connectors,
        skipped_connectors: loaded.skipped_connectors.clone(),
        name: raw.name.clone(),
        // A local file's `aws:` section is checked like any other, and not used.
        target: match (raw.target, aws) {
            (crate::config::raw::Target::Aws, Some(aws)) => {
                crate::model::Target::Aws(Box::new(aws))
            }
            _ => crate::model::Target::Local,
        },
        source: loaded.file.clone(),
        probe: match raw.local.probe {
            None | Some(crate::config::raw::ProbeRoute::Auto) => crate::model::ProbeRoute::Auto,
            Some(crate::config::raw::ProbeRoute::Network) => crate::model::ProbeRoute::Network,
            Some(crate::config::raw::ProbeRoute::Published) => crate::model::ProbeRoute::Published,
            Some(crate::config::raw::ProbeRoute::Inside) => crate::model::ProbeRoute::Inside,
        },
        network: raw
            .local
            .network
            .clone()
            .unwrap_or_else(|| format!("deploy-{}", raw.name)),
        services,
        volumes: raw.volumes.keys().cloned().collect(),
        secrets: Secrets::new(loaded.secrets.clone()),
        references: raw
            .references
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
    })
}

/// `max-retained-wal` under `path`: the most WAL a source's slot may hold back before `verify`
/// fails (default 1 GiB).
fn max_retained_wal(
    loaded: &Loaded,
    path: &KeyPath,
    text: Option<&str>,
) -> Result<u64, ConfigError> {
    let Some(text) = text else {
        return Ok(DEFAULT_MAX_RETAINED_WAL);
    };
    parse_size(text).ok_or_else(|| {
        loaded
            .error(
                &path.key("max-retained-wal"),
                format!("`{text}` is not a size"),
            )
            .with_hint("write bytes or a number with a unit: `512MiB`, `1GiB`, `2GB`")
    })
}

/// The SQL files a `schema` list names, read (relative to the file that names them).
fn sql_files(
    loaded: &Loaded,
    path: &KeyPath,
    files: &[String],
) -> Result<Vec<SqlFile>, ConfigError> {
    let mut read = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let at = path.index(i);
        let base = loaded.file_of(&at);
        let full = base.parent().unwrap_or(Path::new(".")).join(file);
        let content = std::fs::read_to_string(&full).map_err(|e| {
            loaded
                .error(&at, format!("cannot read {}: {e}", full.display()))
                .with_hint("paths are relative to the file that names them")
        })?;
        let name = full
            .file_name()
            .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
        if read.iter().any(|f: &SqlFile| f.name == name) {
            return Err(loaded
                .error(&at, format!("a second file named `{name}`"))
                .with_hint("a load records each file by its name: rename one"));
        }
        read.push(SqlFile {
            name,
            path: full,
            content,
        });
    }
    Ok(read)
}

/// Docker object names: lowercase letters, digits and dashes, starting with a letter or digit.
fn check_name(loaded: &Loaded, path: &KeyPath, name: &str, what: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(loaded
            .key_error(path, format!("`{name}` is not a valid {what}"))
            .with_hint("use lowercase letters, digits and `-`, at most 63 characters"))
    }
}

/// A size in bytes: `1073741824`, `512MiB`, `1GiB`, `2GB`, `100kB`.
fn parse_size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1000 * 1000,
        "MiB" => 1 << 20,
        "GB" => 1000 * 1000 * 1000,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor).filter(|n| *n > 0)
}

pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    parse_duration_or_zero(text).filter(|d| !d.is_zero())
}

/// A duration that may be zero (`0s`: no wait at all).
fn parse_duration_or_zero(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        _ => return None,
    };
    Some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5h"), None);
    }
}
