//! The AWS target's view of an environment.

use crate::error::Error;
use crate::model::{Aws, Environment, Target};

/// An environment that targets AWS, with its settings at hand: every AWS function takes one, so
/// none has to ask again whether the settings are there.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    env: &'a Environment,
    pub aws: &'a Aws,
}

impl<'a> Env<'a> {
    /// The environment as an AWS one, or the refusal to run an AWS command on another target.
    pub fn of(env: &'a Environment) -> Result<Self, Error> {
        match &env.target {
            Target::Aws(aws) => Ok(Env { env, aws }),
            Target::Local => Err(Error::wrong_target(env, "aws")),
        }
    }
}

/// What the environment creates beyond what its file lists one by one, decided here once.
impl Env<'_> {
    /// The connectors' security group, when the file gives none.
    pub(super) fn creates_connector_group(&self) -> bool {
        self.aws.security_groups.is_empty() && !self.connectors.is_empty()
    }

    /// IAM roles: the registry's, the database tasks', and the connectors' when the file gives none. Their trust
    /// policies name the account, so planning them reads it first.
    pub(super) fn creates_roles(&self) -> bool {
        self.aws.registry.is_some()
            || self.runs_database_tasks()
            || (self.aws.service_execution_role_arn.is_none() && !self.connectors.is_empty())
    }

    /// One-shot tasks in the database it creates (`task.rs`): the schema load, and dropping the
    /// replication slots its sources leave. Any such environment can need them (a source
    /// removed from the file still has its slot), so they come with the database: a security
    /// group, the log group, the execution role and the ECS cluster.
    pub(super) fn runs_database_tasks(&self) -> bool {
        self.aws.database.is_some()
    }

    /// The ECS cluster, which runs the registry and the database tasks.
    pub(super) fn uses_ecs(&self) -> bool {
        self.aws.registry.is_some() || self.runs_database_tasks()
    }
}

impl std::ops::Deref for Env<'_> {
    type Target = Environment;

    fn deref(&self) -> &Environment {
        self.env
    }
}
