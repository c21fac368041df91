//! Apicurio Registry on ECS Fargate behind an internal Application Load Balancer: the ECS
//! cluster (shared with the schema load), a task definition (Apicurio 3's SQL storage on the database, its credentials from
//! the database's Secrets Manager secret, logs to CloudWatch), a service in the private subnets,
//! and the load balancer with its target group (health-checked on the registry's readiness
//! endpoint) and listener. The connectors reach it as `${aws:registry.url}`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, KeyValuePair, LaunchType, LogConfiguration,
    LogDriver, NetworkConfiguration, NetworkMode, PortMapping, Secret, TransportProtocol,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as LbAction, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum,
    TargetTypeEnum,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::clients::Clients;
use super::outputs::{Outputs, UNKNOWN};
use super::plugins::tags;
use super::sdk_error;
use super::wait::{Poll, Progress, until};
use crate::error::Error;
use crate::model::Environment;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

const CONTAINER: &str = "registry";
pub const PORT: i32 = 8080;
/// Since Apicurio Registry 3.2 the health endpoints are on Quarkus's management interface, port
/// 9000, not on 8080 (apicurio-registry `app/src/main/resources/application.properties`:
/// `quarkus.management.enabled=true`; `distro/docker/src/main/docker/Dockerfile.jvm` exposes
/// 8080 8443 9000). The load balancer checks readiness there.
pub const HEALTH_PORT: i32 = 9000;
const HEALTH: &str = "/health/ready";
const SECRET_VERSION_VARIABLE: &str = "DEPLOY_DATABASE_SECRET_VERSION";
/// A new task pulls the image and Apicurio migrates its tables before it is healthy.
const DEADLINE: Duration = Duration::from_secs(20 * 60);

pub fn log_group(env: &Environment) -> String {
    format!("/deploy/{}/registry", env.name)
}

pub fn cluster(env: &Environment) -> String {
    env.name.clone()
}

fn family(env: &Environment) -> String {
    env.scoped("registry")
}

/// The load balancer's and target group's name (both at most 32 characters).
pub fn lb_name(env: &Environment) -> String {
    let name = env.scoped("registry");
    name.chars().take(32).collect()
}

/// The container as the environment wants it: what is compared with the live task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub image: String,
    pub cpu: String,
    pub memory: String,
    pub environment: BTreeMap<String, String>,
    /// Variable → `<secret ARN>:<json key>::` (ECS reads the value at start; never in the definition).
    pub secrets: BTreeMap<String, String>,
    pub execution_role: String,
    pub task_role: String,
    /// The container's ports: the API and the management interface.
    pub ports: Vec<i32>,
    /// The private registry's credentials (a Secrets Manager secret ARN), if any.
    pub image_credentials: Option<String>,
}

pub fn task(
    env: &Environment,
    outputs: &Outputs,
    roles: &BTreeMap<String, String>,
) -> Option<Task> {
    let aws = env.aws.as_ref()?;
    let registry = aws.registry.as_ref()?;
    let db = aws.database.as_ref()?;
    let known = |v: &Option<String>| v.clone().unwrap_or_else(|| UNKNOWN.into());
    let host = known(&outputs.database_host);
    let port = outputs.database_port.unwrap_or(5432);
    let secret = known(&outputs.database_secret);
    let role = |r: &str| roles.get(r).cloned().unwrap_or_else(|| UNKNOWN.into());
    Some(Task {
        image: registry.image.clone(),
        cpu: registry.cpu.to_string(),
        memory: registry.memory.to_string(),
        environment: BTreeMap::from([
            ("APICURIO_STORAGE_KIND".into(), "sql".into()),
            ("APICURIO_STORAGE_SQL_KIND".into(), "postgresql".into()),
            // The master password's version the tasks read at start: a rotation makes a new
            // task definition, and the new tasks read the new password (ECS injects secrets
            // once, when a task starts).
            (
                SECRET_VERSION_VARIABLE.into(),
                outputs
                    .database_secret_version
                    .clone()
                    .unwrap_or_else(|| UNKNOWN.into()),
            ),
            (
                "APICURIO_DATASOURCE_URL".into(),
                format!(
                    "jdbc:postgresql://{host}:{port}/{}?currentSchema=registry",
                    db.name
                ),
            ),
        ]),
        secrets: BTreeMap::from([
            (
                "APICURIO_DATASOURCE_USERNAME".into(),
                format!("{secret}:username::"),
            ),
            (
                "APICURIO_DATASOURCE_PASSWORD".into(),
                format!("{secret}:password::"),
            ),
        ]),
        execution_role: role(super::iam::TASK_EXECUTION),
        task_role: role(super::iam::REGISTRY_TASK),
        ports: vec![PORT, HEALTH_PORT],
        image_credentials: registry.image_credentials.clone(),
    })
}

/// The registry's parts as ECS and ELB have them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub cluster: bool,
    /// ARN and where it checks health (`<port><path>`, e.g. `9000/health/ready`).
    pub target_group: Option<(String, String)>,
    /// ARN and DNS name.
    pub load_balancer: Option<(String, String)>,
    pub listener: bool,
    /// The latest active revision: ARN and content.
    pub task: Option<(String, Task)>,
    /// Task definition ARN and desired count.
    pub service: Option<(String, i32)>,
}

fn live_task(definition: &aws_sdk_ecs::types::TaskDefinition) -> Option<Task> {
    let container = definition
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(CONTAINER))?;
    Some(Task {
        image: container.image().unwrap_or_default().to_string(),
        cpu: definition.cpu().unwrap_or_default().to_string(),
        memory: definition.memory().unwrap_or_default().to_string(),
        environment: container
            .environment()
            .iter()
            .filter_map(|kv| Some((kv.name()?.to_string(), kv.value()?.to_string())))
            .collect(),
        secrets: container
            .secrets()
            .iter()
            .map(|s| (s.name().to_string(), s.value_from().to_string()))
            .collect(),
        execution_role: definition
            .execution_role_arn()
            .unwrap_or_default()
            .to_string(),
        task_role: definition.task_role_arn().unwrap_or_default().to_string(),
        ports: container
            .port_mappings()
            .iter()
            .filter_map(|p| p.container_port())
            .collect(),
        image_credentials: container
            .repository_credentials()
            .map(|c| c.credentials_parameter().to_string()),
    })
}

/// The ECS cluster runs the registry and the schema load.
pub fn uses_ecs(env: &Environment) -> bool {
    env.aws.as_ref().is_some_and(|a| a.registry.is_some()) || super::schema::loads(env)
}

pub async fn observe(clients: &Clients, env: &Environment) -> Result<Observed, Error> {
    if !uses_ecs(env) {
        return Ok(Observed::default());
    }
    observe_parts(clients, env).await
}

/// Every part, by name, whatever the file asks for.
async fn observe_parts(clients: &Clients, env: &Environment) -> Result<Observed, Error> {
    let ecs_cluster = async {
        let found = clients
            .ecs
            .describe_clusters()
            .clusters(cluster(env))
            .send()
            .await
            .map_err(|e| sdk_error("ECS DescribeClusters", e.into_service_error()))?;
        Ok::<_, Error>(
            found
                .clusters()
                .iter()
                .any(|c| c.status() == Some("ACTIVE")),
        )
    };
    let target_group = async {
        match clients
            .elb
            .describe_target_groups()
            .names(lb_name(env))
            .send()
            .await
        {
            Ok(found) => Ok(found.target_groups().first().and_then(|t| {
                let check = format!(
                    "{}{}",
                    t.health_check_port().unwrap_or("traffic-port"),
                    t.health_check_path().unwrap_or("/")
                );
                Some((t.target_group_arn()?.to_string(), check))
            })),
            Err(e) if e.code() == Some("TargetGroupNotFound") => Ok(None),
            Err(e) => Err(sdk_error(
                "ELB DescribeTargetGroups",
                e.into_service_error(),
            )),
        }
    };
    let load_balancer = async {
        let lb = match clients
            .elb
            .describe_load_balancers()
            .names(lb_name(env))
            .send()
            .await
        {
            Ok(found) => found.load_balancers().first().map(|lb| {
                (
                    lb.load_balancer_arn().unwrap_or_default().to_string(),
                    lb.dns_name().unwrap_or_default().to_string(),
                )
            }),
            Err(e) if e.code() == Some("LoadBalancerNotFound") => None,
            Err(e) => {
                return Err(sdk_error(
                    "ELB DescribeLoadBalancers",
                    e.into_service_error(),
                ));
            }
        };
        let listener = match &lb {
            None => false,
            Some((arn, _)) => clients
                .elb
                .describe_listeners()
                .load_balancer_arn(arn)
                .send()
                .await
                .map_err(|e| sdk_error("ELB DescribeListeners", e.into_service_error()))?
                .listeners()
                .iter()
                .any(|l| l.port() == Some(80)),
        };
        Ok::<_, Error>((lb, listener))
    };
    let task = async {
        match clients
            .ecs
            .describe_task_definition()
            .task_definition(family(env))
            .send()
            .await
        {
            // Only an ACTIVE revision can run a service; ECS answers the family's latest ACTIVE
            // one, and anything else is not reused.
            Ok(found) => Ok(found
                .task_definition()
                .filter(|d| d.status() == Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active))
                .and_then(|d| Some((d.task_definition_arn()?.to_string(), live_task(d)?)))),
            // ECS answers a ClientException for a family with no active revision.
            Err(e) if e.code() == Some("ClientException") => Ok(None),
            Err(e) => Err(sdk_error(
                "ECS DescribeTaskDefinition",
                e.into_service_error(),
            )),
        }
    };
    let service = async {
        let found = match clients
            .ecs
            .describe_services()
            .cluster(cluster(env))
            .services(CONTAINER)
            .send()
            .await
        {
            Ok(found) => found,
            Err(e) if e.code() == Some("ClusterNotFoundException") => return Ok(None),
            Err(e) => return Err(sdk_error("ECS DescribeServices", e.into_service_error())),
        };
        Ok::<_, Error>(
            found
                .services()
                .iter()
                .find(|s| s.status() == Some("ACTIVE"))
                .map(|s| {
                    (
                        s.task_definition().unwrap_or_default().to_string(),
                        s.desired_count(),
                    )
                }),
        )
    };
    let (cluster, target_group, (load_balancer, listener), task, service) =
        tokio::try_join!(ecs_cluster, target_group, load_balancer, task, service)?;
    Ok(Observed {
        cluster,
        target_group,
        load_balancer,
        listener,
        task,
        service,
    })
}

pub fn outputs(observed: &Observed, outputs: &mut Outputs) {
    if let Some((_, dns)) = &observed.load_balancer {
        outputs.registry_url = Some(format!("http://{dns}/apis/ccompat/v7"));
    }
}

/// `family:revision` of a task definition ARN.
fn revision_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Where the target group checks the tasks' health, as `observe` reads it.
fn health_check() -> String {
    format!("{HEALTH_PORT}{HEALTH}")
}

/// What differs between two task definitions, for the plan.
fn task_changes(have: &Task, want: &Task) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut field = |what: &str, a: &str, b: &str| {
        if a != b {
            reasons.push(format!("{what} {a} → {b}"));
        }
    };
    field("image", &have.image, &want.image);
    field("cpu", &have.cpu, &want.cpu);
    field("memory", &have.memory, &want.memory);
    field("execution role", &have.execution_role, &want.execution_role);
    field("task role", &have.task_role, &want.task_role);
    if have.ports != want.ports {
        let list = |p: &[i32]| p.iter().map(i32::to_string).collect::<Vec<_>>().join(", ");
        reasons.push(format!(
            "ports {} → {}",
            list(&have.ports),
            list(&want.ports)
        ));
    }
    for (k, v) in &want.environment {
        if have.environment.get(k) != Some(v) {
            reasons.push(if k == SECRET_VERSION_VARIABLE {
                "database password rotated".to_string()
            } else {
                format!("{k} changed")
            });
        }
    }
    for k in have
        .environment
        .keys()
        .filter(|k| !want.environment.contains_key(*k))
    {
        reasons.push(format!("{k} removed"));
    }
    if have.image_credentials != want.image_credentials {
        reasons.push("image credentials changed".into());
    }
    if have.secrets != want.secrets {
        reasons.push("database credentials changed".into());
    }
    reasons
}

pub fn diff(env: &Environment, observed: &Observed, task: Option<&Task>) -> Vec<Change> {
    let mut changes = Vec::new();
    if uses_ecs(env) {
        changes.push(if observed.cluster {
            Change::new(Kind::EcsCluster, cluster(env), Action::Unchanged, "active")
        } else {
            Change::new(Kind::EcsCluster, cluster(env), Action::Create, "not found")
        });
    }
    let Some(registry) = env.aws.as_ref().and_then(|a| a.registry.as_ref()) else {
        return changes;
    };
    let task = task.expect("a registry has a task");
    changes.push(
        match (
            &observed.load_balancer,
            &observed.target_group,
            observed.listener,
        ) {
            (Some((_, dns)), Some((_, check)), true) if *check == health_check() => {
                Change::new(Kind::LoadBalancer, lb_name(env), Action::Unchanged, dns)
            }
            (None, _, _) => Change::new(
                Kind::LoadBalancer,
                lb_name(env),
                Action::Create,
                format!(
                    "not found; internal, HTTP 80 → registry {PORT}, health :{HEALTH_PORT}{HEALTH}"
                ),
            ),
            (Some(_), Some((_, check)), true) => Change::new(
                Kind::LoadBalancer,
                lb_name(env),
                Action::Update,
                format!("health check {check} → {}", health_check()),
            ),
            _ => Change::new(
                Kind::LoadBalancer,
                lb_name(env),
                Action::Update,
                "target group or listener missing",
            ),
        },
    );
    let task_change = match &observed.task {
        None => Some(Change::new(
            Kind::TaskDefinition,
            family(env),
            Action::Create,
            format!(
                "not found; {} ({} CPU, {} MiB)",
                task.image, task.cpu, task.memory
            ),
        )),
        Some((_, have)) => {
            let reasons = task_changes(have, task);
            (!reasons.is_empty()).then(|| Change {
                kind: Kind::TaskDefinition,
                name: family(env),
                action: Action::Update,
                reasons,
            })
        }
    };
    let desired = registry.desired_count as i32;
    let service = match (&observed.service, &task_change) {
        (None, _) => Change::new(
            Kind::EcsService,
            format!("{}/{CONTAINER}", cluster(env)),
            Action::Create,
            format!("not found; {desired} task(s)"),
        ),
        (Some((running, count)), change) => {
            let mut reasons = Vec::new();
            if change.is_some() {
                reasons.push("new task definition".to_string());
            } else if let Some((latest, _)) = &observed.task
                && latest != running
            {
                // The latest revision is what the file wants, but the service does not run it
                // (an apply stopped between registering and deploying it).
                reasons.push(format!(
                    "runs {}, not the latest {}",
                    revision_of(running),
                    revision_of(latest)
                ));
            }
            if *count != desired {
                reasons.push(format!("tasks {count} → {desired}"));
            }
            if reasons.is_empty() {
                Change::new(
                    Kind::EcsService,
                    format!("{}/{CONTAINER}", cluster(env)),
                    Action::Unchanged,
                    format!("{desired} task(s)"),
                )
            } else {
                Change {
                    kind: Kind::EcsService,
                    name: format!("{}/{CONTAINER}", cluster(env)),
                    action: Action::Update,
                    reasons,
                }
            }
        }
    };
    changes.push(task_change.unwrap_or_else(|| {
        Change::new(
            Kind::TaskDefinition,
            family(env),
            Action::Unchanged,
            format!("{} ({} CPU, {} MiB)", task.image, task.cpu, task.memory),
        )
    }));
    changes.push(service);
    changes
}

pub fn ecs_tags(env: &Environment, resource: &str) -> Vec<aws_sdk_ecs::types::Tag> {
    tags(env, resource)
        .into_iter()
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        .collect()
}

fn elb_tags(env: &Environment, resource: &str) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
    tags(env, resource)
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

/// The ECS cluster, when missing.
pub async fn apply_cluster(
    clients: &Clients,
    env: &Environment,
    observed: &Observed,
) -> Result<(), Error> {
    if uses_ecs(env) && !observed.cluster {
        clients
            .ecs
            .create_cluster()
            .cluster_name(cluster(env))
            .set_tags(Some(ecs_tags(env, "ecs-cluster")))
            .send()
            .await
            .map_err(|e| sdk_error("ECS CreateCluster", e.into_service_error()))?;
    }
    Ok(())
}

/// The load balancer, its target group and listener: what exists is kept. Returns the target
/// group's ARN and the load balancer's DNS name. Runs while the database is being created.
pub async fn apply_load_balancer(
    clients: &Clients,
    env: &Environment,
    observed: &Observed,
    groups: &BTreeMap<String, String>,
) -> Result<(String, String), Error> {
    let aws = env.aws.as_ref().expect("an aws environment");
    let target_group = match &observed.target_group {
        Some((arn, check)) if *check == health_check() => arn.clone(),
        Some((arn, _)) => {
            clients
                .elb
                .modify_target_group()
                .target_group_arn(arn)
                .health_check_port(HEALTH_PORT.to_string())
                .health_check_path(HEALTH)
                .send()
                .await
                .map_err(|e| sdk_error("ELB ModifyTargetGroup", e.into_service_error()))?;
            arn.clone()
        }
        None => clients
            .elb
            .create_target_group()
            .name(lb_name(env))
            .protocol(ProtocolEnum::Http)
            .port(PORT)
            .vpc_id(aws.vpc.as_deref().unwrap_or_default())
            .target_type(TargetTypeEnum::Ip)
            .health_check_port(HEALTH_PORT.to_string())
            .health_check_path(HEALTH)
            .set_tags(Some(elb_tags(env, "registry-target-group")))
            .send()
            .await
            .map_err(|e| sdk_error("ELB CreateTargetGroup", e.into_service_error()))?
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .unwrap_or_default()
            .to_string(),
    };
    let (lb_arn, dns) = match &observed.load_balancer {
        Some(lb) => lb.clone(),
        None => {
            let created = clients
                .elb
                .create_load_balancer()
                .name(lb_name(env))
                .scheme(LoadBalancerSchemeEnum::Internal)
                .r#type(LoadBalancerTypeEnum::Application)
                .set_subnets(Some(aws.subnets.clone()))
                .set_security_groups(
                    groups
                        .get(super::network::REGISTRY_LB)
                        .map(|g| vec![g.clone()]),
                )
                .set_tags(Some(elb_tags(env, "registry-load-balancer")))
                .send()
                .await
                .map_err(|e| sdk_error("ELB CreateLoadBalancer", e.into_service_error()))?;
            let lb = created.load_balancers().first();
            (
                lb.and_then(|l| l.load_balancer_arn())
                    .unwrap_or_default()
                    .to_string(),
                lb.and_then(|l| l.dns_name())
                    .unwrap_or_default()
                    .to_string(),
            )
        }
    };
    if !observed.listener {
        clients
            .elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(
                LbAction::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&target_group)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("ELB CreateListener", e.into_service_error()))?;
    }
    Ok((target_group, dns))
}

/// What the registry's and the schema load's containers share: variables, secrets by reference
/// (ECS reads them when the task starts) and logs to CloudWatch.
pub fn container_base(
    name: &str,
    image: &str,
    environment: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
    log_group: String,
    region: &str,
) -> Result<aws_sdk_ecs::types::builders::ContainerDefinitionBuilder, Error> {
    let invalid =
        |e: aws_smithy_types::error::operation::BuildError| Error::Internal(e.to_string());
    let secrets = secrets
        .iter()
        .map(|(name, from)| {
            Secret::builder()
                .name(name)
                .value_from(from)
                .build()
                .map_err(invalid)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ContainerDefinition::builder()
        .name(name)
        .image(image)
        .essential(true)
        .set_environment(Some(
            environment
                .iter()
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect(),
        ))
        .set_secrets(Some(secrets))
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", log_group)
                .options("awslogs-region", region)
                .options("awslogs-stream-prefix", name)
                .build()
                .map_err(invalid)?,
        ))
}

fn container(env: &Environment, task: &Task) -> Result<ContainerDefinition, Error> {
    let aws = env.aws.as_ref().expect("an aws environment");
    Ok(container_base(
        CONTAINER,
        &task.image,
        &task.environment,
        &task.secrets,
        log_group(env),
        &aws.region,
    )?
    .set_repository_credentials(
        task.image_credentials
            .as_ref()
            .map(|arn| {
                aws_sdk_ecs::types::RepositoryCredentials::builder()
                    .credentials_parameter(arn)
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .transpose()?,
    )
    .set_port_mappings(Some(
        task.ports
            .iter()
            .map(|port| {
                PortMapping::builder()
                    .container_port(*port)
                    .protocol(TransportProtocol::Tcp)
                    .build()
            })
            .collect(),
    ))
    .build())
}

/// The task definition and the service, then a wait until the service runs its tasks on the
/// current definition. Needs the ECS cluster, the database (its address and secret, the schema
/// the load created) and the roles.
pub async fn apply_service(
    clients: &Clients,
    env: &Environment,
    observed: &Observed,
    task: &Task,
    target_group: &str,
    groups: &BTreeMap<String, String>,
    printer: &Printer,
) -> Result<(), Error> {
    let aws = env.aws.as_ref().expect("an aws environment");
    let registry = aws.registry.as_ref().expect("a registry");
    let definition = match &observed.task {
        Some((arn, have)) if have == task => arn.clone(),
        _ => {
            let arn = register(
                fargate_task(clients, env, &family(env), "registry-task-definition")
                    .cpu(&task.cpu)
                    .memory(&task.memory)
                    .execution_role_arn(&task.execution_role)
                    .task_role_arn(&task.task_role)
                    .container_definitions(container(env, task)?),
            )
            .await?;
            printer.status(&format!("  + task definition {arn} registered"));
            arn
        }
    };
    let desired = registry.desired_count as i32;
    match &observed.service {
        None => {
            clients
                .ecs
                .create_service()
                .cluster(cluster(env))
                .service_name(CONTAINER)
                .task_definition(&definition)
                .desired_count(desired)
                .launch_type(LaunchType::Fargate)
                // A deployment whose tasks keep failing ends FAILED (and rolls back) instead
                // of retrying until the deadline.
                .deployment_configuration(
                    DeploymentConfiguration::builder()
                        .deployment_circuit_breaker(
                            DeploymentCircuitBreaker::builder()
                                .enable(true)
                                .rollback(true)
                                .build(),
                        )
                        .build(),
                )
                .network_configuration(
                    NetworkConfiguration::builder()
                        .awsvpc_configuration(
                            AwsVpcConfiguration::builder()
                                .set_subnets(Some(aws.subnets.clone()))
                                .set_security_groups(
                                    groups
                                        .get(super::network::REGISTRY)
                                        .map(|g| vec![g.clone()]),
                                )
                                .assign_public_ip(AssignPublicIp::Disabled)
                                .build()
                                .map_err(|e| Error::Internal(e.to_string()))?,
                        )
                        .build(),
                )
                .load_balancers(
                    aws_sdk_ecs::types::LoadBalancer::builder()
                        .target_group_arn(target_group)
                        .container_name(CONTAINER)
                        .container_port(PORT)
                        .build(),
                )
                .set_tags(Some(ecs_tags(env, "registry-service")))
                .send()
                .await
                .map_err(|e| sdk_error("ECS CreateService", e.into_service_error()))?;
        }
        Some((have, count)) if *have != definition || *count != desired => {
            clients
                .ecs
                .update_service()
                .cluster(cluster(env))
                .service(CONTAINER)
                .task_definition(&definition)
                .desired_count(desired)
                .send()
                .await
                .map_err(|e| sdk_error("ECS UpdateService", e.into_service_error()))?;
        }
        Some(_) => return Ok(()),
    }
    let progress = Progress::new(printer, format!("registry service {}", cluster(env)));
    until("the registry service", DEADLINE, || async {
        let found = clients
            .ecs
            .describe_services()
            .cluster(cluster(env))
            .services(CONTAINER)
            .send()
            .await
            .map_err(|e| sdk_error("ECS DescribeServices", e.into_service_error()))?;
        let Some(service) = found.services().first() else {
            return Ok(Poll::Waiting("not found".into()));
        };
        // Done when the deployment of this definition has rolled out and runs every task.
        let primary = service
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"));
        let rolled_out = primary.is_some_and(|d| {
            d.task_definition() == Some(definition.as_str())
                && d.rollout_state().map(|s| s.as_str()) == Some("COMPLETED")
        });
        if rolled_out && service.running_count() == desired {
            return Ok(Poll::Done(()));
        }
        if primary.and_then(|d| d.rollout_state()).map(|s| s.as_str()) == Some("FAILED") {
            return Err(Error::user(format!(
                "the registry's deployment failed: {}",
                primary
                    .and_then(|d| d.rollout_state_reason())
                    .unwrap_or("no reason given")
            ))
            .with_hint(format!(
                "its logs are in CloudWatch Logs group {}",
                log_group(env)
            )));
        }
        let state = format!(
            "{} of {desired} task(s) running, rollout {}",
            service.running_count(),
            primary
                .and_then(|d| d.rollout_state())
                .map_or("pending", |s| s.as_str())
        );
        progress.saw(&state);
        Ok(Poll::Waiting(state))
    })
    .await
}

/// Deletes the service, the load balancer, the target group, the task definitions and the
/// cluster, whatever part of them exists.
pub async fn destroy(clients: &Clients, env: &Environment, printer: &Printer) -> Result<(), Error> {
    // Found by name whether or not the file still asks for a registry.
    let observed = observe_parts(clients, env).await?;
    if observed.service.is_some() {
        clients
            .ecs
            .delete_service()
            .cluster(cluster(env))
            .service(CONTAINER)
            .force(true)
            .send()
            .await
            .map_err(|e| sdk_error("ECS DeleteService", e.into_service_error()))?;
        printer.status(&format!(
            "  - registry service {}/{CONTAINER} deleted",
            cluster(env)
        ));
    }
    if let Some((arn, _)) = &observed.load_balancer {
        clients
            .elb
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_error("ELB DeleteLoadBalancer", e.into_service_error()))?;
        printer.status(&format!("  - load balancer {} deleted", lb_name(env)));
    }
    if let Some((arn, _)) = &observed.target_group {
        // A target group goes once its load balancer has let go of it.
        until("deleting the registry target group", DEADLINE, || async {
            match clients
                .elb
                .delete_target_group()
                .target_group_arn(arn)
                .send()
                .await
            {
                Ok(_) => Ok(Poll::Done(())),
                Err(e) if e.code() == Some("ResourceInUse") => {
                    Ok(Poll::Waiting("in use by the load balancer".into()))
                }
                Err(e) => Err(sdk_error("ELB DeleteTargetGroup", e.into_service_error())),
            }
        })
        .await?;
    }
    super::schema::destroy(clients, env).await?;
    deregister(clients, &family(env)).await?;
    if observed.cluster {
        clients
            .ecs
            .delete_cluster()
            .cluster(cluster(env))
            .send()
            .await
            .map_err(|e| sdk_error("ECS DeleteCluster", e.into_service_error()))?;
        printer.status(&format!("  - ECS cluster {} deleted", cluster(env)));
    }
    Ok(())
}

/// A Fargate task definition of this environment, to be given its size, roles and container.
pub fn fargate_task(
    clients: &Clients,
    env: &Environment,
    family: &str,
    resource: &str,
) -> aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder
{
    clients
        .ecs
        .register_task_definition()
        .family(family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .set_tags(Some(ecs_tags(env, resource)))
}

/// Registers the task definition; returns the new revision's ARN.
pub async fn register(
    request: aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder,
) -> Result<String, Error> {
    let registered = request
        .send()
        .await
        .map_err(|e| sdk_error("ECS RegisterTaskDefinition", e.into_service_error()))?;
    Ok(registered
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .unwrap_or_default()
        .to_string())
}

/// Deregisters every revision of a task definition family.
pub async fn deregister(clients: &Clients, family: &str) -> Result<(), Error> {
    let revisions = clients
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .send()
        .await
        .map_err(|e| sdk_error("ECS ListTaskDefinitions", e.into_service_error()))?;
    for arn in revisions.task_definition_arns() {
        clients
            .ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| sdk_error("ECS DeregisterTaskDefinition", e.into_service_error()))?;
    }
    Ok(())
}
