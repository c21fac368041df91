//! What a Debezium PostgreSQL source leaves in the database it reads: a logical replication slot,
//! and the publication when its settings make Debezium create one. Debezium keeps the slot when
//! its connector is deleted (`slot.drop.on.stop` is false by default, as it must be in
//! production), and an inactive slot pins every WAL segment after its `restart_lsn` until the
//! disk is full (Debezium's PostgreSQL connector documentation, "WAL disk space consumption").
//! So a source's slot is a resource of the environment: read, shown in plans and `status`, and
//! dropped with its connector. This module says which slot a connector names, and how a slot
//! reads; the targets reach the database their own way.

use std::collections::BTreeMap;
use std::fmt;

pub(crate) const POSTGRES_SOURCE: &str = "io.debezium.connector.postgresql.PostgresConnector";
pub(crate) const SLOT_NAME: &str = "slot.name";

/// Defaults of the keys read here, as the real Debezium 3.6.3 worker describes them
/// (`GET /connector-plugins/…PostgresConnector/config`, `default_value`).
const DEFAULT_SLOT: &str = "debezium";
const DEFAULT_PUBLICATION: &str = "dbz_publication";
const DEFAULT_PORT: &str = "5432";
const DEFAULT_PLUGIN: &str = "decoderbufs";
const DEFAULT_AUTOCREATE: &str = "all_tables";

/// The database a source reads, as its configuration names it. The password is never shown.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Database {
    pub host: String,
    pub port: String,
    pub dbname: String,
    pub user: String,
    pub password: String,
}

impl Database {
    /// `host:port/dbname`: which database, for plans and errors.
    pub(crate) fn place(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.dbname)
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} (password hidden)", self.user, self.place())
    }
}

/// A Debezium PostgreSQL source's slot, on its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub connector: String,
    pub slot: String,
    /// The publication Debezium creates (pgoutput, `publication.autocreate.mode` not
    /// `disabled`); `None` when the user's own SQL makes it.
    pub created_publication: Option<String>,
    pub database: Database,
}

impl Source {
    /// The slot a connector streams from, when it is a Debezium PostgreSQL source.
    pub(crate) fn of(connector: &str, config: &BTreeMap<String, String>) -> Option<Self> {
        if config.get("connector.class").map(String::as_str) != Some(POSTGRES_SOURCE) {
            return None;
        }
        let get = |key: &str, default: &str| {
            config
                .get(key)
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        let creates = get("plugin.name", DEFAULT_PLUGIN) == "pgoutput"
            && get("publication.autocreate.mode", DEFAULT_AUTOCREATE) != "disabled";
        Some(Source {
            connector: connector.to_string(),
            slot: get(SLOT_NAME, DEFAULT_SLOT),
            created_publication: creates.then(|| get("publication.name", DEFAULT_PUBLICATION)),
            database: Database {
                host: get("database.hostname", ""),
                port: get("database.port", DEFAULT_PORT),
                dbname: get("database.dbname", ""),
                user: get("database.user", ""),
                password: get("database.password", ""),
            },
        })
    }

    /// True when both name one slot of one database.
    pub(crate) fn same_slot(&self, other: &Source) -> bool {
        self.slot == other.slot
            && self.database.host == other.database.host
            && self.database.port == other.database.port
            && self.database.dbname == other.database.dbname
    }
}

/// A slot as PostgreSQL reports it (`pg_replication_slots`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub active: bool,
    /// The process streaming from it, while active.
    pub active_pid: Option<i32>,
    /// `reserved`, `extended`, `unreserved` or `lost` (PostgreSQL 13+).
    pub wal_status: Option<String>,
    /// Bytes of WAL kept for it: the current position minus its `restart_lsn`.
    pub retained: Option<i64>,
    /// Bytes its consumer has not confirmed: the current position minus `confirmed_flush_lsn`.
    pub behind: Option<i64>,
}

/// Every logical slot of the database connected to.
pub(crate) const QUERY: &str = "SELECT slot_name::text, active, active_pid, wal_status, \
     pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, \
     pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint \
     FROM pg_replication_slots WHERE slot_type = 'logical' AND database = current_database()";

impl Slot {
    /// Invalidated by `max_slot_wal_keep_size`: its consumer cannot resume from it.
    pub(crate) fn lost(&self) -> bool {
        self.wal_status.as_deref() == Some("lost")
    }
}

impl fmt::Display for Slot {
    /// `active, retains 12.3 MiB of WAL (reserved), 0 B behind`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lost() {
            return write!(
                f,
                "LOST: invalidated by max_slot_wal_keep_size; its connector cannot resume from it and needs a new snapshot: drop the slot and reset the connector's offsets (or recreate it under a new name)"
            );
        }
        write!(f, "{}", if self.active { "active" } else { "inactive" })?;
        if let Some(retained) = self.retained {
            write!(f, ", retains {} of WAL", size(retained))?;
        }
        if let Some(status) = &self.wal_status {
            write!(f, " ({status})")?;
        }
        if let Some(behind) = self.behind {
            write!(f, ", {} behind", size(behind))?;
        }
        Ok(())
    }
}

/// A source's slot as `verify` judges it: lost, missing, or holding back more WAL than `limit`
/// bytes (the setting named `setting`) fails.
pub(crate) fn judge(
    source: &Source,
    read: Result<Option<Slot>, String>,
    limit: u64,
    setting: &str,
) -> Result<String, String> {
    let place = source.database.place();
    match read {
        Err(e) => Err(format!("slot {} on {place} not read: {e}", source.slot)),
        Ok(None) => Err(format!(
            "slot {} is missing on {place}: {} is not streaming (it makes it again when it restarts)",
            source.slot, source.connector
        )),
        Ok(Some(slot)) if slot.lost() => Err(format!("slot {} on {place}: {slot}", source.slot)),
        Ok(Some(slot)) if slot.retained.is_some_and(|r| r as u64 > limit) => Err(format!(
            "slot {} on {place} retains {} of WAL, more than {setting} ({}): {} is behind or not streaming ({slot})",
            source.slot,
            size(slot.retained.unwrap_or_default()),
            size(limit as i64),
            source.connector
        )),
        Ok(Some(slot)) => Ok(slot.to_string()),
    }
}

/// Bytes as people read them: `0 B`, `512 B`, `12.3 MiB`, `1.5 GiB`.
pub(crate) fn size(bytes: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_source_names_its_slot_with_debeziums_defaults() {
        let shipped = crate::config::environment(std::path::Path::new("environments/local.yaml"))
            .expect("local.yaml");
        let orders = shipped
            .connectors
            .iter()
            .find_map(|c| Source::of(&c.name, &c.config))
            .expect("the shipped source");
        assert_eq!(orders.slot, "orders");
        assert_eq!(orders.database.place(), "postgres:5432/main");
        // The demo SQL makes the publication: Debezium does not, and it is not ours to drop.
        assert_eq!(orders.created_publication, None);
        assert!(!format!("{orders:?}").contains(&orders.database.password));

        let bare = Source::of(
            "s",
            &config(&[
                ("connector.class", POSTGRES_SOURCE),
                ("plugin.name", "pgoutput"),
            ]),
        )
        .expect("a source");
        assert_eq!(bare.slot, "debezium");
        assert_eq!(bare.database.port, "5432");
        assert_eq!(bare.created_publication.as_deref(), Some("dbz_publication"));
        assert!(Source::of("sink", &config(&[("connector.class", "x.Sink")])).is_none());
    }

    #[test]
    fn sizes_and_states_read_as_people_read_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(12_900_000), "12.3 MiB");
        let slot = Slot {
            active: false,
            active_pid: None,
            wal_status: Some("reserved".into()),
            retained: Some(48 << 20),
            behind: Some(0),
        };
        assert_eq!(
            slot.to_string(),
            "inactive, retains 48.0 MiB of WAL (reserved), 0 B behind"
        );
        let lost = Slot {
            wal_status: Some("lost".into()),
            ..slot
        };
        assert!(lost.to_string().starts_with("LOST"));
    }
}
