//! Connecting to the Docker Engine, with an error that says where we looked.

use std::time::Duration;

use bollard::Docker;

use crate::error::Error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Connects (honouring `DOCKER_HOST`) and agrees on an API version with the engine.
pub(super) async fn connect() -> Result<Docker, Error> {
    let unreachable = |detail: String| {
        Error::user(format!("cannot reach the Docker Engine at {}: {detail}", host())).with_hint(
            "start Docker (or Docker Desktop), or point DOCKER_HOST at a running engine; `docker info` shows what the CLI sees",
        )
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// True when the engine answered 404 (the object is already gone).
pub(super) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

pub(super) fn is_conflict(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// True when the engine says the object was already in the state asked for (304).
pub(super) fn is_not_modified(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 304,
            ..
        }
    )
}

/// What a command run in a container (`docker exec`) did.
#[derive(Debug, Clone, Default)]
pub(super) struct Exec {
    /// `None` when the engine did not say (the command could not be run).
    pub code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
}

impl Exec {
    /// Everything it wrote, stdout then stderr.
    pub(super) fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `command` in the container with the variables `env` (`NAME=value`) and waits for it.
pub(super) async fn exec(
    docker: &Docker,
    container: &str,
    command: &[String],
    env: &[String],
) -> Result<Exec, bollard::errors::Error> {
    use bollard::container::LogOutput;
    use bollard::exec::{StartExecOptions, StartExecResults};
    use futures::StreamExt;
    let config = bollard::models::ExecConfig {
        cmd: Some(command.to_vec()),
        env: (!env.is_empty()).then(|| env.to_vec()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let created = docker.create_exec(container, config).await?;
    let options = StartExecOptions {
        detach: false,
        tty: false,
        output_capacity: None,
    };
    let mut done = Exec::default();
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&created.id, Some(options)).await?
    {
        while let Some(chunk) = output.next().await {
            match chunk? {
                LogOutput::StdErr { message } => {
                    done.stderr.push_str(&String::from_utf8_lossy(&message));
                }
                other => done.stdout.push_str(&other.to_string()),
            }
        }
    }
    done.code = docker.inspect_exec(&created.id).await?.exit_code;
    Ok(done)
}
