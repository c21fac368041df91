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
            Target::Local => Err(env.wrong_target("aws")),
        }
    }
}

impl std::ops::Deref for Env<'_> {
    type Target = Environment;

    fn deref(&self) -> &Environment {
        self.env
    }
}
