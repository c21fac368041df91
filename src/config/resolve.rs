//! Raw types to the model: names checked, references followed, defaults applied, services put
//! in dependency order. Every error points at the key it is about.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{ConfigError, suggest};
use super::load::Loaded;
use super::path::KeyPath;
use super::raw::{AwsFile, PortFile, ReadyFile, ServiceFile};
use crate::model::{
    Access, Aws, Capacity, Check, Connect, Connector, Database, EnvVar, Environment, Mount,
    MountSource, Msk, PluginMounts, PortMapping, Probe, Protocol, Registry, Service, SqlFile,
};
use crate::secrets::Secrets;

const FORMAT_VERSION: u32 = 1;
/// The retention periods CloudWatch Logs accepts.
const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_STABLE_FOR: Duration = Duration::from_secs(8);
/// The WAL a source's slot may hold back before `verify` fails: half the local PostgreSQL's
/// `max_slot_wal_keep_size` (2GB), so `verify` says so well before the slot would be lost.
const DEFAULT_MAX_RETAINED_WAL: u64 = 1 << 30;

pub fn resolve(loaded: &Loaded) -> Result<Environment, ConfigError> {
    let raw = &loaded.raw;
    let root = KeyPath::root();
    if raw.version != FORMAT_VERSION {
        return Err(loaded
            .error(
                &root.key("version"),
                format!("unsupported format version {}", raw.version),
            )
            .with_hint(format!("this deploy reads version {FORMAT_VERSION}")));
    }
    check_name(loaded, &root.key("name"), &raw.name, "environment name")?;
    let publish_address: IpAddr = match &raw.local.publish_address {
        None => IpAddr::from([127, 0, 0, 1]),
        Some(text) => text.parse().map_err(|_| {
            loaded.error(
                &root.key("local").key("publish-address"),
                format!("`{text}` is not an IP address"),
            )
        })?,
    };
    let mut services = Vec::new();
    for (name, service) in &raw.services {
        let path = root.key("services").key(name);
        services.push(resolve_service(
            loaded,
            &path,
            name,
            service,
            publish_address,
        )?);
    }
    check_ports_unique(loaded, &services)?;
    let services = dependency_order(loaded, services)?;
    for name in raw.volumes.keys() {
        check_name(loaded, &root.key("volumes").key(name), name, "volume name")?;
    }
    let (connect, connectors) = resolve_connectors(loaded, &services)?;
    let aws = resolve_aws(loaded)?;
    Ok(Environment {
        connect,
        connectors,
        skipped_connectors: loaded.skipped_connectors.clone(),
        name: raw.name.clone(),
        // A local file's `aws:` section is checked like any other, and not used.
        target: match (raw.target, aws) {
            (crate::config::raw::Target::Aws, Some(aws)) => {
                crate::model::Target::Aws(Box::new(aws))
            }
            _ => crate::model::Target::Local,
        },
        source: loaded.file.clone(),
        probe: match raw.local.probe {
            None | Some(crate::config::raw::ProbeRoute::Auto) => crate::model::ProbeRoute::Auto,
            Some(crate::config::raw::ProbeRoute::Network) => crate::model::ProbeRoute::Network,
            Some(crate::config::raw::ProbeRoute::Published) => crate::model::ProbeRoute::Published,
            Some(crate::config::raw::ProbeRoute::Inside) => crate::model::ProbeRoute::Inside,
        },
        network: raw
            .local
            .network
            .clone()
            .unwrap_or_else(|| format!("deploy-{}", raw.name)),
        services,
        volumes: raw.volumes.keys().cloned().collect(),
        secrets: Secrets::new(loaded.secrets.clone()),
        references: raw
            .references
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
    })
}

fn resolve_aws(loaded: &Loaded) -> Result<Option<Aws>, ConfigError> {
    let root = KeyPath::root();
    let Some(file) = &loaded.raw.aws else {
        if loaded.raw.target == crate::config::raw::Target::Aws {
            return Err(loaded
                .error(
                    &root.key("target"),
                    "an aws environment needs an `aws:` section",
                )
                .with_hint("add `aws: { region: …, plugin-bucket: … }`"));
        }
        check_outputs(loaded, false, false)?;
        return Ok(None);
    };
    let path = root.key("aws");
    let bucket = &file.plugin_bucket;
    let valid = (3..=63).contains(&bucket.len())
        && bucket.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !valid {
        return Err(loaded
            .error(
                &path.key("plugin-bucket"),
                format!("`{bucket}` is not a valid S3 bucket name"),
            )
            .with_hint("3 to 63 lowercase letters, digits, `-` and `.`"));
    }
    let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    // What MSK Connect needs to run connectors, checked when there are connectors.
    if !loaded.raw.connectors.is_empty() {
        let servers = non_empty(&file.bootstrap_servers).is_some();
        let cluster = non_empty(&file.msk_cluster_arn).is_some() || file.msk.is_some();
        let given = [
            ("bootstrap-servers", servers),
            (
                "msk-cluster-arn",
                non_empty(&file.msk_cluster_arn).is_some(),
            ),
            ("msk", file.msk.is_some()),
        ];
        if given.iter().filter(|(_, g)| *g).count() > 1 {
            let last = given
                .iter()
                .rev()
                .find(|(_, g)| *g)
                .map_or("msk", |(k, _)| k);
            return Err(loaded.key_error(
                &path.key(last),
                "give one of `bootstrap-servers`, `msk-cluster-arn` or `msk`",
            ));
        }
        let role = non_empty(&file.service_execution_role_arn).is_some();
        let vpc = non_empty(&file.vpc).is_some();
        let missing: Vec<&str> = [
            (
                "bootstrap-servers, msk-cluster-arn or msk",
                !servers && !cluster,
            ),
            ("subnets", file.subnets.is_empty()),
            // A created role is scoped to the cluster, so it needs to know which.
            (
                "service-execution-role-arn (or msk-cluster-arn or msk, to create the role)",
                !role && !cluster,
            ),
            (
                "security-groups (or vpc, to create one)",
                file.security_groups.is_empty() && !vpc,
            ),
        ]
        .into_iter()
        .filter_map(|(key, absent)| absent.then_some(key))
        .collect();
        if !missing.is_empty() {
            return Err(loaded
                .key_error(
                    &path,
                    format!("connectors on MSK Connect need: {}", missing.join(", ")),
                )
                .with_hint("give them under `aws:`"));
        }
    }
    let capacity = match &file.capacity {
        None => Capacity::Provisioned { mcu: 1, workers: 1 },
        Some(c) => {
            let at = |key: &str| path.key("capacity").key(key);
            if ![1, 2, 4, 8].contains(&c.mcu_count) {
                return Err(loaded.error(&at("mcu-count"), "MCUs per worker are 1, 2, 4 or 8"));
            }
            match (c.worker_count, &c.autoscaling) {
                (Some(workers), None) if (1..=10).contains(&workers) => Capacity::Provisioned {
                    mcu: c.mcu_count,
                    workers,
                },
                (Some(_), None) => {
                    return Err(loaded.error(&at("worker-count"), "workers are 1 to 10"));
                }
                (None, Some(a)) => {
                    if !(1..=10).contains(&a.min_workers)
                        || !(a.min_workers..=10).contains(&a.max_workers)
                    {
                        return Err(loaded.error(
                            &at("autoscaling"),
                            "workers scale between 1 and 10, min-workers up to max-workers",
                        ));
                    }
                    Capacity::Autoscaled {
                        mcu: c.mcu_count,
                        min_workers: a.min_workers,
                        max_workers: a.max_workers,
                        scale_out_cpu: a.scale_out_cpu.unwrap_or(80),
                        scale_in_cpu: a.scale_in_cpu.unwrap_or(20),
                    }
                }
                _ => {
                    return Err(loaded
                        .key_error(
                            &path.key("capacity"),
                            "give `worker-count` or `autoscaling`, one of them",
                        )
                        .with_hint("`capacity: { mcu-count: 1, worker-count: 1 }`"));
                }
            }
        }
    };
    let msk = resolve_msk(loaded, file)?;
    let database = resolve_database(loaded, file)?;
    let registry = resolve_registry(loaded, file)?;
    let developer_access = file
        .developer_access
        .iter()
        .enumerate()
        .map(|(i, item)| {
            parse_access(item).ok_or_else(|| {
                loaded
                    .error(
                        &path.key("developer-access").index(i),
                        format!("`{item}` is neither a CIDR block nor a security group"),
                    )
                    .with_hint("write `10.0.0.0/16` or `sg-0123456789abcdef0`")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_outputs(loaded, database.is_some(), registry.is_some())?;
    let kafka_connect_version =
        non_empty(&file.kafka_connect_version).unwrap_or_else(|| super::msk_connect::NEWEST.into());
    if !super::msk_connect::KAFKA_CONNECT_VERSIONS.contains(&kafka_connect_version.as_str()) {
        return Err(loaded
            .error(
                &KeyPath::root().key("aws").key("kafka-connect-version"),
                format!("MSK Connect runs no Kafka Connect `{kafka_connect_version}`"),
            )
            .with_hint("`3.7.x` (Java 17) or `2.7.1` (Java 11)"));
    }
    Ok(Some(Aws {
        kafka_connect_version,
        bootstrap_servers: non_empty(&file.bootstrap_servers).unwrap_or_default(),
        msk_cluster_arn: non_empty(&file.msk_cluster_arn),
        msk,
        vpc: non_empty(&file.vpc),
        subnets: file.subnets.clone(),
        security_groups: file.security_groups.clone(),
        developer_access,
        service_execution_role_arn: non_empty(&file.service_execution_role_arn),
        database,
        registry,
        capacity,
        log_group: non_empty(&file.log_group),
        log_retention_days: match file.log_retention_days {
            None => 30,
            Some(days) if RETENTION_DAYS.contains(&days) => days,
            Some(days) => {
                return Err(loaded
                    .error(
                        &path.key("log-retention-days"),
                        format!("CloudWatch Logs cannot keep logs {days} days"),
                    )
                    .with_hint(format!(
                        "one of {}",
                        RETENTION_DAYS
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
            }
        },
        worker_properties: worker_properties(loaded, file)?,
        region: file.region.clone(),
        profile: non_empty(&file.profile),
        endpoint_url: non_empty(&file.endpoint_url),
        plugin_bucket: bucket.clone(),
        tags: file
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
    }))
}

/// The logical replication settings Debezium's pgoutput needs; the file can add to them.
const REPLICATION_PARAMETERS: [(&str, &str); 3] = [
    ("rds.logical_replication", "1"),
    ("max_replication_slots", "10"),
    ("max_wal_senders", "10"),
];

/// What the infrastructure the tool creates needs from the file: a VPC and two subnets (RDS
/// subnet groups and load balancers span two availability zones).
fn check_network(loaded: &Loaded, file: &AwsFile, key: &str) -> Result<(), ConfigError> {
    let path = KeyPath::root().key("aws");
    if file.vpc.as_deref().is_none_or(str::is_empty) {
        return Err(loaded
            .key_error(
                &path.key(key),
                format!("`{key}` needs `aws.vpc`: its security groups are created there"),
            )
            .with_hint("give the VPC's ID, e.g. `vpc: vpc-0123456789abcdef0`"));
    }
    if file.subnets.len() < 2 {
        return Err(loaded
            .key_error(&path.key(key), format!("`{key}` needs two private subnets in `aws.subnets`, in different availability zones"))
            .with_hint("list them under `aws.subnets`"));
    }
    Ok(())
}

fn resolve_msk(loaded: &Loaded, file: &AwsFile) -> Result<Option<Msk>, ConfigError> {
    let Some(msk) = &file.msk else {
        return Ok(None);
    };
    check_network(loaded, file, "msk")?;
    let path = KeyPath::root().key("aws").key("msk");
    let subnets = file.subnets.len() as u32;
    let brokers = msk.brokers.unwrap_or(subnets);
    if brokers == 0 || brokers % subnets != 0 {
        return Err(loaded
            .error(&path.key("brokers"), format!("MSK spreads brokers evenly over the {subnets} subnets: {brokers} does not divide"))
            .with_hint(format!("a multiple of {subnets}")));
    }
    let storage_gib = msk.storage_gib.unwrap_or(100);
    if !(1..=16384).contains(&storage_gib) {
        return Err(loaded.error(
            &path.key("storage-gib"),
            "MSK broker storage is 1 to 16384 GiB",
        ));
    }
    let mut properties = BTreeMap::from([
        ("auto.create.topics.enable".to_string(), "true".to_string()),
        (
            "default.replication.factor".to_string(),
            brokers.min(3).to_string(),
        ),
    ]);
    properties.extend(
        msk.configuration
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone())),
    );
    Ok(Some(Msk {
        kafka_version: msk.kafka_version.clone().unwrap_or_else(|| "3.8.x".into()),
        broker_type: msk
            .broker_type
            .clone()
            .unwrap_or_else(|| "kafka.m7g.large".into()),
        brokers,
        storage_gib,
        properties,
    }))
}

fn resolve_database(loaded: &Loaded, file: &AwsFile) -> Result<Option<Database>, ConfigError> {
    let Some(db) = &file.database else {
        return Ok(None);
    };
    check_network(loaded, file, "database")?;
    let path = KeyPath::root().key("aws").key("database");
    let engine_version = db
        .engine_version
        .clone()
        .unwrap_or_else(|| DEFAULT_AURORA_VERSION.into());
    let major = engine_version.split('.').next().unwrap_or_default();
    if major.parse::<u32>().is_err() {
        return Err(loaded
            .error(
                &path.key("engine-version"),
                format!("`{engine_version}` is not an Aurora PostgreSQL version"),
            )
            .with_hint("e.g. `16.8` or `17.4`"));
    }
    let mut parameters: BTreeMap<String, String> = REPLICATION_PARAMETERS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parameters.extend(db.parameters.iter().map(|(k, v)| (k.clone(), v.0.clone())));
    if parameters["rds.logical_replication"] != "1" {
        return Err(loaded
            .error(
                &path.key("parameters").key("rds.logical_replication"),
                "Debezium reads changes through logical replication: it stays 1",
            )
            .with_hint("remove this parameter"));
    }
    let schema = sql_files(loaded, &path.key("schema"), &db.schema)?;
    let max_retained_wal = max_retained_wal(loaded, &path, db.max_retained_wal.as_deref())?;
    let alarm_actions = alarm_actions(loaded, &path.key("alarm-actions"), &db.alarm_actions)?;
    Ok(Some(Database {
        max_retained_wal,
        alarm_actions,
        schema,
        schema_image: db
            .schema_image
            .clone()
            .unwrap_or_else(|| "postgres:17".into()),
        family: format!("aurora-postgresql{major}"),
        engine_version,
        instance_class: db
            .instance_class
            .clone()
            .unwrap_or_else(|| "db.r6g.large".into()),
        name: db.name.clone().unwrap_or_else(|| "main".into()),
        master_username: db
            .master_username
            .clone()
            .unwrap_or_else(|| "master".into()),
        deletion_protection: db.deletion_protection.unwrap_or(true),
        parameters,
    }))
}

/// Fargate's CPU units and, for each, the memory it allows (MiB).
fn fargate_memory(cpu: u32) -> Option<(u32, u32, u32)> {
    match cpu {
        256 => Some((512, 2048, 1024)),
        512 => Some((1024, 4096, 1024)),
        1024 => Some((2048, 8192, 1024)),
        2048 => Some((4096, 16384, 1024)),
        4096 => Some((8192, 30720, 1024)),
        _ => None,
    }
}

fn resolve_registry(loaded: &Loaded, file: &AwsFile) -> Result<Option<Registry>, ConfigError> {
    let Some(registry) = &file.registry else {
        return Ok(None);
    };
    check_network(loaded, file, "registry")?;
    let path = KeyPath::root().key("aws").key("registry");
    if file.database.is_none() {
        return Err(loaded
            .key_error(
                &path,
                "the registry stores its schemas in `aws.database`, which is not there",
            )
            .with_hint("add `database: {}` under `aws:`"));
    }
    let cpu = registry.cpu.unwrap_or(512);
    let memory = registry.memory.unwrap_or(1024);
    let Some((low, high, step)) = fargate_memory(cpu) else {
        return Err(loaded
            .error(
                &path.key("cpu"),
                format!("Fargate has no {cpu} CPU units size"),
            )
            .with_hint("256, 512, 1024, 2048 or 4096"));
    };
    if memory < low || memory > high || memory % step != 0 {
        return Err(loaded
            .error(
                &path.key("memory"),
                format!("{cpu} CPU units take {low} to {high} MiB of memory, in steps of {step}"),
            )
            .with_hint(format!("e.g. `memory: {low}`")));
    }
    let image_credentials = match &registry.image_credentials {
        Some(arn) if !arn.starts_with("arn:aws") || !arn.contains(":secretsmanager:") => {
            return Err(loaded
                .error(
                    &path.key("image-credentials"),
                    format!("`{arn}` is not a Secrets Manager secret ARN"),
                )
                .with_hint("arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-abcdef, holding `username` and `password`"));
        }
        other => other.clone(),
    };
    let desired_count = registry.desired_count.unwrap_or(1);
    Ok(Some(Registry {
        image: registry
            .image
            .clone()
            .unwrap_or_else(|| "apicurio/apicurio-registry:3.3.1".into()),
        cpu,
        memory,
        desired_count,
        image_credentials,
    }))
}

fn parse_access(item: &str) -> Option<Access> {
    if item.starts_with("sg-") && item.len() > 3 && item[3..].chars().all(|c| c.is_ascii_hexdigit())
    {
        return Some(Access::Group(item.to_string()));
    }
    let (address, bits) = item.split_once('/')?;
    let _: std::net::Ipv4Addr = address.parse().ok()?;
    (bits.parse::<u8>().ok()? <= 32).then(|| Access::Cidr(item.to_string()))
}

/// `${aws:NAME}` (in a reference or a connector) needs the aws target and the part of the
/// infrastructure that gives NAME.
fn check_outputs(loaded: &Loaded, database: bool, registry: bool) -> Result<(), ConfigError> {
    let root = KeyPath::root();
    let references = loaded
        .raw
        .references
        .iter()
        .map(|(name, value)| (root.key("references").key(name), &value.0));
    let connectors = loaded.raw.connectors.iter().flat_map(|(name, connector)| {
        let config = KeyPath::root().key("connectors").key(name).key("config");
        connector
            .config
            .iter()
            .map(move |(key, value)| (config.key(key), &value.0))
    });
    for (path, value) in references.chain(connectors) {
        let Some(start) = value.find("${aws:") else {
            continue;
        };
        let output = value[start + 6..].split('}').next().unwrap_or_default();
        if loaded.raw.target != crate::config::raw::Target::Aws {
            return Err(loaded
                .error(
                    &path,
                    format!("`${{aws:{output}}}` is given by the aws target only"),
                )
                .with_hint("give this environment its own value under `references:`"));
        }
        let (needed, present) = match output.split('.').next() {
            Some("database") => ("database", database),
            Some("registry") => ("registry", registry),
            _ => continue,
        };
        if !present {
            return Err(loaded
                .error(&path, format!("`${{aws:{output}}}` needs `aws.{needed}`, which this environment does not create"))
                .with_hint(format!("add `{needed}:` under `aws:`, or give the value under `references:`")));
        }
    }
    Ok(())
}

/// Aurora PostgreSQL 16.8: the 16.x long-term-support minor (older 16.x minors reach the end of
/// their standard support and stop being creatable).
const DEFAULT_AURORA_VERSION: &str = "16.8";

/// Worker properties, with the Avro converter as the default converters when asked for.
fn worker_properties(
    loaded: &Loaded,
    file: &crate::config::raw::AwsFile,
) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
    let Some(worker) = file.worker_configuration.as_ref() else {
        return Ok(None);
    };
    let at = KeyPath::root()
        .key("aws")
        .key("worker-configuration")
        .key("properties");
    for key in worker.properties.keys() {
        if let Some(why) = super::msk_connect::refused_worker_key(key) {
            return Err(loaded
                .key_error(
                    &at.key(key),
                    format!("`{key}` is not a worker property MSK Connect accepts"),
                )
                .with_hint(why));
        }
    }
    let mut properties: BTreeMap<String, String> = worker
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    if worker.avro_converters {
        let registry = loaded
            .raw
            .references
            .get("registry.url")
            .map(|v| v.0.clone())
            .unwrap_or_default();
        for side in ["key", "value"] {
            properties
                .entry(format!("{side}.converter"))
                .or_insert_with(|| "io.confluent.connect.avro.AvroConverter".into());
            properties
                .entry(format!("{side}.converter.schema.registry.url"))
                .or_insert_with(|| registry.clone());
        }
    }
    Ok(Some(properties))
}

fn resolve_connectors(
    loaded: &Loaded,
    services: &[Service],
) -> Result<(Option<Connect>, Vec<Connector>), ConfigError> {
    let raw = &loaded.raw;
    let root = KeyPath::root();
    let connect = match &raw.connect {
        None => None,
        Some(file) => {
            let path = root.key("connect");
            if !services.iter().any(|s| s.name == file.service) {
                let error = loaded.error(
                    &path.key("service"),
                    format!("no service named `{}`", file.service),
                );
                return Err(
                    match suggest(&file.service, services.iter().map(|s| s.name.as_str())) {
                        Some(best) => error.with_hint(format!("did you mean `{best}`?")),
                        None => error,
                    },
                );
            }
            let timeout = match &file.timeout {
                None => DEFAULT_TIMEOUT,
                Some(text) => parse_duration(text).ok_or_else(|| {
                    loaded
                        .error(&path.key("timeout"), format!("`{text}` is not a duration"))
                        .with_hint("write a number with a unit: `250ms`, `5s`, `2m`")
                })?,
            };
            let stable_for = match &file.stable_for {
                None => DEFAULT_STABLE_FOR,
                Some(text) => parse_duration_or_zero(text).ok_or_else(|| {
                    loaded
                        .error(
                            &path.key("stable-for"),
                            format!("`{text}` is not a duration"),
                        )
                        .with_hint("write a number with a unit: `250ms`, `5s`, `2m`")
                })?,
            };
            let max_retained_wal =
                max_retained_wal(loaded, &path, file.max_retained_wal.as_deref())?;
            Some(Connect {
                service: file.service.clone(),
                port: file.port,
                timeout,
                stable_for,
                max_retained_wal,
            })
        }
    };
    // Locally the tool talks to Connect itself; on AWS, MSK Connect runs the connectors.
    if connect.is_none()
        && !raw.connectors.is_empty()
        && raw.target == crate::config::raw::Target::Local
    {
        return Err(loaded
            .key_error(
                &root.key("connectors"),
                "connectors need a `connect:` section saying where Kafka Connect runs",
            )
            .with_hint("add `connect: { service: connect }`"));
    }
    let mut connectors = Vec::new();
    for (name, file) in &raw.connectors {
        let path = root.key("connectors").key(name);
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(loaded
                .key_error(&path, format!("`{name}` is not a valid connector name"))
                .with_hint("use letters, digits, `-`, `_` and `.`"));
        }
        if !file.config.contains_key("connector.class") {
            return Err(loaded.key_error(&path.key("config"), "missing key `connector.class`"));
        }
        if let Some(given) = file.config.get("name").filter(|n| n.0 != *name) {
            return Err(loaded.error(
                &path.key("config").key("name"),
                format!("`name` is `{}` but the connector is `{name}`", given.0),
            ));
        }
        let config: BTreeMap<String, String> = file
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        let secret_keys = config
            .keys()
            .filter(|k| {
                loaded
                    .secret_paths
                    .contains(&path.key("config").key(k).to_string())
            })
            .cloned()
            .collect();
        let secret_names = config
            .keys()
            .filter_map(|k| {
                let secret = loaded
                    .whole_secrets
                    .get(&path.key("config").key(k).to_string())?;
                Some((k.clone(), secret.clone()))
            })
            .collect();
        for (i, key) in file.allow_unknown_keys.iter().enumerate() {
            if !config.contains_key(key) {
                let error = loaded.error(
                    &path.key("allow-unknown-keys").index(i),
                    format!("`{key}` is not a key of this connector's `config`"),
                );
                return Err(match suggest(key, config.keys().map(String::as_str)) {
                    Some(best) => error.with_hint(format!("did you mean `{best}`?")),
                    None => error,
                });
            }
        }
        // MSK Connect pauses and resumes a connector; it has no STOPPED state (Kafka Connect's
        // own stop, KIP-875, is not in its API).
        if file.state == crate::model::ConnectorState::Stopped
            && raw.target == crate::config::raw::Target::Aws
        {
            return Err(loaded
                .error(
                    &path.key("state"),
                    "MSK Connect cannot stop a connector: it pauses and resumes them",
                )
                .with_hint("write `state: paused` (the connector keeps its tasks and offsets)"));
        }
        connectors.push(Connector {
            name: name.clone(),
            plugin: file.plugin.clone(),
            state: file.state,
            config,
            secret_names,
            secret_keys,
            allow_unknown_keys: file.allow_unknown_keys.iter().cloned().collect(),
            keep_slot: file.keep_slot,
        });
    }
    check_slots(loaded, &connectors)?;
    Ok((connect, connectors))
}

/// `max-retained-wal` under `path`: the most WAL a source's slot may hold back before `verify`
/// fails (default 1 GiB).
fn max_retained_wal(
    loaded: &Loaded,
    path: &KeyPath,
    text: Option<&str>,
) -> Result<u64, ConfigError> {
    let Some(text) = text else {
        return Ok(DEFAULT_MAX_RETAINED_WAL);
    };
    parse_size(text).ok_or_else(|| {
        loaded
            .error(
                &path.key("max-retained-wal"),
                format!("`{text}` is not a size"),
            )
            .with_hint("write bytes or a number with a unit: `512MiB`, `1GiB`, `2GB`")
    })
}

/// The replication slots' alarm actions: ARNs, as PutMetricAlarm takes them
/// (`arn:partition:service:region:account:resource`); anything else is refused here rather than
/// by CloudWatch halfway through an apply.
fn alarm_actions(
    loaded: &Loaded,
    path: &KeyPath,
    actions: &[String],
) -> Result<Vec<String>, ConfigError> {
    if actions.len() > 5 {
        return Err(loaded
            .error(path, "CloudWatch takes at most 5 actions per alarm state")
            .with_hint("send them to one SNS topic and subscribe the rest to it"));
    }
    for (i, arn) in actions.iter().enumerate() {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() < 6 || parts[0] != "arn" || parts[2].is_empty() || parts[5].is_empty() {
            return Err(loaded
                .error(&path.index(i), format!("`{arn}` is not an ARN"))
                .with_hint("e.g. `arn:aws:sns:ap-southeast-2:123456789012:data-alerts`"));
        }
    }
    Ok(actions.to_vec())
}

/// A Debezium PostgreSQL source's slot name must be one PostgreSQL takes (lowercase letters,
/// digits and underscores, at most 63 bytes: its `ReplicationSlotValidateName`), and two sources
/// on one database cannot share a slot: the second would fail to stream, or worse, read on from
/// the first one's position.
fn check_slots(loaded: &Loaded, connectors: &[Connector]) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<(String, String, String, String), &str> = BTreeMap::new();
    for connector in connectors {
        let Some(source) = crate::slots::Source::of(&connector.name, &connector.config) else {
            continue;
        };
        let path = KeyPath::root()
            .key("connectors")
            .key(&connector.name)
            .key("config");
        let at = if connector.config.contains_key(crate::slots::SLOT_NAME) {
            path.key(crate::slots::SLOT_NAME)
        } else {
            path.key("connector.class")
        };
        let slot = &source.slot;
        let valid = !slot.is_empty()
            && slot.len() <= 63
            && slot
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(loaded
                .error(
                    &at,
                    format!("`{slot}` is not a replication slot name PostgreSQL takes"),
                )
                .with_hint("use lowercase letters, digits and `_`, at most 63 characters"));
        }
        let database = &source.database;
        let key = (
            database.host.clone(),
            database.port.clone(),
            database.dbname.clone(),
            slot.clone(),
        );
        if let Some(other) = seen.insert(key, &connector.name) {
            return Err(loaded
                .error(
                    &at,
                    format!(
                        "connector `{other}` already streams from slot `{slot}` on this database ({}:{}/{})",
                        database.host, database.port, database.dbname
                    ),
                )
                .with_hint("give each source its own `slot.name`"));
        }
    }
    Ok(())
}

/// The SQL files a `schema` list names, read (relative to the file that names them).
fn sql_files(
    loaded: &Loaded,
    path: &KeyPath,
    files: &[String],
) -> Result<Vec<SqlFile>, ConfigError> {
    let mut read = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let at = path.index(i);
        let base = loaded.file_of(&at);
        let full = base.parent().unwrap_or(Path::new(".")).join(file);
        let content = std::fs::read_to_string(&full).map_err(|e| {
            loaded
                .error(&at, format!("cannot read {}: {e}", full.display()))
                .with_hint("paths are relative to the file that names them")
        })?;
        let name = full
            .file_name()
            .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
        if read.iter().any(|f: &SqlFile| f.name == name) {
            return Err(loaded
                .error(&at, format!("a second file named `{name}`"))
                .with_hint("a load records each file by its name: rename one"));
        }
        read.push(SqlFile {
            name,
            path: full,
            content,
        });
    }
    Ok(read)
}

/// Docker object names: lowercase letters, digits and dashes, starting with a letter or digit.
fn check_name(loaded: &Loaded, path: &KeyPath, name: &str, what: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(loaded
            .key_error(path, format!("`{name}` is not a valid {what}"))
            .with_hint("use lowercase letters, digits and `-`, at most 63 characters"))
    }
}

fn resolve_service(
    loaded: &Loaded,
    path: &KeyPath,
    name: &str,
    raw: &ServiceFile,
    publish_address: IpAddr,
) -> Result<Service, ConfigError> {
    check_name(loaded, path, name, "service name")?;
    if raw.image.trim().is_empty() || raw.image.contains(char::is_whitespace) {
        return Err(loaded.error(
            &path.key("image"),
            format!("`{}` is not an image reference", raw.image),
        ));
    }
    for (key, list) in [("command", &raw.command), ("entrypoint", &raw.entrypoint)] {
        if list.as_ref().is_some_and(Vec::is_empty) {
            return Err(loaded
                .error(&path.key(key), format!("`{key}` is empty"))
                .with_hint(format!("leave `{key}` out to keep the image's own")));
        }
    }
    let environment = raw
        .environment
        .iter()
        .map(|(key, value)| {
            let value_path = path.key("environment").key(key);
            if key.is_empty() || key.contains('=') {
                return Err(loaded.error(&value_path, format!("`{key}` is not a variable name")));
            }
            Ok(EnvVar {
                name: key.clone(),
                value: value.0.clone(),
                secret: loaded.secret_paths.contains(&value_path.to_string()),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ports = raw
        .ports
        .iter()
        .enumerate()
        .map(|(i, port)| parse_port(loaded, &path.key("ports").index(i), port, publish_address))
        .collect::<Result<Vec<_>, _>>()?;
    let mounts = raw
        .volumes
        .iter()
        .enumerate()
        .map(|(i, text)| parse_mount(loaded, &path.key("volumes").index(i), text))
        .collect::<Result<Vec<_>, _>>()?;
    let ready = raw
        .ready
        .as_ref()
        .map(|ready| parse_probe(loaded, &path.key("ready"), ready))
        .transpose()?;
    let plugins = match &raw.plugins {
        None => None,
        Some(file) => {
            if !file.path.starts_with('/') {
                return Err(loaded.error(
                    &path.key("plugins").key("path"),
                    "the plugin path must be absolute",
                ));
            }
            if file.names.is_empty() {
                return Err(loaded
                    .error(&path.key("plugins").key("use"), "no plugins named")
                    .with_hint("leave `plugins` out, or name plugins from plugins/"));
            }
            Some(PluginMounts {
                path: file.path.trim_end_matches('/').to_string(),
                names: file.names.clone(),
            })
        }
    };
    for (i, dependency) in raw.depends_on.iter().enumerate() {
        let dep_path = path.key("depends-on").index(i);
        if !loaded.raw.services.contains_key(dependency) {
            let error = loaded.error(&dep_path, format!("no service named `{dependency}`"));
            return Err(
                match suggest(dependency, loaded.raw.services.keys().map(String::as_str)) {
                    Some(best) => error.with_hint(format!("did you mean `{best}`?")),
                    None => error,
                },
            );
        }
        if dependency == name {
            return Err(loaded.error(&dep_path, "a service cannot depend on itself"));
        }
    }
    Ok(Service {
        name: name.to_string(),
        image: raw.image.clone(),
        pull: raw.pull,
        command: raw.command.clone(),
        entrypoint: raw.entrypoint.clone(),
        environment,
        ports,
        mounts,
        depends_on: raw.depends_on.clone(),
        ready,
        plugins,
        schema: sql_files(loaded, &path.key("schema"), &raw.schema)?,
    })
}

fn parse_port(
    loaded: &Loaded,
    path: &KeyPath,
    port: &PortFile,
    default_address: IpAddr,
) -> Result<PortMapping, ConfigError> {
    let invalid = |message: String| {
        loaded
            .error(path, message)
            .with_hint("write \"HOST:CONTAINER\", \"ADDRESS:HOST:CONTAINER\" or add \"/udp\", e.g. \"5432:5432\"")
    };
    let number = |text: &str| -> Result<u16, ConfigError> {
        match text.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            Ok(n) => Err(invalid(format!("port {n} is out of range (1-65535)"))),
            Err(_) => Err(invalid(format!("`{text}` is not a port number"))),
        }
    };
    let protocol_of = |text: Option<&str>| match text {
        None | Some("tcp") => Ok(Protocol::Tcp),
        Some("udp") => Ok(Protocol::Udp),
        Some(other) => Err(invalid(format!("unknown protocol `{other}`"))),
    };
    let address_of = |text: Option<&str>| match text {
        None => Ok(default_address),
        Some(a) => a
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|_| invalid(format!("`{a}` is not an IP address"))),
    };
    match port {
        PortFile::Long(long) => Ok(PortMapping {
            address: address_of(long.address.as_deref())?,
            host: number(&long.published.to_string())?,
            container: number(&long.target.to_string())?,
            protocol: protocol_of(long.protocol.as_deref())?,
        }),
        PortFile::Short(text) => {
            let (mapping, protocol) = match text.split_once('/') {
                Some((m, p)) => (m, Some(p)),
                None => (text.as_str(), None),
            };
            let (address, rest) = match mapping.rsplitn(3, ':').collect::<Vec<_>>().as_slice() {
                [container, host, address] => (Some(*address), (*host, *container)),
                [container, host] => (None, (*host, *container)),
                _ => {
                    return Err(invalid(format!(
                        "`{text}` needs both a host and a container port"
                    )));
                }
            };
            Ok(PortMapping {
                address: address_of(address)?,
                host: number(rest.0)?,
                container: number(rest.1)?,
                protocol: protocol_of(protocol)?,
            })
        }
    }
}

fn parse_mount(loaded: &Loaded, path: &KeyPath, text: &str) -> Result<Mount, ConfigError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match parts.as_slice() {
        [source, target] => (*source, *target, false),
        [source, target, "ro"] => (*source, *target, true),
        [source, target, "rw"] => (*source, *target, false),
        [_, _, mode] => {
            return Err(loaded
                .error(path, format!("unknown mount mode `{mode}`"))
                .with_hint("use `ro` or `rw`"));
        }
        _ => {
            return Err(loaded
                .error(path, format!("`{text}` is not a mount"))
                .with_hint("write \"VOLUME:/path\" or \"./host-dir:/path[:ro]\""));
        }
    };
    if !target.starts_with('/') {
        return Err(loaded.error(
            path,
            format!("mount target `{target}` is not an absolute path"),
        ));
    }
    let source = if source.starts_with(['.', '/', '~']) {
        let base = loaded.file_of(path);
        let host = expand_home(source).unwrap_or_else(|| {
            base.parent()
                .unwrap_or(Path::new("."))
                .join(source.trim_start_matches("./"))
        });
        let host = host.canonicalize().map_err(|e| {
            loaded.error(
                path,
                format!("host path `{}` cannot be mounted: {e}", host.display()),
            )
        })?;
        MountSource::Bind(host)
    } else {
        if !loaded.raw.volumes.contains_key(source) {
            let error = loaded.error(path, format!("volume `{source}` is not declared"));
            return Err(match suggest(source, loaded.raw.volumes.keys().map(String::as_str)) {
                Some(best) => error.with_hint(format!("did you mean `{best}`?")),
                None => error.with_hint(format!(
                    "declare it under the top-level `volumes:` key, or write `./{source}` for a host directory"
                )),
            });
        }
        MountSource::Volume(source.to_string())
    };
    Ok(Mount {
        source,
        target: target.to_string(),
        read_only,
    })
}

fn expand_home(source: &str) -> Option<PathBuf> {
    let rest = source.strip_prefix("~/")?;
    Some(PathBuf::from(std::env::var_os("HOME")?).join(rest))
}

fn parse_probe(loaded: &Loaded, path: &KeyPath, raw: &ReadyFile) -> Result<Probe, ConfigError> {
    let mut checks = Vec::new();
    if let Some(port) = raw.tcp {
        checks.push(Check::Tcp(port));
    }
    if let Some(http) = &raw.http {
        if !http.path.starts_with('/') {
            return Err(loaded.error(
                &path.key("http").key("path"),
                "the path must start with `/`",
            ));
        }
        checks.push(Check::Http {
            port: http.port,
            path: http.path.clone(),
        });
    }
    if let Some(command) = &raw.exec {
        if command.is_empty() {
            return Err(loaded.error(&path.key("exec"), "the command is empty"));
        }
        checks.push(Check::Exec(command.clone()));
    }
    if checks.len() != 1 {
        return Err(loaded
            .error(
                path,
                format!(
                    "a probe needs exactly one of `tcp`, `http`, `exec`; found {}",
                    checks.len()
                ),
            )
            .with_hint("for example `ready: { tcp: 5432 }`"));
    }
    let duration = |key: &str, text: &Option<String>, default: Duration| match text {
        None => Ok(default),
        Some(text) => parse_duration(text).ok_or_else(|| {
            loaded
                .error(&path.key(key), format!("`{text}` is not a duration"))
                .with_hint("write a number with a unit: `250ms`, `5s`, `2m`")
        }),
    };
    Ok(Probe {
        check: checks.remove(0),
        interval: duration("interval", &raw.interval, DEFAULT_INTERVAL)?,
        timeout: duration("timeout", &raw.timeout, DEFAULT_TIMEOUT)?,
    })
}

/// A size in bytes: `1073741824`, `512MiB`, `1GiB`, `2GB`, `100kB`.
fn parse_size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1000 * 1000,
        "MiB" => 1 << 20,
        "GB" => 1000 * 1000 * 1000,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor).filter(|n| *n > 0)
}

pub fn parse_duration(text: &str) -> Option<Duration> {
    parse_duration_or_zero(text).filter(|d| !d.is_zero())
}

/// A duration that may be zero (`0s`: no wait at all).
fn parse_duration_or_zero(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        _ => return None,
    };
    Some(duration)
}

/// Two services cannot publish the same host port.
fn check_ports_unique(loaded: &Loaded, services: &[Service]) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<(u16, Protocol), &str> = BTreeMap::new();
    for service in services {
        for (i, port) in service.ports.iter().enumerate() {
            if let Some(owner) = seen.insert((port.host, port.protocol), &service.name) {
                let path = KeyPath::root()
                    .key("services")
                    .key(&service.name)
                    .key("ports")
                    .index(i);
                return Err(loaded.error(
                    &path,
                    format!("host port {} is already published by `{owner}`", port.host),
                ));
            }
        }
    }
    Ok(())
}

/// Orders services so that each comes after its dependencies; a cycle is an error that names it.
fn dependency_order(loaded: &Loaded, services: Vec<Service>) -> Result<Vec<Service>, ConfigError> {
    let mut ordered: Vec<Service> = Vec::with_capacity(services.len());
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut pending = services;
    while !pending.is_empty() {
        let (ready, waiting): (Vec<Service>, Vec<Service>) = pending
            .into_iter()
            .partition(|s| s.depends_on.iter().all(|d| placed.contains(d)));
        if ready.is_empty() {
            return Err(cycle_error(loaded, &waiting));
        }
        placed.extend(ready.iter().map(|s| s.name.clone()));
        ordered.extend(ready);
        pending = waiting;
    }
    Ok(ordered)
}

fn cycle_error(loaded: &Loaded, waiting: &[Service]) -> ConfigError {
    // Follow the first unplaced dependency from the first waiting service until a name repeats.
    let by_name: BTreeMap<&str, &Service> = waiting.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut chain: Vec<&str> = vec![waiting[0].name.as_str()];
    loop {
        let current = by_name[chain.last().copied().unwrap_or_default()];
        let next = current
            .depends_on
            .iter()
            .find(|d| by_name.contains_key(d.as_str()))
            .map(String::as_str)
            .unwrap_or_default();
        if let Some(start) = chain.iter().position(|n| *n == next) {
            let cycle: Vec<&str> = chain[start..].iter().copied().chain([next]).collect();
            let first = chain[start];
            let index = by_name[first]
                .depends_on
                .iter()
                .position(|d| d == chain.get(start + 1).copied().unwrap_or(first))
                .unwrap_or(0);
            let path = KeyPath::root()
                .key("services")
                .key(first)
                .key("depends-on")
                .index(index);
            return loaded.error(&path, format!("dependency cycle: {}", cycle.join(" → ")));
        }
        chain.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5h"), None);
    }
}
