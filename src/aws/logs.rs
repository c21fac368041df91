//! The connectors' CloudWatch log group: created when missing with the environment's tags and
//! a retention period, so log delivery has somewhere to write and logs do not pile up forever.
//! The logs are data: `destroy` keeps the group unless `--delete-data`.

use std::collections::BTreeMap;

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;

use super::clients::Clients;
use super::plugins::{TAG_ENVIRONMENT, TAG_RESOURCE};
use crate::error::Error;
use crate::model::Environment;
use crate::plan::{Action, Change, Kind};

fn error(action: &str, e: impl ProvideErrorMetadata + std::fmt::Display) -> Error {
    Error::user(format!(
        "CloudWatch Logs {action} failed: {}",
        e.message().map_or_else(|| e.to_string(), str::to_string)
    ))
}

/// The log group's retention in days, when it exists (`Some(None)`: kept forever).
pub async fn observe(clients: &Clients, env: &Environment) -> Result<Option<Option<i32>>, Error> {
    let Some(name) = env.aws.as_ref().and_then(|a| a.log_group.as_ref()) else {
        return Ok(None);
    };
    let groups = clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| error("DescribeLogGroups", e.into_service_error()))?;
    Ok(groups
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name.as_str()))
        .map(|g| g.retention_in_days()))
}

pub fn diff(env: &Environment, observed: Option<Option<i32>>) -> Vec<Change> {
    let Some(aws) = env.aws.as_ref() else {
        return Vec::new();
    };
    let Some(name) = &aws.log_group else {
        return Vec::new();
    };
    let want = aws.log_retention_days;
    vec![match observed {
        None => Change::new(Kind::LogGroup, name, Action::Create, "not found"),
        Some(Some(days)) if days == want => Change::new(
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
    }]
}

pub async fn apply(clients: &Clients, env: &Environment, changes: &[Change]) -> Result<(), Error> {
    let aws = env.aws.as_ref().expect("an aws environment");
    let Some(name) = &aws.log_group else {
        return Ok(());
    };
    let action = changes
        .iter()
        .find(|c| c.kind == Kind::LogGroup)
        .map(|c| c.action);
    if action == Some(Action::Create) {
        let mut tags: BTreeMap<String, String> = aws.tags.clone();
        tags.insert(TAG_ENVIRONMENT.into(), env.name.clone());
        tags.insert(TAG_RESOURCE.into(), "connector-logs".into());
        clients
            .logs
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(tags.into_iter().collect()))
            .send()
            .await
            .map_err(|e| error("CreateLogGroup", e.into_service_error()))?;
    }
    if matches!(action, Some(Action::Create | Action::Update)) {
        clients
            .logs
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(aws.log_retention_days)
            .send()
            .await
            .map_err(|e| error("PutRetentionPolicy", e.into_service_error()))?;
    }
    Ok(())
}

/// Deletes the log group (only with `--delete-data`); true when it existed.
pub async fn destroy(clients: &Clients, env: &Environment) -> Result<bool, Error> {
    let Some(name) = env.aws.as_ref().and_then(|a| a.log_group.as_ref()) else {
        return Ok(false);
    };
    match clients
        .logs
        .delete_log_group()
        .log_group_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(error("DeleteLogGroup", e.into_service_error())),
    }
}
