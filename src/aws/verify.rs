//! `deploy aws verify`: what can be checked from outside the VPC, where the brokers, the
//! database and the registry are not reachable. Each connector RUNNING on MSK Connect, and its
//! worker configuration ACTIVE; no ERROR in the workers' CloudWatch logs over the last
//! minutes; every registry task healthy behind its load balancer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::Env;
use super::clients::{Clients, clients};
use super::names;
use super::sdk::{self, Call};
use crate::error::Error;
use crate::output::Printer;
use crate::verify::Report;

/// How far back the workers' logs are searched for errors.
const RECENT: Duration = Duration::from_secs(15 * 60);

/// Runs every check and reports each; a failing check fails the report, not the call.
pub(crate) async fn run(env: &Env<'_>, printer: &Printer) -> Result<Report, Error> {
    let aws = env.aws;
    let clients = clients(aws).await;
    let mut report = Report::new(&env.name);
    let started = Instant::now();
    let arns: BTreeMap<String, String> = super::connectors::listed(&clients, &names::prefix(env))
        .await?
        .into_iter()
        .collect();
    for connector in &env.connectors {
        let name = names::connector(env, &connector.name);
        let result = connector_state(&clients, &name, arns.get(&name)).await?;
        report.step(&format!("connector {}", connector.name), started, result);
    }
    for (name, reason) in &env.skipped_connectors {
        report.step(
            &format!("connector {name}"),
            Instant::now(),
            Ok(format!("skipped: {reason}")),
        );
    }
    if let Some(group) = &aws.log_group {
        let started = Instant::now();
        let result = recent_errors(&clients, group).await?;
        report.step("worker logs", started, result);
    }
    if aws.registry.is_some() {
        let started = Instant::now();
        let result = registry_health(&clients, &names::registry_lb(env)).await?;
        report.step("registry", started, result);
    }
    let started = Instant::now();
    if let Some(result) = super::alarms::verify(&clients, env).await? {
        report.step("replication slots' alarm", started, result);
    }
    slot_steps(&clients, env, &mut report, printer).await?;
    Ok(report)
}

/// Each source's slot on the environment's database, read by a database task (the database is
/// private): there, not lost, not holding back more WAL than `aws.database.max-retained-wal`.
async fn slot_steps(
    clients: &Clients,
    env: &Env<'_>,
    report: &mut Report,
    printer: &Printer,
) -> Result<(), Error> {
    let Some(db) = env.aws.database.as_ref() else {
        return Ok(());
    };
    if !env
        .connectors
        .iter()
        .any(|c| crate::slots::Source::of(&c.name, &c.config).is_some())
    {
        return Ok(());
    }
    let started = Instant::now();
    let bootstrap = super::bootstrap_servers(clients, env.aws).await?;
    let (_, outputs) = super::infra::observe(clients, env, bootstrap).await?;
    if outputs.database_host.is_none() {
        report.step(
            "replication slots",
            started,
            Err(format!("database {} not found", names::db_cluster(env))),
        );
        return Ok(());
    }
    let sources = super::slots::sources_on_ours(env, &outputs);
    let mut read: BTreeMap<String, BTreeMap<String, crate::slots::Slot>> = BTreeMap::new();
    for source in &sources {
        let dbname = &source.database.dbname;
        if !read.contains_key(dbname) {
            let found = super::slots::read(clients, env, &outputs, dbname, printer).await?;
            read.insert(dbname.clone(), found);
        }
        let slot = read[dbname].get(&source.slot).cloned();
        report.step(
            &format!("slot {}", source.slot),
            started,
            crate::slots::judge(
                source,
                Ok(slot),
                db.max_retained_wal,
                "aws.database.max-retained-wal",
            ),
        );
    }
    Ok(())
}

/// The connector RUNNING and its worker configuration ACTIVE, or what MSK Connect says instead.
async fn connector_state(
    clients: &Clients,
    name: &str,
    arn: Option<&String>,
) -> Result<Result<String, String>, Error> {
    let Some(arn) = arn else {
        return Ok(Err(format!(
            "connector {name} does not exist: `deploy aws apply` creates it"
        )));
    };
    let described = clients
        .kafkaconnect
        .describe_connector()
        .connector_arn(arn)
        .send()
        .await
        .or_fail("MSK Connect DescribeConnector")?;
    let state = described
        .connector_state()
        .map_or("UNKNOWN", |s| s.as_str());
    if state != "RUNNING" {
        let why = described
            .state_description()
            .map(|d| {
                format!(
                    ": {} {}",
                    d.code().unwrap_or_default(),
                    d.message().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        return Ok(Err(format!("connector {name} is {state}{why}")));
    }
    let worker = described
        .worker_configuration()
        .and_then(|w| w.worker_configuration_arn());
    let Some(worker) = worker else {
        return Ok(Ok(format!(
            "{name} RUNNING on MSK's default worker configuration"
        )));
    };
    let described = clients
        .kafkaconnect
        .describe_worker_configuration()
        .worker_configuration_arn(worker)
        .send()
        .await
        .map_err(|e| sdk::error("MSK Connect DescribeWorkerConfiguration", e))?;
    let worker_state = described
        .worker_configuration_state()
        .map_or("UNKNOWN", |s| s.as_str());
    let worker_name = described.name().unwrap_or(worker);
    Ok(if worker_state == "ACTIVE" {
        Ok(format!(
            "{name} RUNNING, worker configuration {worker_name} ACTIVE"
        ))
    } else {
        Err(format!(
            "{name} RUNNING, but its worker configuration {worker_name} is {worker_state}"
        ))
    })
}

/// ERROR lines in the workers' log group over the last minutes.
async fn recent_errors(clients: &Clients, group: &str) -> Result<Result<String, String>, Error> {
    let since = SystemTime::now()
        .checked_sub(RECENT)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_millis() as i64;
    let found = clients
        .logs
        .filter_log_events()
        .log_group_name(group)
        .start_time(since)
        .filter_pattern("ERROR")
        .limit(20)
        .send()
        .await;
    let found = match found {
        Ok(found) => found,
        Err(e) if e.code() == Some("ResourceNotFoundException") => {
            return Ok(Err(format!(
                "the workers' log group {group} does not exist: `deploy aws apply` creates it"
            )));
        }
        Err(e) => {
            return Err(sdk::error("CloudWatch Logs FilterLogEvents", e));
        }
    };
    let lines: Vec<String> = found
        .events()
        .iter()
        .filter_map(|e| e.message())
        .map(|m| m.lines().next().unwrap_or_default().to_string())
        .collect();
    let minutes = RECENT.as_secs() / 60;
    Ok(if lines.is_empty() {
        Ok(format!(
            "no ERROR in {group} over the last {minutes} minutes"
        ))
    } else {
        Err(format!(
            "{} ERROR line(s) in {group} over the last {minutes} minutes:\n{}",
            lines.len(),
            lines.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
        ))
    })
}

/// Every target of the registry's target group healthy.
async fn registry_health(clients: &Clients, name: &str) -> Result<Result<String, String>, Error> {
    let groups = match clients
        .elb
        .describe_target_groups()
        .names(name)
        .send()
        .await
    {
        Ok(found) => found,
        Err(e) if e.code() == Some("TargetGroupNotFound") => {
            return Ok(Err(format!(
                "the registry's target group {name} does not exist: `deploy aws apply` creates it"
            )));
        }
        Err(e) => {
            return Err(sdk::error("ELB DescribeTargetGroups", e));
        }
    };
    let Some(arn) = groups
        .target_groups()
        .first()
        .and_then(|g| g.target_group_arn())
    else {
        return Ok(Err(format!(
            "the registry's target group {name} does not exist"
        )));
    };
    let health = clients
        .elb
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .or_fail("ELB DescribeTargetHealth")?;
    let targets = health.target_health_descriptions();
    if targets.is_empty() {
        return Ok(Err(format!(
            "no registry task is registered with the load balancer's target group {name}"
        )));
    }
    let unhealthy: Vec<String> = targets
        .iter()
        .filter_map(|t| {
            let health = t.target_health()?;
            let state = health.state().map_or("unknown", |s| s.as_str());
            (state != "healthy").then(|| {
                format!(
                    "{}: {state} {} {}",
                    t.target().and_then(|t| t.id()).unwrap_or("?"),
                    health.reason().map_or("", |r| r.as_str()),
                    health.description().unwrap_or_default()
                )
                .trim_end()
                .to_string()
            })
        })
        .collect();
    Ok(if unhealthy.is_empty() {
        Ok(format!(
            "{} task(s) healthy behind the load balancer",
            targets.len()
        ))
    } else {
        Err(format!(
            "{} of {} registry task(s) not healthy behind the load balancer:\n{}",
            unhealthy.len(),
            targets.len(),
            unhealthy.join("\n")
        ))
    })
}
