//! `deploy aws …`: each subcommand as the AWS target carries it out.

use crate::aws::{self, Env, Keep};
use crate::cli::{AwsCommand, AwsConnectorsCommand};
use crate::error::Error;
use crate::output::{Outcome, Printer};
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
            aws::plan_command(
                env,
                plugin_options,
                printer,
                *detailed_exitcode,
                Keep::from_flag(*keep_slots),
            )
            .await
        }
        AwsCommand::Apply {
            auto_approve,
            keep_slots,
        } => {
            aws::apply(
                env,
                plugin_options,
                printer,
                *auto_approve,
                Keep::from_flag(*keep_slots),
            )
            .await
        }
        AwsCommand::Destroy {
            auto_approve,
            delete_data,
            keep_slots,
        } => {
            aws::destroy(
                env,
                printer,
                *auto_approve,
                *delete_data,
                Keep::from_flag(*keep_slots),
            )
            .await
        }
        AwsCommand::Status { slots } => aws::status(env, plugin_options, printer, *slots).await,
        AwsCommand::Verify => aws::verify::verify_command(env, printer).await,
        AwsCommand::Connectors(AwsConnectorsCommand::Status) => aws::connectors_status(env).await,
        AwsCommand::Connectors(AwsConnectorsCommand::Restart { name, failed_only }) => {
            aws::connectors_restart(env, printer, name.as_deref(), *failed_only).await
        }
        AwsCommand::Connectors(AwsConnectorsCommand::Snapshot { name, tables }) => {
            aws::connectors_snapshot(env, printer, name, tables).await
        }
        AwsCommand::Connectors(AwsConnectorsCommand::Offsets(_)) => Err(aws::no_offsets_api(env)),
    }
}
