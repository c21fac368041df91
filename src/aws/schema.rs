//! The one-shot schema load: the SQL files the environment names run in the new database from
//! an ECS task in the private subnets (the database is not reachable from outside), as one
//! transaction with `psql`, with the master credentials from the database's secret. The files'
//! digest is recorded as a tag on the cluster once the task exits 0, so the load runs once, and
//! again only when the files change.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, LaunchType, NetworkConfiguration};

use super::Env;
use super::clients::Clients;
use super::names;
use super::outputs::Outputs;
use super::sdk::Call;
use super::wait::{Poll, Progress, until};
use crate::error::Error;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

const CONTAINER: &str = "schema-load";
/// Pulling the image and running the SQL; a load that takes longer is stuck.
const DEADLINE: Duration = Duration::from_secs(20 * 60);

/// The SQL to load, as one script, and its digest; `None` when the environment names none.
pub(super) fn wanted(env: &Env<'_>) -> Option<(String, String)> {
    let db = env.aws.database.as_ref()?;
    if db.schema.is_empty() {
        return None;
    }
    let script: String = db
        .schema
        .iter()
        .map(|file| format!("-- {}\n{}\n", file.name, file.content))
        .collect();
    let digest = crate::digest::short(script.as_bytes());
    Some((script, digest))
}

/// The load: the SQL files as one script, run by a one-off task against the database, and their
/// digest, recorded on the cluster once it succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Load {
        database: String,
        /// The image with `psql` the task runs.
        image: String,
        script: String,
        digest: String,
    },
}

/// The schema load's part of the plan: `loaded` is the digest recorded on the cluster (`None`
/// while there is no cluster).
pub(super) fn plan(env: &Env<'_>, loaded: Option<Option<&str>>) -> Vec<(Change, Vec<Step>)> {
    let (Some(db), Some((script, digest))) = (env.aws.database.as_ref(), wanted(env)) else {
        return Vec::new();
    };
    let load = vec![Step::Load {
        database: db.name.clone(),
        image: db.schema_image.clone(),
        script,
        digest: digest.clone(),
    }];
    let files: Vec<&str> = db.schema.iter().map(|f| f.name.as_str()).collect();
    let name = super::names::db_cluster(env);
    vec![match loaded.flatten() {
        Some(have) if have == digest => (
            Change::new(
                Kind::SchemaLoad,
                name,
                Action::Unchanged,
                format!("{} loaded ({digest})", files.join(", ")),
            ),
            Vec::new(),
        ),
        Some(have) => (
            Change::new(
                Kind::SchemaLoad,
                name,
                Action::Update,
                format!(
                    "files changed ({have} → {digest}): runs {} again",
                    files.join(", ")
                ),
            ),
            load,
        ),
        None => (
            Change::new(
                Kind::SchemaLoad,
                name,
                Action::Create,
                format!("runs {} once the database exists", files.join(", ")),
            ),
            load,
        ),
    }]
}

/// Runs the load when the recorded digest differs, waits for the task, and records the digest.
#[allow(clippy::too_many_arguments)]
/// What a load needs from the infrastructure applied before it.
pub(super) struct Target<'a> {
    pub cluster_arn: &'a str,
    pub outputs: &'a Outputs,
    pub execution_role: &'a str,
    pub group: Option<&'a String>,
}

/// Carries out the plan's schema load steps.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    steps: &[Step],
    target: &Target<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    for step in steps {
        load(clients, env, step, target, printer).await?;
    }
    Ok(())
}

async fn load(
    clients: &Clients,
    env: &Env<'_>,
    step: &Step,
    target: &Target<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    let Step::Load {
        database,
        image,
        script,
        digest,
    } = step;
    let Target {
        cluster_arn,
        outputs,
        execution_role,
        group,
    } = *target;
    let aws = env.aws;
    let secret = outputs.database_secret.clone().unwrap_or_default();
    let environment = BTreeMap::from([
        (
            "PGHOST".to_string(),
            outputs.database_host.clone().unwrap_or_default(),
        ),
        (
            "PGPORT".to_string(),
            outputs.database_port.unwrap_or(5432).to_string(),
        ),
        ("PGDATABASE".to_string(), database.to_string()),
        ("PGSSLMODE".to_string(), "require".to_string()),
        ("SCHEMA_SQL".to_string(), script.to_string()),
    ]);
    let secrets = BTreeMap::from([
        ("PGUSER".to_string(), format!("{secret}:username::")),
        ("PGPASSWORD".to_string(), format!("{secret}:password::")),
    ]);
    let container = super::ecs::container_base(
        CONTAINER,
        image,
        &environment,
        &secrets,
        names::schema_log_group(env),
        &aws.region,
    )?
    // The whole task's size, said for the container too (some schedulers need it there).
    .cpu(256)
    .memory(512)
    .command("sh")
    .command("-c")
    .command("printf '%s' \"$SCHEMA_SQL\" | psql -v ON_ERROR_STOP=1 --single-transaction")
    .build();
    let definition = super::ecs::register(
        super::ecs::fargate_task(
            clients,
            env,
            &names::schema_family(env),
            "schema-load-task-definition",
        )
        .cpu("256")
        .memory("512")
        .execution_role_arn(execution_role)
        .container_definitions(container),
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
                        .set_subnets(Some(aws.subnets.clone()))
                        .set_security_groups(group.map(|g| vec![g.clone()]))
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
            "the schema load did not start: {}",
            failure.reason().unwrap_or("no reason given")
        )));
    }
    let task = run
        .tasks()
        .first()
        .and_then(|t| t.task_arn())
        .unwrap_or_default()
        .to_string();
    printer.status(&format!("  > schema load {task} started"));
    let progress = Progress::new(printer, "schema load");
    let exit = until("the schema load", DEADLINE, || async {
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
            .find(|c| c.name() == Some(CONTAINER));
        Ok(Poll::Done((
            container.and_then(|c| c.exit_code()),
            task.stopped_reason().unwrap_or_default().to_string(),
        )))
    })
    .await?;
    match exit {
        (Some(0), _) => {}
        (code, reason) => {
            return Err(Error::user(format!(
                "the schema load failed (exit code {}{}): nothing was committed",
                code.map_or("none".into(), |c| c.to_string()),
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(", {reason}")
                }
            ))
            .with_hint(format!(
                "psql's output is in CloudWatch Logs group {}",
                names::schema_log_group(env)
            )));
        }
    }
    clients
        .rds
        .add_tags_to_resource()
        .resource_name(cluster_arn)
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key(names::TAG_SCHEMA)
                .value(digest)
                .build(),
        )
        .send()
        .await
        .or_fail("RDS AddTagsToResource")?;
    printer.status(&format!("  + schema loaded ({digest})"));
    Ok(())
}

/// Deregisters the load's task definitions.
pub(super) async fn destroy(clients: &Clients, env: &Env<'_>) -> Result<(), Error> {
    super::ecs::deregister(clients, &names::schema_family(env)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_runs_until_the_cluster_records_the_files_digest() {
        let env = crate::aws::fixture::env();
        let (script, digest) = wanted(&env).expect("the fixture loads SQL");
        let db = env.aws.database.as_ref().expect("a database");
        let load = vec![Step::Load {
            database: db.name.clone(),
            image: db.schema_image.clone(),
            script,
            digest: digest.clone(),
        }];
        // No cluster yet, a cluster without the tag, one loaded with other files: the load runs.
        for loaded in [None, Some(None), Some(Some("0123456789ab"))] {
            assert_eq!(plan(&env, loaded)[0].1, load, "{loaded:?}");
        }
        let done = plan(&env, Some(Some(digest.as_str())));
        assert_eq!(done[0].0.action, Action::Unchanged);
        assert!(done[0].1.is_empty());
    }
}
