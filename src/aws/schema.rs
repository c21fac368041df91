//! The one-shot schema load: the SQL files the environment names run in the new database as a
//! database task (`task.rs`: ECS in the private subnets, `psql`), as one transaction. The files'
//! digest is recorded as a tag on the cluster once the task exits 0, so the load runs once, and
//! again only when the files change.

use super::Env;
use super::clients::Clients;
use super::names;
use super::outputs::Outputs;
use super::sdk::Call;
use super::task;
use crate::error::Error;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

const CONTAINER: &str = "schema-load";

/// The sources' signal tables in the environment's database (`crate::signals`): made by the
/// load, after the files (which make the publication they join).
pub(super) fn signals(env: &Env<'_>) -> Vec<crate::signals::Signal> {
    let Some(db) = env.aws.database.as_ref() else {
        return Vec::new();
    };
    env.connectors
        .iter()
        .filter(|c| {
            c.config
                .get("database.hostname")
                .is_some_and(|h| h.contains("${aws:database.host}"))
        })
        .filter_map(|c| crate::signals::Signal::of(&names::connector(env, &c.name), &c.config))
        .filter(|s| s.source.database.dbname == db.name)
        .collect()
}

/// The SQL to load, as one script, and its digest; `None` when the environment names none.
pub(super) fn wanted(env: &Env<'_>) -> Option<(String, String)> {
    let db = env.aws.database.as_ref()?;
    let signals = signals(env);
    if db.schema.is_empty() && signals.is_empty() {
        return None;
    }
    let mut script: String = db
        .schema
        .iter()
        .map(|file| format!("-- {}\n{}\n", file.name, file.content))
        .collect();
    for signal in &signals {
        script.push_str(&format!(
            "-- signal table {} of {}\n{}",
            signal.name(),
            signal.connector,
            signal.ensure_sql()
        ));
    }
    let digest = crate::digest::short(script.as_bytes());
    Some((script, digest))
}

/// The load: the SQL files as one script, run by a one-off task against the database, and their
/// digest, recorded on the cluster once it succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Load {
        database: String,
        /// The image with `psql` the task runs.
        image: String,
        script: String,
        digest: String,
    },
}

/// The schema load's part of the plan: `loaded` is the digest recorded on the cluster (`None`
/// while there is no cluster).
pub(super) fn plan(env: &Env<'_>, loaded: Option<Option<&str>>) -> Vec<(Change, Vec<Step>)> {
    let (Some(db), Some((script, digest))) = (env.aws.database.as_ref(), wanted(env)) else {
        return Vec::new();
    };
    let load = vec![Step::Load {
        database: db.name.clone(),
        image: db.schema_image.clone(),
        script,
        digest: digest.clone(),
    }];
    let signals = signals(env);
    let files: Vec<String> = db
        .schema
        .iter()
        .map(|f| f.name.clone())
        .chain(signals.iter().map(|s| format!("signal table {}", s.name())))
        .collect();
    let name = super::names::db_cluster(env);
    let load = vec![match loaded.flatten() {
        Some(have) if have == digest => (
            Change::new(
                Kind::SchemaLoad,
                name,
                Action::Unchanged,
                format!("{} loaded ({digest})", files.join(", ")),
            ),
            Vec::new(),
        ),
        Some(have) => (
            Change::new(
                Kind::SchemaLoad,
                name,
                Action::Update,
                format!(
                    "files changed ({have} → {digest}): runs {} again",
                    files.join(", ")
                ),
            ),
            load,
        ),
        None => (
            Change::new(
                Kind::SchemaLoad,
                name,
                Action::Create,
                format!("runs {} once the database exists", files.join(", ")),
            ),
            load,
        ),
    }];
    // Each signal table, shown as the resource it is, made by the load.
    let action = load[0].0.action;
    let signal_rows = signals.iter().map(|signal| {
        let publication = signal
            .publication
            .as_ref()
            .map_or(String::new(), |p| format!(", in publication {p}"));
        let reason = if action == Action::Unchanged {
            format!("{}'s signals{publication}", signal.connector)
        } else {
            format!(
                "{}'s signals (id, type, data){publication}: made by the schema load",
                signal.connector
            )
        };
        (
            Change::new(Kind::SignalTable, signal.name(), action, reason),
            Vec::new(),
        )
    });
    load.into_iter().chain(signal_rows).collect()
}

/// Carries out the plan's schema load steps; `cluster_arn` is the database cluster the digest
/// is recorded on.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    steps: &[Step],
    cluster_arn: &str,
    outputs: &Outputs,
    printer: &Printer,
) -> Result<(), Error> {
    for Step::Load {
        database,
        image,
        script,
        digest,
    } in steps
    {
        let script = task::Script {
            family: names::schema_family(env),
            container: CONTAINER,
            what: "schema load",
            image,
            database,
            sql: script.clone(),
            one_transaction: true,
        };
        let ended = task::run(clients, env, outputs, &script, printer).await?;
        if !ended.succeeded() {
            return Err(Error::user(format!(
                "the schema load failed ({}): nothing was committed",
                ended.describe()
            ))
            .with_hint(format!(
                "psql's output is in CloudWatch Logs group {}",
                names::database_task_log_group(env)
            )));
        }
        clients
            .rds
            .add_tags_to_resource()
            .resource_name(cluster_arn)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key(names::TAG_SCHEMA)
                    .value(digest)
                    .build(),
            )
            .send()
            .await
            .or_fail("RDS AddTagsToResource")?;
        printer.status(&format!("  + schema loaded ({digest})"));
    }
    Ok(())
}

/// Deregisters the load's task definitions.
pub(super) async fn destroy(clients: &Clients, env: &Env<'_>) -> Result<(), Error> {
    super::ecs::deregister(clients, &names::schema_family(env)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_runs_until_the_cluster_records_the_files_digest() {
        let env = crate::aws::fixture::env();
        let (script, digest) = wanted(&env).expect("the fixture loads SQL");
        let db = env.aws.database.as_ref().expect("a database");
        let load = vec![Step::Load {
            database: db.name.clone(),
            image: db.schema_image.clone(),
            script,
            digest: digest.clone(),
        }];
        // No cluster yet, a cluster without the tag, one loaded with other files: the load runs.
        for loaded in [None, Some(None), Some(Some("0123456789ab"))] {
            assert_eq!(plan(&env, loaded)[0].1, load, "{loaded:?}");
        }
        let done = plan(&env, Some(Some(digest.as_str())));
        assert_eq!(done[0].0.action, Action::Unchanged);
        assert!(done[0].1.is_empty());
    }
}
