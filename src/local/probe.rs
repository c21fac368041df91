//! Readiness: the service's probe on a tight interval until it passes, the container stops, or
//! the deadline comes. Probes reach the service the way `route` says (never a bare TCP accept
//! through a published port, whose proxy accepts connections before the service does).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{InspectContainerOptions, LogsOptionsBuilder};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::route::{self, Route, Way};
use crate::model::{Check, PortMapping, Probe};

/// Lines of a failed container's log shown with the error.
pub(super) const LOG_TAIL: usize = 20;

#[derive(Debug)]
pub(super) enum NotReady {
    /// The container stopped: its exit code.
    Exited(i64),
    /// The deadline passed; the last probe's answer.
    TimedOut(String),
    Docker(bollard::errors::Error),
}

/// Where a running container can be reached from here, and whether it still runs.
pub(super) struct Running {
    pub ip: Option<IpAddr>,
}

pub(super) async fn inspect(
    docker: &Docker,
    container: &str,
    network: &str,
) -> Result<(Option<i64>, Running), bollard::errors::Error> {
    let info = docker
        .inspect_container(container, None::<InspectContainerOptions>)
        .await?;
    let state = info.state.unwrap_or_default();
    let exited = (!state.running.unwrap_or(false)).then(|| state.exit_code.unwrap_or(-1));
    let ip = super::observe::address_on(info.network_settings.and_then(|n| n.networks), network);
    Ok((exited, Running { ip }))
}

/// Waits until the probe passes. A service without a probe is ready once it is running.
pub(super) async fn wait_ready(
    docker: &Docker,
    container: &str,
    network: &str,
    probe: Option<&Probe>,
    route: &Route,
    ports: &[PortMapping],
) -> Result<Duration, NotReady> {
    let started = Instant::now();
    let Some(probe) = probe else {
        // Give a container that fails at once the chance to show it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (exited, _) = inspect(docker, container, network)
            .await
            .map_err(NotReady::Docker)?;
        return match exited {
            Some(code) => Err(NotReady::Exited(code)),
            None => Ok(started.elapsed()),
        };
    };
    // Services often come up within a few tens of milliseconds: retry fast at first.
    let mut poll = crate::poll::Poll::doubling(
        probe.timeout,
        Duration::from_millis(25).min(probe.interval),
        probe.interval,
    );
    let attempt_timeout = probe
        .interval
        .max(Duration::from_millis(500))
        .min(Duration::from_secs(5));
    loop {
        let (exited, running) = inspect(docker, container, network)
            .await
            .map_err(NotReady::Docker)?;
        if let Some(code) = exited {
            return Err(NotReady::Exited(code));
        }
        let last = match tokio::time::timeout(
            attempt_timeout,
            check_once(docker, container, running.ip, &probe.check, route, ports),
        )
        .await
        {
            Ok(Ok(())) => return Ok(started.elapsed()),
            Ok(Err(answer)) => answer,
            Err(_) => format!("no answer within {}ms", attempt_timeout.as_millis()),
        };
        if !poll.tick().await {
            return Err(NotReady::TimedOut(last));
        }
    }
}

/// One attempt of the check, the way `route` says; `Err` carries what it saw.
pub(super) async fn check_once(
    docker: &Docker,
    container: &str,
    ip: Option<IpAddr>,
    check: &Check,
    route: &Route,
    ports: &[PortMapping],
) -> Result<(), String> {
    let way = route.way(check, ip, ports)?;
    match (check, way) {
        (Check::Exec(command), _) => exec(docker, container, command).await,
        (Check::Tcp(_), Way::Direct(address)) => TcpStream::connect(address)
            .await
            .map(drop)
            .map_err(|e| format!("tcp {address}: {e}")),
        (Check::Http { path, .. }, Way::Direct(address)) => {
            http_get(&address.to_string(), path).await
        }
        (Check::Http { path, .. }, Way::Published(host, port)) => {
            http_get(&format!("{host}:{port}"), path).await
        }
        (Check::Tcp(port), _) => {
            let ip = ip.ok_or("the container has no address on the environment's network")?;
            let script = [route::TCP_INSIDE, &ip.to_string(), &port.to_string()];
            inside(
                docker,
                container,
                &script,
                &format!("tcp {ip}:{port} (inside)"),
            )
            .await
        }
        (Check::Http { port, path }, _) => {
            let ip = ip.ok_or("the container has no address on the environment's network")?;
            let script = [route::HTTP_INSIDE, &ip.to_string(), &port.to_string(), path];
            inside(
                docker,
                container,
                &script,
                &format!("http {ip}:{port}{path} (inside)"),
            )
            .await
        }
    }
}

/// Runs a probe script with `sh` inside the container: the script, then its arguments.
async fn inside(
    docker: &Docker,
    container: &str,
    script: &[&str],
    what: &str,
) -> Result<(), String> {
    let mut command = vec![
        "sh".to_string(),
        "-c".into(),
        script[0].into(),
        "probe".into(),
    ];
    command.extend(script[1..].iter().map(|a| a.to_string()));
    match run(docker, container, &command).await {
        Ok((Some(0), _)) => Ok(()),
        Ok((code, output)) => Err(format!("{what}: {}", failed(code, &output))),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn failed(code: Option<i64>, output: &str) -> String {
    format!(
        "exited with {}: {}",
        code.map_or("no code".into(), |c| c.to_string()),
        output.trim()
    )
}

/// A bare HTTP/1.1 GET: ready on any 2xx status.
async fn http_get(address: &str, path: &str) -> Result<(), String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("http {address}{path}: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("http {address}{path}: {e}"))?;
    let mut head = [0u8; 64];
    let read = stream
        .read(&mut head)
        .await
        .map_err(|e| format!("http {address}{path}: {e}"))?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status.starts_with('2') && status.len() == 3 {
        Ok(())
    } else if read == 0 {
        Err(format!(
            "http {address}{path}: connection closed without an answer"
        ))
    } else {
        Err(format!("http {address}{path}: status {status}"))
    }
}

async fn exec(docker: &Docker, container: &str, command: &[String]) -> Result<(), String> {
    match run(docker, container, command).await? {
        (Some(0), _) => Ok(()),
        (code, output) => Err(format!("`{}` {}", command.join(" "), failed(code, &output))),
    }
}

/// Runs `command` in the container: its exit code and output.
async fn run(
    docker: &Docker,
    container: &str,
    command: &[String],
) -> Result<(Option<i64>, String), String> {
    let done = super::docker::exec(docker, container, command, &[])
        .await
        .map_err(|e| format!("exec: {e}"))?;
    Ok((done.code, done.output()))
}

/// The last lines a container wrote, for error reports.
pub(super) async fn last_logs(docker: &Docker, container: &str, lines: usize) -> Vec<String> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut stream = docker.logs(container, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&chunk.to_string());
    }
    text.lines().map(str::to_string).collect()
}
