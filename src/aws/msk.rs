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

use super::Env;
use super::clients::Clients;
use super::names::{self, TAG_ENVIRONMENT, tags};
use super::sdk::{self, Call};
use super::wait::{Poll, Progress, until, until_gone};
use crate::error::Error;
use crate::model::Msk;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

/// MSK takes 15 to 40 minutes to create a cluster.
const DEADLINE: Duration = Duration::from_secs(90 * 60);

/// The broker properties as MSK stores them: one `key=value` line each, sorted.
fn properties(msk: &Msk) -> String {
    msk.properties
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cluster {
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
pub(super) struct Observed {
    /// ARN, latest revision and its properties.
    pub configuration: Option<(String, i64, String)>,
    pub cluster: Option<Cluster>,
    /// IAM bootstrap servers, once the cluster is ACTIVE.
    pub bootstrap: Option<String>,
}

async fn observe_cluster(clients: &Clients, env: &Env<'_>) -> Result<Option<Cluster>, Error> {
    let found = clients
        .kafka
        .list_clusters_v2()
        .cluster_name_filter(names::msk_cluster(env))
        .send()
        .await
        .or_fail("MSK ListClustersV2")?;
    Ok(found
        .cluster_info_list()
        .iter()
        .find(|c| c.cluster_name() == Some(names::msk_cluster(env).as_str()))
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
pub(super) async fn bootstrap(clients: &Clients, arn: &str) -> Result<String, Error> {
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

pub(super) async fn observe(clients: &Clients, env: &Env<'_>) -> Result<Observed, Error> {
    if env.aws.msk.as_ref().is_none() {
        return Ok(Observed::default());
    }
    let configuration = async {
        let listed = clients
            .kafka
            .list_configurations()
            .send()
            .await
            .or_fail("MSK ListConfigurations")?;
        let Some(found) = listed
            .configurations()
            .iter()
            .find(|c| c.name() == Some(names::msk_configuration(env).as_str()))
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
            .or_fail("MSK DescribeConfigurationRevision")?;
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
pub(super) fn check(env: &Env<'_>, observed: &Observed) -> Result<(), Error> {
    let (Some(msk), Some(cluster)) = (env.aws.msk.as_ref(), &observed.cluster) else {
        return Ok(());
    };
    if !cluster.ours {
        return Err(sdk::not_ours(
            &format!("MSK cluster {}", cluster.arn),
            &env.name,
            "name the existing cluster with `msk-cluster-arn` instead of `msk`",
        ));
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

/// A configuration revision a cluster is to run: one that exists, or the one the configuration
/// step before it in the same plan makes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Revision {
    Existing { arn: String, revision: i64 },
    Made,
}

/// One call (or wait) of an MSK apply, with what it needs. The plan decides the steps; the apply
/// runs them in order and decides nothing again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub(super) enum Step {
    /// CreateConfiguration: the broker properties as revision 1.
    CreateConfiguration {
        name: String,
        kafka_version: String,
        properties: String,
    },
    /// UpdateConfiguration: the broker properties as the configuration's next revision.
    ReviseConfiguration { arn: String, properties: String },
    /// CreateClusterV2 in the environment's subnets, behind the MSK security group.
    CreateCluster {
        name: String,
        msk: Msk,
        subnets: Vec<String>,
        log_group: String,
        revision: Revision,
    },
    /// UpdateClusterConfiguration: the cluster moves to the revision (brokers restart in turn).
    MoveCluster {
        arn: String,
        current_version: String,
        revision: Revision,
    },
    /// Waits until the cluster is ACTIVE, then reads its IAM bootstrap servers.
    AwaitActive { name: String },
}

/// The cluster's part of the plan: each resource's change as the plan shows it, with the steps
/// that carry it out.
pub(super) fn plan(env: &Env<'_>, observed: &Observed) -> Vec<(Change, Vec<Step>)> {
    let Some(msk) = env.aws.msk.as_ref() else {
        return Vec::new();
    };
    let wanted = properties(msk);
    let name = names::msk_configuration(env);
    let (configuration, revision) = match &observed.configuration {
        None => (
            (
                Change::new(
                    Kind::MskConfiguration,
                    &name,
                    Action::Create,
                    format!("not found; {}", wanted.trim_end().replace('\n', ", ")),
                ),
                vec![Step::CreateConfiguration {
                    name: name.clone(),
                    kafka_version: msk.kafka_version.clone(),
                    properties: wanted.clone(),
                }],
            ),
            Revision::Made,
        ),
        Some((arn, revision, have)) if *have != wanted => (
            (
                Change::new(
                    Kind::MskConfiguration,
                    &name,
                    Action::Update,
                    format!("broker properties changed: revision {}", revision + 1),
                ),
                vec![Step::ReviseConfiguration {
                    arn: arn.clone(),
                    properties: wanted.clone(),
                }],
            ),
            Revision::Made,
        ),
        Some((arn, revision, _)) => (
            (
                Change::new(
                    Kind::MskConfiguration,
                    &name,
                    Action::Unchanged,
                    format!("revision {revision}"),
                ),
                Vec::new(),
            ),
            Revision::Existing {
                arn: arn.clone(),
                revision: *revision,
            },
        ),
    };
    let name = names::msk_cluster(env);
    let wait = Step::AwaitActive { name: name.clone() };
    let cluster = match (&observed.cluster, &revision) {
        (None, _) => (
            Change::new(
                Kind::MskCluster,
                &name,
                Action::Create,
                format!(
                    "not found; {} × {}, Kafka {}, {} GiB each, IAM + TLS",
                    msk.brokers, msk.broker_type, msk.kafka_version, msk.storage_gib
                ),
            ),
            vec![
                Step::CreateCluster {
                    name: name.clone(),
                    msk: msk.clone(),
                    subnets: env.aws.subnets.clone(),
                    log_group: names::msk_log_group(env),
                    revision,
                },
                wait,
            ],
        ),
        (Some(c), Revision::Made) => (
            Change::new(
                Kind::MskCluster,
                &name,
                Action::Update,
                "new configuration revision (brokers restart one at a time)",
            ),
            vec![
                Step::MoveCluster {
                    arn: c.arn.clone(),
                    current_version: c.current_version.clone(),
                    revision,
                },
                wait,
            ],
        ),
        // The latest revision has the wanted properties, but the cluster does not run it (an
        // apply stopped between the two, or a change by hand).
        (
            Some(c),
            Revision::Existing {
                arn,
                revision: latest,
            },
        ) if c.configuration.as_ref() != Some(&(arn.clone(), *latest)) => {
            let running = c
                .configuration
                .as_ref()
                .map_or("no configuration".to_string(), |(_, r)| {
                    format!("revision {r}")
                });
            (
                Change::new(
                    Kind::MskCluster,
                    &name,
                    Action::Update,
                    format!(
                        "runs {running}, not the configuration's latest, revision {latest} (brokers restart one at a time)"
                    ),
                ),
                vec![
                    Step::MoveCluster {
                        arn: c.arn.clone(),
                        current_version: c.current_version.clone(),
                        revision: revision.clone(),
                    },
                    wait,
                ],
            )
        }
        // Still being created or updated (an apply stopped while it waited): the next apply
        // waits for it before the connectors need its servers.
        (Some(c), Revision::Existing { .. }) => (
            Change::new(Kind::MskCluster, &name, Action::Unchanged, &c.state),
            if observed.bootstrap.is_some() {
                Vec::new()
            } else {
                vec![wait]
            },
        ),
    };
    vec![configuration, cluster]
}

/// Carries out the plan's MSK steps; returns the cluster's ARN and IAM bootstrap servers (as
/// observed when there was nothing to do).
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    observed: &Observed,
    steps: &[Step],
    groups: &BTreeMap<String, String>,
    printer: &Printer,
) -> Result<Option<(String, String)>, Error> {
    if env.aws.msk.is_none() {
        return Ok(None);
    }
    let mut made: Option<(String, i64)> = None;
    let mut arn = observed.cluster.as_ref().map(|c| c.arn.clone());
    let mut servers = observed.bootstrap.clone();
    for step in steps {
        match step {
            Step::CreateConfiguration {
                name,
                kafka_version,
                properties,
            } => {
                let created = clients
                    .kafka
                    .create_configuration()
                    .name(name)
                    .description(format!("deploy {}: broker properties", env.name))
                    .kafka_versions(kafka_version)
                    .server_properties(Blob::new(properties.as_bytes()))
                    .send()
                    .await
                    .or_fail("MSK CreateConfiguration")?;
                made = Some((
                    created.arn().unwrap_or_default().to_string(),
                    created
                        .latest_revision()
                        .and_then(|r| r.revision())
                        .unwrap_or(1),
                ));
            }
            Step::ReviseConfiguration { arn, properties } => {
                let updated = clients
                    .kafka
                    .update_configuration()
                    .arn(arn)
                    .server_properties(Blob::new(properties.as_bytes()))
                    .send()
                    .await
                    .or_fail("MSK UpdateConfiguration")?;
                made = Some((
                    arn.clone(),
                    updated
                        .latest_revision()
                        .and_then(|r| r.revision())
                        .unwrap_or(1),
                ));
            }
            Step::CreateCluster {
                name,
                msk,
                subnets,
                log_group,
                revision,
            } => {
                let created = clients
                    .kafka
                    .create_cluster_v2()
                    .cluster_name(name)
                    .provisioned(provisioned(
                        msk,
                        subnets,
                        groups.get(names::role::MSK),
                        log_group,
                        configuration_info(revision, made.as_ref())?,
                    ))
                    .set_tags(Some(tags(env, "msk-cluster").into_iter().collect()))
                    .send()
                    .await
                    .or_fail("MSK CreateClusterV2")?;
                printer.status(&format!("  + MSK cluster {name} creating"));
                arn = Some(created.cluster_arn().unwrap_or_default().to_string());
            }
            Step::MoveCluster {
                arn,
                current_version,
                revision,
            } => {
                clients
                    .kafka
                    .update_cluster_configuration()
                    .cluster_arn(arn)
                    .current_version(current_version)
                    .configuration_info(configuration_info(revision, made.as_ref())?)
                    .send()
                    .await
                    .or_fail("MSK UpdateClusterConfiguration")?;
            }
            Step::AwaitActive { name } => {
                let cluster = arn.clone().ok_or_else(|| {
                    Error::Internal(format!(
                        "the plan waits for MSK cluster {name}, which it neither found nor creates"
                    ))
                })?;
                await_active(clients, env, name, printer).await?;
                servers = Some(bootstrap(clients, &cluster).await?);
            }
        }
    }
    Ok(arn.zip(servers))
}

/// The revision a step names, the one made earlier in the same apply filled in.
fn configuration_info(
    revision: &Revision,
    made: Option<&(String, i64)>,
) -> Result<ConfigurationInfo, Error> {
    let (arn, revision) = match revision {
        Revision::Existing { arn, revision } => (arn.as_str(), *revision),
        Revision::Made => {
            let (arn, revision) = made.ok_or_else(|| {
                Error::Internal("the plan names a configuration revision no step made".into())
            })?;
            (arn.as_str(), *revision)
        }
    };
    Ok(ConfigurationInfo::builder()
        .arn(arn)
        .revision(revision)
        .build())
}

/// The provisioned cluster: IAM client authentication, TLS in transit and between brokers,
/// broker logs to CloudWatch.
fn provisioned(
    msk: &Msk,
    subnets: &[String],
    group: Option<&String>,
    log_group: &str,
    configuration: ConfigurationInfo,
) -> ProvisionedRequest {
    ProvisionedRequest::builder()
        .broker_node_group_info(
            BrokerNodeGroupInfo::builder()
                .instance_type(&msk.broker_type)
                .set_client_subnets(Some(subnets.to_vec()))
                .set_security_groups(group.map(|g| vec![g.clone()]))
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
        .configuration_info(configuration)
        .logging_info(
            LoggingInfo::builder()
                .broker_logs(
                    BrokerLogs::builder()
                        .cloud_watch_logs(
                            CloudWatchLogs::builder()
                                .enabled(true)
                                .log_group(log_group)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .build()
}

async fn await_active(
    clients: &Clients,
    env: &Env<'_>,
    name: &str,
    printer: &Printer,
) -> Result<(), Error> {
    let progress = Progress::new(printer, format!("MSK cluster {name}"));
    until(&format!("MSK cluster {name}"), DEADLINE, || async {
        let cluster = observe_cluster(clients, env).await?;
        Ok(match cluster.map(|c| c.state) {
            Some(state) if state == "ACTIVE" => Poll::Done(()),
            Some(state) if state == "FAILED" => {
                return Err(Error::user(format!("MSK cluster {name} FAILED")).with_hint(
                    "its events are in the MSK console; `destroy --delete-data` removes it",
                ));
            }
            state => {
                let state = state.unwrap_or_else(|| "not found".into());
                progress.saw(&state);
                Poll::Waiting(state)
            }
        })
    })
    .await
}

/// Deletes the cluster and its configuration, only with `--delete-data` (topics are data).
/// Returns whether the cluster is kept.
pub(super) async fn destroy(
    clients: &Clients,
    env: &Env<'_>,
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
        clients
            .kafka
            .delete_cluster()
            .cluster_arn(&cluster.arn)
            .send()
            .await
            .or_absent("MSK DeleteCluster")?;
        until_gone("the MSK cluster", DEADLINE, || async {
            Ok(observe_cluster(clients, env).await?.map(|c| c.state))
        })
        .await?;
        printer.status(&format!(
            "  - MSK cluster {} deleted",
            names::msk_cluster(env)
        ));
    }
    let listed = clients
        .kafka
        .list_configurations()
        .send()
        .await
        .or_fail("MSK ListConfigurations")?;
    for found in listed
        .configurations()
        .iter()
        .filter(|c| c.name() == Some(names::msk_configuration(env).as_str()))
    {
        clients
            .kafka
            .delete_configuration()
            .arn(found.arn().unwrap_or_default())
            .send()
            .await
            .or_fail("MSK DeleteConfiguration")?;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(state: &str, revision: i64) -> Cluster {
        Cluster {
            arn: "arn:aws:kafka:us-east-1:123456789012:cluster/plan/abc-1".into(),
            state: state.into(),
            ours: true,
            current_version: "K3AEGXETSR30VB".into(),
            kafka_version: "3.9.x".into(),
            broker_type: "kafka.m7g.large".into(),
            brokers: 2,
            storage_gib: 100,
            configuration: Some((CONFIGURATION.into(), revision)),
        }
    }

    const CONFIGURATION: &str = "arn:aws:kafka:us-east-1:123456789012:configuration/plan-msk/c-1";

    /// The configuration as observed: its latest revision, with the wanted properties or not.
    fn configuration(env: &Env<'_>, revision: i64, wanted: bool) -> (String, i64, String) {
        let properties = if wanted {
            properties(env.aws.msk.as_ref().expect("msk"))
        } else {
            "auto.create.topics.enable=true\n".into()
        };
        (CONFIGURATION.into(), revision, properties)
    }

    fn plan_of(observed: &Observed) -> Vec<(Change, Vec<Step>)> {
        plan(&crate::aws::fixture::env(), observed)
    }

    #[test]
    fn from_nothing_the_configuration_comes_first_and_the_cluster_runs_what_it_made() {
        insta::assert_json_snapshot!(plan_of(&Observed::default()));
    }

    #[test]
    fn new_broker_properties_are_a_revision_the_cluster_then_moves_to() {
        let env = crate::aws::fixture::env();
        let observed = Observed {
            configuration: Some(configuration(&env, 1, false)),
            cluster: Some(cluster("ACTIVE", 1)),
            bootstrap: Some("b-1:9098".into()),
        };
        insta::assert_json_snapshot!(plan(&env, &observed));
    }

    /// What an apply cut short between UpdateConfiguration and UpdateClusterConfiguration
    /// leaves: the next plan moves the cluster to the revision that exists.
    #[test]
    fn a_revision_made_but_not_applied_is_the_work_left() {
        let env = crate::aws::fixture::env();
        let observed = Observed {
            configuration: Some(configuration(&env, 2, true)),
            cluster: Some(cluster("ACTIVE", 1)),
            bootstrap: Some("b-1:9098".into()),
        };
        insta::assert_json_snapshot!(plan(&env, &observed));
    }

    #[test]
    fn a_cluster_in_place_has_no_steps_and_one_still_creating_is_waited_for() {
        let env = crate::aws::fixture::env();
        let settled = Observed {
            configuration: Some(configuration(&env, 1, true)),
            cluster: Some(cluster("ACTIVE", 1)),
            bootstrap: Some("b-1:9098".into()),
        };
        assert!(
            plan(&env, &settled)
                .iter()
                .all(|(change, steps)| { change.action == Action::Unchanged && steps.is_empty() })
        );
        let creating = Observed {
            cluster: Some(cluster("CREATING", 1)),
            bootstrap: None,
            ..settled
        };
        let steps: Vec<Step> = plan(&env, &creating)
            .into_iter()
            .flat_map(|(_, steps)| steps)
            .collect();
        assert_eq!(
            steps,
            [Step::AwaitActive {
                name: "plan".into()
            }]
        );
    }
}
