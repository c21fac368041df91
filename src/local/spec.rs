//! What a service's container should look like, and the hashes that tell whether a running
//! container still matches. Hashes are taken over the masked configuration, so a secret value
//! never reaches a label, even hashed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::{Environment, Mount, MountSource, Service};

pub(super) const LABEL_ENVIRONMENT: &str = "deploy.environment";
pub(super) const LABEL_SERVICE: &str = "deploy.service";
pub(super) const LABEL_CONFIG_HASH: &str = "deploy.config-hash";
/// Per-part hashes (`command=…,environment=…`), so a recreate can say what changed.
pub(super) const LABEL_CONFIG_PARTS: &str = "deploy.config-parts";
pub(super) const LABEL_IMAGE: &str = "deploy.image";
/// The mounted plugins' ZIP digests (`debezium-postgres=sha256:…,…`).
pub(super) const LABEL_PLUGINS: &str = "deploy.plugins";

/// A plugin a service mounts, once its ZIP is built: the ZIP's sha256 and the folder extracted
/// from it (under the cache, by digest, so the path is known before it is extracted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BuiltPlugin {
    pub sha256: String,
    pub folder: PathBuf,
}

/// The plugins the services mount that are built, by name: every one for `up`, which builds
/// them first; those already built for `plan`, which downloads nothing.
pub(super) type Plugins = BTreeMap<String, BuiltPlugin>;

/// The desired container of one service.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Desired {
    pub service: Service,
    /// Docker container name (`<environment>-<service>`).
    pub container: String,
    /// The service's own mounts, then each built plugin's folder, read-only.
    pub mounts: Vec<Mount>,
    /// Each mounted plugin's ZIP digest; `None` until it is built (known after build).
    pub plugins: BTreeMap<String, Option<String>>,
    pub parts: BTreeMap<String, String>,
    pub hash: String,
}

impl Desired {
    /// The mounted plugins not built yet: their mounts are known after build.
    pub(super) fn unbuilt(&self) -> Vec<&str> {
        self.plugins
            .iter()
            .filter(|(_, digest)| digest.is_none())
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// The same for `plan` and `up`: the services as the file says, with the plugins' mounts.
pub(super) fn desired(env: &Environment, plugins: &Plugins) -> Vec<Desired> {
    env.services
        .iter()
        .map(|s| desired_service(env, s, plugins))
        .collect()
}

fn desired_service(env: &Environment, service: &Service, built: &Plugins) -> Desired {
    let mut mounts = service.mounts.clone();
    let mut plugins = BTreeMap::new();
    if let Some(wanted) = &service.plugins {
        for name in &wanted.names {
            let plugin = built.get(name);
            if let Some(plugin) = plugin {
                mounts.push(Mount {
                    source: MountSource::Bind(plugin.folder.clone()),
                    target: format!("{}/{name}", wanted.path),
                    read_only: true,
                });
            }
            plugins.insert(name.clone(), plugin.map(|p| p.sha256.clone()));
        }
    }
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
    let mut volumes: Vec<String> = mounts
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
    // A plugin not built yet has no folder: its mount, and so this part, is known after build.
    volumes.extend(
        plugins
            .iter()
            .filter(|(_, digest)| digest.is_none())
            .map(|(name, _)| format!("plugin:{name}:known after build")),
    );
    let inputs = [
        ("image", mask(service.image.clone().into())),
        ("command", mask(serde_json::json!(service.command))),
        ("entrypoint", mask(serde_json::json!(service.entrypoint))),
        ("environment", mask(serde_json::json!(environment))),
        ("ports", mask(serde_json::json!(ports))),
        ("volumes", mask(serde_json::json!(volumes))),
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
        mounts,
        plugins,
        parts,
        hash,
    }
}

pub(super) fn format_parts(parts: &BTreeMap<String, String>) -> String {
    parts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn parse_parts(label: &str) -> BTreeMap<String, String> {
    label
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn short_hash(bytes: &[u8]) -> String {
    crate::digest::short(bytes)
}

pub(super) fn labels(env: &Environment, desired: &Desired) -> BTreeMap<String, String> {
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
    if !desired.plugins.is_empty() {
        let digests: Vec<String> = desired
            .plugins
            .iter()
            .filter_map(|(n, d)| Some(format!("{n}=sha256:{}", d.as_ref()?)))
            .collect();
        labels.insert(LABEL_PLUGINS.to_string(), digests.join(","));
    }
    labels
}

/// Labels for the network and volumes: whose they are.
pub(super) fn owner_labels(env: &Environment) -> BTreeMap<String, String> {
    BTreeMap::from([(LABEL_ENVIRONMENT.to_string(), env.name.clone())])
}
