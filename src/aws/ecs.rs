//! What the registry and the schema load share on ECS: the cluster, Fargate task definitions,
//! their containers' common part (variables, secrets by reference, logs) and their tags.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, KeyValuePair, LogConfiguration, LogDriver, NetworkMode,
    Secret,
};

use super::Env;
use super::clients::Clients;
use super::names::{self, tags};
use super::sdk::Call;
use crate::error::Error;
use crate::plan::{Action, Change, Kind};

pub(super) fn ecs_tags(env: &Env<'_>, resource: &str) -> Vec<aws_sdk_ecs::types::Tag> {
    tags(env, resource)
        .into_iter()
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// Whether the ECS cluster exists (ACTIVE), found by name whether or not the file still asks for
/// what runs in it.
pub(super) async fn observe(clients: &Clients, env: &Env<'_>) -> Result<bool, Error> {
    let found = clients
        .ecs
        .describe_clusters()
        .clusters(names::ecs_cluster(env))
        .send()
        .await
        .or_fail("ECS DescribeClusters")?;
    Ok(found
        .clusters()
        .iter()
        .any(|c| c.status() == Some("ACTIVE")))
}

/// The ECS cluster's one step: CreateCluster, tagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    CreateCluster,
}

/// The ECS cluster's part of the plan: it is created when missing.
pub(super) fn plan(env: &Env<'_>, exists: bool) -> Vec<(Change, Vec<Step>)> {
    if !env.uses_ecs() {
        return Vec::new();
    }
    let name = names::ecs_cluster(env);
    vec![if exists {
        (
            Change::new(Kind::EcsCluster, name, Action::Unchanged, "active"),
            Vec::new(),
        )
    } else {
        (
            Change::new(Kind::EcsCluster, name, Action::Create, "not found"),
            vec![Step::CreateCluster],
        )
    }]
}

/// Carries out the plan's ECS cluster step.
pub(super) async fn apply_cluster(
    clients: &Clients,
    env: &Env<'_>,
    steps: &[Step],
) -> Result<(), Error> {
    if steps.contains(&Step::CreateCluster) {
        clients
            .ecs
            .create_cluster()
            .cluster_name(names::ecs_cluster(env))
            .set_tags(Some(ecs_tags(env, "ecs-cluster")))
            .send()
            .await
            .or_fail("ECS CreateCluster")?;
    }
    Ok(())
}

/// What the registry's and the schema load's containers share: variables, secrets by reference
/// (ECS reads them when the task starts) and logs to CloudWatch.
pub(super) fn container_base(
    name: &str,
    image: &str,
    environment: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
    log_group: String,
    region: &str,
) -> Result<aws_sdk_ecs::types::builders::ContainerDefinitionBuilder, Error> {
    let invalid =
        |e: aws_smithy_types::error::operation::BuildError| Error::Internal(e.to_string());
    let secrets = secrets
        .iter()
        .map(|(name, from)| {
            Secret::builder()
                .name(name)
                .value_from(from)
                .build()
                .map_err(invalid)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ContainerDefinition::builder()
        .name(name)
        .image(image)
        .essential(true)
        .set_environment(Some(
            environment
                .iter()
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect(),
        ))
        .set_secrets(Some(secrets))
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", log_group)
                .options("awslogs-region", region)
                .options("awslogs-stream-prefix", name)
                .build()
                .map_err(invalid)?,
        ))
}

/// A Fargate task definition of this environment, to be given its size, roles and container.
pub(super) fn fargate_task(
    clients: &Clients,
    env: &Env<'_>,
    family: &str,
    resource: &str,
) -> aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder
{
    clients
        .ecs
        .register_task_definition()
        .family(family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .set_tags(Some(ecs_tags(env, resource)))
}

/// Registers the task definition; returns the new revision's ARN.
pub(super) async fn register(
    request: aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder,
) -> Result<String, Error> {
    let registered = request.send().await.or_fail("ECS RegisterTaskDefinition")?;
    Ok(registered
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .unwrap_or_default()
        .to_string())
}

/// Deregisters every revision of a task definition family.
pub(super) async fn deregister(clients: &Clients, family: &str) -> Result<(), Error> {
    let revisions = clients
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .send()
        .await
        .or_fail("ECS ListTaskDefinitions")?;
    for arn in revisions.task_definition_arns() {
        clients
            .ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .or_fail("ECS DeregisterTaskDefinition")?;
    }
    Ok(())
}

pub(super) async fn delete_cluster(
    clients: &Clients,
    env: &Env<'_>,
    printer: &crate::output::Printer,
) -> Result<(), Error> {
    clients
        .ecs
        .delete_cluster()
        .cluster(names::ecs_cluster(env))
        .send()
        .await
        .or_fail("ECS DeleteCluster")?;
    printer.status(&format!(
        "  - ECS cluster {} deleted",
        names::ecs_cluster(env)
    ));
    Ok(())
}
