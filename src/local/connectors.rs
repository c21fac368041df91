//! The environment's connectors against the local Kafka Connect: plan, apply, status, restart.

use serde_json::json;

use super::connect::client::Client;
use super::connect::reconcile;
use super::slots;
use super::{docker, observe};
use crate::error::{Error, exit};
use crate::model::Environment;
use crate::output::{Outcome, Printer, Report, Style};
use crate::plan::Plan;

/// Where the Connect REST API answers from here: its published port, else the container's
/// address on the environment's network (the only case that asks Docker).
pub(crate) async fn client(env: &Environment) -> Result<Client, Error> {
    let connect = env.connect.as_ref().ok_or_else(|| {
        Error::user(format!(
            "environment `{}` has no `connect:` section",
            env.name
        ))
        .with_hint("add `connect: { service: connect }` and connectors")
    })?;
    let service = env
        .service(&connect.service)
        .expect("resolve checked the Connect service");
    if let Some(port) = service.ports.iter().find(|p| p.container == connect.port) {
        let (address, port) = port.reachable();
        return Ok(Client::new(&format!("http://{address}:{port}")));
    }
    let docker = docker::connect().await?;
    let containers = observe::containers(&docker, &env.name, &env.network).await?;
    let ip = containers
        .iter()
        .find(|c| c.service == connect.service)
        .and_then(|c| c.ip)
        .ok_or_else(|| {
            Error::user(format!(
                "the Connect service `{}` is not running",
                connect.service
            ))
            .with_hint("`deploy local up` starts it")
        })?;
    Ok(Client::new(&format!("http://{ip}:{}", connect.port)))
}

pub(crate) fn waits(env: &Environment) -> reconcile::Waits {
    let connect = env
        .connect
        .as_ref()
        .expect("resolve requires `connect:` for connectors");
    reconcile::Waits {
        timeout: connect.timeout,
        stable_for: connect.stable_for,
    }
}

fn say_skipped(env: &Environment, printer: &Printer) {
    for (name, reason) in &env.skipped_connectors {
        printer.status(&format!(
            "  {} connector {name} skipped: {reason}",
            printer.paint(Style::Warn, "!")
        ));
    }
}

/// How a connectors command treats what the file does not define.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Delete the connectors the file does not define.
    pub prune: bool,
    /// Keep every replication slot a removed or moved connector leaves.
    pub keep_slots: bool,
}

/// The connectors' plan and steps against what Connect and the sources' databases have now.
async fn plan(
    client: &Client,
    env: &Environment,
    options: Options,
    worker_started: bool,
) -> Result<(Plan, Vec<reconcile::Step>), Error> {
    let live = blocking(|| client.list()).await?;
    let sources = slots::sources(&env.connectors, &live);
    let signal_tables: Vec<_> = env
        .connectors
        .iter()
        .filter_map(super::signals::of)
        .collect();
    let addresses = super::reach::databases(
        env,
        sources
            .iter()
            .map(|s| &s.database)
            .chain(signal_tables.iter().map(|s| &s.source.database)),
    )
    .await;
    let observed = slots::observe(&sources, &addresses).await;
    let signals = super::signals::observe(env, &addresses).await;
    let context = reconcile::Context {
        prune: options.prune,
        worker_started,
        slots: &observed,
        keep_slots: options.keep_slots,
        signals: &signals,
    };
    Ok(reconcile::plan(&env.name, &env.connectors, &live, &context))
}

/// Runs blocking Connect calls without stalling the runtime.
pub(crate) async fn blocking<T>(
    f: impl FnOnce() -> Result<T, super::connect::client::ConnectError>,
) -> Result<T, Error> {
    tokio::task::block_in_place(f).map_err(Error::from)
}

/// After `local up`: bring the connectors in line (no pruning), and see them run.
/// `connect_started` is when `up` (re)started the Connect worker, if it did.
pub(crate) async fn converge(
    env: &Environment,
    printer: &Printer,
    connect_started: Option<std::time::Instant>,
    keep_slots: bool,
) -> Result<(), Error> {
    if env.connectors.is_empty() && env.skipped_connectors.is_empty() {
        return Ok(());
    }
    say_skipped(env, printer);
    if env.connectors.is_empty() {
        return Ok(());
    }
    let client = client(env).await?;
    let options = Options {
        prune: false,
        keep_slots,
    };
    let (_, steps) = plan(&client, env, options, connect_started.is_some()).await?;
    let waits = waits(env);
    tokio::task::block_in_place(|| {
        reconcile::apply(&client, &steps, waits, connect_started, printer)
    })
}

pub(crate) async fn plan_command(
    env: &Environment,
    printer: &Printer,
    options: Options,
    detailed_exitcode: bool,
) -> Result<Outcome, Error> {
    let client = client(env).await?;
    let (plan, _) = plan(&client, env, options, false).await?;
    say_skipped(env, printer);
    let code = if detailed_exitcode && !plan.is_empty() {
        exit::CHANGES
    } else {
        exit::SUCCESS
    };
    Ok(Outcome::with(
        code,
        Report::new(
            plan.render_text(true),
            json!({"plan": plan, "skipped": env.skipped_connectors}),
        ),
    ))
}

pub(crate) async fn apply_command(
    env: &Environment,
    printer: &Printer,
    options: Options,
) -> Result<Outcome, Error> {
    let client = client(env).await?;
    let (plan, steps) = plan(&client, env, options, false).await?;
    say_skipped(env, printer);
    if plan.is_empty() {
        printer.status("connectors: nothing to change");
        return Ok(Outcome::code(exit::SUCCESS));
    }
    printer.status(plan.render_text(false).trim_end());
    let waits = waits(env);
    tokio::task::block_in_place(|| reconcile::apply(&client, &steps, waits, None, printer))?;
    Ok(Outcome::code(exit::SUCCESS))
}

pub(crate) async fn status_command(env: &Environment, printer: &Printer) -> Result<Outcome, Error> {
    let client = client(env).await?;
    let live = blocking(|| client.list()).await?;
    let mut names: Vec<&String> = live.keys().collect();
    for connector in &env.connectors {
        if !live.contains_key(&connector.name) {
            names.push(&connector.name);
        }
    }
    let rows: Vec<serde_json::Value> = names
        .iter()
        .map(|name| {
            let status = live.get(*name).map(|l| l.status.clone());
            let defined = env.connectors.iter().any(|c| &c.name == *name);
            json!({
                "name": name,
                "defined": defined,
                "state": status.as_ref().map_or("ABSENT".to_string(), |s| s.state.clone()),
                "tasks": status.as_ref().map(|s| s.tasks.iter().map(|t| json!({"id": t.id, "state": t.state, "trace": t.trace})).collect::<Vec<_>>()).unwrap_or_default(),
                "trace": status.and_then(|s| s.trace),
            })
        })
        .collect();
    let text = {
        let mut table = vec![
            ["CONNECTOR", "STATE", "TASKS", "DEFINED"]
                .map(String::from)
                .to_vec(),
        ];
        for row in &rows {
            let tasks: Vec<String> = row["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| format!("{}:{}", t["id"], t["state"].as_str().unwrap_or_default()))
                .collect();
            table.push(vec![
                row["name"].as_str().unwrap_or_default().to_string(),
                row["state"].as_str().unwrap_or_default().to_string(),
                if tasks.is_empty() {
                    "-".into()
                } else {
                    tasks.join(" ")
                },
                if row["defined"] == true {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]);
        }
        crate::output::table(&table)
    };
    let (slot_rows, slot_text) = slot_status(env, &live).await;
    say_skipped(env, printer);
    Ok(Outcome::with(
        exit::SUCCESS,
        Report::new(
            format!("{text}{slot_text}"),
            json!({"connectors": rows, "slots": slot_rows, "skipped": env.skipped_connectors}),
        ),
    ))
}

/// Each source's replication slot as its database reports it: whether something streams from
/// it, the WAL it holds back, its `wal_status`, and how far its consumer is behind.
async fn slot_status(
    env: &Environment,
    live: &std::collections::BTreeMap<String, super::connect::client::Live>,
) -> (Vec<serde_json::Value>, String) {
    let sources = slots::sources(&env.connectors, live);
    if sources.is_empty() {
        return (Vec::new(), String::new());
    }
    let addresses = super::reach::databases(env, sources.iter().map(|s| &s.database)).await;
    let observed = slots::observe(&sources, &addresses).await;
    let mut rows = Vec::new();
    let mut table = vec![
        [
            "SLOT",
            "DATABASE",
            "CONNECTOR",
            "ACTIVE",
            "RETAINED WAL",
            "WAL STATUS",
            "BEHIND",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for source in &sources {
        let place = source.database.place();
        let read = observed
            .slots
            .get(&(place.clone(), source.slot.clone()))
            .cloned()
            .unwrap_or_else(|| Err("not read".into()));
        let bytes = |b: Option<i64>| b.map_or("-".to_string(), crate::slots::size);
        let (row, line) = match &read {
            Ok(Some(slot)) => (
                json!({"slot": source.slot, "database": place, "connector": source.connector,
                    "state": if slot.lost() { "lost" } else if slot.active { "active" } else { "inactive" },
                    "retained_bytes": slot.retained, "wal_status": slot.wal_status,
                    "behind_bytes": slot.behind}),
                [
                    if slot.lost() {
                        "LOST"
                    } else if slot.active {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_string(),
                    bytes(slot.retained),
                    slot.wal_status.clone().unwrap_or_else(|| "-".into()),
                    bytes(slot.behind),
                ],
            ),
            Ok(None) => (
                json!({"slot": source.slot, "database": place, "connector": source.connector, "state": "missing"}),
                ["missing".into(), "-".into(), "-".into(), "-".into()],
            ),
            Err(e) => (
                json!({"slot": source.slot, "database": place, "connector": source.connector, "state": "unknown", "error": e}),
                [format!("not read: {e}"), "-".into(), "-".into(), "-".into()],
            ),
        };
        rows.push(row);
        let mut cells = vec![source.slot.clone(), place, source.connector.clone()];
        cells.extend(line);
        table.push(cells);
    }
    // The databases' other logical slots (one a source kept, or another consumer's).
    for (place, others) in &observed.unnamed {
        for (name, slot) in others {
            rows.push(json!({"slot": name, "database": place, "connector": null,
                "state": if slot.lost() { "lost" } else if slot.active { "active" } else { "inactive" },
                "retained_bytes": slot.retained, "wal_status": slot.wal_status,
                "behind_bytes": slot.behind}));
            let bytes = |b: Option<i64>| b.map_or("-".to_string(), crate::slots::size);
            table.push(vec![
                name.clone(),
                place.clone(),
                "- (none)".into(),
                if slot.lost() {
                    "LOST"
                } else if slot.active {
                    "yes"
                } else {
                    "no"
                }
                .to_string(),
                bytes(slot.retained),
                slot.wal_status.clone().unwrap_or_else(|| "-".into()),
                bytes(slot.behind),
            ]);
        }
    }
    (rows, format!("\n{}", crate::output::table(&table)))
}

pub(crate) async fn restart_command(
    env: &Environment,
    printer: &Printer,
    name: Option<&str>,
    failed_only: bool,
) -> Result<Outcome, Error> {
    let client = client(env).await?;
    let names: Vec<String> = match name {
        Some(n) => vec![n.to_string()],
        None => env.connectors.iter().map(|c| c.name.clone()).collect(),
    };
    for name in &names {
        blocking(|| client.restart(name, failed_only)).await?;
        printer.status(&format!(
            "  restarted {name}{}",
            if failed_only { " (failed parts)" } else { "" }
        ));
    }
    let waits = waits(env);
    let restarted = std::time::Instant::now();
    for connector in env.connectors.iter().filter(|c| names.contains(&c.name)) {
        tokio::task::block_in_place(|| {
            let since = reconcile::Since {
                at: restarted,
                failed_before: true,
            };
            reconcile::wait(&client, connector, Some(since), waits)
        })?;
    }
    Ok(Outcome::code(exit::SUCCESS))
}
