//! How every AWS resource of an environment is named and tagged. Names are deterministic, so a
//! plan finds what an earlier apply made without keeping state; the tags say whose it is.

use std::collections::BTreeMap;

use crate::model::Environment;

/// Whose a resource is: the environment's name.
pub const TAG_ENVIRONMENT: &str = "deploy:environment";
/// What the resource is to the environment (`msk-cluster`, `connector`, …).
pub const TAG_RESOURCE: &str = "deploy:resource";
/// On the database cluster: the digest of the schema files last loaded.
pub const TAG_SCHEMA: &str = "deploy:schema";

/// The environment's tags from the file, with the two the tool owns.
pub fn tags(env: &super::Env<'_>, resource: &str) -> BTreeMap<String, String> {
    let mut tags = env.aws.tags.clone();
    tags.insert(TAG_ENVIRONMENT.into(), env.name.clone());
    tags.insert(TAG_RESOURCE.into(), resource.into());
    tags
}

/// Every name the environment owns starts with this (connectors, plugins, groups, roles, …).
pub fn prefix(env: &Environment) -> String {
    format!("{}-", env.name)
}

// Security groups and IAM roles, by what they are for.
pub mod role {
    pub const CONNECTORS: &str = "connectors";
    pub const MSK: &str = "msk";
    pub const DATABASE: &str = "database";
    pub const REGISTRY_LB: &str = "registry-lb";
    pub const REGISTRY: &str = "registry";
    pub const SCHEMA_LOAD: &str = "schema-load";
    /// The connectors' service execution role.
    pub const CONNECT: &str = "connect";
    /// The ECS execution role of the registry and the schema load: pulls their secrets and
    /// images, writes their logs.
    pub const TASK_EXECUTION: &str = "task-execution";
    pub const REGISTRY_TASK: &str = "registry-task";
}

/// A security group's or an IAM role's name, from what it is for.
pub fn scoped(env: &Environment, role: &str) -> String {
    env.scoped(role)
}

pub fn connector(env: &Environment, connector: &str) -> String {
    env.scoped(connector)
}

/// `<environment>-<plugin>-<sha256 prefix>`: a new build is a new custom plugin.
pub fn custom_plugin(env: &Environment, plugin: &str, sha256: &str) -> String {
    format!("{}-{plugin}-{}", env.name, &sha256[..12])
}

/// Where the plugin's ZIP is kept in the bucket.
pub fn plugin_key(plugin: &str, sha256: &str) -> String {
    format!("plugins/{plugin}-{}.zip", &sha256[..12])
}

/// The worker configuration's prefix; its digest completes the name (a configuration cannot be
/// changed, only replaced).
pub fn worker_prefix(env: &Environment) -> String {
    format!("{}-worker-", env.name)
}

/// The connectors' secret of values the file marks secret.
pub fn connector_secret(env: &Environment) -> String {
    format!("deploy/{}/connectors", env.name)
}

pub fn msk_cluster(env: &Environment) -> String {
    env.name.clone()
}

pub fn msk_configuration(env: &Environment) -> String {
    env.scoped("msk")
}

pub fn msk_log_group(env: &Environment) -> String {
    format!("/deploy/{}/msk", env.name)
}

pub fn db_cluster(env: &Environment) -> String {
    env.scoped("database")
}

pub fn db_instance(env: &Environment) -> String {
    env.scoped("database-1")
}

pub fn db_subnet_group(env: &Environment) -> String {
    env.scoped("database")
}

/// The cluster parameter group, by family: a new major version gets a new group.
pub fn db_parameter_group(env: &Environment, family: &str) -> String {
    env.scoped(family)
}

/// The prefix of the parameter groups of every family this environment has had.
pub fn db_parameter_group_prefix(env: &Environment) -> String {
    format!("{}-aurora-postgresql", env.name)
}

/// The ECS cluster of the registry and the schema load.
pub fn ecs_cluster(env: &Environment) -> String {
    env.name.clone()
}

pub fn registry_family(env: &Environment) -> String {
    env.scoped("registry")
}

pub fn registry_log_group(env: &Environment) -> String {
    format!("/deploy/{}/registry", env.name)
}

/// The load balancer's and target group's name (both at most 32 characters).
pub fn registry_lb(env: &Environment) -> String {
    env.scoped("registry").chars().take(32).collect()
}

pub fn schema_family(env: &Environment) -> String {
    env.scoped("schema-load")
}

pub fn schema_log_group(env: &Environment) -> String {
    format!("/deploy/{}/schema-load", env.name)
}
