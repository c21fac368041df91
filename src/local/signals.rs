//! A Debezium source's signal table (`crate::signals`) is part of its deployment locally: read
//! from the source's database through the address it is reached at from here, planned with the
//! connectors, and made (and put in the publication) before its connector is written.
//! `connectors snapshot` writes its `execute-snapshot` rows there.

use std::collections::BTreeMap;

use super::reach::Addresses;
pub(crate) use super::slots::connect;
use crate::error::Error;
use crate::model::{Connector, Environment};
use crate::plan::{Action, Change, Kind};
pub(super) use crate::signals::Signal;
use crate::signals::ident;
use crate::slots::Database;

/// The signal table a connector of the file names.
pub(super) fn of(connector: &Connector) -> Option<Signal> {
    Signal::of(&connector.name, &connector.config)
}

/// What the database has of a signal table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct State {
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
pub(super) struct Observed {
    pub states: BTreeMap<String, Result<State, String>>,
    pub reached: BTreeMap<String, Database>,
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
pub(super) async fn observe(env: &Environment, addresses: &Result<Addresses, String>) -> Observed {
    let mut observed = Observed::default();
    for signal in env.connectors.iter().filter_map(of) {
        let state = match addresses {
            Ok(addresses) => {
                let database = addresses.database(&signal.source.database);
                let state = read(&signal, &database).await;
                observed.reached.insert(signal.connector.clone(), database);
                state
            }
            Err(e) => Err(e.clone()),
        };
        observed.states.insert(signal.connector.clone(), state);
    }
    observed
}

/// Creates the table when missing and adds it to the publication when it is not in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ensure {
    pub signal: Signal,
    /// The database as it is reached from here.
    pub database: Database,
}

/// The signal tables' part of the connectors' plan; each runs before its connector is written.
pub(super) fn plan(desired: &[Connector], observed: &Observed) -> Vec<(Change, Option<Ensure>)> {
    let mut planned = Vec::new();
    for signal in desired.iter().filter_map(of) {
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
pub(super) async fn ensure(ensure: &Ensure) -> Result<(), Error> {
    let signal = &ensure.signal;
    let client = connect(&ensure.database).await.map_err(|e| {
        Error::user(format!(
            "cannot make signal table {} for {}: {e}",
            signal.name(),
            signal.connector
        ))
    })?;
    client
        .batch_execute(&signal.ensure_sql())
        .await
        .map_err(|e| {
            Error::user(format!(
                "cannot make signal table {} for {}: {}",
                signal.name(),
                signal.connector,
                said(e)
            ))
        })
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
            .find_map(of)
            .expect("orders-source names a signal table");
        let with = |state: State| Observed {
            states: BTreeMap::from([("orders-source".to_string(), Ok(state))]),
            reached: BTreeMap::from([(
                "orders-source".to_string(),
                signal.source.database.clone(),
            )]),
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
