//! The MSK cluster, when the environment creates one: a cluster configuration holding the broker
//! properties (new content is a new revision), and a provisioned cluster with IAM client
//! authentication, TLS in transit and between brokers, broker logs to CloudWatch, in the given
//! subnets behind its own security group. Its IAM bootstrap servers are read back for the
//! connectors. Topics are data: `destroy` keeps the cluster unless `--delete-data`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_kafka::primitives::Blob;
use aws_sdk_kafka::types::{
    BrokerLogs, BrokerNodeGroupInfo, ClientAuthentication, ClientBroker, CloudWatchLogs,
    ConfigurationInfo, EbsStorageInfo, EncryptionInTransit, EncryptionInfo, Iam, LoggingInfo,
    ProvisionedRequest, Sasl, StorageInfo,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::clients::Clients;
use super::plugins::{TAG_ENVIRONMENT, tags};
use super::sdk_error;
use super::wait::{Poll, Progress, until};
use crate::error::Error;
use crate::model::{Environment, Msk};
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

/// MSK takes 15 to 40 minutes to create a cluster.
const DEADLINE: Duration = Duration::from_secs(90 * 60);

pub fn log_group(env: &Environment) -> String {
    format!("/deploy/{}/msk", env.name)
}

fn cluster_name(env: &Environment) -> String {
    env.name.clone()
}

fn configuration_name(env: &Environment) -> String {
    env.scoped("msk")
}

/// The broker properties as MSK stores them: one `key=value` line each, sorted.
fn properties(msk: &Msk) -> String {
    msk.properties
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub arn: String,
    pub state: String,
    pub ours: bool,
    pub current_version: String,
    pub kafka_version: String,
    pub broker_type: String,
    pub brokers: i32,
    pub storage_gib: i32,
    pub configuration: Option<(String, i64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// ARN, latest revision and its properties.
    pub configuration: Option<(String, i64, String)>,
    pub cluster: Option<Cluster>,
    /// IAM bootstrap servers, once the cluster is ACTIVE.
    pub bootstrap: Option<String>,
}

async fn observe_cluster(clients: &Clients, env: &Environment) -> Result<Option<Cluster>, Error> {
    let found = clients
        .kafka
        .list_clusters_v2()
        .cluster_name_filter(cluster_name(env))
        .send()
        .await
        .map_err(|e| sdk_error("MSK ListClustersV2", e.into_service_error()))?;
    Ok(found
        .cluster_info_list()
        .iter()
        .find(|c| c.cluster_name() == Some(cluster_name(env).as_str()))
        .map(|c| {
            let provisioned = c.provisioned();
            let software = provisioned.and_then(|p| p.current_broker_software_info());
            let nodes = provisioned.and_then(|p| p.broker_node_group_info());
            Cluster {
                arn: c.cluster_arn().unwrap_or_default().to_string(),
                state: c
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                ours: c
                    .tags()
                    .is_some_and(|t| t.get(TAG_ENVIRONMENT) == Some(&env.name)),
                current_version: c.current_version().unwrap_or_default().to_string(),
                kafka_version: software
                    .and_then(|s| s.kafka_version())
                    .unwrap_or_default()
                    .to_string(),
                broker_type: nodes
                    .and_then(|n| n.instance_type())
                    .unwrap_or_default()
                    .to_string(),
                brokers: provisioned
                    .and_then(|p| p.number_of_broker_nodes())
                    .unwrap_or_default(),
                storage_gib: nodes
                    .and_then(|n| n.storage_info())
                    .and_then(|s| s.ebs_storage_info())
                    .and_then(|e| e.volume_size())
                    .unwrap_or_default(),
                configuration: software.and_then(|s| {
                    Some((
                        s.configuration_arn()?.to_string(),
                        s.configuration_revision()?,
                    ))
                }),
            }
        }))
}

/// A cluster's IAM bootstrap servers (MSK Connect connects with IAM).
pub async fn bootstrap(clients: &Clients, arn: &str) -> Result<String, Error> {
    let brokers = clients
        .kafka
        .get_bootstrap_brokers()
        .cluster_arn(arn)
        .send()
        .await
        .map_err(|e| {
            let e = e.into_service_error();
            Error::user(format!(
                "cannot read the bootstrap servers of MSK cluster {arn}: {}",
                aws_sdk_kafka::error::ProvideErrorMetadata::message(&e)
                    .map_or_else(|| e.to_string(), str::to_string)
            ))
            .with_hint("check the cluster's ARN (`aws.msk-cluster-arn`) and the region")
        })?;
    brokers
        .bootstrap_broker_string_sasl_iam()
        .map(str::to_string)
        .ok_or_else(|| {
            Error::user(format!("MSK cluster {arn} has no IAM bootstrap servers")).with_hint(
                "MSK Connect connects with IAM authentication: turn it on for the cluster",
            )
        })
}

pub async fn observe(clients: &Clients, env: &Environment) -> Result<Observed, Error> {
    if env.aws.as_ref().and_then(|a| a.msk.as_ref()).is_none() {
        return Ok(Observed::default());
    }
    let configuration = async {
        let listed = clients
            .kafka
            .list_configurations()
            .send()
            .await
            .map_err(|e| sdk_error("MSK ListConfigurations", e.into_service_error()))?;
        let Some(found) = listed
            .configurations()
            .iter()
            .find(|c| c.name() == Some(configuration_name(env).as_str()))
        else {
            return Ok(None);
        };
        let arn = found.arn().unwrap_or_default().to_string();
        let revision = found
            .latest_revision()
            .and_then(|r| r.revision())
            .unwrap_or(1);
        let content = clients
            .kafka
            .describe_configuration_revision()
            .arn(&arn)
            .revision(revision)
            .send()
            .await
            .map_err(|e| sdk_error("MSK DescribeConfigurationRevision", e.into_service_error()))?;
        let text = content
            .server_properties()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
            .unwrap_or_default();
        Ok::<_, Error>(Some((arn, revision, text)))
    };
    let (configuration, cluster) = tokio::try_join!(configuration, observe_cluster(clients, env))?;
    let bootstrap = match &cluster {
        Some(c) if c.state == "ACTIVE" => Some(bootstrap(clients, &c.arn).await?),
        _ => None,
    };
    Ok(Observed {
        configuration,
        cluster,
        bootstrap,
    })
}

/// What deploy does not change on an existing cluster: said before anything changes.
pub fn check(env: &Environment, observed: &Observed) -> Result<(), Error> {
    let (Some(msk), Some(cluster)) = (
        env.aws.as_ref().and_then(|a| a.msk.as_ref()),
        &observed.cluster,
    ) else {
        return Ok(());
    };
    if !cluster.ours {
        return Err(Error::user(format!(
            "MSK cluster {} exists but does not carry the `{TAG_ENVIRONMENT}` tag of environment `{}`: refusing to use it",
            cluster.arn, env.name
        ))
        .with_hint("name the existing cluster with `msk-cluster-arn` instead of `msk`"));
    }
    let differences: Vec<String> = [
        (
            "kafka-version",
            cluster.kafka_version.clone(),
            msk.kafka_version.clone(),
        ),
        (
            "broker-type",
            cluster.broker_type.clone(),
            msk.broker_type.clone(),
        ),
        (
            "brokers",
            cluster.brokers.to_string(),
            msk.brokers.to_string(),
        ),
        (
            "storage-gib",
            cluster.storage_gib.to_string(),
            msk.storage_gib.to_string(),
        ),
    ]
    .into_iter()
    .filter(|(_, have, want)| have != want)
    .map(|(key, have, want)| format!("{key} {have} → {want}"))
    .collect();
    if differences.is_empty() {
        Ok(())
    } else {
        Err(Error::user(format!(
            "MSK cluster {} differs in what deploy does not change in place: {}",
            cluster.arn,
            differences.join(", ")
        ))
        .with_hint(
            "change it with the MSK console or CLI (a rolling operation), or set the file to match",
        ))
    }
}

pub fn diff(env: &Environment, observed: &Observed) -> Vec<Change> {
    let Some(msk) = env.aws.as_ref().and_then(|a| a.msk.as_ref()) else {
        return Vec::new();
    };
    let wanted = properties(msk);
    let configuration_changes = match &observed.configuration {
        None => true,
        Some((_, _, have)) => *have != wanted,
    };
    vec![
        match &observed.configuration {
            None => Change::new(
                Kind::MskConfiguration,
                configuration_name(env),
                Action::Create,
                format!("not found; {}", wanted.trim_end().replace('\n', ", ")),
            ),
            Some((_, revision, _)) if configuration_changes => Change::new(
                Kind::MskConfiguration,
                configuration_name(env),
                Action::Update,
                format!("broker properties changed: revision {}", revision + 1),
            ),
            Some((_, revision, _)) => Change::new(
                Kind::MskConfiguration,
                configuration_name(env),
                Action::Unchanged,
                format!("revision {revision}"),
            ),
        },
        match &observed.cluster {
            None => Change::new(
                Kind::MskCluster,
                cluster_name(env),
                Action::Create,
                format!(
                    "not found; {} × {}, Kafka {}, {} GiB each, IAM + TLS",
                    msk.brokers, msk.broker_type, msk.kafka_version, msk.storage_gib
                ),
            ),
            Some(_) if configuration_changes => Change::new(
                Kind::MskCluster,
                cluster_name(env),
                Action::Update,
                "new configuration revision (brokers restart one at a time)",
            ),
            // The latest revision has the wanted properties, but the cluster does not run it
            // (an apply stopped between the two, or a change by hand): apply moves it, so the
            // plan says so.
            Some(c)
                if observed
                    .configuration
                    .as_ref()
                    .is_some_and(|(arn, revision, _)| {
                        c.configuration.as_ref() != Some(&(arn.clone(), *revision))
                    }) =>
            {
                let running = c
                    .configuration
                    .as_ref()
                    .map_or("no configuration".to_string(), |(_, r)| {
                        format!("revision {r}")
                    });
                let latest = observed.configuration.as_ref().map_or(0, |(_, r, _)| *r);
                Change::new(
                    Kind::MskCluster,
                    cluster_name(env),
                    Action::Update,
                    format!(
                        "runs {running}, not the configuration's latest, revision {latest} (brokers restart one at a time)"
                    ),
                )
            }
            Some(c) => Change::new(
                Kind::MskCluster,
                cluster_name(env),
                Action::Unchanged,
                &c.state,
            ),
        },
    ]
}

/// Creates or updates the configuration and the cluster, waits until it is ACTIVE, and returns
/// its ARN and IAM bootstrap servers.
pub async fn apply(
    clients: &Clients,
    env: &Environment,
    observed: &Observed,
    groups: &BTreeMap<String, String>,
    printer: &Printer,
) -> Result<Option<(String, String)>, Error> {
    let aws = env.aws.as_ref().expect("an aws environment");
    let Some(msk) = &aws.msk else {
        return Ok(None);
    };
    let wanted = properties(msk);
    let configuration = match &observed.configuration {
        Some((arn, revision, have)) if *have == wanted => (arn.clone(), *revision),
        Some((arn, _, _)) => {
            let updated = clients
                .kafka
                .update_configuration()
                .arn(arn)
                .server_properties(Blob::new(wanted.as_bytes()))
                .send()
                .await
                .map_err(|e| sdk_error("MSK UpdateConfiguration", e.into_service_error()))?;
            (
                arn.clone(),
                updated
                    .latest_revision()
                    .and_then(|r| r.revision())
                    .unwrap_or(1),
            )
        }
        None => {
            let created = clients
                .kafka
                .create_configuration()
                .name(configuration_name(env))
                .description(format!("deploy {}: broker properties", env.name))
                .kafka_versions(&msk.kafka_version)
                .server_properties(Blob::new(wanted.as_bytes()))
                .send()
                .await
                .map_err(|e| sdk_error("MSK CreateConfiguration", e.into_service_error()))?;
            (
                created.arn().unwrap_or_default().to_string(),
                created
                    .latest_revision()
                    .and_then(|r| r.revision())
                    .unwrap_or(1),
            )
        }
    };
    let configuration_info = ConfigurationInfo::builder()
        .arn(&configuration.0)
        .revision(configuration.1)
        .build();
    let arn = match &observed.cluster {
        None => {
            let provisioned = ProvisionedRequest::builder()
                .broker_node_group_info(
                    BrokerNodeGroupInfo::builder()
                        .instance_type(&msk.broker_type)
                        .set_client_subnets(Some(aws.subnets.clone()))
                        .set_security_groups(
                            groups.get(super::network::MSK).map(|g| vec![g.clone()]),
                        )
                        .storage_info(
                            StorageInfo::builder()
                                .ebs_storage_info(
                                    EbsStorageInfo::builder()
                                        .volume_size(msk.storage_gib as i32)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .kafka_version(&msk.kafka_version)
                .number_of_broker_nodes(msk.brokers as i32)
                .client_authentication(
                    ClientAuthentication::builder()
                        .sasl(
                            Sasl::builder()
                                .iam(Iam::builder().enabled(true).build())
                                .build(),
                        )
                        .build(),
                )
                .encryption_info(
                    EncryptionInfo::builder()
                        .encryption_in_transit(
                            EncryptionInTransit::builder()
                                .client_broker(ClientBroker::Tls)
                                .in_cluster(true)
                                .build(),
                        )
                        .build(),
                )
                .configuration_info(configuration_info)
                .logging_info(
                    LoggingInfo::builder()
                        .broker_logs(
                            BrokerLogs::builder()
                                .cloud_watch_logs(
                                    CloudWatchLogs::builder()
                                        .enabled(true)
                                        .log_group(log_group(env))
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build();
            let created = clients
                .kafka
                .create_cluster_v2()
                .cluster_name(cluster_name(env))
                .provisioned(provisioned)
                .set_tags(Some(tags(env, "msk-cluster").into_iter().collect()))
                .send()
                .await
                .map_err(|e| sdk_error("MSK CreateClusterV2", e.into_service_error()))?;
            printer.status(&format!("  + MSK cluster {} creating", cluster_name(env)));
            created.cluster_arn().unwrap_or_default().to_string()
        }
        Some(cluster) if cluster.configuration.as_ref() != Some(&configuration) => {
            clients
                .kafka
                .update_cluster_configuration()
                .cluster_arn(&cluster.arn)
                .current_version(&cluster.current_version)
                .configuration_info(configuration_info)
                .send()
                .await
                .map_err(|e| sdk_error("MSK UpdateClusterConfiguration", e.into_service_error()))?;
            cluster.arn.clone()
        }
        Some(cluster) => {
            if let Some(servers) = &observed.bootstrap {
                return Ok(Some((cluster.arn.clone(), servers.clone())));
            }
            cluster.arn.clone()
        }
    };
    let progress = Progress::new(printer, format!("MSK cluster {}", cluster_name(env)));
    until(
        &format!("MSK cluster {}", cluster_name(env)),
        DEADLINE,
        || async {
            let cluster = observe_cluster(clients, env).await?;
            Ok(match cluster.map(|c| c.state) {
                Some(state) if state == "ACTIVE" => Poll::Done(()),
                Some(state) if state == "FAILED" => {
                    return Err(
                        Error::user(format!("MSK cluster {} FAILED", cluster_name(env))).with_hint(
                            "its events are in the MSK console; `destroy --delete-data` removes it",
                        ),
                    );
                }
                state => {
                    let state = state.unwrap_or_else(|| "not found".into());
                    progress.saw(&state);
                    Poll::Waiting(state)
                }
            })
        },
    )
    .await?;
    let servers = bootstrap(clients, &arn).await?;
    Ok(Some((arn, servers)))
}

/// Deletes the cluster and its configuration, only with `--delete-data` (topics are data).
/// Returns whether the cluster is kept.
pub async fn destroy(
    clients: &Clients,
    env: &Environment,
    delete_data: bool,
    printer: &Printer,
) -> Result<bool, Error> {
    // Found by name whether or not the file still asks for a cluster.
    let cluster = observe_cluster(clients, env).await?.filter(|c| c.ours);
    if let Some(cluster) = cluster.as_ref().filter(|_| !delete_data) {
        printer.status(&format!(
            "kept MSK cluster {} (its topics are data: remove it with `destroy --delete-data`)",
            cluster.arn
        ));
        return Ok(true);
    }
    if let Some(cluster) = &cluster {
        match clients
            .kafka
            .delete_cluster()
            .cluster_arn(&cluster.arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some("NotFoundException") => {}
            Err(e) => return Err(sdk_error("MSK DeleteCluster", e.into_service_error())),
        }
        until("deleting the MSK cluster", DEADLINE, || async {
            Ok(match observe_cluster(clients, env).await? {
                None => Poll::Done(()),
                Some(c) => Poll::Waiting(c.state),
            })
        })
        .await?;
        printer.status(&format!("  - MSK cluster {} deleted", cluster_name(env)));
    }
    let listed = clients
        .kafka
        .list_configurations()
        .send()
        .await
        .map_err(|e| sdk_error("MSK ListConfigurations", e.into_service_error()))?;
    for found in listed
        .configurations()
        .iter()
        .filter(|c| c.name() == Some(configuration_name(env).as_str()))
    {
        clients
            .kafka
            .delete_configuration()
            .arn(found.arn().unwrap_or_default())
            .send()
            .await
            .map_err(|e| sdk_error("MSK DeleteConfiguration", e.into_service_error()))?;
    }
    Ok(false)
}
