//! One-shot tasks against the environment's database, which is private: an ECS task in the
//! private subnets runs `psql` in the database image the file names, with the master
//! credentials from the database's secret by reference (ECS reads them when the task starts).
//! Its result is its exit code; what psql printed is read back from CloudWatch Logs, where the
//! container's log driver sends it. The schema load and the replication slot drops run this way.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, LaunchType, NetworkConfiguration};

use super::Env;
use super::clients::Clients;
use super::names;
use super::outputs::Outputs;
use super::sdk::{self, Call};
use super::wait::{Poll, Progress, until};
use crate::error::Error;
use crate::output::Printer;

/// Pulling the image and running the SQL; a task that takes longer is stuck.
const DEADLINE: Duration = Duration::from_secs(20 * 60);

/// A script for `psql` and how it runs.
pub(super) struct Script<'a> {
    /// The task definition family, also the container's name.
    pub family: String,
    pub container: &'static str,
    /// What the task does, for what is said ("the schema load").
    pub what: &'a str,
    pub image: &'a str,
    pub database: &'a str,
    pub sql: String,
    /// All of it or nothing (`--single-transaction`).
    pub one_transaction: bool,
}

/// The command the container runs: the script from its environment, through `psql`, stopping
/// at the first error.
pub(super) fn command(one_transaction: bool) -> [String; 3] {
    [
        "sh".into(),
        "-c".into(),
        format!(
            "printf '%s' \"$DEPLOY_SQL\" | psql -v ON_ERROR_STOP=1 --no-psqlrc{}",
            if one_transaction {
                " --single-transaction"
            } else {
                ""
            }
        ),
    ]
}

/// How a task ended: its container's exit code, why ECS stopped it, and what it printed.
#[derive(Debug)]
pub(super) struct Ended {
    pub code: Option<i32>,
    pub reason: String,
    pub output: Vec<String>,
}

impl Ended {
    pub(super) fn succeeded(&self) -> bool {
        self.code == Some(0)
    }

    /// `exit code 3, Essential container in task exited`, and the output's last lines.
    pub(super) fn describe(&self) -> String {
        let mut text = format!(
            "exit code {}",
            self.code.map_or("none".into(), |c| c.to_string())
        );
        if !self.reason.is_empty() {
            text.push_str(&format!(", {}", self.reason));
        }
        let tail: Vec<&str> = self
            .output
            .iter()
            .rev()
            .take(10)
            .rev()
            .map(String::as_str)
            .collect();
        if !tail.is_empty() {
            text.push_str(&format!("; it printed:\n    {}", tail.join("\n    ")));
        }
        text
    }
}

/// Registers the script's task definition, runs it once and waits until it stops. `outputs`
/// give the database, the task execution role and the tasks' security group.
pub(super) async fn run(
    clients: &Clients,
    env: &Env<'_>,
    outputs: &Outputs,
    script: &Script<'_>,
    printer: &Printer,
) -> Result<Ended, Error> {
    let (Some(role), Some(host)) = (&outputs.task_role, &outputs.database_host) else {
        return Err(Error::Internal(format!(
            "{} needs the database and the task execution role, which are not there",
            script.what
        )));
    };
    let secret = outputs.database_secret.clone().unwrap_or_default();
    let environment = BTreeMap::from([
        ("PGHOST".to_string(), host.clone()),
        (
            "PGPORT".to_string(),
            outputs.database_port.unwrap_or(5432).to_string(),
        ),
        ("PGDATABASE".to_string(), script.database.to_string()),
        ("PGSSLMODE".to_string(), "require".to_string()),
        ("DEPLOY_SQL".to_string(), script.sql.clone()),
    ]);
    let secrets = BTreeMap::from([
        ("PGUSER".to_string(), format!("{secret}:username::")),
        ("PGPASSWORD".to_string(), format!("{secret}:password::")),
    ]);
    let log_group = names::database_task_log_group(env);
    let mut container = super::ecs::container_base(
        script.container,
        script.image,
        &environment,
        &secrets,
        log_group.clone(),
        &env.aws.region,
    )?
    // The whole task's size, said for the container too (some schedulers need it there).
    .cpu(256)
    .memory(512);
    for part in command(script.one_transaction) {
        container = container.command(part);
    }
    let definition = super::ecs::register(
        super::ecs::fargate_task(
            clients,
            env,
            &script.family,
            &format!("{}-task-definition", script.container),
        )
        .cpu("256")
        .memory("512")
        .execution_role_arn(role)
        .container_definitions(container.build()),
    )
    .await?;
    let run = clients
        .ecs
        .run_task()
        .cluster(names::ecs_cluster(env))
        .task_definition(&definition)
        .launch_type(LaunchType::Fargate)
        .count(1)
        .started_by("deploy")
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(
                    AwsVpcConfiguration::builder()
                        .set_subnets(Some(env.aws.subnets.clone()))
                        .set_security_groups(outputs.task_group.clone().map(|g| vec![g]))
                        .assign_public_ip(AssignPublicIp::Disabled)
                        .build()
                        .map_err(|e| Error::Internal(e.to_string()))?,
                )
                .build(),
        )
        .send()
        .await
        .or_fail("ECS RunTask")?;
    if let Some(failure) = run.failures().first() {
        return Err(Error::user(format!(
            "{} did not start: {}",
            script.what,
            failure.reason().unwrap_or("no reason given")
        )));
    }
    let task = run
        .tasks()
        .first()
        .and_then(|t| t.task_arn())
        .unwrap_or_default()
        .to_string();
    printer.status(&format!("  > {} {task} started", script.what));
    let progress = Progress::new(printer, script.what);
    let (code, reason) = until(script.what, DEADLINE, || async {
        let found = clients
            .ecs
            .describe_tasks()
            .cluster(names::ecs_cluster(env))
            .tasks(&task)
            .send()
            .await
            .or_fail("ECS DescribeTasks")?;
        let Some(task) = found.tasks().first() else {
            return Ok(Poll::Waiting("not found".into()));
        };
        let status = task.last_status().unwrap_or("PENDING").to_string();
        if status != "STOPPED" {
            progress.saw(&status);
            return Ok(Poll::Waiting(status));
        }
        let container = task
            .containers()
            .iter()
            .find(|c| c.name() == Some(script.container));
        Ok(Poll::Done((
            container.and_then(|c| c.exit_code()),
            task.stopped_reason().unwrap_or_default().to_string(),
        )))
    })
    .await?;
    let stream = log_stream(script.container, &task);
    let output = output(clients, &log_group, &stream).await?;
    Ok(Ended {
        code,
        reason,
        output,
    })
}

/// The awslogs driver's stream of a task's container: `prefix/container/task-id`, the prefix
/// being the container's name here (ECS developer guide, "Using the awslogs log driver").
pub(super) fn log_stream(container: &str, task_arn: &str) -> String {
    let id = task_arn.rsplit('/').next().unwrap_or(task_arn);
    format!("{container}/{container}/{id}")
}

/// What the container printed, oldest first; nothing when the stream was never written.
async fn output(clients: &Clients, group: &str, stream: &str) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(page) => page,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(lines);
            }
            Err(e) => return Err(sdk::error("CloudWatch Logs GetLogEvents", e)),
        };
        if page.events().is_empty() {
            return Ok(lines);
        }
        lines.extend(
            page.events()
                .iter()
                .filter_map(|e| e.message())
                .map(str::to_string),
        );
        // The same forward token again means the end of the stream.
        let next = page.next_forward_token().map(str::to_string);
        if next.is_none() || next == token {
            return Ok(lines);
        }
        token = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_goes_through_psql_from_the_environment_never_the_command_line() {
        let [sh, c, line] = command(true);
        assert_eq!((sh.as_str(), c.as_str()), ("sh", "-c"));
        assert_eq!(
            line,
            "printf '%s' \"$DEPLOY_SQL\" | psql -v ON_ERROR_STOP=1 --no-psqlrc --single-transaction"
        );
        assert!(!command(false)[2].contains("--single-transaction"));
        assert_eq!(
            log_stream(
                "slots",
                "arn:aws:ecs:ap-southeast-2:123456789012:task/dev/0f1e2d3c"
            ),
            "slots/slots/0f1e2d3c"
        );
    }
}
