//! Where an address the stack's containers use (`postgres:5432`, `registry:8080`) is reached
//! from this machine: the service's published port where the container port is published, else
//! the container's address on the environment's network. `verify` and the slots' reads use it.

use std::collections::{BTreeMap, BTreeSet};

use super::{docker, observe};
use crate::error::Error;
use crate::model::Environment;
use crate::slots::Database;

/// `host:port` as a service is named in the environment → where it is reached from here.
#[derive(Debug, Clone, Default)]
pub(crate) struct Addresses(pub(crate) BTreeMap<(String, String), (String, String)>);

impl Addresses {
    /// `host:port` rewritten when known, else as given.
    pub(crate) fn rewrite(&self, address: &str) -> String {
        match address.rsplit_once(':') {
            Some((host, port)) => match self.0.get(&(host.to_string(), port.to_string())) {
                Some((h, p)) => format!("{h}:{p}"),
                None => address.to_string(),
            },
            None => address.to_string(),
        }
    }

    /// A source's database as it is reached from here.
    pub(crate) fn database(&self, database: &Database) -> Database {
        let mut reached = database.clone();
        let address = self.rewrite(&format!("{}:{}", database.host, database.port));
        if let Some((host, port)) = address.rsplit_once(':') {
            reached.host = host.into();
            reached.port = port.into();
        }
        reached
    }
}

/// Where the sources' databases are reached from here, listed once for all of them (none
/// listed when there are none); the failure as text, for the plan rows it leaves unread.
pub(super) async fn databases<'a>(
    env: &Environment,
    databases: impl IntoIterator<Item = &'a Database>,
) -> Result<Addresses, String> {
    let ports: BTreeSet<u16> = databases
        .into_iter()
        .filter_map(|d| d.port.parse().ok())
        .collect();
    if ports.is_empty() {
        return Ok(Addresses::default());
    }
    addresses(env, &ports).await.map_err(|e| e.to_string())
}

/// Every address a service is reached at from here: its published port where the container
/// port is published, else the container's address on the environment's network.
pub(super) async fn addresses(
    env: &Environment,
    ports: &BTreeSet<u16>,
) -> Result<Addresses, Error> {
    let docker = docker::connect().await?;
    let containers = observe::containers(&docker, &env.name, &env.network).await?;
    let mut map = Addresses::default();
    for service in &env.services {
        let ip = containers
            .iter()
            .find(|c| c.service == service.name)
            .and_then(|c| c.ip);
        for port in ports {
            let published = service.ports.iter().find(|p| p.container == *port);
            let to = match (published, ip) {
                (Some(p), _) => p.reachable(),
                (None, Some(ip)) => (ip.to_string(), *port),
                (None, None) => continue,
            };
            map.0.insert(
                (service.name.clone(), port.to_string()),
                (to.0, to.1.to_string()),
            );
        }
    }
    Ok(map)
}
