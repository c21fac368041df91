//! The environment's connectors against the local Kafka Connect: plan, apply, status, restart.

use super::connect::client::Client;
use super::connect::reconcile;
use super::slots;
use super::{docker, observe};
use crate::error::Error;
use crate::model::Environment;
use crate::output::{Printer, Style};
use crate::plan::Plan;
use crate::status::ConnectorStatus;

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
async fn observe_and_plan(
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
    let (_, steps) = observe_and_plan(&client, env, options, connect_started.is_some()).await?;
    let waits = waits(env);
    tokio::task::block_in_place(|| {
        reconcile::apply(&client, &steps, waits, connect_started, printer)
    })
}

/// The connectors' plan and the steps that carry it out, against the Connect that answers.
pub(crate) struct Planned {
    client: Client,
    plan: Plan,
    steps: Vec<reconcile::Step>,
}

impl Planned {
    /// What the steps change, as `connectors plan` shows it.
    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }
}

/// Plans the connectors against what Connect and the sources' databases have now, and says
/// which the file skips.
pub(crate) async fn plan(
    env: &Environment,
    printer: &Printer,
    options: Options,
) -> Result<Planned, Error> {
    let client = client(env).await?;
    let (plan, steps) = observe_and_plan(&client, env, options, false).await?;
    say_skipped(env, printer);
    Ok(Planned {
        client,
        plan,
        steps,
    })
}

/// Carries out the steps `plan` made, each waited on until the connector runs as the file says.
pub(crate) async fn apply(
    env: &Environment,
    planned: &Planned,
    printer: &Printer,
) -> Result<(), Error> {
    let waits = waits(env);
    tokio::task::block_in_place(|| {
        reconcile::apply(&planned.client, &planned.steps, waits, None, printer)
    })
}

/// The connectors as Connect reports them, and their sources' replication slots.
pub(crate) struct Status {
    /// Connect's connectors first, then those of the file Connect does not have.
    pub connectors: Vec<ConnectorStatus>,
    pub slots: Vec<SlotStatus>,
}

/// A logical replication slot in a source's database: a source's, or one no source names.
pub(crate) struct SlotStatus {
    pub slot: String,
    /// `host:port/dbname` as configured.
    pub database: String,
    /// The source whose slot it is; `None` for the database's other logical slots.
    pub connector: Option<String>,
    /// The slot, `None` when there is none, or why the database could not be read.
    pub read: Result<Option<crate::slots::Slot>, String>,
}

pub(crate) async fn status(env: &Environment, printer: &Printer) -> Result<Status, Error> {
    let client = client(env).await?;
    let live = blocking(|| client.list()).await?;
    let mut names: Vec<&String> = live.keys().collect();
    for connector in &env.connectors {
        if !live.contains_key(&connector.name) {
            names.push(&connector.name);
        }
    }
    let connectors = names
        .iter()
        .map(|name| {
            let status = live.get(*name).map(|l| l.status.clone());
            ConnectorStatus {
                name: name.to_string(),
                connector: None,
                defined: env.connectors.iter().any(|c| &c.name == *name),
                state: status
                    .as_ref()
                    .map_or("ABSENT".to_string(), |s| s.state.clone()),
                tasks: status.as_ref().map(|s| s.tasks.clone()).unwrap_or_default(),
                trace: status.and_then(|s| s.trace),
                trace_is_reason: false,
            }
        })
        .collect();
    let slots = slot_status(env, &live).await;
    say_skipped(env, printer);
    Ok(Status { connectors, slots })
}

/// Each source's replication slot as its database reports it, then the databases' other
/// logical slots (one a source kept, or another consumer's).
async fn slot_status(
    env: &Environment,
    live: &std::collections::BTreeMap<String, super::connect::client::Live>,
) -> Vec<SlotStatus> {
    let sources = slots::sources(&env.connectors, live);
    if sources.is_empty() {
        return Vec::new();
    }
    let addresses = super::reach::databases(env, sources.iter().map(|s| &s.database)).await;
    let observed = slots::observe(&sources, &addresses).await;
    let mut rows: Vec<SlotStatus> = sources
        .iter()
        .map(|source| {
            let place = source.database.place();
            SlotStatus {
                read: observed
                    .slots
                    .get(&(place.clone(), source.slot.clone()))
                    .cloned()
                    .unwrap_or_else(|| Err("not read".into())),
                slot: source.slot.clone(),
                database: place,
                connector: Some(source.connector.clone()),
            }
        })
        .collect();
    for (place, others) in &observed.unnamed {
        for (name, slot) in others {
            rows.push(SlotStatus {
                slot: name.clone(),
                database: place.clone(),
                connector: None,
                read: Ok(Some(slot.clone())),
            });
        }
    }
    rows
}

/// Restarts each connector (or the one named), then waits until each runs as the file says.
pub(crate) async fn restart(
    env: &Environment,
    printer: &Printer,
    name: Option<&str>,
    failed_only: bool,
) -> Result<(), Error> {
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
    Ok(())
}
