//! `connect:` and `connectors:`: each connector's configuration, its plugin and state, and the
//! replication slots its sources name.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{DEFAULT_TIMEOUT, max_retained_wal, parse_duration, parse_duration_or_zero};
use crate::config::error::{ConfigError, suggest};
use crate::config::load::Loaded;
use crate::config::path::KeyPath;
use crate::model::{Connect, Connector, Service};

const DEFAULT_STABLE_FOR: Duration = Duration::from_secs(8);

pub(super) fn resolve_connectors(
    loaded: &Loaded,
    services: &[Service],
) -> Result<(Option<Connect>, Vec<Connector>), ConfigError> {
    let raw = &loaded.raw;
    let root = KeyPath::root();
    let connect = match &raw.connect {
        None => None,
        Some(file) => {
            let path = root.key("connect");
            if !services.iter().any(|s| s.name == file.service) {
                let error = loaded.error(
                    &path.key("service"),
                    format!("no service named `{}`", file.service),
                );
                return Err(
                    match suggest(&file.service, services.iter().map(|s| s.name.as_str())) {
                        Some(best) => error.with_hint(format!("did you mean `{best}`?")),
                        None => error,
                    },
                );
            }
            let timeout = match &file.timeout {
                None => DEFAULT_TIMEOUT,
                Some(text) => parse_duration(text).ok_or_else(|| {
                    loaded
                        .error(&path.key("timeout"), format!("`{text}` is not a duration"))
                        .with_hint("write a number with a unit: `250ms`, `5s`, `2m`")
                })?,
            };
            let stable_for = match &file.stable_for {
                None => DEFAULT_STABLE_FOR,
                Some(text) => parse_duration_or_zero(text).ok_or_else(|| {
                    loaded
                        .error(
                            &path.key("stable-for"),
                            format!("`{text}` is not a duration"),
                        )
                        .with_hint("write a number with a unit: `250ms`, `5s`, `2m`")
                })?,
            };
            let max_retained_wal =
                max_retained_wal(loaded, &path, file.max_retained_wal.as_deref())?;
            Some(Connect {
                service: file.service.clone(),
                port: file.port,
                timeout,
                stable_for,
                max_retained_wal,
            })
        }
    };
    // Locally the tool talks to Connect itself; on AWS, MSK Connect runs the connectors.
    if connect.is_none()
        && !raw.connectors.is_empty()
        && raw.target == crate::config::raw::Target::Local
    {
        return Err(loaded
            .key_error(
                &root.key("connectors"),
                "connectors need a `connect:` section saying where Kafka Connect runs",
            )
            .with_hint("add `connect: { service: connect }`"));
    }
    let mut connectors = Vec::new();
    for (name, file) in &raw.connectors {
        let path = root.key("connectors").key(name);
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(loaded
                .key_error(&path, format!("`{name}` is not a valid connector name"))
                .with_hint("use letters, digits, `-`, `_` and `.`"));
        }
        if !file.config.contains_key("connector.class") {
            return Err(loaded.key_error(&path.key("config"), "missing key `connector.class`"));
        }
        if let Some(given) = file.config.get("name").filter(|n| n.0 != *name) {
            return Err(loaded.error(
                &path.key("config").key("name"),
                format!("`name` is `{}` but the connector is `{name}`", given.0),
            ));
        }
        let config: BTreeMap<String, String> = file
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        let secret_keys = config
            .keys()
            .filter(|k| {
                loaded
                    .secret_paths
                    .contains(&path.key("config").key(k).to_string())
            })
            .cloned()
            .collect();
        let secret_names = config
            .keys()
            .filter_map(|k| {
                let secret = loaded
                    .whole_secrets
                    .get(&path.key("config").key(k).to_string())?;
                Some((k.clone(), secret.clone()))
            })
            .collect();
        for (i, key) in file.allow_unknown_keys.iter().enumerate() {
            if !config.contains_key(key) {
                let error = loaded.error(
                    &path.key("allow-unknown-keys").index(i),
                    format!("`{key}` is not a key of this connector's `config`"),
                );
                return Err(match suggest(key, config.keys().map(String::as_str)) {
                    Some(best) => error.with_hint(format!("did you mean `{best}`?")),
                    None => error,
                });
            }
        }
        // MSK Connect pauses and resumes a connector; it has no STOPPED state (Kafka Connect's
        // own stop, KIP-875, is not in its API).
        if file.state == crate::model::ConnectorState::Stopped
            && raw.target == crate::config::raw::Target::Aws
        {
            return Err(loaded
                .error(
                    &path.key("state"),
                    "MSK Connect cannot stop a connector: it pauses and resumes them",
                )
                .with_hint("write `state: paused` (the connector keeps its tasks and offsets)"));
        }
        connectors.push(Connector {
            name: name.clone(),
            plugin: file.plugin.clone(),
            state: file.state,
            config,
            secret_names,
            secret_keys,
            allow_unknown_keys: file.allow_unknown_keys.iter().cloned().collect(),
            keep_slot: file.keep_slot,
        });
    }
    check_slots(loaded, &connectors)?;
    Ok((connect, connectors))
}

/// A Debezium PostgreSQL source's slot name must be one PostgreSQL takes (lowercase letters,
/// digits and underscores, at most 63 bytes: its `ReplicationSlotValidateName`), and two sources
/// on one database cannot share a slot: the second would fail to stream, or worse, read on from
/// the first one's position.
fn check_slots(loaded: &Loaded, connectors: &[Connector]) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<(String, String, String, String), &str> = BTreeMap::new();
    for connector in connectors {
        let Some(source) = crate::slots::Source::of(&connector.name, &connector.config) else {
            continue;
        };
        let path = KeyPath::root()
            .key("connectors")
            .key(&connector.name)
            .key("config");
        let at = if connector.config.contains_key(crate::slots::SLOT_NAME) {
            path.key(crate::slots::SLOT_NAME)
        } else {
            path.key("connector.class")
        };
        let slot = &source.slot;
        let valid = !slot.is_empty()
            && slot.len() <= 63
            && slot
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(loaded
                .error(
                    &at,
                    format!("`{slot}` is not a replication slot name PostgreSQL takes"),
                )
                .with_hint("use lowercase letters, digits and `_`, at most 63 characters"));
        }
        let database = &source.database;
        let key = (
            database.host.clone(),
            database.port.clone(),
            database.dbname.clone(),
            slot.clone(),
        );
        if let Some(other) = seen.insert(key, &connector.name) {
            return Err(loaded
                .error(
                    &at,
                    format!(
                        "connector `{other}` already streams from slot `{slot}` on this database ({}:{}/{})",
                        database.host, database.port, database.dbname
                    ),
                )
                .with_hint("give each source its own `slot.name`"));
        }
    }
    Ok(())
}
