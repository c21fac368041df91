//! The environment file as written: serde types with no meaning attached yet. `resolve` turns
//! them into the model. The JSON Schema of the format is generated from these types.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::model::{ConnectorState, PullPolicy};

/// An environment file: the services of one stack and where it runs.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct EnvironmentFile {
    /// Format version; this is version 1.
    pub version: u32,
    /// Name of the environment: prefixes every resource it creates (`local-kafka`).
    pub name: String,
    /// Where the environment runs.
    pub target: Target,
    /// Files merged underneath this one, relative to it; this file's keys win.
    #[serde(default)]
    pub include: Vec<String>,
    /// Settings for the local (Docker) target.
    #[serde(default)]
    pub local: LocalSettings,
    /// The services, by name.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceFile>,
    /// Named volumes the services mount. They outlive `local down` unless `--volumes`.
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<VolumeFile>>,
    /// Values connectors refer to as `${group.name}` (`${kafka.bootstrap}`, `${registry.url}`),
    /// so one connector definition serves every target.
    #[serde(default)]
    pub references: BTreeMap<String, ScalarString>,
    /// Where Kafka Connect runs, for the connectors.
    pub connect: Option<ConnectFile>,
    /// Connectors, by name, reconciled against Kafka Connect.
    #[serde(default)]
    pub connectors: BTreeMap<String, ConnectorFile>,
    /// Settings for the AWS target.
    pub aws: Option<AwsFile>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct AwsFile {
    /// AWS region, e.g. `ap-southeast-2`.
    pub region: String,
    /// A profile of the shared AWS config; empty or absent: the standard credential chain.
    pub profile: Option<String>,
    /// One endpoint for every service (emulators); `AWS_ENDPOINT_URL_<SERVICE>` also works.
    pub endpoint_url: Option<String>,
    /// The S3 bucket for plugin ZIPs (created when missing: versioned, encrypted, private).
    pub plugin_bucket: String,
    /// Tags added to everything created (besides `deploy:environment` and `deploy:resource`).
    #[serde(default)]
    pub tags: BTreeMap<String, ScalarString>,
    /// Kafka Connect version of the MSK Connect workers (default `3.7.x`).
    pub kafka_connect_version: Option<String>,
    /// The MSK cluster's bootstrap servers for IAM authentication (port 9098).
    pub bootstrap_servers: Option<String>,
    /// Or an existing MSK cluster, by ARN: its IAM bootstrap servers are read from it.
    pub msk_cluster_arn: Option<String>,
    /// Or an MSK cluster the tool creates (IAM authentication, TLS, broker logs to CloudWatch).
    pub msk: Option<MskFile>,
    /// The VPC (an existing one) the tool creates its security groups in.
    pub vpc: Option<String>,
    /// Private subnets of that VPC: the connectors, the database and the registry run in them.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Security groups of the connectors; absent: the tool creates one in `vpc`.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// CIDR blocks (`10.1.0.0/16`) or security groups (`sg-…`) that may also reach the database
    /// and the registry, e.g. a bastion or a VPN.
    #[serde(default)]
    pub developer_access: Vec<String>,
    /// The IAM role MSK Connect runs the connectors as; absent: the tool creates one with only
    /// what the connectors use.
    pub service_execution_role_arn: Option<String>,
    /// An Aurora PostgreSQL cluster for the connectors' source database.
    pub database: Option<DatabaseFile>,
    /// Apicurio Registry on ECS Fargate behind an internal load balancer, storing in `database`.
    pub registry: Option<RegistryFile>,
    /// Provisioned capacity of each connector (default 1 MCU × 1 worker).
    pub capacity: Option<CapacityFile>,
    /// CloudWatch log group for the connectors' worker logs (created when missing).
    pub log_group: Option<String>,
    /// How long the log group keeps logs, in days (default 30).
    pub log_retention_days: Option<i32>,
    /// The connectors' worker configuration (MSK's default when absent).
    pub worker_configuration: Option<WorkerConfigurationFile>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct MskFile {
    /// Kafka version (default `3.8.x`), as MSK names them.
    pub kafka_version: Option<String>,
    /// Broker instance type (default `kafka.m7g.large`).
    pub broker_type: Option<String>,
    /// Number of brokers, a multiple of the subnets (default: one per subnet).
    pub brokers: Option<u32>,
    /// EBS storage per broker in GiB (default 100).
    pub storage_gib: Option<u32>,
    /// Broker properties of the cluster configuration, besides the tool's defaults
    /// (`auto.create.topics.enable=true`, `default.replication.factor` = min(3, brokers)).
    #[serde(default)]
    pub configuration: BTreeMap<String, ScalarString>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct DatabaseFile {
    /// Aurora PostgreSQL version (default `16.8`, the 16.x long-term-support release); its major version picks the parameter family.
    pub engine_version: Option<String>,
    /// The writer instance's class (default `db.r6g.large`).
    pub instance_class: Option<String>,
    /// The database created in the cluster (default `main`).
    pub name: Option<String>,
    /// The master user (default `master`); its password is kept by RDS in Secrets Manager.
    pub master_username: Option<String>,
    /// Refuse deletion of the cluster (default true): `destroy` then keeps the database.
    pub deletion_protection: Option<bool>,
    /// Cluster parameters besides the logical replication ones the tool sets.
    #[serde(default)]
    pub parameters: BTreeMap<String, ScalarString>,
    /// SQL files (relative to this file) the tool runs in the database once it exists, in order,
    /// as one transaction, from a one-shot ECS task in the private subnets; again when they change
    /// (so they should be idempotent).
    #[serde(default)]
    pub schema: Vec<String>,
    /// The image the database tasks (the schema load, the replication slots' reads and drops)
    /// run `psql` from (default `postgres:17`).
    pub schema_image: Option<String>,
    /// The most WAL a source's replication slot may hold back before `aws verify` fails
    /// (default `1GiB`), and at which the replication slots' CloudWatch alarm fires.
    pub max_retained_wal: Option<String>,
    /// What the replication slots' alarm notifies when it fires and when it clears: ARNs of SNS
    /// topics (or any CloudWatch alarm action).
    #[serde(default)]
    pub alarm_actions: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RegistryFile {
    /// The registry image (default `apicurio/apicurio-registry:3.3.1`).
    pub image: Option<String>,
    /// Fargate CPU units (default 512).
    pub cpu: Option<u32>,
    /// Fargate memory in MiB (default 1024).
    pub memory: Option<u32>,
    /// How many registry tasks run (default 1).
    pub desired_count: Option<u32>,
    /// For an image in a private registry other than ECR: the ARN of a Secrets Manager secret
    /// holding its `username` and `password` (ECS `repositoryCredentials`). An image in this
    /// account's ECR needs none.
    pub image_credentials: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WorkerConfigurationFile {
    /// Make the Confluent Avro converter (at `${registry.url}`) the default key and value
    /// converter of the workers.
    #[serde(default)]
    pub avro_converters: bool,
    /// Worker properties, as in `connect-distributed.properties`.
    #[serde(default)]
    pub properties: BTreeMap<String, ScalarString>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct CapacityFile {
    /// MSK Connect units per worker: 1, 2, 4 or 8.
    pub mcu_count: u32,
    /// A fixed number of workers: 1 to 10.
    pub worker_count: Option<u32>,
    /// Or workers scaled on CPU.
    pub autoscaling: Option<AutoscalingFile>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct AutoscalingFile {
    pub min_workers: u32,
    pub max_workers: u32,
    /// CPU percentage above which a worker is added (default 80).
    pub scale_out_cpu: Option<u32>,
    /// CPU percentage below which a worker is removed (default 20).
    pub scale_in_cpu: Option<u32>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ConnectFile {
    /// The service that runs Kafka Connect (local target).
    pub service: String,
    /// Its REST port inside the container (default 8083).
    #[serde(default = "connect_port")]
    pub port: u16,
    /// How long to wait for a connector and all its tasks to run (default `120s`).
    pub timeout: Option<String>,
    /// How long a connector must stay RUNNING after a change before it counts as running
    /// (default `8s`): Debezium fails a task that cannot stream seconds after it reports RUNNING.
    pub stable_for: Option<String>,
    /// The most WAL a Debezium source's replication slot may hold back before `verify` fails
    /// (default `1GiB`; `512MiB`, `2GB`, or bytes).
    pub max_retained_wal: Option<String>,
}

fn connect_port() -> u16 {
    8083
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ConnectorFile {
    /// The connector plugin (from `plugins/`) that provides the class.
    pub plugin: Option<String>,
    /// Desired state (default `running`).
    #[serde(default)]
    pub state: ConnectorState,
    /// Variables the connector needs; when one is unset, the connector is skipped (with the
    /// reason said) instead of failing the whole environment.
    #[serde(default)]
    pub requires: Vec<String>,
    /// The connector configuration, as Kafka Connect takes it.
    pub config: BTreeMap<String, ScalarString>,
    /// Keys of `config` that the connector class does not define and that are meant anyway
    /// (read by something Connect cannot describe). Any other key Connect's validation does not
    /// know is refused, with the nearest key it does know.
    #[serde(default)]
    pub allow_unknown_keys: Vec<String>,
    /// A Debezium PostgreSQL source's replication slot is dropped when the connector goes or
    /// moves to another slot (default); `true` keeps it, and plans and `status` then say how
    /// much WAL it pins.
    #[serde(default)]
    pub keep_slot: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Target {
    Local,
    Aws,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct LocalSettings {
    /// Host address that ports are published on when a mapping names none (default 127.0.0.1).
    pub publish_address: Option<String>,
    /// Docker network name (default `deploy-<name>`).
    pub network: Option<String>,
    /// How readiness probes reach the services (default `auto`).
    pub probe: Option<ProbeRoute>,
}

/// `network`: from this machine to each container's network address (a local engine on Linux).
/// `published`: HTTP probes through the published port, TCP probes from inside the container
/// (Docker Desktop, rootless or remote engines, where container addresses are not reachable).
/// `inside`: every probe from inside the container. `auto`: `published` when the engine is Docker
/// Desktop, rootless or remote (`DOCKER_HOST`), else `network`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProbeRoute {
    Auto,
    Network,
    Published,
    Inside,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ServiceFile {
    /// Image reference, e.g. `postgres:17`.
    pub image: String,
    /// When to pull the image (default `missing`).
    #[serde(default)]
    pub pull: PullPolicy,
    /// Replaces the image's command (CMD).
    pub command: Option<Vec<String>>,
    /// Replaces the image's entrypoint (ENTRYPOINT).
    pub entrypoint: Option<Vec<String>>,
    /// Environment variables of the container.
    #[serde(default)]
    pub environment: BTreeMap<String, ScalarString>,
    /// Published ports: `"[ADDRESS:]HOST:CONTAINER[/udp]"` or a mapping.
    #[serde(default)]
    pub ports: Vec<PortFile>,
    /// Mounts: `"VOLUME:/path[:ro]"` for a named volume, `"./dir:/path[:ro]"` for a host path
    /// (relative to the file that says it).
    #[serde(default)]
    pub volumes: Vec<String>,
    /// Services that must be ready before this one starts.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// How to tell that the service is ready.
    pub ready: Option<ReadyFile>,
    /// Connector plugins (defined in `plugins/`) built and mounted read-only into this service.
    pub plugins: Option<PluginsFile>,
    /// SQL files (relative to this file) that `up` runs with `psql` in the container once it is
    /// ready, in order, as one transaction, as the image's `POSTGRES_USER` on `POSTGRES_DB`; the
    /// files' digests are recorded in the database, so they run again only when they change
    /// (keep them idempotent). The AWS target's `database.schema` loads the same files.
    #[serde(default)]
    pub schema: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PluginsFile {
    /// The folder each plugin is mounted under, as `<path>/<plugin>` (Connect's `plugin.path`).
    #[serde(default = "default_plugin_path")]
    pub path: String,
    /// The connector plugins, by name.
    #[serde(rename = "use")]
    pub names: Vec<String>,
}

fn default_plugin_path() -> String {
    "/opt/connectors".into()
}

/// A readiness probe: exactly one of `tcp`, `http` or `exec`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ReadyFile {
    /// Ready when the container accepts TCP connections on this port.
    pub tcp: Option<u16>,
    /// Ready when an HTTP GET answers 2xx.
    pub http: Option<HttpProbeFile>,
    /// Ready when this command, run in the container, exits 0.
    pub exec: Option<Vec<String>>,
    /// Time between attempts (default `250ms`).
    pub interval: Option<String>,
    /// Give up after this long (default `120s`).
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct HttpProbeFile {
    /// Container port.
    pub port: u16,
    /// Request path (default `/`).
    #[serde(default = "root_path")]
    pub path: String,
}

fn root_path() -> String {
    "/".into()
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct VolumeFile {}

/// A port mapping in long form.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PortMappingFile {
    /// Host port.
    pub published: u16,
    /// Container port.
    pub target: u16,
    /// Host address (default: `local.publish-address`).
    pub address: Option<String>,
    /// `tcp` (default) or `udp`.
    pub protocol: Option<String>,
}

/// `"[ADDRESS:]HOST:CONTAINER[/PROTOCOL]"` or the long form.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(untagged)]
#[serde(untagged)]
pub(crate) enum PortFile {
    Short(String),
    Long(PortMappingFile),
}

impl<'de> Deserialize<'de> for PortFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl<'de> Visitor<'de> for PortVisitor {
            type Value = PortFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a port mapping like \"8080:80\" or {published, target}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortFile, E> {
                Ok(PortFile::Short(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortFile, E> {
                Ok(PortFile::Short(v.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<PortFile, A::Error> {
                PortMappingFile::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PortFile::Long)
            }
        }
        deserializer.deserialize_any(PortVisitor)
    }
}

/// A string that may be written as a YAML number or boolean (`PORT: 5432`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ScalarString(pub String);

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = ScalarString;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl JsonSchema for ScalarString {
    fn schema_name() -> Cow<'static, str> {
        "ScalarString".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}
