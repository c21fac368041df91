//! `deploy local …`: each subcommand with what it shows. The local target plans, applies and
//! reads; the tables and reports are here.

use std::time::Duration;

use serde_json::json;

use super::{connectors, plan_code, plan_outcome, verify};
use crate::cli::{ConnectorsCommand, LocalCommand, LogsArgs, OffsetsAction};
use crate::config;
use crate::error::{Error, exit};
use crate::local;
use crate::model::Environment;
use crate::output::{Outcome, Printer, Report, Style};
use crate::plugins;

pub(super) async fn run(
    command: &LocalCommand,
    env: &Environment,
    plugin_options: &plugins::Options,
    printer: &Printer,
) -> Result<Outcome, Error> {
    match command {
        LocalCommand::Up { keep_slots } => up(env, plugin_options, printer, *keep_slots).await,
        LocalCommand::Down { volumes } => {
            let removed = local::down(env, printer, *volumes).await?;
            printer.status(&format!("environment `{}` is down", env.name));
            Ok(Outcome::with(
                exit::SUCCESS,
                Report::json_only(json!({
                    "environment": env.name,
                    "removed_containers": removed,
                    "volumes_removed": volumes,
                })),
            ))
        }
        LocalCommand::Status => status(env, printer).await,
        LocalCommand::Logs(args) => logs(env, printer, args).await,
        LocalCommand::Plan { detailed_exitcode } => {
            let plan = local::plan(env, plugin_options, printer).await?;
            Ok(plan_outcome(&plan, *detailed_exitcode))
        }
        LocalCommand::Verify { timeout } => {
            let report = local::verify::run(env, Duration::from_secs(*timeout)).await?;
            Ok(verify::outcome(&report, printer))
        }
        LocalCommand::Connectors(command) => connectors(command, env, printer).await,
    }
}

async fn up(
    env: &Environment,
    plugin_options: &plugins::Options,
    printer: &Printer,
    keep_slots: bool,
) -> Result<Outcome, Error> {
    let up = local::up(env, plugin_options, printer, keep_slots).await?;
    let width = up.endpoints.keys().map(String::len).max().unwrap_or(0);
    let mut text = String::new();
    for (service, addresses) in up.endpoints.iter().filter(|(_, a)| !a.is_empty()) {
        text.push_str(&format!("{service:<width$}  {}\n", addresses.join(", ")));
    }
    let json = json!({
        "environment": env.name,
        "changed": !up.plan.is_empty(),
        "plan": up.plan,
        "endpoints": up.endpoints,
    });
    Ok(Outcome::with(exit::SUCCESS, Report::new(text, json)))
}

/// Each service's state and readiness, and the plugins mounted in Connect.
async fn status(env: &Environment, printer: &Printer) -> Result<Outcome, Error> {
    let rows = local::status(env).await?;
    let mut table = vec![
        ["SERVICE", "STATE", "READY", "ADDRESSES", "IMAGE"]
            .map(String::from)
            .to_vec(),
    ];
    for row in &rows {
        table.push(vec![
            row.name.clone(),
            row.state.clone(),
            row.readiness.clone(),
            row.addresses.join(","),
            row.image.clone(),
        ]);
    }
    let mut text = crate::output::table(&table);
    for row in rows.iter().filter(|r| !r.plugins.is_empty()) {
        text.push_str(&format!("\nplugins mounted in {}:\n", row.name));
        for (plugin, digest) in &row.plugins {
            text.push_str(&format!("  {plugin}  {digest}\n"));
        }
    }
    if rows.iter().any(|r| !r.ready) {
        printer.status(&printer.paint(
            Style::Warn,
            "not every service is ready; `deploy local up` converges",
        ));
    }
    Ok(Outcome::with(
        exit::SUCCESS,
        Report::new(text, json!({ "environment": env.name, "services": rows })),
    ))
}

/// The services' logs as they come, each line with its service's name when there are several.
async fn logs(env: &Environment, printer: &Printer, args: &LogsArgs) -> Result<Outcome, Error> {
    let names: Vec<&str> = match args.service.as_deref() {
        Some(name) => {
            if env.service(name).is_none() {
                let names: Vec<&str> = env.services.iter().map(|s| s.name.as_str()).collect();
                return Err(Error::user(format!(
                    "environment `{}` has no service `{name}`",
                    env.name
                ))
                .with_hint(format!("services: {}", names.join(", "))));
            }
            vec![name]
        }
        None => env.services.iter().map(|s| s.name.as_str()).collect(),
    };
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let prefix = names.len() > 1;
    local::logs(env, &names, args.follow, args.tail, |name, text| {
        if prefix {
            let mut out = String::new();
            for line in text.lines() {
                out.push_str(&format!("{name:<width$} | {line}\n"));
            }
            printer.data(&out);
        } else {
            printer.data(text);
        }
    })
    .await?;
    Ok(Outcome::code(exit::SUCCESS))
}

async fn connectors(
    command: &ConnectorsCommand,
    env: &Environment,
    printer: &Printer,
) -> Result<Outcome, Error> {
    match command {
        ConnectorsCommand::Plan {
            prune,
            keep_slots,
            detailed_exitcode,
        } => {
            let options = local::connectors::Options {
                prune: *prune,
                keep_slots: *keep_slots,
            };
            let planned = local::connectors::plan(env, printer, options).await?;
            let plan = planned.plan();
            Ok(Outcome::with(
                plan_code(plan, *detailed_exitcode),
                Report::new(
                    plan.render_text(true),
                    json!({"plan": plan, "skipped": env.skipped_connectors}),
                ),
            ))
        }
        ConnectorsCommand::Apply { prune, keep_slots } => {
            let options = local::connectors::Options {
                prune: *prune,
                keep_slots: *keep_slots,
            };
            let planned = local::connectors::plan(env, printer, options).await?;
            let plan = planned.plan();
            if plan.is_empty() {
                printer.status("connectors: nothing to change");
            } else {
                printer.status(plan.render_text(false).trim_end());
                local::connectors::apply(env, &planned, printer).await?;
            }
            Ok(Outcome::code(exit::SUCCESS))
        }
        ConnectorsCommand::Status => {
            let status = local::connectors::status(env, printer).await?;
            let (slots, slot_text) = slots(&status.slots);
            Ok(Outcome::with(
                exit::SUCCESS,
                Report::new(
                    format!("{}{slot_text}", connectors::table(&status.connectors)),
                    json!({"connectors": status.connectors, "slots": slots, "skipped": env.skipped_connectors}),
                ),
            ))
        }
        ConnectorsCommand::Restart { name, failed_only } => {
            local::connectors::restart(env, printer, name.as_deref(), *failed_only).await?;
            Ok(Outcome::code(exit::SUCCESS))
        }
        ConnectorsCommand::Snapshot {
            name,
            tables,
            timeout,
        } => {
            let done = local::snapshot::snapshot(
                env,
                printer,
                name,
                tables,
                Duration::from_secs(*timeout),
            )
            .await?;
            Ok(Outcome::with(
                exit::SUCCESS,
                Report::json_only(json!({
                    "connector": name,
                    "signal": done.signal,
                    "tables": done.tables,
                    "seconds": done.seconds,
                })),
            ))
        }
        ConnectorsCommand::Offsets(args) => match (&args.action, &args.name) {
            (Some(OffsetsAction::Reset { name, yes }), _) => {
                let change = local::offsets::Change::Reset;
                change_offsets(env, printer, name, change, *yes).await
            }
            (Some(OffsetsAction::Set { name, file, yes }), _) => {
                let offsets = offsets_file(file)?;
                let change = local::offsets::Change::Set(offsets);
                change_offsets(env, printer, name, change, *yes).await
            }
            (None, Some(name)) => offsets(env, name).await,
            (None, None) => Err(Error::user("name the connector: `connectors offsets NAME`")),
        },
    }
}

/// The slots' table (after the connectors') and their JSON: a source's slot as its database
/// reports it (whether something streams from it, the WAL it holds back, its `wal_status`, how
/// far its consumer is behind), or why it could not be read.
fn slots(slots: &[local::connectors::SlotStatus]) -> (Vec<serde_json::Value>, String) {
    if slots.is_empty() {
        return (Vec::new(), String::new());
    }
    let bytes = |b: Option<i64>| b.map_or("-".to_string(), crate::slots::size);
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
    for status in slots {
        let (row, line) = match &status.read {
            Ok(Some(slot)) => (
                json!({"slot": status.slot, "database": status.database, "connector": status.connector,
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
                json!({"slot": status.slot, "database": status.database, "connector": status.connector, "state": "missing"}),
                ["missing".into(), "-".into(), "-".into(), "-".into()],
            ),
            Err(e) => (
                json!({"slot": status.slot, "database": status.database, "connector": status.connector, "state": "unknown", "error": e}),
                [format!("not read: {e}"), "-".into(), "-".into(), "-".into()],
            ),
        };
        rows.push(row);
        let mut cells = vec![
            status.slot.clone(),
            status.database.clone(),
            status
                .connector
                .clone()
                .unwrap_or_else(|| "- (none)".into()),
        ];
        cells.extend(line);
        table.push(cells);
    }
    (rows, format!("\n{}", crate::output::table(&table)))
}

/// `connectors offsets NAME`: the offsets, each with what it means.
async fn offsets(env: &Environment, name: &str) -> Result<Outcome, Error> {
    let offsets = local::offsets::show(env, name).await?;
    let text = if offsets.is_empty() {
        format!(
            "{name} has no offsets: a source starts as its snapshot.mode says, a sink from its consumer's auto.offset.reset\n"
        )
    } else {
        let mut rows = vec![vec![
            "PARTITION".to_string(),
            "OFFSET".to_string(),
            "MEANING".to_string(),
        ]];
        for offset in &offsets {
            rows.push(vec![
                offset.entry["partition"].to_string(),
                offset.entry["offset"].to_string(),
                offset.meaning.clone(),
            ]);
        }
        crate::output::table(&rows)
    };
    let entries: Vec<&serde_json::Value> = offsets.iter().map(|o| &o.entry).collect();
    let meanings: Vec<&str> = offsets.iter().map(|o| o.meaning.as_str()).collect();
    Ok(Outcome::with(
        exit::SUCCESS,
        Report::new(
            text,
            json!({"connector": name, "offsets": entries, "meaning": meanings}),
        ),
    ))
}

/// `connectors offsets reset|set NAME`: checked, asked, then carried out.
async fn change_offsets(
    env: &Environment,
    printer: &Printer,
    name: &str,
    change: local::offsets::Change,
    yes: bool,
) -> Result<Outcome, Error> {
    let prepared = local::offsets::prepare(env, name, change).await?;
    crate::output::confirm(
        &prepared.question(),
        yes,
        "pass --yes to change the offsets without a question",
    )?;
    local::offsets::change(env, prepared, printer).await?;
    Ok(Outcome::code(exit::SUCCESS))
}

/// The offsets a user wrote for `offsets set`: `{"offsets": [...]}`, bounded and checked before
/// anything stops.
fn offsets_file(path: &std::path::Path) -> Result<serde_json::Value, Error> {
    let place = path.display();
    let text = config::read_text(path)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::user(format!(
            "{place}:{}:{}: not JSON: {e}",
            e.line(),
            e.column()
        ))
    })?;
    if !value["offsets"].is_array() {
        return Err(Error::user(format!(
            "{place}: expected {{\"offsets\": [{{\"partition\": …, \"offset\": …}}]}}"
        ))
        .with_hint("start from `deploy local connectors offsets NAME --output json`"));
    }
    Ok(value)
}
