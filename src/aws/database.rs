//! Aurora PostgreSQL for the source database: a subnet group over the given subnets, a cluster
//! parameter group with logical replication on (pgoutput), the cluster (encrypted, master
//! password kept by RDS in Secrets Manager, deletion protection on unless the file says off) and
//! its writer instance. `destroy` keeps a protected cluster, and otherwise takes a final snapshot
//! unless `--delete-data`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_rds::types::{ApplyMethod, Parameter, Tag};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::Env;
use super::clients::Clients;
use super::names::{self, tags};
use super::outputs::Outputs;
use super::sdk::{self, Call};
use super::wait::{Poll, Progress, until, until_gone};
use crate::error::Error;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

/// Aurora takes tens of minutes to create a cluster and its first instance.
const DEADLINE: Duration = Duration::from_secs(60 * 60);

/// The database's parts as RDS has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Observed {
    pub subnets: Option<Vec<String>>,
    /// The parameters set on the group (`source=user`).
    pub parameters: Option<BTreeMap<String, String>>,
    pub cluster: Option<Cluster>,
    pub instance: Option<Instance>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cluster {
    pub arn: String,
    /// Carries this environment's `deploy:environment` tag.
    pub ours: bool,
    /// The digest of the schema files last loaded (`names::TAG_SCHEMA`).
    pub schema: Option<String>,
    /// Slots still to drop, `(database, slot)` (`names::TAG_SLOT_DROPS`).
    pub slot_drops: Vec<(String, String)>,
    pub status: String,
    pub endpoint: String,
    pub port: i32,
    pub secret_arn: Option<String>,
    pub deletion_protection: bool,
    pub engine_version: String,
    /// Whether the writer runs the cluster parameter group's values: `in-sync`, `applying` or
    /// `pending-reboot` (static parameters such as `rds.logical_replication` wait for a reboot).
    pub parameters_status: Option<String>,
    /// The master user secret's current version (see `current_version`).
    pub secret_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Instance {
    pub status: String,
    pub class: String,
}

async fn observe_cluster(clients: &Clients, env: &Env<'_>) -> Result<Option<Cluster>, Error> {
    match clients
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(names::db_cluster(env))
        .send()
        .await
    {
        Ok(found) => Ok(found.db_clusters().first().map(|c| Cluster {
            arn: c.db_cluster_arn().unwrap_or_default().to_string(),
            ours: c
                .tag_list()
                .iter()
                .any(|t| t.key() == Some(names::TAG_ENVIRONMENT) && t.value() == Some(&env.name)),
            schema: c
                .tag_list()
                .iter()
                .find(|t| t.key() == Some(names::TAG_SCHEMA))
                .and_then(|t| t.value())
                .map(str::to_string),
            slot_drops: c
                .tag_list()
                .iter()
                .find(|t| t.key() == Some(names::TAG_SLOT_DROPS))
                .and_then(|t| t.value())
                .map(super::slots::parse_pending)
                .unwrap_or_default(),
            status: c.status().unwrap_or_default().to_string(),
            endpoint: c.endpoint().unwrap_or_default().to_string(),
            port: c.port().unwrap_or(5432),
            secret_arn: c
                .master_user_secret()
                .and_then(|s| s.secret_arn())
                .map(str::to_string),
            deletion_protection: c.deletion_protection().unwrap_or(false),
            engine_version: c.engine_version().unwrap_or_default().to_string(),
            parameters_status: c
                .db_cluster_members()
                .iter()
                .find(|m| m.is_cluster_writer() == Some(true))
                .and_then(|m| m.db_cluster_parameter_group_status())
                .map(str::to_string),
            secret_version: None,
        })),
        Err(e) if sdk::is_not_found(&e) => Ok(None),
        Err(e) => Err(sdk::error("RDS DescribeDBClusters", e)),
    }
}

async fn observe_instance(clients: &Clients, env: &Env<'_>) -> Result<Option<Instance>, Error> {
    match clients
        .rds
        .describe_db_instances()
        .db_instance_identifier(names::db_instance(env))
        .send()
        .await
    {
        Ok(found) => Ok(found.db_instances().first().map(|i| Instance {
            status: i.db_instance_status().unwrap_or_default().to_string(),
            class: i.db_instance_class().unwrap_or_default().to_string(),
        })),
        Err(e) if sdk::is_not_found(&e) => Ok(None),
        Err(e) => Err(sdk::error("RDS DescribeDBInstances", e)),
    }
}

pub(super) async fn observe(clients: &Clients, env: &Env<'_>) -> Result<Observed, Error> {
    let Some(db) = env.aws.database.as_ref() else {
        return Ok(Observed::default());
    };
    let subnets = async {
        match clients
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(names::db_subnet_group(env))
            .send()
            .await
        {
            Ok(found) => Ok(found.db_subnet_groups().first().map(|g| {
                let mut ids: Vec<String> = g
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_string))
                    .collect();
                ids.sort();
                ids
            })),
            Err(e) if sdk::is_not_found(&e) => Ok(None),
            Err(e) => Err(sdk::error("RDS DescribeDBSubnetGroups", e)),
        }
    };
    let parameters = async {
        let pages: Vec<_> = clients
            .rds
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name(names::db_parameter_group(env, &db.family))
            .source("user")
            .into_paginator()
            .send()
            .collect::<Vec<_>>()
            .await;
        let mut found = BTreeMap::new();
        for page in pages {
            match page {
                Ok(page) => found.extend(page.parameters().iter().filter_map(|p| {
                    Some((
                        p.parameter_name()?.to_string(),
                        p.parameter_value()?.to_string(),
                    ))
                })),
                Err(e) if sdk::is_not_found(&e) => return Ok(None),
                Err(e) => {
                    return Err(sdk::error("RDS DescribeDBClusterParameters", e));
                }
            }
        }
        Ok(Some(found))
    };
    let (subnets, parameters, cluster, instance) = tokio::try_join!(
        subnets,
        parameters,
        observe_cluster(clients, env),
        observe_instance(clients, env)
    )?;
    let cluster = match cluster {
        Some(cluster) => Some(with_secret_version(clients, cluster).await?),
        None => None,
    };
    Ok(Observed {
        subnets,
        parameters,
        cluster,
        instance,
    })
}

/// The version of the master user secret that is current (`AWSCURRENT`). RDS rotates it (every
/// 7 days by default); what read the password at start goes on with the old one, so the
/// connectors and the registry carry the version they started with, and a rotation is a change
/// that apply rolls out (see `outputs`).
async fn with_secret_version(clients: &Clients, mut cluster: Cluster) -> Result<Cluster, Error> {
    if let Some(arn) = &cluster.secret_arn {
        cluster.secret_version = current_version(clients, arn).await?;
    }
    Ok(cluster)
}

async fn current_version(clients: &Clients, arn: &str) -> Result<Option<String>, Error> {
    match clients
        .secretsmanager
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
    {
        Ok(found) => Ok(found
            .version_ids_to_stages()
            .into_iter()
            .flatten()
            .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
            .map(|(id, _)| id.clone())),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(sdk::error("Secrets Manager DescribeSecret", e)),
    }
}

/// A cluster named like ours but not tagged as ours is never changed.
pub(super) fn check(env: &Env<'_>, observed: &Observed) -> Result<(), Error> {
    match &observed.cluster {
        Some(cluster) if !cluster.ours => Err(sdk::not_ours(
            &format!("database cluster {}", names::db_cluster(env)),
            &env.name,
            "rename or remove that cluster, or tag it if it belongs to this environment",
        )),
        _ => Ok(()),
    }
}

/// The values the database gives the connectors and the registry.
pub(super) fn outputs(observed: &Observed, outputs: &mut Outputs) {
    if let Some(cluster) = &observed.cluster {
        outputs.database_host = Some(cluster.endpoint.clone());
        outputs.database_port = Some(cluster.port);
        outputs.database_secret = cluster.secret_arn.clone();
        outputs.database_secret_version = cluster.secret_version.clone();
    }
}

/// One call (or wait) of the database's apply, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    CreateSubnetGroup {
        subnets: Vec<String>,
    },
    ModifySubnetGroup {
        subnets: Vec<String>,
    },
    CreateParameterGroup {
        group: String,
        family: String,
    },
    /// ModifyDBClusterParameterGroup, pending-reboot (the logical replication ones are static).
    SetParameters {
        group: String,
        parameters: BTreeMap<String, String>,
    },
    /// CreateDBCluster: encrypted, its master password managed in Secrets Manager.
    CreateCluster {
        engine_version: String,
        database: String,
        master_username: String,
        parameter_group: String,
        deletion_protection: bool,
    },
    ModifyCluster {
        deletion_protection: bool,
        engine_version: Option<String>,
    },
    CreateInstance {
        class: String,
    },
    ModifyInstance {
        class: String,
    },
    /// Waits until cluster and instance are available and the writer runs the parameter
    /// group's values, rebooting it once if they wait for a reboot (that can follow this very
    /// apply's parameter change, so it is seen, not planned); reads the cluster back.
    AwaitAvailable,
}

/// The database's part of the plan: each resource's change, with the steps that make it so.
pub(super) fn plan(env: &Env<'_>, observed: &Observed) -> Vec<(Change, Vec<Step>)> {
    let aws = env.aws;
    let Some(db) = &aws.database else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    let subnets = sorted(&aws.subnets);
    changes.push(match &observed.subnets {
        None => (
            Change::new(
                Kind::DbSubnetGroup,
                names::db_subnet_group(env),
                Action::Create,
                "not found",
            ),
            vec![Step::CreateSubnetGroup {
                subnets: aws.subnets.clone(),
            }],
        ),
        Some(have) if *have != subnets => (
            Change::new(
                Kind::DbSubnetGroup,
                names::db_subnet_group(env),
                Action::Update,
                format!("subnets {} → {}", have.join(","), subnets.join(",")),
            ),
            vec![Step::ModifySubnetGroup {
                subnets: aws.subnets.clone(),
            }],
        ),
        Some(_) => (
            Change::new(
                Kind::DbSubnetGroup,
                names::db_subnet_group(env),
                Action::Unchanged,
                format!("{} subnets", subnets.len()),
            ),
            Vec::new(),
        ),
    });
    let group = names::db_parameter_group(env, &db.family);
    changes.push(match &observed.parameters {
        None => (
            Change::new(
                Kind::DbParameterGroup,
                &group,
                Action::Create,
                format!("not found; {}", describe(&db.parameters)),
            ),
            vec![
                Step::CreateParameterGroup {
                    group: group.clone(),
                    family: db.family.clone(),
                },
                Step::SetParameters {
                    group: group.clone(),
                    parameters: db.parameters.clone(),
                },
            ],
        ),
        Some(have) => {
            let changed: BTreeMap<String, String> = db
                .parameters
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if changed.is_empty() {
                (
                    Change::new(
                        Kind::DbParameterGroup,
                        &group,
                        Action::Unchanged,
                        describe(&db.parameters),
                    ),
                    Vec::new(),
                )
            } else {
                // Static parameters wait for a reboot, which apply gives the writer.
                let restart = if observed.cluster.is_some() {
                    " (the writer reboots to apply them)"
                } else {
                    ""
                };
                (
                    Change::new(
                        Kind::DbParameterGroup,
                        &group,
                        Action::Update,
                        format!("{}{restart}", describe(&changed)),
                    ),
                    vec![Step::SetParameters {
                        group: group.clone(),
                        parameters: changed,
                    }],
                )
            }
        }
    });
    changes.push(match &observed.cluster {
        None => (
            Change::new(
                Kind::DbCluster,
                names::db_cluster(env),
                Action::Create,
                format!(
                    "not found; aurora-postgresql {}, encrypted, deletion protection {}",
                    db.engine_version,
                    if db.deletion_protection { "on" } else { "off" }
                ),
            ),
            vec![Step::CreateCluster {
                engine_version: db.engine_version.clone(),
                database: db.name.clone(),
                master_username: db.master_username.clone(),
                parameter_group: group.clone(),
                deletion_protection: db.deletion_protection,
            }],
        ),
        Some(cluster) => {
            let mut reasons = Vec::new();
            if cluster.deletion_protection != db.deletion_protection {
                reasons.push(format!(
                    "deletion protection {} → {}",
                    on_off(cluster.deletion_protection),
                    on_off(db.deletion_protection)
                ));
            }
            if cluster.engine_version != db.engine_version {
                reasons.push(format!(
                    "engine version {} → {}",
                    cluster.engine_version, db.engine_version
                ));
            }
            if reasons.is_empty() {
                (
                    Change::new(
                        Kind::DbCluster,
                        names::db_cluster(env),
                        Action::Unchanged,
                        &cluster.status,
                    ),
                    Vec::new(),
                )
            } else {
                (
                    Change {
                        kind: Kind::DbCluster,
                        name: names::db_cluster(env),
                        action: Action::Update,
                        reasons,
                    },
                    vec![Step::ModifyCluster {
                        deletion_protection: db.deletion_protection,
                        engine_version: (cluster.engine_version != db.engine_version)
                            .then(|| db.engine_version.clone()),
                    }],
                )
            }
        }
    });
    let instance = match &observed.instance {
        None => (
            Change::new(
                Kind::DbInstance,
                names::db_instance(env),
                Action::Create,
                format!("not found; {}", db.instance_class),
            ),
            vec![Step::CreateInstance {
                class: db.instance_class.clone(),
            }],
        ),
        Some(i) if i.class != db.instance_class => (
            Change::new(
                Kind::DbInstance,
                names::db_instance(env),
                Action::Update,
                format!("class {} → {}", i.class, db.instance_class),
            ),
            vec![Step::ModifyInstance {
                class: db.instance_class.clone(),
            }],
        ),
        Some(i) => (
            match observed
                .cluster
                .as_ref()
                .and_then(|c| c.parameters_status.as_deref())
            {
                Some("pending-reboot") => Change::new(
                    Kind::DbInstance,
                    names::db_instance(env),
                    Action::Update,
                    "reboot: cluster parameters pending-reboot (logical replication is off until then)",
                ),
                Some(status) => Change::new(
                    Kind::DbInstance,
                    names::db_instance(env),
                    Action::Unchanged,
                    format!("{}, {}, parameters {status}", i.class, i.status),
                ),
                None => Change::new(
                    Kind::DbInstance,
                    names::db_instance(env),
                    Action::Unchanged,
                    format!("{}, {}", i.class, i.status),
                ),
            },
            Vec::new(),
        ),
    };
    changes.push(instance);
    // Always last: the cluster's address and secret are what the rest is configured with.
    if let Some((_, steps)) = changes.last_mut() {
        steps.push(Step::AwaitAvailable);
    }
    changes
}

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

fn describe(parameters: &BTreeMap<String, String>) -> String {
    parameters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rds_tags(env: &Env<'_>, resource: &str) -> Vec<Tag> {
    tags(env, resource)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Creates or updates what the plan says, waits until the cluster and its instance are
/// available, and returns the cluster as it then is.
/// Carries out the plan's database steps; returns the cluster as it is once available.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    steps: &[Step],
    groups: &BTreeMap<String, String>,
    printer: &Printer,
) -> Result<Option<Cluster>, Error> {
    let mut cluster = None;
    for step in steps {
        match step {
            Step::CreateSubnetGroup { subnets } => {
                clients
                    .rds
                    .create_db_subnet_group()
                    .db_subnet_group_name(names::db_subnet_group(env))
                    .db_subnet_group_description(format!("deploy {}: database", env.name))
                    .set_subnet_ids(Some(subnets.clone()))
                    .set_tags(Some(rds_tags(env, "db-subnet-group")))
                    .send()
                    .await
                    .or_fail("RDS CreateDBSubnetGroup")?;
            }
            Step::ModifySubnetGroup { subnets } => {
                clients
                    .rds
                    .modify_db_subnet_group()
                    .db_subnet_group_name(names::db_subnet_group(env))
                    .set_subnet_ids(Some(subnets.clone()))
                    .send()
                    .await
                    .or_fail("RDS ModifyDBSubnetGroup")?;
            }
            Step::CreateParameterGroup { group, family } => {
                clients
                    .rds
                    .create_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(group)
                    .db_parameter_group_family(family)
                    .description(format!(
                        "deploy {}: logical replication for Debezium",
                        env.name
                    ))
                    .set_tags(Some(rds_tags(env, "db-cluster-parameter-group")))
                    .send()
                    .await
                    .or_fail("RDS CreateDBClusterParameterGroup")?;
            }
            Step::SetParameters { group, parameters } => {
                let parameters: Vec<Parameter> = parameters
                    .iter()
                    .map(|(k, v)| {
                        Parameter::builder()
                            .parameter_name(k)
                            .parameter_value(v)
                            .apply_method(ApplyMethod::PendingReboot)
                            .build()
                    })
                    .collect();
                // RDS takes at most 20 parameters per call.
                for chunk in parameters.chunks(20) {
                    clients
                        .rds
                        .modify_db_cluster_parameter_group()
                        .db_cluster_parameter_group_name(group)
                        .set_parameters(Some(chunk.to_vec()))
                        .send()
                        .await
                        .or_fail("RDS ModifyDBClusterParameterGroup")?;
                }
            }
            Step::CreateCluster {
                engine_version,
                database,
                master_username,
                parameter_group,
                deletion_protection,
            } => {
                clients
                    .rds
                    .create_db_cluster()
                    .db_cluster_identifier(names::db_cluster(env))
                    .engine("aurora-postgresql")
                    .engine_version(engine_version)
                    .database_name(database)
                    .master_username(master_username)
                    .manage_master_user_password(true)
                    .db_subnet_group_name(names::db_subnet_group(env))
                    .db_cluster_parameter_group_name(parameter_group)
                    .set_vpc_security_group_ids(
                        groups.get(names::role::DATABASE).map(|g| vec![g.clone()]),
                    )
                    .storage_encrypted(true)
                    .deletion_protection(*deletion_protection)
                    .copy_tags_to_snapshot(true)
                    .set_tags(Some(rds_tags(env, "db-cluster")))
                    .send()
                    .await
                    .or_fail("RDS CreateDBCluster")?;
                printer.status(&format!(
                    "  + database cluster {} creating",
                    names::db_cluster(env)
                ));
            }
            Step::ModifyCluster {
                deletion_protection,
                engine_version,
            } => {
                clients
                    .rds
                    .modify_db_cluster()
                    .db_cluster_identifier(names::db_cluster(env))
                    .deletion_protection(*deletion_protection)
                    .set_engine_version(engine_version.clone())
                    .apply_immediately(true)
                    .send()
                    .await
                    .or_fail("RDS ModifyDBCluster")?;
            }
            Step::CreateInstance { class } => {
                clients
                    .rds
                    .create_db_instance()
                    .db_instance_identifier(names::db_instance(env))
                    .db_cluster_identifier(names::db_cluster(env))
                    .engine("aurora-postgresql")
                    .db_instance_class(class)
                    .set_tags(Some(rds_tags(env, "db-instance")))
                    .send()
                    .await
                    .or_fail("RDS CreateDBInstance")?;
            }
            Step::ModifyInstance { class } => {
                clients
                    .rds
                    .modify_db_instance()
                    .db_instance_identifier(names::db_instance(env))
                    .db_instance_class(class)
                    .apply_immediately(true)
                    .send()
                    .await
                    .or_fail("RDS ModifyDBInstance")?;
            }
            Step::AwaitAvailable => {
                let available = available(clients, env, printer).await?;
                cluster = Some(with_secret_version(clients, available).await?);
            }
        }
    }
    Ok(cluster)
}

/// Waits until the cluster and its writer are available and the writer runs the cluster
/// parameter group's values, rebooting it once when they are pending a reboot. RDS applies
/// static parameters (`rds.logical_replication`) only at a reboot, and a cluster created right
/// after its parameter group was modified can start without them (CreateDBClusterParameterGroup
/// reference: wait before creating a cluster with a new group). Without them Debezium cannot
/// create its slot: this runs before the schema load and the connectors.
async fn available(clients: &Clients, env: &Env<'_>, printer: &Printer) -> Result<Cluster, Error> {
    let progress = Progress::new(printer, format!("database {}", names::db_cluster(env)));
    // One reboot: after it the writer goes `rebooting` → `available`, `pending-reboot` → `in-sync`.
    let rebooted = std::sync::atomic::AtomicBool::new(false);
    until(
        &format!("database {}", names::db_cluster(env)),
        DEADLINE,
        || {
            let (rebooted, progress) = (&rebooted, &progress);
            async move {
                use std::sync::atomic::Ordering::SeqCst;
                let (cluster, instance) = tokio::try_join!(
                    observe_cluster(clients, env),
                    observe_instance(clients, env)
                )?;
                let (cluster, instance) = match (cluster, instance) {
                    (Some(c), Some(i)) if c.status == "available" && i.status == "available" => {
                        (c, i)
                    }
                    (c, i) => {
                        let state = format!(
                            "cluster {}, instance {}",
                            c.map_or("missing".into(), |c| c.status),
                            i.map_or("missing".into(), |i| i.status)
                        );
                        progress.saw(&state);
                        return Ok(Poll::Waiting(state));
                    }
                };
                let status = cluster.parameters_status.clone().unwrap_or_default();
                Ok(match status.as_str() {
                    "in-sync" | "" => Poll::Done(cluster),
                    "pending-reboot" if !rebooted.load(SeqCst) => {
                        rebooted.store(true, SeqCst);
                        clients
                            .rds
                            .reboot_db_instance()
                            .db_instance_identifier(names::db_instance(env))
                            .send()
                            .await
                            .or_fail("RDS RebootDBInstance")?;
                        printer.status(&format!(
                            "  ~ database instance {} rebooting to apply the cluster parameters",
                            names::db_instance(env)
                        ));
                        Poll::Waiting("rebooting".into())
                    }
                    _ => {
                        let state = format!("parameters {status}, instance {}", instance.status);
                        progress.saw(&state);
                        Poll::Waiting(state)
                    }
                })
            }
        },
    )
    .await
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items
}

/// What `destroy` did with the database.
pub(super) enum Removed {
    Absent,
    /// Kept: deletion protection is on.
    Protected,
    /// Left alone: named like ours, but not tagged as ours.
    NotOurs,
    Deleted {
        snapshot: Option<String>,
    },
}

pub(super) async fn destroy(
    clients: &Clients,
    env: &Env<'_>,
    delete_data: bool,
    printer: &Printer,
) -> Result<Removed, Error> {
    // Found by name whether or not the file still asks for a database.
    let cluster = observe_cluster(clients, env).await?;
    if cluster.as_ref().is_some_and(|c| !c.ours) {
        return Ok(Removed::NotOurs);
    }
    if cluster.as_ref().is_some_and(|c| c.deletion_protection) {
        return Ok(Removed::Protected);
    }
    match clients
        .rds
        .delete_db_instance()
        .db_instance_identifier(names::db_instance(env))
        .send()
        .await
    {
        Ok(_) => printer.status(&format!(
            "  - database instance {} deleting",
            names::db_instance(env)
        )),
        Err(e) if sdk::is_not_found(&e) => {}
        Err(e) => return Err(sdk::error("RDS DeleteDBInstance", e)),
    }
    until_gone(&names::db_instance(env), DEADLINE, || async {
        Ok(observe_instance(clients, env).await?.map(|i| i.status))
    })
    .await?;
    let mut snapshot = None;
    if cluster.is_some() {
        let mut delete = clients
            .rds
            .delete_db_cluster()
            .db_cluster_identifier(names::db_cluster(env));
        if delete_data {
            delete = delete.skip_final_snapshot(true);
        } else {
            let id = format!(
                "{}-final-{}",
                names::db_cluster(env),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            );
            delete = delete
                .skip_final_snapshot(false)
                .final_db_snapshot_identifier(&id);
            snapshot = Some(id);
        }
        delete.send().await.or_absent("RDS DeleteDBCluster")?;
        until_gone(&names::db_cluster(env), DEADLINE, || async {
            Ok(observe_cluster(clients, env).await?.map(|c| c.status))
        })
        .await?;
    }
    clients
        .rds
        .delete_db_subnet_group()
        .db_subnet_group_name(names::db_subnet_group(env))
        .send()
        .await
        .or_absent("RDS DeleteDBSubnetGroup")?;
    // Every family's group of this environment: the file may name another version by now.
    let groups = clients
        .rds
        .describe_db_cluster_parameter_groups()
        .send()
        .await
        .map_err(|e| sdk::error("RDS DescribeDBClusterParameterGroups", e))?;
    let prefix = names::db_parameter_group_prefix(env);
    for group in groups
        .db_cluster_parameter_groups()
        .iter()
        .filter_map(|g| g.db_cluster_parameter_group_name())
        .filter(|name| name.starts_with(&prefix))
    {
        clients
            .rds
            .delete_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(group)
            .send()
            .await
            .or_absent("RDS DeleteDBClusterParameterGroup")?;
    }
    Ok(if cluster.is_some() {
        Removed::Deleted { snapshot }
    } else {
        Removed::Absent
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(env: &Env<'_>, observed: &Observed) -> Vec<Step> {
        plan(env, observed)
            .into_iter()
            .flat_map(|(_, steps)| steps)
            .collect()
    }

    #[test]
    fn from_nothing_the_groups_then_the_cluster_then_its_instance() {
        let env = crate::aws::fixture::env();
        insta::assert_debug_snapshot!(steps(&env, &Observed::default()));
    }

    /// What an apply cut short after the parameter group leaves: the group is kept as it is, the
    /// cluster and instance are what remains.
    #[test]
    fn groups_made_before_an_interruption_are_not_made_again() {
        let env = crate::aws::fixture::env();
        let db = env.aws.database.as_ref().expect("a database");
        let observed = Observed {
            subnets: Some(sorted(&env.aws.subnets)),
            parameters: Some(db.parameters.clone()),
            cluster: None,
            instance: None,
        };
        let steps = steps(&env, &observed);
        assert!(
            matches!(
                steps.as_slice(),
                [
                    Step::CreateCluster { .. },
                    Step::CreateInstance { .. },
                    Step::AwaitAvailable
                ]
            ),
            "{steps:?}"
        );
        // A parameter changed by hand is set back, and only that one.
        let mut parameters = db.parameters.clone();
        parameters.insert("rds.logical_replication".into(), "0".into());
        let changed = Observed {
            parameters: Some(parameters),
            ..observed
        };
        let steps = self::steps(&env, &changed);
        assert_eq!(
            steps[0],
            Step::SetParameters {
                group: names::db_parameter_group(&env, &db.family),
                parameters: BTreeMap::from([(
                    "rds.logical_replication".to_string(),
                    "1".to_string()
                )]),
            }
        );
    }
}
