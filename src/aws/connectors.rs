//! MSK Connect connectors: created with their custom plugin, capacity, IAM authentication with
//! TLS, log delivery and role; the configuration or the capacity updated in place (one per
//! call, never a no-op capacity), each update's operation waited on and the configuration read
//! back; anything MSK Connect cannot update (plugin, network, role, version) replaces the
//! connector, with the reason in the plan.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_kafkaconnect::types::{
    ApacheKafkaCluster, CloudWatchLogsLogDelivery, ConnectorOperationState, ConnectorState,
    CustomPlugin, KafkaCluster, KafkaClusterClientAuthentication,
    KafkaClusterClientAuthenticationType, KafkaClusterEncryptionInTransit,
    KafkaClusterEncryptionInTransitType, LogDelivery, Plugin, ProvisionedCapacity,
    ProvisionedCapacityUpdate, Vpc, WorkerLogDelivery,
};

use super::Env;
use super::clients::Clients;
use super::names::{self, TAG_ENVIRONMENT, TAG_RESOURCE};
use super::outputs::{Outputs, UNKNOWN};
use super::ownership;
use super::plugins::Wanted;
use super::sdk::{self, Call};
use super::wait::{Poll, until, until_gone};
use crate::error::Error;
use crate::model::{Capacity, ConnectorState as ConnectorStateInFile};
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

/// Connectors take minutes to create or update on AWS.
const CONNECTOR_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// A connector as it should be on MSK Connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Desired {
    /// `<environment>-<connector>`
    pub name: String,
    pub config: BTreeMap<String, String>,
    /// The custom plugin (by name) the connector runs on.
    pub custom_plugin: String,
    pub capacity: Capacity,
    /// What cannot change in place: version, bootstrap servers, network, role, log group.
    pub fixed: BTreeMap<&'static str, String>,
    /// `state: paused` in the file: PauseConnector once it runs.
    pub paused: bool,
}

/// The master password's version a connector started with.
pub(super) const SECRET_VERSION_KEY: &str = "deploy.database.secret.version";

/// `outputs` give the bootstrap servers, network, role and `${aws:…}` values, as far as known.
pub(super) fn desired(
    env: &Env<'_>,
    wanted: &[Wanted],
    worker: Option<&str>,
    outputs: &Outputs,
) -> Result<Vec<Desired>, Error> {
    let aws = env.aws;
    env.connectors
        .iter()
        .map(|connector| {
            let plugin = connector.plugin.as_deref().ok_or_else(|| {
                Error::user(format!(
                    "connector `{}` names no plugin; MSK Connect needs one",
                    connector.name
                ))
                .with_hint("add `plugin: <name from plugins/>` to the connector")
            })?;
            let custom_plugin = wanted
                .iter()
                .find(|w| w.plugin == plugin)
                .map(|w| w.custom_plugin.clone())
                .expect("every connector's plugin is built");
            // Secrets travel as config provider references, never as values.
            let mut config = outputs.fill_all(&connector.config);
            for (key, secret) in &connector.secret_names {
                config.insert(key.clone(), super::secrets::placeholder(env, secret));
            }
            // "By default, MSK Connect frequently restarts a connector when the connector uses
            // a configuration provider… set config.action.reload to none" (MSK Connect's
            // config provider tutorial). A rotated database password is picked up by the
            // restart `aws apply` orders instead (below).
            if config.values().any(|v| v.contains("${secretsmanager:")) {
                config
                    .entry("config.action.reload".into())
                    .or_insert_with(|| "none".into());
            }
            // RDS rotates the master password (every 7 days by default) and the config
            // provider reads it once, at start. The version read is part of the configuration,
            // so a rotation is a configuration change: apply updates the connector in place and
            // MSK Connect restarts it with the new password. Connectors ignore keys they do not
            // define.
            if super::secrets::reads_database_password(connector) {
                config.insert(
                    SECRET_VERSION_KEY.into(),
                    outputs
                        .database_secret_version
                        .clone()
                        .unwrap_or_else(|| UNKNOWN.into()),
                );
            }
            Ok(Desired {
                name: names::connector(env, &connector.name),
                paused: connector.state == ConnectorStateInFile::Paused,
                config,
                custom_plugin,
                capacity: aws.capacity,
                fixed: BTreeMap::from([
                    ("Kafka Connect version", aws.kafka_connect_version.clone()),
                    (
                        "bootstrap servers",
                        outputs.bootstrap.clone().unwrap_or_else(|| UNKNOWN.into()),
                    ),
                    ("subnets", aws.subnets.join(",")),
                    ("security groups", known(outputs.connector_groups.join(","))),
                    (
                        "service execution role",
                        outputs
                            .connector_role
                            .clone()
                            .unwrap_or_else(|| UNKNOWN.into()),
                    ),
                    ("log group", aws.log_group.clone().unwrap_or_default()),
                    (
                        "worker configuration",
                        worker.unwrap_or_default().to_string(),
                    ),
                ]),
            })
        })
        .collect()
}

fn known(value: String) -> String {
    if value.is_empty() {
        UNKNOWN.into()
    } else {
        value
    }
}

/// What the connectors run on, once the plugins and the worker configuration are in place.
pub(super) struct Dependencies<'a> {
    /// Custom plugin name → ARN.
    pub plugin_arns: &'a BTreeMap<String, String>,
    pub worker_arn: Option<&'a str>,
}

/// A connector of this environment as MSK Connect has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Live {
    pub arn: String,
    pub state: String,
    /// Why it is in its state, when MSK Connect says (a FAILED connector's reason).
    pub reason: Option<String>,
    pub version: String,
    pub config: BTreeMap<String, String>,
    pub custom_plugin_arn: String,
    pub capacity: Capacity,
    pub fixed: BTreeMap<&'static str, String>,
}

/// The connectors whose names start with `prefix`, as `(name, ARN)`, every page of the listing.
pub(super) async fn listed(
    clients: &Clients,
    prefix: &str,
) -> Result<Vec<(String, String)>, Error> {
    let items: Vec<_> = clients
        .kafkaconnect
        .list_connectors()
        .connector_name_prefix(prefix)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut found = Vec::new();
    for item in items {
        let item = item.or_fail("MSK Connect ListConnectors")?;
        if let (Some(name), Some(arn)) = (item.connector_name(), item.connector_arn()) {
            found.push((name.to_string(), arn.to_string()));
        }
    }
    Ok(found)
}

/// This environment's connectors. `wanted` names are taken as ours (see `ownership`); `workers`
/// maps worker configuration ARNs to their names.
pub(super) async fn observe(
    clients: &Clients,
    env: &Env<'_>,
    wanted: &BTreeSet<String>,
    workers: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Live>, Error> {
    let arns = listed(clients, &names::prefix(env))
        .await?
        .into_iter()
        .map(|(name, arn)| (name, arn, ()))
        .collect();
    let arns = ownership::owned(clients, env, arns, wanted).await?;
    let described = super::wait::bounded(arns.iter().map(|(_, arn, ())| async move {
        let d = clients
            .kafkaconnect
            .describe_connector()
            .connector_arn(arn)
            .send()
            .await
            .or_fail("MSK Connect DescribeConnector")?;
        let live = live_of(arn, &d, workers);
        Ok::<_, Error>(d.connector_name().map(|n| (n.to_string(), live)))
    }))
    .await?;
    Ok(described.into_iter().flatten().collect())
}

/// A connector as DescribeConnector gives it; `workers` maps worker configuration ARNs to their
/// names.
fn live_of(
    arn: &str,
    d: &aws_sdk_kafkaconnect::operation::describe_connector::DescribeConnectorOutput,
    workers: &BTreeMap<String, String>,
) -> Live {
    let cluster = d.kafka_cluster().and_then(|k| k.apache_kafka_cluster());
    let vpc = cluster.and_then(|c| c.vpc());
    Live {
        arn: arn.to_string(),
        state: d
            .connector_state()
            .map_or("UNKNOWN".into(), |s| s.as_str().to_string()),
        reason: d
            .state_description()
            .and_then(|s| s.message())
            .map(str::to_string),
        version: d.current_version().unwrap_or_default().to_string(),
        config: d
            .connector_configuration()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        custom_plugin_arn: d
            .plugins()
            .first()
            .and_then(|p| p.custom_plugin())
            .and_then(|p| p.custom_plugin_arn())
            .map(str::to_string)
            .unwrap_or_default(),
        capacity: capacity_of(d.capacity()),
        fixed: BTreeMap::from([
            (
                "Kafka Connect version",
                d.kafka_connect_version().unwrap_or_default().to_string(),
            ),
            (
                "bootstrap servers",
                cluster
                    .and_then(|c| c.bootstrap_servers())
                    .unwrap_or_default()
                    .to_string(),
            ),
            (
                "subnets",
                vpc.map(|v| v.subnets().join(",")).unwrap_or_default(),
            ),
            (
                "security groups",
                vpc.map(|v| v.security_groups().join(","))
                    .unwrap_or_default(),
            ),
            (
                "service execution role",
                d.service_execution_role_arn()
                    .unwrap_or_default()
                    .to_string(),
            ),
            (
                "log group",
                d.log_delivery()
                    .and_then(|l| l.worker_log_delivery())
                    .and_then(|w| w.cloud_watch_logs())
                    .and_then(|c| c.log_group())
                    .unwrap_or_default()
                    .to_string(),
            ),
            (
                "worker configuration",
                d.worker_configuration()
                    .and_then(|w| w.worker_configuration_arn())
                    .map(|arn| workers.get(arn).cloned().unwrap_or_else(|| arn.to_string()))
                    .unwrap_or_default(),
            ),
        ]),
    }
}

/// The connectors' part of the plan. `plugin_arns` maps existing custom plugin names to ARNs.
/// One call of the connectors' apply. The configuration it writes is the connector's as the
/// applied infrastructure gives it: a value the plan showed `(known after apply)` is filled in,
/// and the plan already counted it as a change (a resource made by this apply cannot be in a
/// live connector's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// CreateConnector, waiting until it runs.
    Create(String),
    /// DeleteConnector then CreateConnector: what MSK Connect cannot change in place.
    Recreate(String),
    /// UpdateConnector: configuration or capacity, in place (MSK Connect restarts it).
    Update(String),
    /// DeleteConnector: not in the file any more.
    Delete(String),
    /// PauseConnector (`state: paused`), waiting on its operation.
    Pause(String),
    /// ResumeConnector (back to `state: running`, or to update a paused connector: MSK Connect
    /// updates only a RUNNING one), waiting on its operation.
    Resume(String),
}

impl Step {
    fn connector(&self) -> &str {
        match self {
            Step::Create(n)
            | Step::Recreate(n)
            | Step::Update(n)
            | Step::Delete(n)
            | Step::Pause(n)
            | Step::Resume(n) => n,
        }
    }
}

/// The connectors' part of the plan: each connector's change with the step that makes it so.
pub(super) fn plan(
    desired: &[Desired],
    live: &BTreeMap<String, Live>,
    plugin_arns: &BTreeMap<String, String>,
) -> Vec<(Change, Vec<Step>)> {
    let mut changes = Vec::new();
    for want in desired {
        let pause = || want.paused.then(|| Step::Pause(want.name.clone()));
        let Some(have) = live.get(&want.name) else {
            let reason = if want.paused {
                "not found; paused once it runs (state: paused)"
            } else {
                "not found"
            };
            changes.push((
                Change::new(Kind::Connector, &want.name, Action::Create, reason),
                [Some(Step::Create(want.name.clone())), pause()]
                    .into_iter()
                    .flatten()
                    .collect(),
            ));
            continue;
        };
        let mut replace = Vec::new();
        if plugin_arns.get(&want.custom_plugin) != Some(&have.custom_plugin_arn) {
            replace.push(format!(
                "plugin content changed: runs on {} now",
                want.custom_plugin
            ));
        }
        for (what, value) in &want.fixed {
            if have.fixed.get(what) != Some(value) {
                replace.push(format!("{what} changed: forces a new connector"));
            }
        }
        if have.state == "FAILED" {
            replace.push("it is FAILED".into());
        }
        if !replace.is_empty() {
            if want.paused {
                replace.push("paused once it runs (state: paused)".into());
            }
            changes.push((
                Change {
                    kind: Kind::Connector,
                    name: want.name.clone(),
                    action: Action::Recreate,
                    reasons: replace,
                },
                [Some(Step::Recreate(want.name.clone())), pause()]
                    .into_iter()
                    .flatten()
                    .collect(),
            ));
            continue;
        }
        let mut update = Vec::new();
        let keys: Vec<&String> = want
            .config
            .keys()
            .chain(have.config.keys())
            .filter(|k| want.config.get(*k) != have.config.get(*k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let (rotated, keys): (Vec<&String>, Vec<&String>) = keys
            .into_iter()
            .partition(|k| *k == SECRET_VERSION_KEY && have.config.contains_key(*k));
        if !rotated.is_empty() {
            update.push("database password rotated: restarts with the new one".into());
        }
        if !keys.is_empty() {
            update.push(format!(
                "configuration changed: {}",
                keys.iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if want.capacity != have.capacity {
            update.push(format!("capacity {} → {}", have.capacity, want.capacity));
        }
        // MSK Connect pauses a RUNNING connector and updates only a RUNNING one.
        let is_paused = have.state == "PAUSED";
        let updates = !update.is_empty();
        let mut steps = Vec::new();
        if is_paused && (!want.paused || updates) {
            steps.push(Step::Resume(want.name.clone()));
        }
        if updates {
            steps.push(Step::Update(want.name.clone()));
        }
        if want.paused && (!is_paused || updates) {
            steps.push(Step::Pause(want.name.clone()));
        }
        match (is_paused, want.paused) {
            (false, true) => update.push("pause: state: paused in the file".into()),
            (true, false) => update.push("resume: state: running in the file".into()),
            (true, true) if updates => {
                update.push("resumed for the update, then paused again (state: paused)".into())
            }
            _ => {}
        }
        changes.push(if steps.is_empty() {
            (
                Change::new(
                    Kind::Connector,
                    &want.name,
                    Action::Unchanged,
                    have.state.to_lowercase(),
                ),
                Vec::new(),
            )
        } else {
            (
                Change {
                    kind: Kind::Connector,
                    name: want.name.clone(),
                    action: Action::Update,
                    reasons: update,
                },
                steps,
            )
        });
    }
    for name in live
        .keys()
        .filter(|n| !desired.iter().any(|d| &d.name == *n))
    {
        changes.push((
            Change::new(
                Kind::Connector,
                name,
                Action::Remove,
                "not in the environment file",
            ),
            vec![Step::Delete(name.clone())],
        ));
    }
    changes
}

/// Carries out the plan's connector steps; `desired` are the connectors as the applied
/// infrastructure gives them.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    desired: &[Desired],
    live: &BTreeMap<String, Live>,
    steps: &[Step],
    on: &Dependencies<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    let want = |name: &str| {
        desired.iter().find(|d| d.name == name).ok_or_else(|| {
            Error::Internal(format!(
                "the plan names connector {name}, which the file does not"
            ))
        })
    };
    let have = |name: &str| {
        live.get(name).ok_or_else(|| {
            Error::Internal(format!(
                "the plan changes connector {name}, which was not found"
            ))
        })
    };
    // Each connector's steps in their order (resume, update, pause), the connectors side by
    // side; deletions last.
    let mut writes: Vec<(&str, Vec<&Step>)> = Vec::new();
    for step in steps.iter().filter(|s| !matches!(s, Step::Delete(_))) {
        match writes.iter_mut().find(|(n, _)| *n == step.connector()) {
            Some((_, steps)) => steps.push(step),
            None => writes.push((step.connector(), vec![step])),
        }
    }
    super::wait::bounded(writes.into_iter().map(|(name, steps)| async move {
        // The connector as it is now: made or replaced by a step here, or as observed.
        let mut now = live.get(name).cloned();
        for step in steps {
            match step {
                Step::Create(_) => {
                    let arn = create(clients, env, want(name)?, on).await?;
                    now = Some(described(clients, &arn).await?);
                    printer.status(&format!("  + connector {name} running"));
                }
                Step::Recreate(_) => {
                    let have = have(name)?;
                    ownership::ensure_ours(clients, env, name, &have.arn).await?;
                    delete(clients, name, &have.arn).await?;
                    let arn = create(clients, env, want(name)?, on).await?;
                    now = Some(described(clients, &arn).await?);
                    printer.status(&format!("  ~ connector {name} replaced, running"));
                }
                Step::Update(_) => {
                    let current = now.as_ref().map_or_else(|| have(name), Ok)?;
                    ownership::ensure_ours(clients, env, name, &current.arn).await?;
                    update(clients, want(name)?, current).await?;
                    printer.status(&format!("  ~ connector {name} updated"));
                }
                Step::Pause(_) | Step::Resume(_) => {
                    let current = now.as_ref().map_or_else(|| have(name), Ok)?;
                    let operation = if matches!(step, Step::Pause(_)) {
                        Operation::Pause
                    } else {
                        Operation::Resume
                    };
                    operate(clients, name, &current.arn, operation).await?;
                    // An update after a resume needs the version the connector has now.
                    now = Some(described(clients, &current.arn).await?);
                    printer.status(&format!("  ~ connector {name} {}", operation.done()));
                }
                Step::Delete(_) => {}
            }
        }
        Ok::<_, Error>(())
    }))
    .await?;
    super::wait::bounded(steps.iter().filter(|s| matches!(s, Step::Delete(_))).map(
        |step| async move {
            let name = step.connector();
            delete(clients, name, &have(name)?.arn).await?;
            printer.status(&format!("  - connector {name} deleted"));
            Ok::<_, Error>(())
        },
    ))
    .await?;
    Ok(())
}

/// What a connector runs with now, as DescribeConnector gives it.
async fn described(clients: &Clients, arn: &str) -> Result<Live, Error> {
    let d = clients
        .kafkaconnect
        .describe_connector()
        .connector_arn(arn)
        .send()
        .await
        .or_fail("MSK Connect DescribeConnector")?;
    Ok(live_of(arn, &d, &BTreeMap::new()))
}

/// The operations MSK Connect runs on a connector as it is: asynchronous, each followed through
/// its connector operation (DescribeConnectorOperation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    Pause,
    Resume,
    /// `onlyFailedTasks` (Kafka Connect 3.7 and later).
    Restart {
        only_failed: bool,
    },
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Pause => "pause",
            Operation::Resume => "resume",
            Operation::Restart { .. } => "restart",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Operation::Pause => "paused",
            Operation::Resume => "resumed",
            Operation::Restart { .. } => "restarted",
        }
    }
}

/// Starts the operation and waits until it ends; a failed one is an error with its steps.
pub(super) async fn operate(
    clients: &Clients,
    name: &str,
    arn: &str,
    operation: Operation,
) -> Result<(), Error> {
    let call = format!("MSK Connect {}Connector {name}", {
        let verb = operation.name();
        verb[..1].to_uppercase() + &verb[1..]
    });
    let operation_arn = match operation {
        Operation::Pause => clients
            .kafkaconnect
            .pause_connector()
            .connector_arn(arn)
            .send()
            .await
            .map_err(|e| sdk::error(&call, e))?
            .connector_operation_arn
            .unwrap_or_default(),
        Operation::Resume => clients
            .kafkaconnect
            .resume_connector()
            .connector_arn(arn)
            .send()
            .await
            .map_err(|e| sdk::error(&call, e))?
            .connector_operation_arn
            .unwrap_or_default(),
        Operation::Restart { only_failed } => clients
            .kafkaconnect
            .restart_connector()
            .connector_arn(arn)
            .only_failed_tasks(only_failed)
            .send()
            .await
            .map_err(|e| sdk::error(&call, e))?
            .connector_operation_arn
            .unwrap_or_default(),
    };
    wait_operation(clients, name, &operation_arn, operation.name()).await
}

async fn create(
    clients: &Clients,
    env: &Env<'_>,
    want: &Desired,
    on: &Dependencies<'_>,
) -> Result<String, Error> {
    let aws = env.aws;
    let (plugin_arns, worker_arn) = (on.plugin_arns, on.worker_arn);
    let plugin_arn = plugin_arns
        .get(&want.custom_plugin)
        .cloned()
        .unwrap_or_default();
    let mut request = clients
        .kafkaconnect
        .create_connector()
        .connector_name(&want.name)
        .set_connector_configuration(Some(want.config.clone().into_iter().collect()))
        .capacity(sdk_capacity(want.capacity))
        .kafka_cluster(
            KafkaCluster::builder()
                .apache_kafka_cluster(
                    ApacheKafkaCluster::builder()
                        .bootstrap_servers(&want.fixed["bootstrap servers"])
                        .vpc(
                            Vpc::builder()
                                .set_subnets(Some(aws.subnets.clone()))
                                .set_security_groups(Some(
                                    want.fixed["security groups"]
                                        .split(',')
                                        .map(str::to_string)
                                        .collect(),
                                ))
                                .build()
                                .expect("subnets are set"),
                        )
                        .build()
                        .expect("servers are set"),
                )
                .build(),
        )
        .kafka_cluster_client_authentication(
            KafkaClusterClientAuthentication::builder()
                .authentication_type(KafkaClusterClientAuthenticationType::Iam)
                .build()
                .expect("type is set"),
        )
        .kafka_cluster_encryption_in_transit(
            KafkaClusterEncryptionInTransit::builder()
                .encryption_type(KafkaClusterEncryptionInTransitType::Tls)
                .build()
                .expect("type is set"),
        )
        .kafka_connect_version(&aws.kafka_connect_version)
        .plugins(
            Plugin::builder()
                .custom_plugin(
                    CustomPlugin::builder()
                        .custom_plugin_arn(plugin_arn)
                        .revision(1)
                        .build()
                        .expect("arn is set"),
                )
                .build(),
        )
        .service_execution_role_arn(&want.fixed["service execution role"])
        .tags(TAG_ENVIRONMENT, &env.name)
        .tags(TAG_RESOURCE, &want.name);
    if let Some(group) = &aws.log_group {
        request = request.log_delivery(
            LogDelivery::builder()
                .worker_log_delivery(
                    WorkerLogDelivery::builder()
                        .cloud_watch_logs(
                            CloudWatchLogsLogDelivery::builder()
                                .enabled(true)
                                .log_group(group)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        );
    }
    if let Some(arn) = worker_arn {
        request = request.worker_configuration(
            aws_sdk_kafkaconnect::types::WorkerConfiguration::builder()
                .worker_configuration_arn(arn)
                .revision(1)
                .build()
                .expect("arn and revision are set"),
        );
    }
    for (key, value) in &aws.tags {
        request = request.tags(key, value);
    }
    let created = request
        .send()
        .await
        .map_err(|e| sdk::error(&format!("MSK Connect CreateConnector {}", want.name), e))?;
    let arn = created.connector_arn().unwrap_or_default().to_string();
    wait_running(clients, &want.name, &arn).await?;
    Ok(arn)
}

async fn wait_running(clients: &Clients, name: &str, arn: &str) -> Result<(), Error> {
    until(
        &format!("connector {name}"),
        CONNECTOR_DEADLINE,
        || async move {
            let d = clients
                .kafkaconnect
                .describe_connector()
                .connector_arn(arn)
                .send()
                .await
                .or_fail("MSK Connect DescribeConnector")?;
            match d.connector_state() {
                Some(ConnectorState::Running) => Ok(Poll::Done(())),
                Some(ConnectorState::Failed) => Err(Error::user(format!(
                    "connector {name} FAILED: {}",
                    d.state_description()
                        .and_then(|s| s.message())
                        .unwrap_or("no reason given")
                ))),
                other => Ok(Poll::Waiting(
                    other.map_or("unknown".into(), |s| s.as_str().to_string()),
                )),
            }
        },
    )
    .await
}

/// Configuration and capacity are separate updates (MSK Connect takes one per call); each waits
/// for its operation, and the configuration is read back: a connector can show RUNNING after an
/// update that failed and was rolled back.
async fn update(clients: &Clients, want: &Desired, have: &Live) -> Result<(), Error> {
    let mut version = have.version.clone();
    if want.config != have.config {
        let sent = clients
            .kafkaconnect
            .update_connector()
            .connector_arn(&have.arn)
            .current_version(&version)
            .set_connector_configuration(Some(want.config.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| sdk::error(&format!("MSK Connect UpdateConnector {}", want.name), e))?;
        wait_operation(
            clients,
            &want.name,
            sent.connector_operation_arn().unwrap_or_default(),
            "update",
        )
        .await?;
        let d = clients
            .kafkaconnect
            .describe_connector()
            .connector_arn(&have.arn)
            .send()
            .await
            .or_fail("MSK Connect DescribeConnector")?;
        let now: BTreeMap<String, String> = d
            .connector_configuration()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        if now != want.config {
            return Err(Error::user(format!(
                "connector {} reports RUNNING but its configuration is not the one sent: the update did not take",
                want.name
            )));
        }
        version = d.current_version().unwrap_or_default().to_string();
    }
    if want.capacity != have.capacity {
        let sent = clients
            .kafkaconnect
            .update_connector()
            .connector_arn(&have.arn)
            .current_version(&version)
            .capacity(sdk_capacity_update(want.capacity))
            .send()
            .await
            .map_err(|e| {
                sdk::error(
                    &format!("MSK Connect UpdateConnector {} capacity", want.name),
                    e,
                )
            })?;
        wait_operation(
            clients,
            &want.name,
            sent.connector_operation_arn().unwrap_or_default(),
            "update",
        )
        .await?;
    }
    Ok(())
}

async fn wait_operation(
    clients: &Clients,
    name: &str,
    operation: &str,
    what: &str,
) -> Result<(), Error> {
    until(
        &format!("the {what} of connector {name}"),
        CONNECTOR_DEADLINE,
        || async move {
            let d = clients
                .kafkaconnect
                .describe_connector_operation()
                .connector_operation_arn(operation)
                .send()
                .await
                .map_err(|e| sdk::error("MSK Connect DescribeConnectorOperation", e))?;
            match d.connector_operation_state() {
                Some(
                    ConnectorOperationState::UpdateComplete
                    | ConnectorOperationState::PauseComplete
                    | ConnectorOperationState::ResumeComplete
                    | ConnectorOperationState::RestartComplete,
                ) => Ok(Poll::Done(())),
                Some(
                    state @ (ConnectorOperationState::UpdateFailed
                    | ConnectorOperationState::PauseFailed
                    | ConnectorOperationState::ResumeFailed
                    | ConnectorOperationState::RestartFailed
                    | ConnectorOperationState::RollbackComplete
                    | ConnectorOperationState::RollbackFailed),
                ) => {
                    let steps: Vec<String> = d
                        .operation_steps()
                        .iter()
                        .map(|s| {
                            format!(
                                "{} {}",
                                s.step_type().map_or("?", |t| t.as_str()),
                                s.step_state().map_or("?", |t| t.as_str())
                            )
                        })
                        .collect();
                    Err(Error::user(format!(
                        "the {what} of connector {name} ended {}: {}{}",
                        state.as_str(),
                        d.error_info()
                            .and_then(|e| e.message())
                            .unwrap_or("no reason given"),
                        if steps.is_empty() {
                            String::new()
                        } else {
                            format!(" (steps: {})", steps.join(", "))
                        }
                    ))
                    .with_hint(if what == "update" {
                        "the connector keeps its previous configuration; see its CloudWatch logs"
                    } else {
                        "see the connector's CloudWatch logs"
                    }))
                }
                other => Ok(Poll::Waiting(
                    other.map_or("unknown".into(), |s| s.as_str().to_string()),
                )),
            }
        },
    )
    .await
}

/// Deletes a connector and waits until it is gone; one already gone is fine.
pub(super) async fn delete(clients: &Clients, name: &str, arn: &str) -> Result<(), Error> {
    let deleted = clients
        .kafkaconnect
        .delete_connector()
        .connector_arn(arn)
        .send()
        .await
        .or_absent(&format!("MSK Connect DeleteConnector {name}"))?;
    if deleted.is_none() {
        return Ok(());
    }
    until_gone(
        &format!("connector {name}"),
        CONNECTOR_DEADLINE,
        || async move {
            Ok(clients
                .kafkaconnect
                .describe_connector()
                .connector_arn(arn)
                .send()
                .await
                .or_absent("MSK Connect DescribeConnector")?
                .map(|d| {
                    d.connector_state()
                        .map_or("unknown".into(), |s| s.as_str().to_string())
                }))
        },
    )
    .await
}

fn sdk_capacity(capacity: Capacity) -> aws_sdk_kafkaconnect::types::Capacity {
    use aws_sdk_kafkaconnect::types::{AutoScaling, ScaleInPolicy, ScaleOutPolicy};
    let builder = aws_sdk_kafkaconnect::types::Capacity::builder();
    match capacity {
        Capacity::Provisioned { mcu, workers } => builder.provisioned_capacity(
            ProvisionedCapacity::builder()
                .mcu_count(mcu as i32)
                .worker_count(workers as i32)
                .build(),
        ),
        Capacity::Autoscaled {
            mcu,
            min_workers,
            max_workers,
            scale_out_cpu,
            scale_in_cpu,
        } => builder.auto_scaling(
            AutoScaling::builder()
                .mcu_count(mcu as i32)
                .min_worker_count(min_workers as i32)
                .max_worker_count(max_workers as i32)
                .scale_in_policy(
                    ScaleInPolicy::builder()
                        .cpu_utilization_percentage(scale_in_cpu as i32)
                        .build(),
                )
                .scale_out_policy(
                    ScaleOutPolicy::builder()
                        .cpu_utilization_percentage(scale_out_cpu as i32)
                        .build(),
                )
                .build(),
        ),
    }
    .build()
}

fn sdk_capacity_update(capacity: Capacity) -> aws_sdk_kafkaconnect::types::CapacityUpdate {
    use aws_sdk_kafkaconnect::types::{
        AutoScalingUpdate, ScaleInPolicyUpdate, ScaleOutPolicyUpdate,
    };
    let builder = aws_sdk_kafkaconnect::types::CapacityUpdate::builder();
    match capacity {
        Capacity::Provisioned { mcu, workers } => builder.provisioned_capacity(
            ProvisionedCapacityUpdate::builder()
                .mcu_count(mcu as i32)
                .worker_count(workers as i32)
                .build(),
        ),
        Capacity::Autoscaled {
            mcu,
            min_workers,
            max_workers,
            scale_out_cpu,
            scale_in_cpu,
        } => builder.auto_scaling(
            AutoScalingUpdate::builder()
                .mcu_count(mcu as i32)
                .min_worker_count(min_workers as i32)
                .max_worker_count(max_workers as i32)
                .scale_in_policy(
                    ScaleInPolicyUpdate::builder()
                        .cpu_utilization_percentage(scale_in_cpu as i32)
                        .build(),
                )
                .scale_out_policy(
                    ScaleOutPolicyUpdate::builder()
                        .cpu_utilization_percentage(scale_out_cpu as i32)
                        .build(),
                )
                .build(),
        ),
    }
    .build()
}

/// The capacity a connector description reports.
fn capacity_of(description: Option<&aws_sdk_kafkaconnect::types::CapacityDescription>) -> Capacity {
    let description = description
        .cloned()
        .unwrap_or_else(|| aws_sdk_kafkaconnect::types::CapacityDescription::builder().build());
    if let Some(auto) = description.auto_scaling() {
        return Capacity::Autoscaled {
            mcu: auto.mcu_count() as u32,
            min_workers: auto.min_worker_count() as u32,
            max_workers: auto.max_worker_count() as u32,
            scale_out_cpu: auto
                .scale_out_policy()
                .map_or(0, |p| p.cpu_utilization_percentage() as u32),
            scale_in_cpu: auto
                .scale_in_policy()
                .map_or(0, |p| p.cpu_utilization_percentage() as u32),
        };
    }
    let provisioned = description.provisioned_capacity();
    Capacity::Provisioned {
        mcu: provisioned.map_or(0, |p| p.mcu_count() as u32),
        workers: provisioned.map_or(0, |p| p.worker_count() as u32),
    }
}
