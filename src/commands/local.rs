//! `deploy local …`: each subcommand as the local target carries it out.

use std::time::Duration;

use crate::cli::{ConnectorsCommand, LocalCommand, OffsetsAction};
use crate::config;
use crate::error::Error;
use crate::local;
use crate::model::Environment;
use crate::output::{Outcome, Printer};
use crate::plugins;

pub(super) async fn run(
    command: &LocalCommand,
    env: &Environment,
    plugin_options: &plugins::Options,
    printer: &Printer,
) -> Result<Outcome, Error> {
    match command {
        LocalCommand::Up { keep_slots } => {
            local::up(env, plugin_options, printer, *keep_slots).await
        }
        LocalCommand::Down { volumes } => local::down(env, printer, *volumes).await,
        LocalCommand::Status => local::status(env, printer).await,
        LocalCommand::Logs(args) => {
            local::logs(
                env,
                printer,
                args.service.as_deref(),
                args.follow,
                args.tail,
            )
            .await
        }
        LocalCommand::Plan { detailed_exitcode } => {
            local::plan_command(env, plugin_options, printer, *detailed_exitcode).await
        }
        LocalCommand::Verify { timeout } => {
            local::verify::verify_command(env, printer, Duration::from_secs(*timeout)).await
        }
        LocalCommand::Connectors(command) => match command {
            ConnectorsCommand::Plan {
                prune,
                keep_slots,
                detailed_exitcode,
            } => {
                let options = local::connectors::Options {
                    prune: *prune,
                    keep_slots: *keep_slots,
                };
                local::connectors::plan_command(env, printer, options, *detailed_exitcode).await
            }
            ConnectorsCommand::Apply { prune, keep_slots } => {
                let options = local::connectors::Options {
                    prune: *prune,
                    keep_slots: *keep_slots,
                };
                local::connectors::apply_command(env, printer, options).await
            }
            ConnectorsCommand::Status => local::connectors::status_command(env, printer).await,
            ConnectorsCommand::Restart { name, failed_only } => {
                local::connectors::restart_command(env, printer, name.as_deref(), *failed_only)
                    .await
            }
            ConnectorsCommand::Snapshot {
                name,
                tables,
                timeout,
            } => {
                local::snapshot::snapshot(env, printer, name, tables, Duration::from_secs(*timeout))
                    .await
            }
            ConnectorsCommand::Offsets(args) => match (&args.action, &args.name) {
                (Some(OffsetsAction::Reset { name, yes }), _) => {
                    let change = local::offsets::Change::Reset;
                    local::offsets::change(env, printer, name, change, *yes).await
                }
                (Some(OffsetsAction::Set { name, file, yes }), _) => {
                    let offsets = offsets_file(file)?;
                    let change = local::offsets::Change::Set(offsets);
                    local::offsets::change(env, printer, name, change, *yes).await
                }
                (None, Some(name)) => local::offsets::show(env, name).await,
                (None, None) => Err(Error::user("name the connector: `connectors offsets NAME`")),
            },
        },
    }
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
