//! Error kinds, their exit codes and hints. Rendered in one place (`output`).

use crate::config::ConfigError;

/// Exit codes, as documented in the README.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    /// User error, configuration error, or a failed apply.
    pub const FAILURE: u8 = 1;
    /// A bug or an answer we did not expect.
    pub const INTERNAL: u8 = 2;
    /// `plan --detailed-exitcode` found changes.
    pub const CHANGES: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Boxed: a configuration error carries the others found with it.
    #[error("{0}")]
    Config(Box<ConfigError>),
    /// Something the user can fix: the message says what, the hint how.
    #[error("{message}")]
    User {
        message: String,
        hint: Option<String>,
        /// Lines shown under the message (a failed container's last log lines).
        details: Vec<String>,
        /// What failed underneath, when another library's error says it (the message already
        /// names it; its own causes are shown under it).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The Docker Engine refused or failed a call.
    #[error("Docker Engine: {action} failed: {source}")]
    Docker {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// An AWS service refused a call, or could not be reached.
    #[error("{call} failed: {message} ({code})")]
    Aws {
        call: String,
        message: String,
        code: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(Box::new(e))
    }
}

impl Error {
    /// The refusal to run another target's command on an environment.
    pub fn wrong_target(env: &crate::model::Environment, wanted: &str) -> Self {
        let (article, example) = if wanted == "aws" {
            ("an", "dev")
        } else {
            ("a", "local")
        };
        Error::user(format!(
            "environment `{}` ({}) targets {}, not {wanted}",
            env.name,
            env.source.display(),
            env.target.name()
        ))
        .with_hint(format!(
            "use {article} {wanted} environment file, e.g. `-e {example}`"
        ))
    }

    pub fn user(message: impl Into<String>) -> Self {
        Error::User {
            message: message.into(),
            hint: None,
            details: Vec::new(),
            source: None,
        }
    }

    /// The error with what caused it kept (for a user error; others keep their own).
    pub fn because(self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        match self {
            Error::User {
                message,
                hint,
                details,
                ..
            } => Error::User {
                message,
                hint,
                details,
                source: Some(Box::new(cause)),
            },
            other => other,
        }
    }

    pub fn docker(action: impl Into<String>, source: bollard::errors::Error) -> Self {
        Error::Docker {
            action: action.into(),
            source,
        }
    }

    pub fn with_hint(self, text: impl Into<String>) -> Self {
        match self {
            Error::User {
                message,
                details,
                source,
                ..
            } => Error::User {
                message,
                hint: Some(text.into()),
                details,
                source,
            },
            Error::Config(e) => Error::Config(Box::new(e.with_hint(text))),
            other => other,
        }
    }

    pub fn with_details(self, lines: Vec<String>) -> Self {
        match self {
            Error::User {
                message,
                hint,
                source,
                ..
            } => Error::User {
                message,
                hint,
                details: lines,
                source,
            },
            other => other,
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Config(e) => e.hint.as_deref(),
            Error::User { hint, .. } => hint.as_deref(),
            Error::Docker { .. } => {
                Some("run with -v for details; `docker info` shows the engine's state")
            }
            Error::Aws { .. } => None,
            Error::Internal(_) => {
                Some("this is a bug in deploy; please report it with the command you ran")
            }
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Internal(_) => exit::INTERNAL,
            _ => exit::FAILURE,
        }
    }
}
