//! The resolved desired state: every reference checked, every default applied. Nothing here is
//! optional that the rest of the program needs.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secrets::Secrets;

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    /// Where it runs, with that target's settings.
    pub target: Target,
    /// The environment file this came from.
    pub source: PathBuf,
    pub network: String,
    /// How the local readiness probes reach the services (`local.probe`).
    pub probe: ProbeRoute,
    /// Services in dependency order: every service comes after what it depends on.
    pub services: Vec<Service>,
    /// Named volumes, by their name in the file.
    pub volumes: Vec<String>,
    pub secrets: Secrets,
    /// Where Kafka Connect runs; present when there are connectors.
    pub connect: Option<Connect>,
    pub connectors: Vec<Connector>,
    /// Connectors left out because a variable they require is unset: (name, reason).
    pub skipped_connectors: Vec<(String, String)>,
    /// What the connectors' `${group.name}` references mean here (`kafka.bootstrap`, …).
    pub references: std::collections::BTreeMap<String, String>,
}

/// `local.probe`: see `local::route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeRoute {
    Auto,
    Network,
    Published,
    Inside,
}

/// Where an environment runs. Only the AWS target has settings of its own: the local target's
/// are the services themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Local,
    Aws(Box<Aws>),
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Local => "local",
            Target::Aws(_) => "aws",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aws {
    pub region: String,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub plugin_bucket: String,
    pub tags: std::collections::BTreeMap<String, String>,
    pub kafka_connect_version: String,
    /// Given bootstrap servers; empty when they come from `msk_cluster_arn`.
    pub bootstrap_servers: String,
    pub msk_cluster_arn: Option<String>,
    /// The MSK cluster the tool creates.
    pub msk: Option<Msk>,
    /// The VPC the tool creates security groups in.
    pub vpc: Option<String>,
    pub subnets: Vec<String>,
    /// The connectors' security groups, when given; empty: the tool creates one.
    pub security_groups: Vec<String>,
    /// Also allowed to reach the database and the registry.
    pub developer_access: Vec<Access>,
    /// The connectors' role, when given; `None`: the tool creates one.
    pub service_execution_role_arn: Option<String>,
    pub database: Option<Database>,
    pub registry: Option<Registry>,
    pub capacity: Capacity,
    pub log_group: Option<String>,
    pub log_retention_days: i32,
    /// Worker properties; `None`: MSK Connect's default worker configuration.
    pub worker_properties: Option<std::collections::BTreeMap<String, String>>,
}

/// A source of traffic a security group lets in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Cidr(String),
    Group(String),
}

/// The MSK cluster the tool creates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Msk {
    pub kafka_version: String,
    pub broker_type: String,
    pub brokers: u32,
    pub storage_gib: u32,
    /// The cluster configuration's broker properties.
    pub properties: std::collections::BTreeMap<String, String>,
}

/// The Aurora PostgreSQL cluster the tool creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub engine_version: String,
    /// The cluster parameter group family, from the major version (`aurora-postgresql16`).
    pub family: String,
    pub instance_class: String,
    pub name: String,
    pub master_username: String,
    pub deletion_protection: bool,
    /// Cluster parameters, the logical replication ones included.
    pub parameters: std::collections::BTreeMap<String, String>,
    /// SQL files to load once the database exists, in order.
    pub schema: Vec<SqlFile>,
    pub schema_image: String,
    /// The most WAL (bytes) a source's replication slot may hold back before `aws verify` fails
    /// and the slots' alarm fires.
    pub max_retained_wal: u64,
    /// What the slots' alarm notifies (ARNs).
    pub alarm_actions: Vec<String>,
}

/// Apicurio Registry on ECS Fargate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub image: String,
    pub cpu: u32,
    pub memory: u32,
    pub desired_count: u32,
    /// A Secrets Manager secret ARN with the private registry's credentials.
    pub image_credentials: Option<String>,
}

impl Registry {
    /// The API's port in the image.
    pub const PORT: i32 = 8080;
    /// Since Apicurio Registry 3.2 the health endpoints are on Quarkus's management interface,
    /// port 9000, not on 8080 (apicurio-registry `app/src/main/resources/application.properties`:
    /// `quarkus.management.enabled=true`; `distro/docker/src/main/docker/Dockerfile.jvm` exposes
    /// 8080 8443 9000). The load balancer checks readiness there.
    pub const HEALTH_PORT: i32 = 9000;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The service running Kafka Connect.
    pub service: String,
    /// Its REST port inside the container.
    pub port: u16,
    /// How long a connector and its tasks get to reach their state.
    pub timeout: Duration,
    /// How long a connector must stay RUNNING after a change to count as running.
    pub stable_for: Duration,
    /// The most WAL (bytes) a source's replication slot may hold back before `verify` fails.
    pub max_retained_wal: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub name: String,
    pub plugin: Option<String>,
    pub state: ConnectorState,
    pub config: std::collections::BTreeMap<String, String>,
    /// Keys whose values came from a `${secret:...}`.
    pub secret_keys: std::collections::BTreeSet<String>,
    /// Keys whose whole value is one `${secret:NAME}`: key → NAME (AWS passes these through a
    /// config provider).
    pub secret_names: std::collections::BTreeMap<String, String>,
    /// Keys the connector class does not define that are passed on as meant.
    pub allow_unknown_keys: std::collections::BTreeSet<String>,
    /// Keep its replication slot when it goes or moves to another slot (`keep-slot`).
    pub keep_slot: bool,
}

impl Environment {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The connector a command names, or why there is none: not in the file, or skipped for a
    /// variable it requires.
    pub fn connector(&self, name: &str) -> Result<&Connector, String> {
        if let Some(connector) = self.connectors.iter().find(|c| c.name == name) {
            return Ok(connector);
        }
        Err(
            match self.skipped_connectors.iter().find(|(n, _)| n == name) {
                Some((_, reason)) => {
                    format!("connector `{name}` is skipped in this environment: {reason}")
                }
                None => format!("no connector `{name}` in the environment file"),
            },
        )
    }

    /// The name of a resource of this environment: Docker (`local-kafka`, `local-pgdata`) and
    /// AWS (`dev-database`, `dev-connect`) alike.
    pub fn scoped(&self, name: &str) -> String {
        format!("{}-{name}", self.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub image: String,
    pub pull: PullPolicy,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: Vec<EnvVar>,
    pub ports: Vec<PortMapping>,
    pub mounts: Vec<Mount>,
    pub depends_on: Vec<String>,
    pub ready: Option<Probe>,
    /// Connector plugins to mount, and where.
    pub plugins: Option<PluginMounts>,
    /// SQL files `up` loads with `psql` in the container once it is ready (as the image's
    /// `POSTGRES_USER` on `POSTGRES_DB`), and again when they change.
    pub schema: Vec<SqlFile>,
}

/// An SQL file an environment loads into a database: the AWS schema load and the local one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFile {
    /// The file's name, as plans and the load's record show it.
    pub name: String,
    /// Where it was read from, for errors that point into it.
    pub path: PathBuf,
    pub content: String,
}

impl SqlFile {
    /// The first 16 hex digits of the content's sha256: what a load records per file.
    pub fn digest(&self) -> String {
        crate::digest::short(self.content.as_bytes())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMounts {
    pub path: String,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    /// The value came (at least in part) from a `${secret:...}`.
    pub secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub address: IpAddr,
    pub host: u16,
    pub container: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    /// Where the published port is reached from this machine: its address, or 127.0.0.1 when
    /// it is published on every address.
    pub fn reachable(&self) -> (String, u16) {
        let address = if self.address.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            self.address.to_string()
        };
        (address, self.host)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: MountSource,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A named volume of the environment, by its name in the file.
    Volume(String),
    /// An absolute host path.
    Bind(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub check: Check,
    pub interval: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Tcp(u16),
    Http { port: u16, path: String },
    Exec(Vec<String>),
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Tcp(port) => write!(f, "tcp :{port}"),
            Check::Http { port, path } => write!(f, "http :{port}{path}"),
            Check::Exec(command) => write!(f, "exec {}", command.join(" ")),
        }
    }
}

/// An MSK Connect connector's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    Provisioned {
        mcu: u32,
        workers: u32,
    },
    Autoscaled {
        mcu: u32,
        min_workers: u32,
        max_workers: u32,
        scale_out_cpu: u32,
        scale_in_cpu: u32,
    },
}

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Capacity::Provisioned { mcu, workers } => write!(f, "{mcu} MCU × {workers} workers"),
            Capacity::Autoscaled {
                mcu,
                min_workers,
                max_workers,
                scale_out_cpu,
                scale_in_cpu,
            } => write!(
                f,
                "{mcu} MCU × {min_workers}-{max_workers} workers (out above {scale_out_cpu}% CPU, in below {scale_in_cpu}%)"
            ),
        }
    }
}

/// A connector's desired state, as the file says it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectorState {
    #[default]
    Running,
    Paused,
    Stopped,
}

/// When an image is pulled, as the file says it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Pull only when the image is not present.
    #[default]
    Missing,
    /// Pull on every `up`; a changed image recreates the container.
    Always,
    /// Never pull; a missing image is an error.
    Never,
}
