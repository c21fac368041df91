//! Host ports are checked before anything is created, so a taken port stops `up` with nothing
//! half-done, naming who holds it when Docker knows.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;

use super::observe::Observed;
use super::program::Program;
use super::spec::{LABEL_ENVIRONMENT, LABEL_SERVICE};
use crate::error::Error;
use crate::model::{Environment, Protocol};

pub(super) async fn check_free(
    docker: &Docker,
    env: &Environment,
    observed: &Observed,
    program: &Program,
) -> Result<(), Error> {
    // Ports our own containers hold now are freed by the apply (recreate, remove) or kept. A
    // container that exists holds its service's ports too even when it is seen as not started:
    // a run interrupted right after asking the engine to start it may see it bind them now.
    let ours: BTreeSet<u16> = observed
        .containers
        .iter()
        .flat_map(|c| {
            let configured = env
                .service(&c.service)
                .into_iter()
                .flat_map(|s| s.ports.iter());
            c.ports
                .iter()
                .map(|p| p.1)
                .chain(configured.map(|p| p.host))
        })
        .collect();
    for service in env.services.iter().filter(|s| program.starts(&s.name)) {
        for port in service.ports.iter().filter(|p| !ours.contains(&p.host)) {
            let address = SocketAddr::new(port.address, port.host);
            let free = match port.protocol {
                Protocol::Tcp => TcpListener::bind(address).map(drop),
                Protocol::Udp => UdpSocket::bind(address).map(drop),
            };
            if let Err(e) = free {
                let owner = owner_of(docker, port.host)
                    .await
                    .unwrap_or_else(|| "another process".into());
                return Err(Error::user(format!(
                    "host port {} ({address}) for service `{}` is taken by {owner}: {e}",
                    port.host, service.name
                ))
                .with_hint("stop what holds the port, or publish the service on another host port in the environment file"));
            }
        }
    }
    Ok(())
}

/// The container publishing `port`, described with its environment when it is one of ours.
async fn owner_of(docker: &Docker, port: u16) -> Option<String> {
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().build()))
        .await
        .ok()?;
    let holder = containers.into_iter().find(|c| {
        c.ports
            .iter()
            .flatten()
            .any(|p| p.public_port == Some(port))
    })?;
    let name = holder
        .names
        .and_then(|n| n.into_iter().next())
        .unwrap_or_default();
    let name = name.trim_start_matches('/');
    let labels = holder.labels.unwrap_or_default();
    Some(
        match (labels.get(LABEL_ENVIRONMENT), labels.get(LABEL_SERVICE)) {
            (Some(env), Some(service)) => {
                format!("container `{name}` (service `{service}` of environment `{env}`)")
            }
            _ => format!("container `{name}`"),
        },
    )
}
