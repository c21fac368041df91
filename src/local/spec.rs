//! What a service's container should look like, and the hashes that tell whether a running
//! container still matches. Hashes are taken over the masked configuration, so a secret value
//! never reaches a label, even hashed.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::model::{Environment, MountSource, Service};

pub const LABEL_ENVIRONMENT: &str = "deploy.environment";
pub const LABEL_SERVICE: &str = "deploy.service";
pub const LABEL_CONFIG_HASH: &str = "deploy.config-hash";
/// Per-part hashes (`command=…,environment=…`), so a recreate can say what changed.
pub const LABEL_CONFIG_PARTS: &str = "deploy.config-parts";
pub const LABEL_IMAGE: &str = "deploy.image";
/// The mounted plugins' ZIP digests (`debezium-postgres=sha256:…,…`).
pub const LABEL_PLUGINS: &str = "deploy.plugins";

/// The desired container of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub service: Service,
    /// Docker container name (`<environment>-<service>`).
    pub container: String,
    pub parts: BTreeMap<String, String>,
    pub hash: String,
}

pub fn desired(env: &Environment) -> Vec<Desired> {
    env.services
        .iter()
        .map(|s| desired_service(env, s))
        .collect()
}

fn desired_service(env: &Environment, service: &Service) -> Desired {
    let mask = |value: serde_json::Value| env.secrets.mask(&value.to_string()).into_owned();
    let environment: BTreeMap<&str, &str> = service
        .environment
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    let ports: Vec<String> = service
        .ports
        .iter()
        .map(|p| {
            format!(
                "{}:{}:{}/{}",
                p.address,
                p.host,
                p.container,
                p.protocol.as_str()
            )
        })
        .collect();
    let mounts: Vec<String> = service
        .mounts
        .iter()
        .map(|m| {
            let source = match &m.source {
                MountSource::Volume(name) => format!("volume:{}", env.scoped(name)),
                MountSource::Bind(path) => format!("bind:{}", path.display()),
            };
            format!(
                "{source}:{}:{}",
                m.target,
                if m.read_only { "ro" } else { "rw" }
            )
        })
        .collect();
    let inputs = [
        ("image", mask(service.image.clone().into())),
        ("command", mask(serde_json::json!(service.command))),
        ("entrypoint", mask(serde_json::json!(service.entrypoint))),
        ("environment", mask(serde_json::json!(environment))),
        ("ports", mask(serde_json::json!(ports))),
        ("volumes", mask(serde_json::json!(mounts))),
        (
            "network",
            mask(serde_json::json!([env.network, service.name])),
        ),
    ];
    let parts: BTreeMap<String, String> = inputs
        .iter()
        .map(|(name, input)| (name.to_string(), short_hash(input.as_bytes())))
        .collect();
    let hash = short_hash(format_parts(&parts).as_bytes());
    Desired {
        service: service.clone(),
        container: env.scoped(&service.name),
        parts,
        hash,
    }
}

pub fn format_parts(parts: &BTreeMap<String, String>) -> String {
    parts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn parse_parts(label: &str) -> BTreeMap<String, String> {
    label
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn labels(env: &Environment, desired: &Desired) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (LABEL_ENVIRONMENT.to_string(), env.name.clone()),
        (LABEL_SERVICE.to_string(), desired.service.name.clone()),
        (LABEL_CONFIG_HASH.to_string(), desired.hash.clone()),
        (LABEL_CONFIG_PARTS.to_string(), format_parts(&desired.parts)),
        (
            LABEL_IMAGE.to_string(),
            env.secrets.mask(&desired.service.image).into_owned(),
        ),
    ]);
    if let Some(plugins) = &desired.service.plugins {
        let digests: Vec<String> = plugins
            .digests
            .iter()
            .map(|(n, d)| format!("{n}=sha256:{d}"))
            .collect();
        labels.insert(LABEL_PLUGINS.to_string(), digests.join(","));
    }
    labels
}

/// Labels for the network and volumes: whose they are.
pub fn owner_labels(env: &Environment) -> BTreeMap<String, String> {
    BTreeMap::from([(LABEL_ENVIRONMENT.to_string(), env.name.clone())])
}
