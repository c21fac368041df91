//! The local connectors' replication slots (`crate::slots`): read from each source's database
//! through the address it is reached at from here, planned with the connectors, and dropped once
//! the connector that made one is deleted or has moved to another slot, and nothing streams from
//! it any more. Only a slot that a connector of this environment names (in the file, or in
//! Connect's configuration of a connector being deleted) is ever dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio_postgres::Client;

use super::connect::client::Live;
use super::reach::Addresses;
use crate::error::Error;
use crate::model::{Connector, ConnectorState};
use crate::plan::{Action, Change, Kind};
use crate::poll::Poll;
use crate::slots::{Database, QUERY, Slot, Source, size};
use crate::verify::marker;

/// How long a drop waits for the slot's consumer (the deleted connector's task) to let it go.
const RELEASE: Duration = Duration::from_secs(60);

/// What the sources' databases hold, read before planning.
#[derive(Debug, Clone, Default)]
pub(super) struct Observed {
    /// By database place (`host:port/dbname` as configured) and slot name: the slot, `None` when
    /// there is none, or why the database could not be read.
    pub slots: BTreeMap<(String, String), Result<Option<Slot>, String>>,
    /// Each database as it is reached from here (for the drops).
    pub reached: BTreeMap<String, Database>,
    /// By database place: its other logical slots, which no source names (one a source kept,
    /// or another consumer's). Shown, never touched.
    pub unnamed: BTreeMap<String, Vec<(String, Slot)>>,
}

impl Observed {
    fn get(&self, source: &Source) -> Result<Option<&Slot>, &str> {
        match self
            .slots
            .get(&(source.database.place(), source.slot.clone()))
        {
            Some(Ok(slot)) => Ok(slot.as_ref()),
            Some(Err(e)) => Err(e.as_str()),
            None => Err("not read"),
        }
    }
}

/// Every source the file defines or Connect runs.
pub(super) fn sources(desired: &[Connector], live: &BTreeMap<String, Live>) -> Vec<Source> {
    let mut found: Vec<Source> = desired
        .iter()
        .filter_map(|c| Source::of(&c.name, &c.config))
        .collect();
    for (name, connector) in live {
        if let Some(source) = Source::of(name, &connector.config)
            && !found.iter().any(|s| s.same_slot(&source))
        {
            found.push(source);
        }
    }
    found
}

/// Reads every source's slot, one connection per database.
pub(super) async fn observe(sources: &[Source], addresses: &Result<Addresses, String>) -> Observed {
    let mut observed = Observed::default();
    let addresses = match addresses {
        Ok(a) => a,
        Err(e) => {
            for source in sources {
                let key = (source.database.place(), source.slot.clone());
                observed.slots.insert(key, Err(e.clone()));
            }
            return observed;
        }
    };
    let mut by_database: BTreeMap<String, (Database, Vec<String>)> = BTreeMap::new();
    for source in sources {
        by_database
            .entry(source.database.place())
            .or_insert_with(|| (addresses.database(&source.database), Vec::new()))
            .1
            .push(source.slot.clone());
    }
    for (place, (database, names)) in by_database {
        let read = read(&database).await;
        for name in &names {
            let slot = match &read {
                Ok(found) => Ok(found.get(name).cloned()),
                Err(e) => Err(e.clone()),
            };
            observed.slots.insert((place.clone(), name.clone()), slot);
        }
        if let Ok(found) = read {
            let others: Vec<(String, Slot)> = found
                .into_iter()
                .filter(|(name, _)| !names.contains(name))
                .collect();
            observed.unnamed.insert(place.clone(), others);
        }
        observed.reached.insert(place, database);
    }
    observed
}

/// A connection to a source's database, as it is reached from here.
pub(crate) async fn connect(database: &Database) -> Result<Client, String> {
    marker::connect(&marker::Database {
        host: database.host.clone(),
        port: database
            .port
            .parse()
            .map_err(|_| format!("`{}` is not a port", database.port))?,
        user: database.user.clone(),
        password: database.password.clone(),
        dbname: database.dbname.clone(),
    })
    .await
}

async fn read(database: &Database) -> Result<BTreeMap<String, Slot>, String> {
    let client = connect(database).await?;
    let rows = client
        .query(QUERY, &[])
        .await
        .map_err(|e| format!("cannot read pg_replication_slots: {e}"))?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get::<_, String>(0),
                Slot {
                    active: row.get(1),
                    active_pid: row.get(2),
                    wal_status: row.get(3),
                    retained: row.get(4),
                    behind: row.get(5),
                },
            )
        })
        .collect())
}

/// A slot (and the publication Debezium made for it) to drop once it is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Drop {
    pub slot: String,
    pub publication: Option<String>,
    /// Where it is, as configured (for what is said).
    pub place: String,
    /// The database as it is reached from here.
    pub database: Database,
}

/// The slots' part of the connectors' plan. Every source the file defines shows its slot; a slot
/// whose connector is deleted (`deleted`) or has moved to another slot is dropped, unless the
/// connector keeps it (`keep-slot`), the run keeps every slot (`keep_all`), or another source of
/// the file names it.
pub(super) fn plan(
    desired: &[Connector],
    live: &BTreeMap<String, Live>,
    deleted: &BTreeSet<String>,
    observed: &Observed,
    keep_all: bool,
) -> Vec<(Change, Option<Drop>)> {
    let wanted: Vec<(Source, &Connector)> = desired
        .iter()
        .filter_map(|c| Some((Source::of(&c.name, &c.config)?, c)))
        .collect();
    let mut planned = Vec::new();
    for (source, connector) in &wanted {
        // The slot the connector streams from now, when it runs already.
        let streams = live
            .get(&connector.name)
            .map(|l| Source::of(&connector.name, &l.config));
        let (action, reason) = match (observed.get(source), &streams) {
            (Err(e), _) => (Action::Unchanged, format!("not read: {e}")),
            (Ok(Some(slot)), _) => (Action::Unchanged, slot.to_string()),
            // A paused or stopped connector's task does not run, so it makes no slot.
            (Ok(None), _) if connector.state != ConnectorState::Running => (
                Action::Unchanged,
                format!("none yet: made by {} once it runs", connector.name),
            ),
            (Ok(None), None) => (
                Action::Create,
                format!("made by {} when it starts", connector.name),
            ),
            (Ok(None), Some(now)) if now.as_ref().is_none_or(|n| !n.same_slot(source)) => {
                // Seen on Debezium 3.6: with offsets from the old slot, a task on a new slot
                // fails ("…no longer available on the server. Reconfigure the connector to use
                // a snapshot mode when needed") unless its snapshot mode snapshots again.
                let mode = connector.config.get("snapshot.mode").map(String::as_str);
                let warning = if matches!(mode, Some("when_needed" | "always")) {
                    String::new()
                } else {
                    format!(
                        "; its offsets are the old slot's, so it fails to start on a new one with snapshot.mode {} (when_needed snapshots again)",
                        mode.unwrap_or("initial")
                    )
                };
                (
                    Action::Create,
                    format!("made by {} when it moves to it{warning}", connector.name),
                )
            }
            (Ok(None), Some(_)) => (
                Action::Unchanged,
                format!(
                    "missing: {} makes it again when it restarts and snapshots per its snapshot.mode ({})",
                    connector.name,
                    connector
                        .config
                        .get("snapshot.mode")
                        .map_or("initial", String::as_str)
                ),
            ),
        };
        planned.push((
            Change::new(
                Kind::Slot,
                slot_name(source, &wanted.iter().map(|(s, _)| s).collect::<Vec<_>>()),
                action,
                reason,
            ),
            None,
        ));
    }
    // Slots Connect's connectors name that no source of the file does any more.
    for (name, connector) in live {
        let Some(old) = Source::of(name, &connector.config) else {
            continue;
        };
        if wanted.iter().any(|(s, _)| s.same_slot(&old)) {
            continue;
        }
        let moved = desired.iter().find(|c| &c.name == name);
        let why = match moved {
            _ if deleted.contains(name) => format!("its connector {name} is removed"),
            Some(c) => match Source::of(&c.name, &c.config) {
                Some(new) => format!("its connector {name} moves to slot {}", new.slot),
                None => continue,
            },
            // Kept in Connect (no --prune): it still streams from its slot.
            None => continue,
        };
        let slot = observed.get(&old);
        let pins = match slot {
            Ok(Some(s)) => s
                .retained
                .map_or(String::new(), |r| format!("; it pins {} of WAL", size(r))),
            _ => String::new(),
        };
        let keep = keep_all || moved.is_some_and(|c| c.keep_slot);
        let reached = observed.reached.get(&old.database.place()).cloned();
        let (action, reason, drop) = match (slot, reached) {
            (Ok(None), _) => (Action::Unchanged, format!("{why}; already gone"), None),
            _ if keep => (
                Action::Unchanged,
                format!(
                    "{why}; kept ({}){pins}",
                    if keep_all {
                        "--keep-slots"
                    } else {
                        "keep-slot"
                    }
                ),
                None,
            ),
            (Err(e), None) => (
                Action::Unchanged,
                format!("{why}; not dropped: its database cannot be reached ({e})"),
                None,
            ),
            (Err(e), Some(database)) => (
                Action::Remove,
                format!("{why} (its state is not read: {e})"),
                Some(database),
            ),
            (Ok(Some(_)), Some(database)) => {
                (Action::Remove, format!("{why}{pins}"), Some(database))
            }
            (Ok(Some(_)), None) => continue,
        };
        let drop = drop.map(|database| Drop {
            slot: old.slot.clone(),
            publication: old.created_publication.clone().filter(|p| {
                // Another source of the file may use the publication Debezium made.
                !wanted.iter().any(|(s, _)| {
                    s.created_publication.as_ref() == Some(p)
                        && s.database.place() == old.database.place()
                })
            }),
            place: old.database.place(),
            database,
        });
        planned.push((Change::new(Kind::Slot, &old.slot, action, reason), drop));
    }
    // The databases' other logical slots: shown with what they pin, never touched.
    let handled: Vec<String> = planned.iter().map(|(c, _)| c.name.clone()).collect();
    for (place, others) in &observed.unnamed {
        for (name, slot) in others {
            if handled.contains(name) {
                continue;
            }
            planned.push((
                Change::new(
                    Kind::Slot,
                    name,
                    Action::Unchanged,
                    format!(
                        "on {place}, named by no connector of this environment: never touched; {slot}"
                    ),
                ),
                None,
            ));
        }
    }
    planned
}

/// The slot's name as the plan shows it: alone, or with its database where two databases of the
/// environment have slots of one name.
fn slot_name(source: &Source, all: &[&Source]) -> String {
    if all
        .iter()
        .any(|s| s.slot == source.slot && s.database.place() != source.database.place())
    {
        format!("{} ({})", source.slot, source.database.place())
    } else {
        source.slot.clone()
    }
}

/// Waits until nothing streams from the slot (its connector's task stops after the delete or
/// the move), then drops it and the publication Debezium made for it.
pub(super) async fn remove(drop: &Drop) -> Result<(), Error> {
    let failed = |what: String| {
        Error::user(format!(
            "cannot drop replication slot {} on {}: {what}",
            drop.slot, drop.place
        ))
    };
    let client = connect(&drop.database).await.map_err(failed)?;
    let pace = Duration::from_millis(250);
    let mut poll = Poll::doubling(RELEASE, pace, pace);
    loop {
        let rows = client
            .query(QUERY, &[])
            .await
            .map_err(|e| failed(e.to_string()))?;
        let Some(row) = rows.iter().find(|r| r.get::<_, String>(0) == drop.slot) else {
            break; // already gone
        };
        let (active, pid): (bool, Option<i32>) = (row.get(1), row.get(2));
        if !active {
            client
                .execute("SELECT pg_drop_replication_slot($1)", &[&drop.slot])
                .await
                .map_err(|e| failed(e.to_string()))?;
            break;
        }
        if !poll.tick().await {
            return Err(failed(format!(
                "it is still active (pid {}) {}s after its connector let go",
                pid.map_or("?".into(), |p| p.to_string()),
                RELEASE.as_secs()
            ))
            .with_hint(
                "something else streams from it: stop that consumer, then run the command again",
            ));
        }
    }
    if let Some(publication) = &drop.publication {
        let quoted = format!("\"{}\"", publication.replace('"', "\"\""));
        client
            .execute(&format!("DROP PUBLICATION IF EXISTS {quoted}"), &[])
            .await
            .map_err(|e| failed(format!("its publication {publication}: {e}")))?;
    }
    Ok(())
}
