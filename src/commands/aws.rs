//! `deploy aws …`: each subcommand with what it shows. The AWS target plans, applies and reads;
//! the questions and the reports are here.

use serde_json::json;

use super::{connectors, verify};
use crate::aws::{self, Env, Keep};
use crate::cli::{AwsCommand, AwsConnectorsCommand};
use crate::error::{Error, exit};
use crate::output::{Outcome, Printer, Report};
use crate::plugins;

pub(super) async fn run(
    command: &AwsCommand,
    env: &Env<'_>,
    plugin_options: &plugins::Options,
    printer: &Printer,
) -> Result<Outcome, Error> {
    match command {
        AwsCommand::Plan {
            detailed_exitcode,
            keep_slots,
        } => {
            let planned =
                aws::plan(env, plugin_options, printer, Keep::from_flag(*keep_slots)).await?;
            Ok(super::plan_outcome(planned.plan(), *detailed_exitcode))
        }
        AwsCommand::Apply {
            auto_approve,
            keep_slots,
        } => {
            let planned =
                aws::plan(env, plugin_options, printer, Keep::from_flag(*keep_slots)).await?;
            let plan = planned.plan();
            if plan.is_empty() {
                printer.status(&format!("environment `{}` is up to date", env.name));
            } else {
                printer.status(plan.render_text(false).trim_end());
                confirm("Apply these changes?", *auto_approve)?;
                aws::apply(env, &planned, printer).await?;
                printer.status(&format!("environment `{}` applied", env.name));
            }
            Ok(Outcome::with(
                exit::SUCCESS,
                Report::json_only(
                    json!({"environment": env.name, "changed": !plan.is_empty(), "plan": plan}),
                ),
            ))
        }
        AwsCommand::Destroy {
            auto_approve,
            delete_data,
            keep_slots,
        } => {
            let question = if *delete_data {
                format!(
                    "Destroy environment `{}` AND delete its data (bucket {})?",
                    env.name, env.aws.plugin_bucket
                )
            } else {
                format!("Destroy environment `{}` (data kept)?", env.name)
            };
            let teardown = aws::teardown(env, Keep::from_flag(*keep_slots)).await?;
            if let Some(slots) = teardown.slots() {
                printer.status(slots.render_text(true).trim_end());
            }
            confirm(&question, *auto_approve)?;
            aws::destroy(env, teardown, *delete_data, printer).await?;
            printer.status(&format!("environment `{}` destroyed", env.name));
            Ok(Outcome::code(exit::SUCCESS))
        }
        AwsCommand::Status { slots } => {
            let plan = aws::status(env, plugin_options, printer, *slots).await?;
            Ok(Outcome::with(
                exit::SUCCESS,
                Report::new(
                    plan.render_text(true),
                    json!({"environment": env.name, "resources": plan.changes}),
                ),
            ))
        }
        AwsCommand::Verify => {
            let report = aws::verify::run(env, printer).await?;
            Ok(verify::outcome(&report, printer))
        }
        AwsCommand::Connectors(AwsConnectorsCommand::Status) => {
            let rows = aws::connector_statuses(env).await?;
            Ok(Outcome::with(
                exit::SUCCESS,
                Report::new(
                    connectors::table(&rows),
                    json!({"connectors": rows, "skipped": env.skipped_connectors}),
                ),
            ))
        }
        AwsCommand::Connectors(AwsConnectorsCommand::Restart { name, failed_only }) => {
            aws::restart_connectors(env, printer, name.as_deref(), *failed_only).await?;
            Ok(Outcome::code(exit::SUCCESS))
        }
        AwsCommand::Connectors(AwsConnectorsCommand::Snapshot { name, tables }) => {
            let signalled = aws::snapshot(env, printer, name, tables).await?;
            Ok(Outcome::with(
                exit::SUCCESS,
                Report::json_only(
                    json!({"connector": name, "signal": signalled.signal, "tables": signalled.tables}),
                ),
            ))
        }
        AwsCommand::Connectors(AwsConnectorsCommand::Offsets(_)) => Err(aws::no_offsets_api(env)),
    }
}

/// Asks on the terminal; without one, refuses unless `--auto-approve`.
fn confirm(question: &str, auto_approve: bool) -> Result<(), Error> {
    crate::output::confirm(
        question,
        auto_approve,
        "review `deploy aws plan`, then pass --auto-approve",
    )
}
