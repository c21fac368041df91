//! CloudWatch log groups: the connectors' (named in the file), the brokers' and the registry's. Created when
//! missing with the environment's tags and a retention period, so logs have somewhere to go and
//! do not pile up forever. Logs are data: `destroy` keeps the groups unless `--delete-data`.

use std::collections::BTreeMap;

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;

use super::clients::Clients;
use super::plugins::tags;
use crate::error::Error;
use crate::model::Environment;
use crate::plan::{Action, Change, Kind};

fn error(action: &str, e: impl ProvideErrorMetadata + std::fmt::Display) -> Error {
    Error::user(format!(
        "CloudWatch Logs {action} failed: {}",
        e.message().map_or_else(|| e.to_string(), str::to_string)
    ))
}

/// The environment's log groups: (name, what writes to it).
pub fn wanted(env: &Environment) -> Vec<(String, &'static str)> {
    let Some(aws) = env.aws.as_ref() else {
        return Vec::new();
    };
    let mut groups = Vec::new();
    if let Some(name) = &aws.log_group {
        groups.push((name.clone(), "connector-logs"));
    }
    if aws.msk.is_some() {
        groups.push((super::msk::log_group(env), "broker-logs"));
    }
    if super::schema::loads(env) {
        groups.push((super::schema::log_group(env), "schema-load-logs"));
    }
    if aws.registry.is_some() {
        groups.push((super::registry::log_group(env), "registry-logs"));
    }
    groups
}

/// Each wanted group's retention in days, when it exists (`Some(None)`: kept forever).
pub async fn observe(
    clients: &Clients,
    env: &Environment,
) -> Result<BTreeMap<String, Option<i32>>, Error> {
    let found = super::bounded(wanted(env).into_iter().map(|(name, _)| async move {
        let groups = clients
            .logs
            .describe_log_groups()
            .log_group_name_prefix(&name)
            .send()
            .await
            .map_err(|e| error("DescribeLogGroups", e.into_service_error()))?;
        Ok::<_, Error>(
            groups
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(name.as_str()))
                .map(|g| (name.clone(), g.retention_in_days())),
        )
    }))
    .await?;
    Ok(found.into_iter().flatten().collect())
}

pub fn diff(env: &Environment, observed: &BTreeMap<String, Option<i32>>) -> Vec<Change> {
    let Some(aws) = env.aws.as_ref() else {
        return Vec::new();
    };
    let want = aws.log_retention_days;
    wanted(env)
        .into_iter()
        .map(|(name, _)| match observed.get(&name) {
            None => Change::new(Kind::LogGroup, name, Action::Create, "not found"),
            Some(Some(days)) if *days == want => Change::new(
                Kind::LogGroup,
                name,
                Action::Unchanged,
                format!("keeps logs {days} days"),
            ),
            Some(have) => Change::new(
                Kind::LogGroup,
                name,
                Action::Update,
                format!(
                    "retention {} → {want} days",
                    have.map_or("forever".to_string(), |d| format!("{d} days"))
                ),
            ),
        })
        .collect()
}

pub async fn apply(clients: &Clients, env: &Environment, changes: &[Change]) -> Result<(), Error> {
    let aws = env.aws.as_ref().expect("an aws environment");
    super::bounded(wanted(env).into_iter().map(|(name, resource)| async move {
        let action = changes
            .iter()
            .find(|c| c.kind == Kind::LogGroup && c.name == name)
            .map(|c| c.action);
        if action == Some(Action::Create) {
            clients
                .logs
                .create_log_group()
                .log_group_name(&name)
                .set_tags(Some(tags(env, resource).into_iter().collect()))
                .send()
                .await
                .map_err(|e| error("CreateLogGroup", e.into_service_error()))?;
        }
        if matches!(action, Some(Action::Create | Action::Update)) {
            clients
                .logs
                .put_retention_policy()
                .log_group_name(&name)
                .retention_in_days(aws.log_retention_days)
                .send()
                .await
                .map_err(|e| error("PutRetentionPolicy", e.into_service_error()))?;
        }
        Ok::<_, Error>(())
    }))
    .await?;
    Ok(())
}

/// Deletes the log groups (only with `--delete-data`); returns those that existed.
pub async fn destroy(clients: &Clients, env: &Environment) -> Result<Vec<String>, Error> {
    let mut deleted = Vec::new();
    for (name, _) in wanted(env) {
        match clients
            .logs
            .delete_log_group()
            .log_group_name(&name)
            .send()
            .await
        {
            Ok(_) => deleted.push(name),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(error("DeleteLogGroup", e.into_service_error())),
        }
    }
    Ok(deleted)
}
