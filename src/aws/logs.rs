//! CloudWatch log groups: the connectors' (named in the file), the brokers' and the registry's. Created when
//! missing with the environment's tags and a retention period, so logs have somewhere to go and
//! do not pile up forever. Logs are data: `destroy` keeps the groups unless `--delete-data`.

use std::collections::BTreeMap;

use super::Env;
use super::clients::Clients;
use super::names::{self, tags};
use super::sdk::{self, Call};
use crate::error::Error;
use crate::plan::{Action, Change, Kind};

/// The environment's log groups: (name, what writes to it).
pub(super) fn wanted(env: &Env<'_>) -> Vec<(String, &'static str)> {
    let aws = env.aws;
    let mut groups = Vec::new();
    if let Some(name) = &aws.log_group {
        groups.push((name.clone(), "connector-logs"));
    }
    if aws.msk.is_some() {
        groups.push((names::msk_log_group(env), "broker-logs"));
    }
    if env.runs_database_tasks() {
        groups.push((names::database_task_log_group(env), "schema-load-logs"));
    }
    if aws.registry.is_some() {
        groups.push((names::registry_log_group(env), "registry-logs"));
    }
    groups
}

/// Each wanted group's retention in days, when it exists (`Some(None)`: kept forever).
pub(super) async fn observe(
    clients: &Clients,
    env: &Env<'_>,
) -> Result<BTreeMap<String, Option<i32>>, Error> {
    let found = super::wait::bounded(wanted(env).into_iter().map(|(name, _)| async move {
        let groups = clients
            .logs
            .describe_log_groups()
            .log_group_name_prefix(&name)
            .send()
            .await
            .or_fail("CloudWatch Logs DescribeLogGroups")?;
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

/// One call of the log groups' apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// CreateLogGroup, tagged with what writes to it.
    Create {
        name: String,
        resource: &'static str,
    },
    /// PutRetentionPolicy.
    SetRetention { name: String, days: i32 },
}

/// The log groups' part of the plan: each group's change, with the steps that make it so.
pub(super) fn plan(
    env: &Env<'_>,
    observed: &BTreeMap<String, Option<i32>>,
) -> Vec<(Change, Vec<Step>)> {
    let want = env.aws.log_retention_days;
    wanted(env)
        .into_iter()
        .map(|(name, resource)| {
            let retention = Step::SetRetention {
                name: name.clone(),
                days: want,
            };
            match observed.get(&name) {
                None => (
                    Change::new(Kind::LogGroup, &name, Action::Create, "not found"),
                    vec![
                        Step::Create {
                            name: name.clone(),
                            resource,
                        },
                        retention,
                    ],
                ),
                Some(Some(days)) if *days == want => (
                    Change::new(
                        Kind::LogGroup,
                        name,
                        Action::Unchanged,
                        format!("keeps logs {days} days"),
                    ),
                    Vec::new(),
                ),
                Some(have) => (
                    Change::new(
                        Kind::LogGroup,
                        name,
                        Action::Update,
                        format!(
                            "retention {} → {want} days",
                            have.map_or("forever".to_string(), |d| format!("{d} days"))
                        ),
                    ),
                    vec![retention],
                ),
            }
        })
        .collect()
}

/// Carries out the plan's log group steps, the groups side by side.
pub(super) async fn apply(clients: &Clients, env: &Env<'_>, steps: &[Step]) -> Result<(), Error> {
    let groups: BTreeMap<&str, Vec<&Step>> = steps.iter().fold(BTreeMap::new(), |mut by, step| {
        let name = match step {
            Step::Create { name, .. } | Step::SetRetention { name, .. } => name.as_str(),
        };
        by.entry(name).or_default().push(step);
        by
    });
    super::wait::bounded(groups.into_values().map(|steps| async move {
        for step in steps {
            match step {
                Step::Create { name, resource } => {
                    clients
                        .logs
                        .create_log_group()
                        .log_group_name(name)
                        .set_tags(Some(tags(env, resource).into_iter().collect()))
                        .send()
                        .await
                        .or_fail("CloudWatch Logs CreateLogGroup")?;
                }
                Step::SetRetention { name, days } => {
                    clients
                        .logs
                        .put_retention_policy()
                        .log_group_name(name)
                        .retention_in_days(*days)
                        .send()
                        .await
                        .or_fail("CloudWatch Logs PutRetentionPolicy")?;
                }
            }
        }
        Ok::<_, Error>(())
    }))
    .await?;
    Ok(())
}

/// Deletes the log groups (only with `--delete-data`); returns those that existed.
pub(super) async fn destroy(clients: &Clients, env: &Env<'_>) -> Result<Vec<String>, Error> {
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
            Err(e) => return Err(sdk::error("CloudWatch Logs DeleteLogGroup", e)),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_groups_are_created_with_their_retention_and_a_changed_retention_is_set() {
        let env = crate::aws::fixture::env();
        let groups = wanted(&env);
        let days = env.aws.log_retention_days;
        let observed = BTreeMap::from([
            (groups[0].0.clone(), None),
            (groups[1].0.clone(), Some(days)),
        ]);
        let planned = plan(&env, &observed);
        assert_eq!(
            planned[0].1,
            [Step::SetRetention {
                name: groups[0].0.clone(),
                days
            }]
        );
        assert_eq!(
            planned[0].0.reasons,
            [format!("retention forever → {days} days")]
        );
        assert!(planned[1].1.is_empty());
        for ((change, steps), (name, resource)) in planned.iter().zip(&groups).skip(2) {
            assert_eq!(change.action, Action::Create);
            assert_eq!(
                steps,
                &[
                    Step::Create {
                        name: name.clone(),
                        resource
                    },
                    Step::SetRetention {
                        name: name.clone(),
                        days
                    }
                ]
            );
        }
    }
}
