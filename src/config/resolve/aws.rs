//! The `aws:` section: the MSK cluster, the database, the registry, the network and the
//! connectors' workers, checked and given their defaults.

use std::collections::BTreeMap;

use super::{max_retained_wal, sql_files};
use crate::config::error::ConfigError;
use crate::config::load::Loaded;
use crate::config::path::KeyPath;
use crate::config::raw::AwsFile;
use crate::model::{Access, Aws, Capacity, Database, Msk, Registry};

/// The retention periods CloudWatch Logs accepts.
const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

pub(super) fn resolve_aws(loaded: &Loaded) -> Result<Option<Aws>, ConfigError> {
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
    let kafka_connect_version = non_empty(&file.kafka_connect_version)
        .unwrap_or_else(|| crate::config::msk_connect::NEWEST.into());
    if !crate::config::msk_connect::KAFKA_CONNECT_VERSIONS.contains(&kafka_connect_version.as_str())
    {
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
        if let Some(why) = crate::config::msk_connect::refused_worker_key(key) {
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
