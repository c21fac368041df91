//! Reading what exists on the engine for one environment: containers, network and volumes that
//! carry its label, the local image of every image reference it uses, and what the databases
//! with `schema` files have loaded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use bollard::Docker;
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{ListContainersOptionsBuilder, ListVolumesOptionsBuilder};
use futures::future::{join_all, try_join_all};

use super::docker::is_not_found;
use super::schema::{self, Record};
use super::spec::{
    LABEL_CONFIG_HASH, LABEL_CONFIG_PARTS, LABEL_ENVIRONMENT, LABEL_IMAGE, LABEL_PLUGINS,
    LABEL_SERVICE, parse_parts,
};
use crate::error::Error;
use crate::model::Environment;

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Observed {
    pub containers: Vec<ObservedContainer>,
    /// The ids of the environment's networks of its name, oldest first (see `networks`).
    pub networks: Vec<String>,
    /// Docker names of this environment's volumes.
    pub volumes: BTreeSet<String>,
    /// Local image id of each image reference the environment uses (`None`: not present).
    pub images: BTreeMap<String, Option<String>>,
    /// What each service with `schema` files has loaded, read from its running container.
    pub schema: BTreeMap<String, Record>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    pub hash: String,
    pub parts: BTreeMap<String, String>,
    pub image: String,
    pub image_id: String,
    pub running: bool,
    /// Docker's state word (`running`, `exited`, `created`, …).
    pub state: String,
    /// Docker's status text (`Up 3 minutes`, `Exited (1) 2 seconds ago`).
    pub status: String,
    pub ip: Option<IpAddr>,
    /// Published ports: (host address, host port, container port, protocol).
    pub ports: Vec<(String, u16, u16, String)>,
    /// Mounted plugins and their ZIP digests (`sha256:…`).
    pub plugins: BTreeMap<String, String>,
}

/// The container's address on `network`, from Docker's per-network endpoint settings.
pub(super) fn address_on(
    networks: Option<HashMap<String, bollard::models::EndpointSettings>>,
    network: &str,
) -> Option<IpAddr> {
    networks?.remove(network)?.ip_address?.parse().ok()
}

pub(super) fn label_filter(env: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_ENVIRONMENT}={env}")],
    )])
}

pub(super) async fn observe(docker: &Docker, env: &Environment) -> Result<Observed, Error> {
    let images: BTreeSet<&str> = env.services.iter().map(|s| s.image.as_str()).collect();
    let (containers, networks, volumes, images) = tokio::try_join!(
        containers(docker, &env.name, &env.network),
        networks(docker, env),
        observe_volumes(docker, &env.name),
        try_join_all(images.into_iter().map(|image| image_id(docker, image))),
    )?;
    // Only a running container's database can say what it has loaded.
    let schema = join_all(
        env.services
            .iter()
            .filter(|s| !s.schema.is_empty())
            .map(|service| {
                let running = containers
                    .iter()
                    .find(|c| c.service == service.name && c.running);
                async move {
                    let record = match running {
                        Some(c) => schema::observe(docker, &c.id, service).await,
                        None => Record::Unknown,
                    };
                    (service.name.clone(), record)
                }
            }),
    )
    .await;
    Ok(Observed {
        containers,
        networks,
        volumes,
        images: images.into_iter().collect(),
        schema: schema.into_iter().collect(),
    })
}

pub(super) async fn containers(
    docker: &Docker,
    env: &str,
    network: &str,
) -> Result<Vec<ObservedContainer>, Error> {
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&label_filter(env))
        .build();
    let list = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| Error::docker("list containers", e))?;
    let mut out: Vec<ObservedContainer> = list
        .into_iter()
        .map(|c| {
            let labels = c.labels.unwrap_or_default();
            let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
            let ip = address_on(c.network_settings.and_then(|n| n.networks), network);
            let ports = c
                .ports
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| {
                    Some((
                        p.ip.unwrap_or_default(),
                        p.public_port?,
                        p.private_port,
                        p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
                    ))
                })
                .collect();
            ObservedContainer {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                service: label(LABEL_SERVICE),
                hash: label(LABEL_CONFIG_HASH),
                parts: parse_parts(&label(LABEL_CONFIG_PARTS)),
                image: label(LABEL_IMAGE),
                image_id: c.image_id.unwrap_or_default(),
                running: c.state == Some(ContainerSummaryStateEnum::RUNNING),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                ip,
                ports,
                plugins: parse_parts(&label(LABEL_PLUGINS)),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The ids of the environment's networks named as it says, oldest first. There is one, except
/// after a create the engine was still carrying out when its caller was interrupted and the
/// next run created another: the engine then holds two of one name (and refuses the name as
/// ambiguous), so every use goes by id.
pub(super) async fn networks(docker: &Docker, env: &Environment) -> Result<Vec<String>, Error> {
    let filter = label_filter(&env.name);
    let mut found: Vec<(String, String)> = docker
        .list_networks(Some(
            bollard::query_parameters::ListNetworksOptionsBuilder::new()
                .filters(&filter)
                .build(),
        ))
        .await
        .map_err(|e| Error::docker("list networks", e))?
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(env.network.as_str()))
        .filter_map(|n| Some((n.created.unwrap_or_default(), n.id?)))
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, id)| id).collect())
}

pub(super) async fn observe_volumes(docker: &Docker, env: &str) -> Result<BTreeSet<String>, Error> {
    let options = ListVolumesOptionsBuilder::new()
        .filters(&label_filter(env))
        .build();
    let list = docker
        .list_volumes(Some(options))
        .await
        .map_err(|e| Error::docker("list volumes", e))?;
    Ok(list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect())
}

async fn image_id(docker: &Docker, image: &str) -> Result<(String, Option<String>), Error> {
    match docker.inspect_image(image).await {
        Ok(inspect) => Ok((image.to_string(), inspect.id)),
        Err(e) if is_not_found(&e) => Ok((image.to_string(), None)),
        Err(e) => Err(Error::docker("inspect image", e)),
    }
}
