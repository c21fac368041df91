//! The AWS target: observe by deterministic names and tags, a pure diff into a plan, confirm,
//! apply. It covers the infrastructure (security groups, IAM roles, Aurora, the registry on ECS),
//! the plugin bucket and ZIPs, the MSK Connect custom plugins and the connectors.

mod alarms;
pub mod clients;
mod connectors;
mod database;
mod ecs;
mod egress;
mod env;
#[cfg(test)]
mod fixture;
pub mod iam;
mod infra;
mod logs;
mod msk;
mod names;
mod network;
mod outputs;
mod ownership;
mod plugins;
mod registry;
mod schema;
mod sdk;
mod secrets;
mod slots;
mod task;
pub(crate) mod verify;
mod wait;
mod workers;

use std::collections::{BTreeMap, BTreeSet};

pub use env::Env;
pub use slots::Keep;

use crate::error::Error;
use crate::output::Printer;
use crate::plan::{Plan, gather};
use crate::plugins as packaging;
use crate::status::ConnectorStatus;

/// How a command comes by the plugin ZIPs it plans with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zips {
    /// Built (or reused) exactly as for the local stack: `plan` and `apply`.
    Build,
    /// Only those already built, or a refusal: `status` reads and builds nothing.
    AsBuilt,
}

/// The plugin ZIPs the connectors need.
fn plugin_zips(
    env: &Env<'_>,
    options: &packaging::Options,
    printer: &Printer,
    zips: Zips,
) -> Result<Vec<packaging::Built>, Error> {
    let names: BTreeSet<String> = env
        .connectors
        .iter()
        .filter_map(|c| c.plugin.clone())
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let definitions =
        packaging::load_all(&options.plugins_dir).map_err(packaging::PluginError::from)?;
    let names: Vec<String> = names.into_iter().collect();
    if zips == Zips::AsBuilt {
        let built = packaging::current_outputs(&definitions, &names, options);
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !built.iter().any(|b| &b.name == *n))
            .collect();
        if !missing.is_empty() {
            return Err(Error::user(format!(
                "plugin {} not built here from its current definition: status reads what is built and builds nothing",
                missing.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
            ))
            .with_hint("`deploy plugins build` (or `deploy aws plan`, which builds them) first"));
        }
        return Ok(built);
    }
    Ok(tokio::task::block_in_place(|| {
        packaging::build(&definitions, &names, options, printer)
    })?)
}

/// The MSK cluster's IAM bootstrap servers: given, or read from the cluster named by ARN
/// (`None` for a cluster this environment creates: `msk` reads them).
async fn bootstrap_servers(
    clients: &clients::Clients,
    settings: &crate::model::Aws,
) -> Result<Option<String>, Error> {
    if settings.msk.is_some() {
        return Ok(None);
    }
    let Some(arn) = &settings.msk_cluster_arn else {
        return Ok(Some(settings.bootstrap_servers.clone()));
    };
    msk::bootstrap(clients, arn).await.map(Some)
}

/// The program `apply` runs: the plan it shows, what the file wants, what AWS has, and the steps
/// that carry the plan out.
pub(crate) struct Planned {
    clients: clients::Clients,
    plan: Plan,
    wanted: Wanted,
    observed: Observed,
    steps: Steps,
}

/// What the file wants, as far as the observed infrastructure tells (`outputs`).
struct Wanted {
    plugins: Vec<plugins::Wanted>,
    connectors: Vec<connectors::Desired>,
    /// The worker configuration: name and content.
    worker: Option<(String, String)>,
    secrets: BTreeMap<String, String>,
    outputs: outputs::Outputs,
}

/// What AWS has.
struct Observed {
    plugins: plugins::Observed,
    connectors: BTreeMap<String, connectors::Live>,
    /// Worker configurations by name: their ARNs.
    workers: BTreeMap<String, String>,
    infra: infra::Observed,
}

/// Each resource kind's steps, in the order apply runs them.
struct Steps {
    logs: Vec<logs::Step>,
    alarm: Vec<alarms::Put>,
    secrets: Vec<secrets::Step>,
    infra: infra::Steps,
    plugins: Vec<plugins::Step>,
    workers: Vec<workers::Remove>,
    connectors: Vec<connectors::Step>,
    slots: Vec<slots::Step>,
}

async fn program(
    env: &Env<'_>,
    plugin_options: &packaging::Options,
    printer: &Printer,
    keep: slots::Keep,
    zips: Zips,
) -> Result<Planned, Error> {
    let built = plugin_zips(env, plugin_options, printer, zips)?;
    packaging::check_parity(&env.connectors, &built)?;
    let settings = env.aws;
    let clients = clients::clients(settings).await;
    let wanted = plugins::wanted(env, &built);
    let secrets = secrets::wanted(env)?;
    let bootstrap = bootstrap_servers(&clients, settings).await?;
    let (infra, outputs) = infra::observe(&clients, env, bootstrap).await?;
    let worker = workers::wanted(env, &outputs);
    let desired = connectors::desired(
        env,
        &wanted,
        worker.as_ref().map(|(name, _)| name.as_str()),
        &outputs,
    )?;
    let (observed, workers) = tokio::try_join!(
        plugins::observe(&clients, env, &wanted),
        workers::observe(&clients, env, worker.as_ref().map(|(n, _)| n.as_str()))
    )?;
    let worker_names: BTreeMap<String, String> = workers
        .iter()
        .map(|(n, arn)| (arn.clone(), n.clone()))
        .collect();
    let names: BTreeSet<String> = desired.iter().map(|d| d.name.clone()).collect();
    let live = connectors::observe(&clients, env, &names, &worker_names).await?;
    let arns: BTreeMap<String, String> = observed
        .custom_plugins
        .iter()
        .map(|(n, (arn, _))| (n.clone(), arn.clone()))
        .collect();
    let stored = if secrets.is_empty() {
        secrets::Stored::Absent
    } else {
        secrets::observe(&clients, env).await?
    };
    let (log_groups, alarm) =
        tokio::try_join!(logs::observe(&clients, env), alarms::observe(&clients, env))?;
    let (mut changes, steps) = infra::plan(env, &infra, &outputs);
    let plugin_steps = gather(&mut changes, plugins::plan(env, &wanted, &observed));
    let log_steps = gather(&mut changes, logs::plan(env, &log_groups));
    let alarm_steps = gather(&mut changes, alarms::plan(env, alarm.as_ref()));
    let secret_steps = gather(&mut changes, secrets::plan(env, &secrets, &stored));
    let worker_steps = gather(&mut changes, workers::plan(worker.as_ref(), &workers));
    let connector_steps = gather(&mut changes, connectors::plan(&desired, &live, &arns));
    let slot_steps = gather(
        &mut changes,
        slots::plan(
            env,
            &desired,
            &live,
            &outputs,
            infra.database.cluster.as_ref(),
            keep,
            None,
        ),
    );
    let plan = Plan {
        environment: env.name.clone(),
        changes,
    };
    Ok(Planned {
        clients,
        plan,
        wanted: Wanted {
            plugins: wanted,
            connectors: desired,
            worker,
            secrets,
            outputs,
        },
        observed: Observed {
            plugins: observed,
            connectors: live,
            workers,
            infra,
        },
        steps: Steps {
            logs: log_steps,
            alarm: alarm_steps,
            secrets: secret_steps,
            infra: steps,
            plugins: plugin_steps,
            workers: worker_steps,
            connectors: connector_steps,
            slots: slot_steps,
        },
    })
}

/// Observes and plans, with the plugin ZIPs built: the program `apply` carries out.
pub(crate) async fn plan(
    env: &Env<'_>,
    plugin_options: &packaging::Options,
    printer: &Printer,
    keep: slots::Keep,
) -> Result<Planned, Error> {
    program(env, plugin_options, printer, keep, Zips::Build).await
}

impl Planned {
    /// What the program changes, as `plan` shows it.
    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }
}

/// Carries out the program `plan` made; it decides nothing again, apart from the values only the
/// infrastructure it creates can give.
pub(crate) async fn apply(
    env: &Env<'_>,
    planned: &Planned,
    printer: &Printer,
) -> Result<(), Error> {
    let clients = &planned.clients;
    // Log groups, the alarm and secrets are quick and needed by what follows (the alarm watches
    // the database from its first minute); the infrastructure and the plugins are independent of
    // each other and run side by side; then the connectors move to the new plugins, and the old
    // plugins go.
    tokio::try_join!(
        logs::apply(clients, env, &planned.steps.logs),
        alarms::apply(clients, env, &planned.steps.alarm),
        secrets::apply(
            clients,
            env,
            &planned.wanted.secrets,
            &planned.steps.secrets
        )
    )?;
    let (outputs, arns) = tokio::try_join!(
        infra::apply(
            clients,
            env,
            &planned.observed.infra,
            &planned.steps.infra,
            planned.wanted.outputs.clone(),
            printer
        ),
        plugins::apply(
            clients,
            env,
            &planned.observed.plugins,
            &planned.steps.plugins,
            printer,
        )
    )?;
    // The worker configuration and the connectors as they are now known, with what the
    // infrastructure gave.
    let (worker, desired) = if outputs == planned.wanted.outputs {
        (
            planned.wanted.worker.clone(),
            planned.wanted.connectors.clone(),
        )
    } else {
        let worker = workers::wanted(env, &outputs);
        let desired = connectors::desired(
            env,
            &planned.wanted.plugins,
            worker.as_ref().map(|(name, _)| name.as_str()),
            &outputs,
        )?;
        (worker, desired)
    };
    // Everything the infrastructure gives is known by now; a gap would be a bug, not a value.
    if let Some(gap) = desired.iter().find(|d| {
        d.config
            .values()
            .chain(d.fixed.values())
            .any(|v| v.contains(outputs::UNKNOWN))
    }) {
        return Err(Error::Internal(format!(
            "connector {} still has values unknown after the infrastructure was applied",
            gap.name
        )));
    }
    if worker
        .as_ref()
        .is_some_and(|(_, content)| content.contains(outputs::UNKNOWN))
    {
        return Err(Error::Internal(
            "the worker configuration still has values unknown after the infrastructure was applied".into(),
        ));
    }
    let worker_arn = workers::apply(
        clients,
        env,
        worker.as_ref(),
        &planned.observed.workers,
        printer,
    )
    .await?;
    slots::record(clients, &planned.steps.slots).await?;
    let on = connectors::Dependencies {
        plugin_arns: &arns,
        worker_arn: worker_arn.as_deref(),
    };
    connectors::apply(
        clients,
        env,
        &desired,
        &planned.observed.connectors,
        &planned.steps.connectors,
        &on,
        printer,
    )
    .await?;
    // The connectors that went or moved have let go of their slots (or will, within the wait).
    slots::apply(clients, env, &planned.steps.slots, &outputs, printer).await?;
    plugins::remove_unused(clients, &planned.steps.plugins, printer).await?;
    workers::remove_unused(clients, &planned.steps.workers, printer).await?;
    Ok(())
}

/// What `destroy` removes first, observed before its question: the connectors (custom plugins
/// in use cannot be deleted), the worker configurations, and the sources' slots.
pub(crate) struct Teardown {
    clients: clients::Clients,
    workers: BTreeMap<String, String>,
    connectors: BTreeMap<String, connectors::Live>,
    slots: Option<SlotTeardown>,
}

/// The sources' slots: dropped after their connectors while the database tasks' security group
/// and role still stand, when the database stays (deletion protection); a database that destroy
/// deletes takes them with it.
struct SlotTeardown {
    plan: Plan,
    steps: Vec<slots::Step>,
    outputs: outputs::Outputs,
}

impl Teardown {
    /// The plan for the sources' slots, when any connector reads a database.
    pub(crate) fn slots(&self) -> Option<&Plan> {
        self.slots.as_ref().map(|s| &s.plan)
    }
}

pub(crate) async fn teardown(env: &Env<'_>, keep: slots::Keep) -> Result<Teardown, Error> {
    let settings = env.aws;
    let clients = clients::clients(settings).await;
    let workers = workers::observe(&clients, env, None).await?;
    let worker_names: BTreeMap<String, String> = workers
        .iter()
        .map(|(n, arn)| (arn.clone(), n.clone()))
        .collect();
    let live = connectors::observe(&clients, env, &BTreeSet::new(), &worker_names).await?;
    let slots = if live
        .iter()
        .any(|(name, l)| crate::slots::Source::of(name, &l.config).is_some())
    {
        let bootstrap = bootstrap_servers(&clients, settings).await?;
        let (infra, outputs) = infra::observe(&clients, env, bootstrap).await?;
        let deleted = infra
            .database
            .cluster
            .as_ref()
            .is_some_and(|c| c.ours && !c.deletion_protection)
            .then(|| names::db_cluster(env));
        let planned = slots::plan(
            env,
            &[],
            &live,
            &outputs,
            infra.database.cluster.as_ref(),
            keep,
            deleted.as_deref(),
        );
        let (changes, steps): (Vec<_>, Vec<_>) = planned.into_iter().unzip();
        Some(SlotTeardown {
            plan: Plan {
                environment: env.name.clone(),
                changes,
            },
            steps: steps.concat(),
            outputs,
        })
    } else {
        None
    };
    Ok(Teardown {
        clients,
        workers,
        connectors: live,
        slots,
    })
}

/// Removes everything the environment made, keeping its data unless `delete_data`.
pub(crate) async fn destroy(
    env: &Env<'_>,
    teardown: Teardown,
    delete_data: bool,
    printer: &Printer,
) -> Result<(), Error> {
    let clients = &teardown.clients;
    if let Some(slots) = &teardown.slots {
        slots::record(clients, &slots.steps).await?;
    }
    for (name, live) in &teardown.connectors {
        connectors::delete(clients, name, &live.arn).await?;
        printer.status(&format!("  - connector {name} deleted"));
    }
    if let Some(slots) = &teardown.slots {
        slots::apply(clients, env, &slots.steps, &slots.outputs, printer).await?;
    }
    for (name, arn) in &teardown.workers {
        workers::delete(clients, name, arn).await?;
        printer.status(&format!("  - worker configuration {name} deleted"));
    }
    if secrets::destroy(clients, env, delete_data).await? {
        printer.status(&format!(
            "  - secret {} deleted{}",
            names::connector_secret(env),
            if delete_data {
                ""
            } else {
                " (recoverable for 7 days)"
            }
        ));
    }
    plugins::destroy(clients, env, delete_data, printer).await?;
    infra::destroy(clients, env, delete_data, printer).await?;
    if delete_data {
        for name in logs::destroy(clients, env).await? {
            printer.status(&format!("  - log group {name} deleted"));
        }
    } else {
        for (name, _) in logs::wanted(env) {
            printer.status(&format!(
                "kept log group {name} (remove it with `destroy --delete-data`)"
            ));
        }
    }
    Ok(())
}

/// Every resource with its state, from the plugin ZIPs as built; with `read_slots`, the
/// replication slots as PostgreSQL reports them, read by a database task (a minute or so on
/// Fargate).
pub(crate) async fn status(
    env: &Env<'_>,
    plugin_options: &packaging::Options,
    printer: &Printer,
    read_slots: bool,
) -> Result<Plan, Error> {
    let planned = program(
        env,
        plugin_options,
        printer,
        slots::Keep::AsConnectorsSay,
        Zips::AsBuilt,
    )
    .await?;
    let mut plan = planned.plan;
    if read_slots && planned.wanted.outputs.database_host.is_some() {
        slots::read_into(
            &planned.clients,
            env,
            &planned.wanted.outputs,
            &mut plan.changes,
            printer,
        )
        .await?;
    }
    Ok(plan)
}

/// Each connector as MSK Connect has it, the file's first, then those it does not define.
/// MSK Connect reports no task states.
pub(crate) async fn connector_statuses(env: &Env<'_>) -> Result<Vec<ConnectorStatus>, Error> {
    let clients = clients::clients(env.aws).await;
    let defined: BTreeSet<String> = env
        .connectors
        .iter()
        .map(|c| names::connector(env, &c.name))
        .collect();
    let live = connectors::observe(&clients, env, &defined, &BTreeMap::new()).await?;
    let mut rows = Vec::new();
    for connector in &env.connectors {
        let name = names::connector(env, &connector.name);
        let have = live.get(&name);
        rows.push(ConnectorStatus {
            name: connector.name.clone(),
            state: have.map_or("ABSENT", |l| l.state.as_str()).to_string(),
            trace: have.and_then(|l| l.reason.clone()),
            connector: Some(name),
            defined: true,
            tasks: Vec::new(),
            trace_is_reason: true,
        });
    }
    for (name, have) in live.iter().filter(|(n, _)| !defined.contains(*n)) {
        rows.push(ConnectorStatus {
            name: name.clone(),
            connector: Some(name.clone()),
            defined: false,
            state: have.state.clone(),
            tasks: Vec::new(),
            trace: have.reason.clone(),
            trace_is_reason: true,
        });
    }
    Ok(rows)
}

/// RestartConnector on each connector (or the one named), waiting on its operation. Restarting
/// only the failed tasks needs Kafka Connect 3.7 or later.
pub(crate) async fn restart_connectors(
    env: &Env<'_>,
    printer: &Printer,
    name: Option<&str>,
    failed_only: bool,
) -> Result<(), Error> {
    if let Some(name) = name {
        env.connector(name).map_err(Error::user)?;
    }
    let clients = clients::clients(env.aws).await;
    let wanted: Vec<String> = env
        .connectors
        .iter()
        .filter(|c| name.is_none_or(|n| n == c.name))
        .map(|c| names::connector(env, &c.name))
        .collect();
    let live = connectors::observe(
        &clients,
        env,
        &wanted.iter().cloned().collect(),
        &BTreeMap::new(),
    )
    .await?;
    for connector in &wanted {
        let Some(have) = live.get(connector) else {
            return Err(Error::user(format!(
                "connector {connector} does not exist on MSK Connect"
            ))
            .with_hint("create it with `deploy aws apply`"));
        };
        let version = have
            .fixed
            .get("Kafka Connect version")
            .cloned()
            .unwrap_or_default();
        if failed_only && !at_least(&version, (3, 7)) {
            return Err(Error::user(format!(
                "--failed-only needs Kafka Connect 3.7 or later on MSK Connect; connector {connector} runs {version}"
            ))
            .with_hint("restart the whole connector (without --failed-only), or move it to kafka-connect-version: 3.7.x"));
        }
        connectors::operate(
            &clients,
            connector,
            &have.arn,
            connectors::Operation::Restart {
                only_failed: failed_only,
            },
        )
        .await?;
        printer.status(&format!(
            "  restarted {connector}{}",
            if failed_only { " (failed tasks)" } else { "" }
        ));
    }
    Ok(())
}

/// True when an MSK Connect version (`3.7.x`, `2.7.1`) is at least `major.minor`.
fn at_least(version: &str, wanted: (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    have >= wanted
}

/// MSK Connect has no offsets API (AWS's MSK Connect developer guide, "Manage connector
/// offsets"): a source's offsets carry over only through a custom `offset.storage.topic` in the
/// worker configuration, to a connector of the same name; a sink's are its consumer group
/// `connect-<connector>` on the cluster, which is private. Neither can be read or changed safely
/// from outside the VPC, so the command says so and what to do instead.
pub(crate) fn no_offsets_api(env: &Env<'_>) -> Error {
    Error::user(
        "MSK Connect has no offsets API: offsets cannot be shown, reset or set from here",
    )
    .with_hint(format!(
        "a source's offsets live in the worker configuration's offset.storage.topic and carry over to a connector of the same name; to start a source again from nothing, give it a new name (or a new topic) and apply. A sink's are its consumer group connect-<connector> (connect-{}-<name>) on the MSK cluster: reset it with the Kafka tools from inside the VPC while the connector is deleted or paused. A Debezium source can read tables again without a reset through its signals (an execute-snapshot row in its signal table)",
        env.name
    ))
}

/// A signal written into a source's signal table.
#[derive(Debug, Clone)]
pub(crate) struct Signalled {
    /// The signal's id, as the connector logs it.
    pub signal: String,
    /// `schema.table`, each read again.
    pub tables: Vec<String>,
}

/// An incremental `execute-snapshot` signal written into the source's signal table by a database
/// task (the database is private). The tool cannot read the private cluster's topics, so it
/// says where the snapshot's progress shows.
pub(crate) async fn snapshot(
    env: &Env<'_>,
    printer: &Printer,
    name: &str,
    tables: &[String],
) -> Result<Signalled, Error> {
    let connector = env.connector(name).map_err(Error::user)?;
    let msk_name = names::connector(env, name);
    let signal = schema::signals(env)
        .into_iter()
        .find(|s| s.connector == msk_name)
        .ok_or_else(|| {
            Error::user(format!(
                "connector {name} names no signal table in the environment's database"
            ))
            .with_hint("add `signal.data.collection: demo.debezium_signal` to its config: the schema load makes the table")
        })?;
    let tables: Vec<String> = crate::signals::snapshot_tables(connector, tables)?
        .into_iter()
        .map(|(s, t)| format!("{s}.{t}"))
        .collect();
    let db = env
        .aws
        .database
        .as_ref()
        .expect("a signal table is in the database");
    let clients = clients::clients(env.aws).await;
    let bootstrap = bootstrap_servers(&clients, env.aws).await?;
    let (_, outputs) = infra::observe(&clients, env, bootstrap).await?;
    if outputs.database_host.is_none() {
        return Err(Error::user(format!(
            "database {} not found: `deploy aws apply` creates it",
            names::db_cluster(env)
        )));
    }
    let id = format!(
        "deploy-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let script = task::Script {
        family: names::signal_task_family(env),
        container: "signals",
        what: "signal",
        image: &db.schema_image,
        database: &signal.source.database.dbname,
        sql: signal.snapshot_sql(&id, &tables),
        one_transaction: true,
    };
    let ended = task::run(&clients, env, &outputs, &script, printer).await?;
    if !ended.succeeded() {
        return Err(Error::user(format!(
            "the snapshot signal was not written ({})",
            ended.describe()
        )));
    }
    printer.status(&format!(
        "  signal {id} sent through {}: incremental snapshot of {}",
        signal.name(),
        tables.join(", ")
    ));
    printer.status(&format!(
        "  {msk_name} reads the tables again while it streams; the cluster's topics are private, so its progress shows in its worker logs{}",
        env.aws
            .log_group
            .as_ref()
            .map_or(String::new(), |g| format!(" ({g})"))
    ));
    Ok(Signalled { signal: id, tables })
}
