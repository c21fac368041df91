//! The replication slots of the environment's Debezium PostgreSQL sources on AWS (what a slot
//! is and why it must go with its connector: `crate::slots`). A source's slot is in the plan
//! beside its connector; the slot of a connector that goes (removed from the file, `destroy`)
//! or moves to another `slot.name` is dropped after the connector let go of it, by a database
//! task (`task.rs`: the database is private), which waits a bounded time for the slot to become
//! inactive and never drops one that something still streams from. `keep-slot` (per connector)
//! and `--keep-slots` (per run) keep it, and the plan says that it pins WAL. A slot on a
//! database this environment does not create is shown and left to its owner.

use std::collections::BTreeMap;

use super::Env;
use super::clients::Clients;
use super::connectors::{Desired, Live};
use super::names;
use super::outputs::{Outputs, UNKNOWN};
use super::sdk::Call;
use super::task;
use crate::error::Error;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};
use crate::slots::Source;

const CONTAINER: &str = "slots";
/// How long a dropped connector's task may hold its slot: MSK Connect's delete returns once the
/// connector is gone, and its workers let go of the stream soon after.
const RELEASE_SECONDS: u32 = 120;

/// A slot to drop, with the publication Debezium made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Drop {
    pub slot: String,
    pub publication: Option<String>,
}

/// The slot steps, in the order apply runs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Before the connectors change: the slots to drop, recorded on the database cluster.
    Record {
        cluster: String,
        pending: Vec<(String, String)>,
    },
    /// After: one database task per database drops these slots once they are free.
    Drop { database: String, drops: Vec<Drop> },
    /// Then what is still to drop, recorded again (nothing: the tag goes).
    Forget {
        cluster: String,
        remaining: Vec<(String, String)>,
    },
}

/// The pending drops as the cluster's tag has them: `database/slot`, space-separated.
pub(super) fn parse_pending(tag: &str) -> Vec<(String, String)> {
    tag.split_whitespace()
        .filter_map(|entry| entry.split_once('/'))
        .map(|(db, slot)| (db.to_string(), slot.to_string()))
        .collect()
}

fn format_pending(pending: &[(String, String)]) -> String {
    pending
        .iter()
        .map(|(db, slot)| format!("{db}/{slot}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why the slots are kept, when they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Drop what goes with its connector, unless the connector says `keep-slot`.
    AsConnectorsSay,
    /// `--keep-slots`: keep them all this run.
    All,
}

impl Keep {
    pub fn from_flag(keep_slots: bool) -> Self {
        if keep_slots {
            Keep::All
        } else {
            Keep::AsConnectorsSay
        }
    }
}

/// True when the source reads the database this environment creates (a host still unknown is
/// the one the apply creates).
fn on_ours(source: &Source, outputs: &Outputs) -> bool {
    source.database.host == UNKNOWN
        || outputs.database_host.as_deref() == Some(source.database.host.as_str())
}

/// The slots' part of the plan. `desired` are the connectors the file defines, `live` those MSK
/// Connect runs; a live source whose slot no desired source names leaves it behind. `database`
/// is the environment's cluster as observed, with the drops an earlier run left pending;
/// `database_deleted` names it when it goes too (`destroy` without deletion protection): its
/// slots go with it.
pub(super) fn plan(
    env: &Env<'_>,
    desired: &[Desired],
    live: &BTreeMap<String, Live>,
    outputs: &Outputs,
    database: Option<&super::database::Cluster>,
    keep: Keep,
    database_deleted: Option<&str>,
) -> Vec<(Change, Vec<Step>)> {
    let wanted: Vec<(Source, bool)> = desired
        .iter()
        .filter_map(|d| {
            let keep_slot = env
                .connectors
                .iter()
                .any(|c| names::connector(env, &c.name) == d.name && c.keep_slot);
            Some((Source::of(&d.name, &d.config)?, keep_slot))
        })
        .collect();
    let streaming: Vec<Source> = live
        .iter()
        .filter_map(|(name, l)| Source::of(name, &l.config))
        .collect();
    let mut planned = Vec::new();
    for (want, keep_slot) in &wanted {
        let kept = if *keep_slot {
            "; kept when its connector goes (keep-slot)"
        } else {
            ""
        };
        let change = if streaming.iter().any(|s| s.same_slot(want)) {
            Change::new(
                Kind::Slot,
                &want.slot,
                Action::Unchanged,
                format!(
                    "streamed by {} from database {}{kept}",
                    want.connector, want.database.dbname
                ),
            )
        } else {
            Change::new(
                Kind::Slot,
                &want.slot,
                Action::Create,
                format!(
                    "made by {} when it starts, in database {}{kept}",
                    want.connector, want.database.dbname
                ),
            )
        };
        planned.push((change, Vec::new()));
    }
    let mut drops: BTreeMap<String, Vec<Drop>> = BTreeMap::new();
    for old in &streaming {
        if wanted.iter().any(|(s, _)| s.same_slot(old)) {
            continue;
        }
        let moved = wanted.iter().find(|(s, _)| s.connector == old.connector);
        let why = match moved {
            Some((new, _)) => format!("its connector {} moves to slot {}", old.connector, new.slot),
            None => format!("its connector {} is removed", old.connector),
        };
        let kept = match (keep, moved) {
            (Keep::All, _) => Some("--keep-slots"),
            (_, Some((_, true))) => Some("keep-slot"),
            _ => None,
        };
        let (action, reason) = if let Some(by) = kept {
            (
                Action::Unchanged,
                format!("{why}; kept ({by}): it pins WAL until it is dropped"),
            )
        } else if !on_ours(old, outputs) {
            (
                Action::Unchanged,
                format!(
                    "{why}; not dropped: it is on {}, a database this environment does not create; drop it there (SELECT pg_drop_replication_slot('{}'))",
                    old.database.place(),
                    old.slot
                ),
            )
        } else if let Some(database) = database_deleted {
            (
                Action::Remove,
                format!("{why}; goes with database {database}"),
            )
        } else {
            drops
                .entry(old.database.dbname.clone())
                .or_default()
                .push(Drop {
                    slot: old.slot.clone(),
                    publication: old.created_publication.clone().filter(|p| {
                        // Another source may use the publication Debezium made.
                        !wanted.iter().any(|(s, _)| {
                            s.created_publication.as_ref() == Some(p)
                                && s.database.dbname == old.database.dbname
                        })
                    }),
                });
            (
                Action::Remove,
                format!("{why}: dropped once it lets go of it"),
            )
        };
        planned.push((
            Change::new(Kind::Slot, &old.slot, action, reason),
            Vec::new(),
        ));
    }
    // What an earlier run left to drop (its drop failed or was interrupted).
    let pending = database.map(|c| c.slot_drops.clone()).unwrap_or_default();
    for (dbname, slot) in &pending {
        let named = wanted
            .iter()
            .any(|(s, _)| &s.slot == slot && &s.database.dbname == dbname && on_ours(s, outputs));
        let planned_now = drops
            .get(dbname)
            .is_some_and(|d| d.iter().any(|d| &d.slot == slot));
        if named || planned_now {
            continue;
        }
        let why = "left by an earlier run whose drop did not finish";
        let (action, reason) = if keep == Keep::All {
            (
                Action::Unchanged,
                format!("{why}; kept (--keep-slots): it pins WAL until it is dropped"),
            )
        } else if let Some(database) = database_deleted {
            (
                Action::Remove,
                format!("{why}; goes with database {database}"),
            )
        } else {
            drops.entry(dbname.clone()).or_default().push(Drop {
                slot: slot.clone(),
                publication: None,
            });
            (
                Action::Remove,
                format!("{why}: dropped once nothing streams from it"),
            )
        };
        planned.push((Change::new(Kind::Slot, slot, action, reason), Vec::new()));
    }
    let Some(cluster) = database.filter(|_| !drops.is_empty()) else {
        return planned;
    };
    // Recorded before the connectors change, dropped after, one task per database; what was
    // pending and is neither dropped now nor named again stays recorded.
    let dropping: Vec<(String, String)> = drops
        .iter()
        .flat_map(|(db, d)| d.iter().map(|d| (db.clone(), d.slot.clone())))
        .collect();
    let mut recorded = pending.clone();
    recorded.extend(dropping.iter().filter(|d| !pending.contains(d)).cloned());
    let remaining: Vec<(String, String)> = pending
        .iter()
        .filter(|p| !dropping.contains(p))
        .cloned()
        .collect();
    let mut steps = vec![Step::Record {
        cluster: cluster.arn.clone(),
        pending: recorded,
    }];
    steps.extend(
        drops
            .into_iter()
            .map(|(database, drops)| Step::Drop { database, drops }),
    );
    steps.push(Step::Forget {
        cluster: cluster.arn.clone(),
        remaining,
    });
    if let Some((_, last)) = planned
        .iter_mut()
        .rev()
        .find(|(c, _)| c.action == Action::Remove)
    {
        *last = steps;
    }
    planned
}

/// An SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The task's script: for each slot, wait (bounded) until nothing streams from it, drop it if it
/// is there, then the publication Debezium made for it. Each slot in its own statement, so one
/// that cannot be dropped stops the script with its reason and the slots before stay dropped.
pub(super) fn script(drops: &[Drop], release_seconds: u32) -> String {
    let mut sql = String::new();
    for drop in drops {
        let slot = literal(&drop.slot);
        sql.push_str(&format!(
            "DO $$
DECLARE
  deadline timestamptz := clock_timestamp() + interval '{release_seconds} seconds';
  holder int;
BEGIN
  LOOP
    SELECT active_pid INTO holder FROM pg_replication_slots
      WHERE slot_name = {slot} AND database = current_database() AND active;
    EXIT WHEN NOT FOUND;
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'replication slot % is still active (pid %) {release_seconds} s after its connector let go: something else streams from it', {slot}, holder;
    END IF;
    PERFORM pg_sleep(1);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = {slot} AND database = current_database()) THEN
    PERFORM pg_drop_replication_slot({slot});
    RAISE NOTICE 'dropped replication slot %', {slot};
  ELSE
    RAISE NOTICE 'replication slot % was already gone', {slot};
  END IF;
END $$;
"
        ));
        if let Some(publication) = &drop.publication {
            sql.push_str(&format!(
                "DROP PUBLICATION IF EXISTS \"{}\";\n",
                publication.replace('"', "\"\"")
            ));
        }
    }
    sql
}

/// Records the slots the plan drops on the database cluster, before the connectors change.
pub(super) async fn record(clients: &Clients, steps: &[Step]) -> Result<(), Error> {
    for step in steps {
        if let Step::Record { cluster, pending } = step {
            tag(clients, cluster, pending).await?;
        }
    }
    Ok(())
}

async fn tag(clients: &Clients, cluster: &str, pending: &[(String, String)]) -> Result<(), Error> {
    if pending.is_empty() {
        clients
            .rds
            .remove_tags_from_resource()
            .resource_name(cluster)
            .tag_keys(names::TAG_SLOT_DROPS)
            .send()
            .await
            .or_fail("RDS RemoveTagsFromResource")?;
    } else {
        clients
            .rds
            .add_tags_to_resource()
            .resource_name(cluster)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key(names::TAG_SLOT_DROPS)
                    .value(format_pending(pending))
                    .build(),
            )
            .send()
            .await
            .or_fail("RDS AddTagsToResource")?;
    }
    Ok(())
}

/// How long a slot may stay active after its connector went: `DEPLOY_SLOT_RELEASE_SECONDS`, or
/// `RELEASE_SECONDS`.
fn release_seconds() -> Result<u32, Error> {
    match std::env::var("DEPLOY_SLOT_RELEASE_SECONDS") {
        Err(_) => Ok(RELEASE_SECONDS),
        Ok(text) => text.trim().parse().map_err(|_| {
            Error::user(format!(
                "DEPLOY_SLOT_RELEASE_SECONDS is {text:?}: expected a whole number of seconds"
            ))
        }),
    }
}

/// Carries out the plan's slot drops, after the connectors changed: one database task per
/// database, then the cluster's record of what is still to drop.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    steps: &[Step],
    outputs: &Outputs,
    printer: &Printer,
) -> Result<(), Error> {
    let Some(db) = env.aws.database.as_ref() else {
        return Ok(());
    };
    let release = release_seconds()?;
    for step in steps {
        match step {
            Step::Record { .. } => {}
            Step::Drop { database, drops } => {
                let names: Vec<&str> = drops.iter().map(|d| d.slot.as_str()).collect();
                let script = task::Script {
                    family: names::slot_task_family(env),
                    container: CONTAINER,
                    what: "slot drop",
                    image: &db.schema_image,
                    database,
                    sql: script(drops, release),
                    one_transaction: false,
                };
                let ended = task::run(clients, env, outputs, &script, printer).await?;
                if !ended.succeeded() {
                    return Err(Error::user(format!(
                        "dropping replication slot {} failed ({})",
                        names.join(", "),
                        ended.describe()
                    ))
                    .with_hint(format!(
                        "the next plan drops it again; the task's output is in CloudWatch Logs group {}",
                        names::database_task_log_group(env)
                    )));
                }
                for name in names {
                    printer.status(&format!("  - replication slot {name} dropped"));
                }
            }
            Step::Forget { cluster, remaining } => tag(clients, cluster, remaining).await?,
        }
    }
    Ok(())
}

/// The marker of the read's rows among what psql prints.
const ROW: &str = "deploy-slot";

/// The read's script: every logical slot of the database, one `|`-separated row each.
pub(super) fn read_script() -> String {
    format!(
        "\\pset format unaligned\n\\pset tuples_only on\n\\pset fieldsep '|'\n\
         SELECT '{ROW}', slot_name, active, coalesce(active_pid::text, ''), coalesce(wal_status, ''), \
         coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text, ''), \
         coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text, '') \
         FROM pg_replication_slots WHERE slot_type = 'logical' AND database = current_database();\n"
    )
}

/// The slots in what the read printed.
pub(super) fn parse_read(output: &[String]) -> BTreeMap<String, crate::slots::Slot> {
    output
        .iter()
        .filter_map(|line| {
            let fields: Vec<&str> = line.trim().split('|').collect();
            let [ROW, name, active, pid, status, retained, behind] = fields[..] else {
                return None;
            };
            let text = |v: &str| (!v.is_empty()).then(|| v.to_string());
            Some((
                name.to_string(),
                crate::slots::Slot {
                    active: active == "t",
                    active_pid: pid.parse().ok(),
                    wal_status: text(status),
                    retained: retained.parse().ok(),
                    behind: behind.parse().ok(),
                },
            ))
        })
        .collect()
}

/// Every logical slot of `database`, read by a database task.
pub(super) async fn read(
    clients: &Clients,
    env: &Env<'_>,
    outputs: &Outputs,
    database: &str,
    printer: &Printer,
) -> Result<BTreeMap<String, crate::slots::Slot>, Error> {
    let Some(db) = env.aws.database.as_ref() else {
        return Ok(BTreeMap::new());
    };
    let script = task::Script {
        family: names::slot_task_family(env),
        container: CONTAINER,
        what: "slot read",
        image: &db.schema_image,
        database,
        sql: read_script(),
        one_transaction: false,
    };
    let ended = task::run(clients, env, outputs, &script, printer).await?;
    if !ended.succeeded() {
        return Err(Error::user(format!(
            "reading the replication slots of database {database} failed ({})",
            ended.describe()
        )));
    }
    Ok(parse_read(&ended.output))
}

/// The sources of the file that read the environment's database, as the applied
/// infrastructure gives their settings.
pub(super) fn sources_on_ours(env: &Env<'_>, outputs: &Outputs) -> Vec<Source> {
    env.connectors
        .iter()
        .filter_map(|c| {
            let config = c
                .config
                .iter()
                .map(|(k, v)| (k.clone(), outputs.fill(v)))
                .collect();
            Source::of(&names::connector(env, &c.name), &config)
        })
        .filter(|s| on_ours(s, outputs))
        .collect()
}

/// Reads every logical slot of each database the sources use (and the environment's own); the
/// slot rows of `changes` then say what PostgreSQL reports, and the databases' other slots are
/// added, never to be touched.
pub(super) async fn read_into(
    clients: &Clients,
    env: &Env<'_>,
    outputs: &Outputs,
    changes: &mut Vec<Change>,
    printer: &Printer,
) -> Result<(), Error> {
    let Some(db) = env.aws.database.as_ref() else {
        return Ok(());
    };
    let databases: std::collections::BTreeSet<String> = sources_on_ours(env, outputs)
        .into_iter()
        .map(|s| s.database.dbname)
        .chain(std::iter::once(db.name.clone()))
        .collect();
    for database in databases {
        let mut found = read(clients, env, outputs, &database, printer).await?;
        for change in changes.iter_mut().filter(|c| c.kind == Kind::Slot) {
            if let Some(slot) = found.remove(&change.name) {
                change.reasons.push(slot.to_string());
            }
        }
        for (name, slot) in found {
            changes.push(Change::new(
                Kind::Slot,
                name,
                Action::Unchanged,
                format!(
                    "in database {database}, named by no connector of this environment: never touched; {slot}"
                ),
            ));
        }
    }
    Ok(())
}

/// Deregisters the slot task's definitions.
pub(super) async fn destroy(clients: &Clients, env: &Env<'_>) -> Result<(), Error> {
    super::ecs::deregister(clients, &names::slot_task_family(env)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Capacity;

    fn connector(name: &str, slot: &str, host: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "connector.class".into(),
                crate::slots::POSTGRES_SOURCE.into(),
            ),
            ("plugin.name".into(), "pgoutput".into()),
            ("slot.name".into(), slot.into()),
            ("database.hostname".into(), host.into()),
            ("database.dbname".into(), "main".into()),
            ("name".into(), name.into()),
        ])
    }

    fn live(config: BTreeMap<String, String>) -> Live {
        Live {
            arn: "arn".into(),
            state: "RUNNING".into(),
            reason: None,
            version: "v".into(),
            config,
            custom_plugin_arn: String::new(),
            capacity: Capacity::Provisioned { mcu: 1, workers: 1 },
            fixed: BTreeMap::new(),
        }
    }

    fn desired(name: &str, config: BTreeMap<String, String>) -> Desired {
        Desired {
            name: name.into(),
            config,
            custom_plugin: String::new(),
            capacity: Capacity::Provisioned { mcu: 1, workers: 1 },
            fixed: BTreeMap::new(),
            paused: false,
        }
    }

    #[test]
    fn a_removed_or_moved_source_leaves_a_slot_to_drop_and_keep_slots_keeps_it() {
        let env = crate::aws::fixture::env();
        let outputs = Outputs {
            database_host: Some("db.aurora".into()),
            ..Outputs::default()
        };
        let live = BTreeMap::from([
            ("t-a".to_string(), live(connector("t-a", "a", "db.aurora"))),
            ("t-b".to_string(), live(connector("t-b", "b", "db.aurora"))),
            ("t-c".to_string(), live(connector("t-c", "c", "elsewhere"))),
        ]);
        // `t-a` stays, `t-b` moves to slot b2, `t-c` (on another database) is removed.
        let want = vec![
            desired("t-a", connector("t-a", "a", "db.aurora")),
            desired("t-b", connector("t-b", "b2", "db.aurora")),
        ];
        let cluster = crate::aws::database::Cluster {
            arn: "arn:cluster".into(),
            ours: true,
            schema: None,
            slot_drops: vec![("main".into(), "left".into())],
            status: "available".into(),
            endpoint: "db.aurora".into(),
            port: 5432,
            secret_arn: None,
            deletion_protection: true,
            engine_version: "16.8".into(),
            parameters_status: None,
            secret_version: None,
        };
        let planned = plan(
            &env,
            &want,
            &live,
            &outputs,
            Some(&cluster),
            Keep::AsConnectorsSay,
            None,
        );
        let rows: Vec<(String, Action, String)> = planned
            .iter()
            .map(|(c, _)| (c.name.clone(), c.action, c.reasons.join("; ")))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "a".into(),
                    Action::Unchanged,
                    "streamed by t-a from database main".into()
                ),
                (
                    "b2".into(),
                    Action::Create,
                    "made by t-b when it starts, in database main".into()
                ),
                (
                    "b".into(),
                    Action::Remove,
                    "its connector t-b moves to slot b2: dropped once it lets go of it".into()
                ),
                (
                    "c".into(),
                    Action::Unchanged,
                    "its connector t-c is removed; not dropped: it is on elsewhere:5432/main, a database this environment does not create; drop it there (SELECT pg_drop_replication_slot('c'))".into()
                ),
                (
                    "left".into(),
                    Action::Remove,
                    "left by an earlier run whose drop did not finish: dropped once nothing streams from it".into()
                ),
            ]
        );
        // Recorded on the cluster before the connectors change, dropped after, forgotten once
        // dropped.
        let steps: Vec<&Step> = planned.iter().flat_map(|(_, s)| s).collect();
        let both = vec![
            ("main".to_string(), "left".to_string()),
            ("main".into(), "b".into()),
        ];
        assert_eq!(
            steps,
            [
                &Step::Record {
                    cluster: "arn:cluster".into(),
                    pending: both
                },
                &Step::Drop {
                    database: "main".into(),
                    drops: vec![
                        // t-b on its new slot still uses the publication Debezium made.
                        Drop {
                            slot: "b".into(),
                            publication: None
                        },
                        Drop {
                            slot: "left".into(),
                            publication: None
                        }
                    ]
                },
                &Step::Forget {
                    cluster: "arn:cluster".into(),
                    remaining: Vec::new()
                }
            ]
        );
        assert_eq!(
            parse_pending(&format_pending(&[("main".into(), "b".into())])),
            [("main".to_string(), "b".to_string())]
        );

        let kept = plan(
            &env,
            &want,
            &live,
            &outputs,
            Some(&cluster),
            Keep::All,
            None,
        );
        assert!(kept.iter().all(|(_, s)| s.is_empty()));
        assert_eq!(
            kept[2].0.reasons,
            [
                "its connector t-b moves to slot b2; kept (--keep-slots): it pins WAL until it is dropped"
            ]
        );
    }

    #[test]
    fn the_read_is_parsed_from_what_psql_printed_among_other_lines() {
        assert!(read_script().contains("\\pset tuples_only on"));
        let found = parse_read(&[
            "Output format is unaligned.".into(),
            "deploy-slot|orders|t|4711|reserved|1048576|0".into(),
            "deploy-slot|lost_one|f||lost||".into(),
        ]);
        assert_eq!(
            found["orders"].to_string(),
            "active, retains 1.0 MiB of WAL (reserved), 0 B behind"
        );
        assert!(found["lost_one"].lost());
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn the_script_waits_for_each_slot_to_be_free_and_drops_only_what_is_there() {
        let sql = script(
            &[
                Drop {
                    slot: "orders".into(),
                    publication: None,
                },
                Drop {
                    slot: "it's".into(),
                    publication: Some("dbz_publication".into()),
                },
            ],
            120,
        );
        assert_eq!(sql.matches("DO $$").count(), 2);
        assert!(
            sql.contains("WHERE slot_name = 'orders' AND database = current_database() AND active")
        );
        assert!(sql.contains("PERFORM pg_drop_replication_slot('it''s');"));
        assert!(sql.ends_with("DROP PUBLICATION IF EXISTS \"dbz_publication\";\n"));
    }
}
