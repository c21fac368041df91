//! A Debezium source's signal table (the source channel, `signal.data.collection`) is part of
//! its deployment: created by the tool in the source's database with the structure Debezium
//! requires (three text columns in this order: `id`, `type`, `data`; Debezium's "Sending signals
//! to a Debezium connector"), and, when the user's SQL makes the publication
//! (`publication.autocreate.mode: disabled`), added to it: Debezium reads a signal from the WAL
//! like any captured change. `connectors snapshot` writes its `execute-snapshot` rows there.

use std::collections::{BTreeMap, BTreeSet};

use super::reach;
pub(crate) use super::slots::connect;
use crate::error::Error;
use crate::model::{Connector, Environment};
use crate::plan::{Action, Change, Kind};
use crate::slots::{Database, Source};

pub const SIGNAL_COLLECTION: &str = "signal.data.collection";

/// A source's signal table, as its configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub connector: String,
    pub schema: String,
    pub table: String,
    /// The publication to add it to: the user's (`publication.autocreate.mode: disabled`);
    /// `None` when Debezium makes the publication itself.
    pub publication: Option<String>,
    pub database: Database,
}

impl Signal {
    /// The signal table of a Debezium PostgreSQL source that names one.
    pub fn of(connector: &Connector) -> Option<Signal> {
        let source = Source::of(&connector.name, &connector.config)?;
        let (schema, table) = connector.config.get(SIGNAL_COLLECTION)?.split_once('.')?;
        let disabled = connector
            .config
            .get("publication.autocreate.mode")
            .is_some_and(|m| m == "disabled");
        Some(Signal {
            connector: connector.name.clone(),
            schema: schema.into(),
            table: table.into(),
            publication: disabled.then(|| {
                connector
                    .config
                    .get("publication.name")
                    .cloned()
                    .unwrap_or_else(|| "dbz_publication".into())
            }),
            database: source.database,
        })
    }

    pub fn name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// `"name"`, quoted for SQL.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What the database has of a signal table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub exists: bool,
    /// In the publication it must be in (true when there is none to be in).
    pub published: bool,
    /// The publication it must be in exists (true when there is none to be in).
    pub publication_exists: bool,
}

/// What PostgreSQL said, not just "db error".
fn said(e: tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string())
}

/// By connector: the signal table's state, or why the database could not be read; and each
/// database as it is reached from here.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub states: BTreeMap<String, Result<State, String>>,
    pub reached: BTreeMap<String, Database>,
}

/// The database as it is reached from here.
pub(crate) async fn reached(env: &Environment, database: &Database) -> Result<Database, Error> {
    let ports: BTreeSet<u16> = database.port.parse().into_iter().collect();
    let addresses = reach::addresses(env, &ports).await?;
    let mut reached = database.clone();
    let address = addresses.rewrite(&format!("{}:{}", reached.host, reached.port));
    if let Some((host, port)) = address.rsplit_once(':') {
        reached.host = host.into();
        reached.port = port.into();
    }
    Ok(reached)
}

async fn read(signal: &Signal, database: &Database) -> Result<State, String> {
    let client = connect(database).await?;
    let row = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL, \
             $3::text IS NULL OR EXISTS (SELECT 1 FROM pg_publication_tables \
               WHERE pubname = $3 AND schemaname = $2 AND tablename = $4), \
             $3::text IS NULL OR EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $3)",
            &[
                &format!("{}.{}", ident(&signal.schema), ident(&signal.table)),
                &signal.schema,
                &signal.publication,
                &signal.table,
            ],
        )
        .await
        .map_err(said)?;
    Ok(State {
        exists: row.get(0),
        published: row.get(1),
        publication_exists: row.get(2),
    })
}

/// Reads every signal table the file's sources name.
pub async fn observe(env: &Environment) -> Observed {
    let mut observed = Observed::default();
    for signal in env.connectors.iter().filter_map(Signal::of) {
        let state = match reached(env, &signal.database).await {
            Ok(database) => {
                let state = read(&signal, &database).await;
                observed.reached.insert(signal.connector.clone(), database);
                state
            }
            Err(e) => Err(e.to_string()),
        };
        observed.states.insert(signal.connector.clone(), state);
    }
    observed
}

/// Creates the table when missing and adds it to the publication when it is not in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ensure {
    pub signal: Signal,
    /// The database as it is reached from here.
    pub database: Database,
}

/// The signal tables' part of the connectors' plan; each runs before its connector is written.
pub fn plan(desired: &[Connector], observed: &Observed) -> Vec<(Change, Option<Ensure>)> {
    let mut planned = Vec::new();
    for signal in desired.iter().filter_map(Signal::of) {
        let published = signal
            .publication
            .as_ref()
            .map_or(String::new(), |p| format!(", in publication {p}"));
        let state = observed
            .states
            .get(&signal.connector)
            .cloned()
            .unwrap_or_else(|| Err("not read".into()));
        let ensure = observed
            .reached
            .get(&signal.connector)
            .map(|database| Ensure {
                signal: signal.clone(),
                database: database.clone(),
            });
        let (action, reason, step) = match state {
            Err(e) => (Action::Unchanged, format!("not read: {e}"), None),
            Ok(State {
                exists: true,
                published: true,
                ..
            }) => (
                Action::Unchanged,
                format!("{}'s signals{published}", signal.connector),
                None,
            ),
            // The connector fails without its publication; the table joins it once it exists.
            Ok(State {
                exists,
                publication_exists: false,
                ..
            }) => (
                if exists {
                    Action::Unchanged
                } else {
                    Action::Create
                },
                format!(
                    "{}'s signals; publication {} does not exist (the connector fails without it): the table joins it once it does",
                    signal.connector,
                    signal.publication.as_deref().unwrap_or_default()
                ),
                (!exists).then_some(ensure).flatten(),
            ),
            Ok(State { exists: false, .. }) => (
                Action::Create,
                format!(
                    "{}'s signals (id, type, data){published}, before it is written",
                    signal.connector
                ),
                ensure,
            ),
            Ok(State {
                published: false, ..
            }) => (
                Action::Update,
                format!(
                    "not in publication {}: Debezium would not see its signals",
                    signal.publication.as_deref().unwrap_or_default()
                ),
                ensure,
            ),
        };
        planned.push((
            Change::new(Kind::SignalTable, signal.name(), action, reason),
            step,
        ));
    }
    planned
}

/// Creates the signal table (if missing) and adds it to the publication (if it is not in it).
pub async fn ensure(ensure: &Ensure) -> Result<(), Error> {
    let signal = &ensure.signal;
    let failed = |e: String| {
        Error::user(format!(
            "cannot make signal table {} for {}: {e}",
            signal.name(),
            signal.connector
        ))
    };
    let client = connect(&ensure.database).await.map_err(failed)?;
    let table = format!("{}.{}", ident(&signal.schema), ident(&signal.table));
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (id varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048))"
        ))
        .await
        .map_err(|e| failed(said(e)))?;
    if let Some(publication) = &signal.publication {
        let state = read(signal, &ensure.database).await.map_err(failed)?;
        if state.publication_exists && !state.published {
            client
                .batch_execute(&format!(
                    "ALTER PUBLICATION {} ADD TABLE {table}",
                    ident(publication)
                ))
                .await
                .map_err(|e| failed(said(e)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_sources_signal_table_is_made_put_in_its_publication_and_then_left_alone() {
        let shipped = crate::config::environment(std::path::Path::new("environments/local.yaml"))
            .expect("local.yaml");
        let signal = shipped
            .connectors
            .iter()
            .find_map(Signal::of)
            .expect("orders-source names a signal table");
        assert_eq!(signal.name(), "demo.debezium_signal");
        assert_eq!(signal.publication.as_deref(), Some("cdc_publication"));
        let with = |state: State| Observed {
            states: BTreeMap::from([("orders-source".to_string(), Ok(state))]),
            reached: BTreeMap::from([("orders-source".to_string(), signal.database.clone())]),
        };
        let plan = |state| signals_plan(&shipped.connectors, &with(state));
        let missing = plan(State {
            exists: false,
            published: false,
            publication_exists: true,
        });
        assert_eq!(missing.0.action, Action::Create);
        assert!(missing.1.is_some());
        let unpublished = plan(State {
            exists: true,
            published: false,
            publication_exists: true,
        });
        assert_eq!(unpublished.0.action, Action::Update);
        assert_eq!(
            unpublished.0.reasons,
            ["not in publication cdc_publication: Debezium would not see its signals"]
        );
        let ready = plan(State {
            exists: true,
            published: true,
            publication_exists: true,
        });
        assert_eq!(ready.0.action, Action::Unchanged);
        assert!(ready.1.is_none());
        // Without its publication the connector fails anyway: nothing to add the table to.
        let orphan = plan(State {
            exists: true,
            published: false,
            publication_exists: false,
        });
        assert_eq!(orphan.0.action, Action::Unchanged);
        assert!(orphan.1.is_none());
    }

    fn signals_plan(desired: &[Connector], observed: &Observed) -> (Change, Option<Ensure>) {
        plan(desired, observed).remove(0)
    }
}
