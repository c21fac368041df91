//! Connecting to the Docker Engine, with an error that says where we looked.

use std::time::Duration;

use bollard::Docker;

use crate::error::Error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Connects (honouring `DOCKER_HOST`) and agrees on an API version with the engine.
pub async fn connect() -> Result<Docker, Error> {
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
pub fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

pub fn is_conflict(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// True when the engine says the object was already in the state asked for (304).
pub fn is_not_modified(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 304,
            ..
        }
    )
}
