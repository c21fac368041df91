//! How every AWS resource of an environment is named and tagged. Names are deterministic, so a
//! plan finds what an earlier apply made without keeping state; the tags say whose it is.

use std::collections::BTreeMap;

use crate::model::Environment;

/// Whose a resource is: the environment's name.
pub(super) const TAG_ENVIRONMENT: &str = "deploy:environment";
/// What the resource is to the environment (`msk-cluster`, `connector`, …).
pub(super) const TAG_RESOURCE: &str = "deploy:resource";
/// On the database cluster: the digest of the schema files last loaded.
pub(super) const TAG_SCHEMA: &str = "deploy:schema";
/// On the database cluster: the replication slots its sources left that are still to drop
/// (`database/slot`, space-separated), recorded before their connectors change, so a drop that
/// failed or was interrupted is planned again.
pub(super) const TAG_SLOT_DROPS: &str = "deploy:slot-drops";

/// The environment's tags from the file, with the two the tool owns.
pub(super) fn tags(env: &super::Env<'_>, resource: &str) -> BTreeMap<String, String> {
    let mut tags = env.aws.tags.clone();
    tags.insert(TAG_ENVIRONMENT.into(), env.name.clone());
    tags.insert(TAG_RESOURCE.into(), resource.into());
    tags
}

/// Every name the environment owns starts with this (connectors, plugins, groups, roles, …).
pub(super) fn prefix(env: &Environment) -> String {
    format!("{}-", env.name)
}

// Security groups and IAM roles, by what they are for.
pub(super) mod role {
    pub(crate) const CONNECTORS: &str = "connectors";
    pub(crate) const MSK: &str = "msk";
    pub(crate) const DATABASE: &str = "database";
    pub(crate) const REGISTRY_LB: &str = "registry-lb";
    pub(crate) const REGISTRY: &str = "registry";
    pub(crate) const SCHEMA_LOAD: &str = "schema-load";
    /// The connectors' service execution role.
    pub(crate) const CONNECT: &str = "connect";
    /// The ECS execution role of the registry and the schema load: pulls their secrets and
    /// images, writes their logs.
    pub(crate) const TASK_EXECUTION: &str = "task-execution";
    pub(crate) const REGISTRY_TASK: &str = "registry-task";
}

/// A security group's or an IAM role's name, from what it is for.
pub(super) fn scoped(env: &Environment, role: &str) -> String {
    env.scoped(role)
}

pub(super) fn connector(env: &Environment, connector: &str) -> String {
    env.scoped(connector)
}

/// `<environment>-<plugin>-<sha256 prefix>`: a new build is a new custom plugin.
pub(super) fn custom_plugin(env: &Environment, plugin: &str, sha256: &str) -> String {
    format!("{}-{plugin}-{}", env.name, &sha256[..12])
}

/// Where the plugin's ZIP is kept in the bucket.
pub(super) fn plugin_key(plugin: &str, sha256: &str) -> String {
    format!("plugins/{plugin}-{}.zip", &sha256[..12])
}

/// The worker configuration's prefix; its digest completes the name (a configuration cannot be
/// changed, only replaced).
pub(super) fn worker_prefix(env: &Environment) -> String {
    format!("{}-worker-", env.name)
}

/// The connectors' secret of values the file marks secret.
pub(super) fn connector_secret(env: &Environment) -> String {
    format!("deploy/{}/connectors", env.name)
}

pub(super) fn msk_cluster(env: &Environment) -> String {
    env.name.clone()
}

pub(super) fn msk_configuration(env: &Environment) -> String {
    env.scoped("msk")
}

pub(super) fn msk_log_group(env: &Environment) -> String {
    format!("/deploy/{}/msk", env.name)
}

pub(super) fn db_cluster(env: &Environment) -> String {
    env.scoped("database")
}

pub(super) fn db_instance(env: &Environment) -> String {
    env.scoped("database-1")
}

pub(super) fn db_subnet_group(env: &Environment) -> String {
    env.scoped("database")
}

/// The cluster parameter group, by family: a new major version gets a new group.
pub(super) fn db_parameter_group(env: &Environment, family: &str) -> String {
    env.scoped(family)
}

/// The prefix of the parameter groups of every family this environment has had.
pub(super) fn db_parameter_group_prefix(env: &Environment) -> String {
    format!("{}-aurora-postgresql", env.name)
}

/// The ECS cluster of the registry and the schema load.
pub(super) fn ecs_cluster(env: &Environment) -> String {
    env.name.clone()
}

pub(super) fn registry_family(env: &Environment) -> String {
    env.scoped("registry")
}

pub(super) fn registry_log_group(env: &Environment) -> String {
    format!("/deploy/{}/registry", env.name)
}

/// The load balancer's and target group's name (both at most 32 characters).
pub(super) fn registry_lb(env: &Environment) -> String {
    env.scoped("registry").chars().take(32).collect()
}

pub(super) fn schema_family(env: &Environment) -> String {
    env.scoped("schema-load")
}

/// The database tasks' log group (the schema load's and the slot drops'). Its name predates the
/// slot drops and stays, so existing environments keep their group and its history.
pub(super) fn database_task_log_group(env: &Environment) -> String {
    format!("/deploy/{}/schema-load", env.name)
}

/// The database task that sends a source's signals.
pub(super) fn signal_task_family(env: &Environment) -> String {
    env.scoped("signals")
}

/// The database task that reads and drops the sources' replication slots.
pub(super) fn slot_task_family(env: &Environment) -> String {
    env.scoped("slots")
}

/// The CloudWatch alarm on the WAL the database's replication slots hold back (`alarms.rs`).
pub(super) fn slot_alarm(env: &Environment) -> String {
    env.scoped("replication-slot-wal")
}
