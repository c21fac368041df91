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
pub mod verify;
mod wait;
mod workers;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::error::{Error, exit};
pub use env::Env;
pub use slots::Keep;

use crate::output::{Outcome, Printer, Report};
use crate::plan::{Plan, gather};
use crate::plugins as packaging;

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
struct Planned {
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

async fn plan(
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

pub async fn plan_command(
    env: &Env<'_>,
    plugin_options: &packaging::Options,
    printer: &Printer,
    detailed_exitcode: bool,
    keep: slots::Keep,
) -> Result<Outcome, Error> {
    let plan = plan(env, plugin_options, printer, keep, Zips::Build)
        .await?
        .plan;
    let code = if detailed_exitcode && !plan.is_empty() {
        exit::CHANGES
    } else {
        exit::SUCCESS
    };
    Ok(Outcome::with(code, plan.report()))
}

/// Asks on the terminal; without one, refuses unless `--auto-approve`.
fn confirm(question: &str, auto_approve: bool) -> Result<(), Error> {
    crate::output::confirm(
        question,
        auto_approve,
        "review `deploy aws plan`, then pass --auto-approve",
    )
}

pub async fn apply(
    env: &Env<'_>,
    plugin_options: &packaging::Options,
    printer: &Printer,
    auto_approve: bool,
    keep: slots::Keep,
) -> Result<Outcome, Error> {
    let planned = plan(env, plugin_options, printer, keep, Zips::Build).await?;
    let plan = &planned.plan;
    if plan.is_empty() {
        printer.status(&format!("environment `{}` is up to date", env.name));
        return Ok(Outcome::with(
            exit::SUCCESS,
            Report::json_only(json!({"environment": env.name, "changed": false, "plan": plan})),
        ));
    }
    printer.status(plan.render_text(false).trim_end());
    confirm("Apply these changes?", auto_approve)?;
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
    printer.status(&format!("environment `{}` applied", env.name));
    Ok(Outcome::with(
        exit::SUCCESS,
        Report::json_only(json!({"environment": env.name, "changed": true, "plan": plan})),
    ))
}

pub async fn destroy(
    env: &Env<'_>,
    printer: &Printer,
    auto_approve: bool,
    delete_data: bool,
    keep: slots::Keep,
) -> Result<Outcome, Error> {
    let settings = env.aws;
    let question = if delete_data {
        format!(
            "Destroy environment `{}` AND delete its data (bucket {})?",
            env.name, settings.plugin_bucket
        )
    } else {
        format!("Destroy environment `{}` (data kept)?", env.name)
    };
    let clients = clients::clients(settings).await;
    // Connectors first: custom plugins in use cannot be deleted.
    let workers = workers::observe(&clients, env, None).await?;
    let worker_names: BTreeMap<String, String> = workers
        .iter()
        .map(|(n, arn)| (arn.clone(), n.clone()))
        .collect();
    let live = connectors::observe(&clients, env, &BTreeSet::new(), &worker_names).await?;
    // The sources' slots, shown before the question: dropped after their connectors while the
    // database tasks' security group and role still stand, when the database stays (deletion
    // protection); a database that destroy deletes takes them with it.
    let slot_plan = if live
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
        printer.status(
            Plan {
                environment: env.name.clone(),
                changes,
            }
            .render_text(true)
            .trim_end(),
        );
        Some((steps.concat(), outputs))
    } else {
        None
    };
    confirm(&question, auto_approve)?;
    if let Some((steps, _)) = &slot_plan {
        slots::record(&clients, steps).await?;
    }
    for (name, live) in &live {
        connectors::delete(&clients, name, &live.arn).await?;
        printer.status(&format!("  - connector {name} deleted"));
    }
    if let Some((steps, outputs)) = slot_plan {
        slots::apply(&clients, env, &steps, &outputs, printer).await?;
    }
    for (name, arn) in &workers {
        workers::delete(&clients, name, arn).await?;
        printer.status(&format!("  - worker configuration {name} deleted"));
    }
    if secrets::destroy(&clients, env, delete_data).await? {
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
    plugins::destroy(&clients, env, delete_data, printer).await?;
    infra::destroy(&clients, env, delete_data, printer).await?;
    if delete_data {
        for name in logs::destroy(&clients, env).await? {
            printer.status(&format!("  - log group {name} deleted"));
        }
    } else {
        for (name, _) in logs::wanted(env) {
            printer.status(&format!(
                "kept log group {name} (remove it with `destroy --delete-data`)"
            ));
        }
    }
    printer.status(&format!("environment `{}` destroyed", env.name));
    Ok(Outcome::code(exit::SUCCESS))
}

/// Every resource with its state; with `read_slots`, the replication slots as PostgreSQL reports
/// them, read by a database task (a minute or so on Fargate).
pub async fn status(
    env: &Env<'_>,
    plugin_options: &packaging::Options,
    printer: &Printer,
    read_slots: bool,
) -> Result<Outcome, Error> {
    let planned = plan(
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
    Ok(Outcome::with(
        exit::SUCCESS,
        Report::new(
            plan.render_text(true),
            json!({"environment": env.name, "resources": plan.changes}),
        ),
    ))
}

/// `aws connectors status`: each connector as MSK Connect has it, in the local report's shape
/// (MSK Connect reports no task states, so `tasks` is empty).
pub async fn connectors_status(env: &Env<'_>) -> Result<Outcome, Error> {
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
        rows.push(json!({
            "name": connector.name,
            "connector": name,
            "defined": true,
            "state": have.map_or("ABSENT", |l| l.state.as_str()),
            "tasks": [],
            "trace": have.and_then(|l| l.reason.clone()),
        }));
    }
    for (name, have) in live.iter().filter(|(n, _)| !defined.contains(*n)) {
        rows.push(json!({
            "name": name,
            "connector": name,
            "defined": false,
            "state": have.state,
            "tasks": [],
            "trace": have.reason,
        }));
    }
    let mut table = vec![
        ["CONNECTOR", "STATE", "TASKS", "DEFINED"]
            .map(String::from)
            .to_vec(),
    ];
    for row in &rows {
        let text = |key: &str| row[key].as_str().unwrap_or_default().to_string();
        let mut state = text("state");
        if let Some(reason) = row["trace"].as_str() {
            state.push_str(&format!(" ({reason})"));
        }
        table.push(vec![
            text("connector"),
            state,
            "-".into(),
            if row["defined"] == true { "yes" } else { "no" }.into(),
        ]);
    }
    Ok(Outcome::with(
        exit::SUCCESS,
        Report::new(
            crate::output::table(&table),
            json!({"connectors": rows, "skipped": env.skipped_connectors}),
        ),
    ))
}

/// `aws connectors restart [NAME] [--failed-only]`: RestartConnector on each (or the one named),
/// waiting on its operation. Restarting only the failed tasks needs Kafka Connect 3.7 or later.
pub async fn connectors_restart(
    env: &Env<'_>,
    printer: &Printer,
    name: Option<&str>,
    failed_only: bool,
) -> Result<Outcome, Error> {
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
    Ok(Outcome::code(exit::SUCCESS))
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
pub fn no_offsets_api(env: &Env<'_>) -> Error {
    Error::user(
        "MSK Connect has no offsets API: offsets cannot be shown, reset or set from here",
    )
    .with_hint(format!(
        "a source's offsets live in the worker configuration's offset.storage.topic and carry over to a connector of the same name; to start a source again from nothing, give it a new name (or a new topic) and apply. A sink's are its consumer group connect-<connector> (connect-{}-<name>) on the MSK cluster: reset it with the Kafka tools from inside the VPC while the connector is deleted or paused. A Debezium source can read tables again without a reset through its signals (an execute-snapshot row in its signal table)",
        env.name
    ))
}

/// `aws connectors snapshot NAME [--table T …]`: an incremental `execute-snapshot` signal written
/// into the source's signal table by a database task (the database is private). The tool cannot
/// read the private cluster's topics, so it says where the snapshot's progress shows.
pub async fn connectors_snapshot(
    env: &Env<'_>,
    printer: &Printer,
    name: &str,
    tables: &[String],
) -> Result<Outcome, Error> {
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
    Ok(Outcome::with(
        exit::SUCCESS,
        Report::json_only(json!({"connector": name, "signal": id, "tables": tables})),
    ))
}
