//! Apicurio Registry on ECS Fargate behind an internal Application Load Balancer: the ECS
//! cluster (shared with the schema load), a task definition (Apicurio 3's SQL storage on the database, its credentials from
//! the database's Secrets Manager secret, logs to CloudWatch), a service in the private subnets,
//! and the load balancer with its target group (health-checked on the registry's readiness
//! endpoint) and listener. The connectors reach it as `${aws:registry.url}`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, DeploymentCircuitBreaker,
    DeploymentConfiguration, LaunchType, NetworkConfiguration, PortMapping, TransportProtocol,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as LbAction, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum,
    TargetTypeEnum,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::Env;
use super::clients::Clients;
use super::ecs;
use super::names::{self, tags};
use super::outputs::{Outputs, UNKNOWN};
use super::sdk::{self, Call};
use super::wait::{Poll, Progress, until};
use crate::error::Error;
use crate::model::Registry;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

const CONTAINER: &str = "registry";
const HEALTH: &str = "/health/ready";
const SECRET_VERSION_VARIABLE: &str = "DEPLOY_DATABASE_SECRET_VERSION";
/// A new task pulls the image and Apicurio migrates its tables before it is healthy.
const DEADLINE: Duration = Duration::from_secs(20 * 60);

/// The container as the environment wants it: what is compared with the live task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Task {
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

pub(super) fn task(
    env: &Env<'_>,
    outputs: &Outputs,
    roles: &BTreeMap<String, String>,
) -> Option<Task> {
    let aws = env.aws;
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
        execution_role: role(names::role::TASK_EXECUTION),
        task_role: role(names::role::REGISTRY_TASK),
        ports: vec![Registry::PORT, Registry::HEALTH_PORT],
        image_credentials: registry.image_credentials.clone(),
    })
}

/// The registry's parts as ECS and ELB have them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Observed {
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

pub(super) async fn observe(clients: &Clients, env: &Env<'_>) -> Result<Observed, Error> {
    if !env.uses_ecs() {
        return Ok(Observed::default());
    }
    observe_parts(clients, env).await
}

/// Every part, by name, whatever the file asks for.
async fn observe_parts(clients: &Clients, env: &Env<'_>) -> Result<Observed, Error> {
    let ecs_cluster = async {
        let found = clients
            .ecs
            .describe_clusters()
            .clusters(names::ecs_cluster(env))
            .send()
            .await
            .or_fail("ECS DescribeClusters")?;
        Ok::<_, Error>(
            found
                .clusters()
                .iter()
                .any(|c| c.status() == Some("ACTIVE")),
        )
    };
    let target_group = async {
        let found = clients
            .elb
            .describe_target_groups()
            .names(names::registry_lb(env))
            .send()
            .await
            .or_absent("ELB DescribeTargetGroups")?;
        Ok::<_, Error>(found.and_then(|found| {
            let t = found.target_groups().first()?;
            let check = format!(
                "{}{}",
                t.health_check_port().unwrap_or("traffic-port"),
                t.health_check_path().unwrap_or("/")
            );
            Some((t.target_group_arn()?.to_string(), check))
        }))
    };
    let load_balancer = async {
        let lb = clients
            .elb
            .describe_load_balancers()
            .names(names::registry_lb(env))
            .send()
            .await
            .or_absent("ELB DescribeLoadBalancers")?
            .and_then(|found| {
                let lb = found.load_balancers().first()?;
                Some((
                    lb.load_balancer_arn().unwrap_or_default().to_string(),
                    lb.dns_name().unwrap_or_default().to_string(),
                ))
            });
        let listener = match &lb {
            None => false,
            Some((arn, _)) => clients
                .elb
                .describe_listeners()
                .load_balancer_arn(arn)
                .send()
                .await
                .or_fail("ELB DescribeListeners")?
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
            .task_definition(names::registry_family(env))
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
            Err(e) => Err(sdk::error("ECS DescribeTaskDefinition", e)),
        }
    };
    let service = async {
        let Some(found) = clients
            .ecs
            .describe_services()
            .cluster(names::ecs_cluster(env))
            .services(CONTAINER)
            .send()
            .await
            .or_absent("ECS DescribeServices")?
        else {
            return Ok(None);
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

pub(super) fn outputs(observed: &Observed, outputs: &mut Outputs) {
    if let Some((_, dns)) = &observed.load_balancer {
        outputs.registry_url = Some(url(dns));
    }
}

/// The registry's Confluent-compatible API behind its load balancer.
pub(super) fn url(dns: &str) -> String {
    format!("http://{dns}/apis/ccompat/v7")
}

/// `family:revision` of a task definition ARN.
fn revision_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Where the target group checks the tasks' health, as `observe` reads it.
fn health_check() -> String {
    format!("{}{HEALTH}", Registry::HEALTH_PORT)
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

/// A target group or load balancer a step uses: one that exists, or the one a step before it
/// creates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Made {
    Existing(String),
    Created,
}

/// One call of the load balancer's apply, which runs while the database is being created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub(super) enum FrontStep {
    /// CreateTargetGroup: HTTP to the tasks' API port, health on the management port.
    CreateTargetGroup { name: String, vpc: String },
    /// ModifyTargetGroup: health checks move to the management port.
    MoveHealthCheck { target_group: String },
    /// CreateLoadBalancer: internal, in the environment's subnets.
    CreateLoadBalancer { name: String, subnets: Vec<String> },
    /// CreateListener: HTTP 80 forwards to the target group.
    CreateListener {
        load_balancer: Made,
        target_group: Made,
    },
}

/// The load balancer's part of the plan (with its target group and listener).
pub(super) fn plan_front(env: &Env<'_>, observed: &Observed) -> Vec<(Change, Vec<FrontStep>)> {
    if env.aws.registry.is_none() {
        return Vec::new();
    }
    let name = names::registry_lb(env);
    let mut steps = Vec::new();
    let target_group = match &observed.target_group {
        None => {
            steps.push(FrontStep::CreateTargetGroup {
                name: name.clone(),
                vpc: env.aws.vpc.clone().unwrap_or_default(),
            });
            Made::Created
        }
        Some((arn, check)) => {
            if *check != health_check() {
                steps.push(FrontStep::MoveHealthCheck {
                    target_group: arn.clone(),
                });
            }
            Made::Existing(arn.clone())
        }
    };
    let load_balancer = match &observed.load_balancer {
        None => {
            steps.push(FrontStep::CreateLoadBalancer {
                name: name.clone(),
                subnets: env.aws.subnets.clone(),
            });
            Made::Created
        }
        Some((arn, _)) => Made::Existing(arn.clone()),
    };
    if !observed.listener {
        steps.push(FrontStep::CreateListener {
            load_balancer,
            target_group,
        });
    }
    let change = match (&observed.load_balancer, &observed.target_group) {
        (Some((_, dns)), _) if steps.is_empty() => {
            Change::new(Kind::LoadBalancer, &name, Action::Unchanged, dns)
        }
        (None, _) => Change::new(
            Kind::LoadBalancer,
            &name,
            Action::Create,
            format!(
                "not found; internal, HTTP 80 → registry {}, health :{}{HEALTH}",
                Registry::PORT,
                Registry::HEALTH_PORT
            ),
        ),
        (Some(_), Some((_, check))) if observed.listener => Change::new(
            Kind::LoadBalancer,
            &name,
            Action::Update,
            format!("health check {check} → {}", health_check()),
        ),
        _ => Change::new(
            Kind::LoadBalancer,
            &name,
            Action::Update,
            "target group or listener missing",
        ),
    };
    vec![(change, steps)]
}

/// The task definition a service step runs: one that exists, or the one the step before it
/// registers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Definition {
    Existing(String),
    Registered,
}

/// One call (or wait) of the registry service's apply. The plan decides them; the apply runs
/// them in order. A task's values that come from the infrastructure (the database's address,
/// the roles) are known only once it is applied: `RegisterTask` registers the task as it is
/// then, the plan having decided that it differs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub(super) enum Step {
    /// RegisterTaskDefinition: a new revision of the registry's family.
    RegisterTask { family: String },
    /// CreateService behind the load balancer's target group.
    CreateService {
        definition: Definition,
        desired_count: i32,
    },
    /// UpdateService: the service moves to the definition and count.
    UpdateService {
        definition: Definition,
        desired_count: i32,
    },
    /// Waits until the definition's deployment has rolled out and runs every task.
    AwaitRollout {
        definition: Definition,
        desired_count: i32,
    },
}

/// The task definition's and the service's part of the plan: each change as the plan shows it,
/// with the steps that carry it out.
pub(super) fn plan(
    env: &Env<'_>,
    observed: &Observed,
    task: Option<&Task>,
) -> Vec<(Change, Vec<Step>)> {
    let (Some(registry), Some(task)) = (env.aws.registry.as_ref(), task) else {
        return Vec::new();
    };
    let family = names::registry_family(env);
    let register = vec![Step::RegisterTask {
        family: family.clone(),
    }];
    let (task_change, definition) = match &observed.task {
        None => (
            (
                Change::new(
                    Kind::TaskDefinition,
                    &family,
                    Action::Create,
                    format!(
                        "not found; {} ({} CPU, {} MiB)",
                        task.image, task.cpu, task.memory
                    ),
                ),
                register,
            ),
            Definition::Registered,
        ),
        Some((arn, have)) => {
            let reasons = task_changes(have, task);
            if reasons.is_empty() {
                (
                    (
                        Change::new(
                            Kind::TaskDefinition,
                            &family,
                            Action::Unchanged,
                            format!("{} ({} CPU, {} MiB)", task.image, task.cpu, task.memory),
                        ),
                        Vec::new(),
                    ),
                    Definition::Existing(arn.clone()),
                )
            } else {
                (
                    (
                        Change {
                            kind: Kind::TaskDefinition,
                            name: family.clone(),
                            action: Action::Update,
                            reasons,
                        },
                        register,
                    ),
                    Definition::Registered,
                )
            }
        }
    };
    let desired_count = registry.desired_count as i32;
    let name = format!("{}/{CONTAINER}", names::ecs_cluster(env));
    let wait = Step::AwaitRollout {
        definition: definition.clone(),
        desired_count,
    };
    let service = match &observed.service {
        None => (
            Change::new(
                Kind::EcsService,
                &name,
                Action::Create,
                format!("not found; {desired_count} task(s)"),
            ),
            vec![
                Step::CreateService {
                    definition,
                    desired_count,
                },
                wait,
            ],
        ),
        Some((running, count)) => {
            let mut reasons = Vec::new();
            match &definition {
                Definition::Registered => reasons.push("new task definition".to_string()),
                // The latest revision is what the file wants, but the service does not run it
                // (an apply stopped between registering and deploying it).
                Definition::Existing(latest) if latest != running => reasons.push(format!(
                    "runs {}, not the latest {}",
                    revision_of(running),
                    revision_of(latest)
                )),
                Definition::Existing(_) => {}
            }
            if *count != desired_count {
                reasons.push(format!("tasks {count} → {desired_count}"));
            }
            if reasons.is_empty() {
                (
                    Change::new(
                        Kind::EcsService,
                        &name,
                        Action::Unchanged,
                        format!("{desired_count} task(s)"),
                    ),
                    Vec::new(),
                )
            } else {
                (
                    Change {
                        kind: Kind::EcsService,
                        name,
                        action: Action::Update,
                        reasons,
                    },
                    vec![
                        Step::UpdateService {
                            definition,
                            desired_count,
                        },
                        wait,
                    ],
                )
            }
        }
    };
    vec![task_change, service]
}

fn elb_tags(env: &Env<'_>, resource: &str) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
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

/// Carries out the plan's load balancer steps; returns the target group's ARN and the load
/// balancer's DNS name (as observed where the plan made nothing).
pub(super) async fn apply_front(
    clients: &Clients,
    env: &Env<'_>,
    observed: &Observed,
    steps: &[FrontStep],
    groups: &BTreeMap<String, String>,
) -> Result<(String, String), Error> {
    let mut target_group = observed.target_group.as_ref().map(|(arn, _)| arn.clone());
    let mut load_balancer = observed.load_balancer.clone();
    let made = |which: &Made, created: &Option<String>, what: &str| match which {
        Made::Existing(arn) => Ok(arn.clone()),
        Made::Created => created
            .clone()
            .ok_or_else(|| Error::Internal(format!("the plan uses a {what} no step created"))),
    };
    for step in steps {
        match step {
            FrontStep::CreateTargetGroup { name, vpc } => {
                let created = clients
                    .elb
                    .create_target_group()
                    .name(name)
                    .protocol(ProtocolEnum::Http)
                    .port(Registry::PORT)
                    .vpc_id(vpc)
                    .target_type(TargetTypeEnum::Ip)
                    .health_check_port(Registry::HEALTH_PORT.to_string())
                    .health_check_path(HEALTH)
                    .set_tags(Some(elb_tags(env, "registry-target-group")))
                    .send()
                    .await
                    .or_fail("ELB CreateTargetGroup")?;
                target_group = created
                    .target_groups()
                    .first()
                    .and_then(|t| t.target_group_arn())
                    .map(str::to_string);
            }
            FrontStep::MoveHealthCheck { target_group } => {
                clients
                    .elb
                    .modify_target_group()
                    .target_group_arn(target_group)
                    .health_check_port(Registry::HEALTH_PORT.to_string())
                    .health_check_path(HEALTH)
                    .send()
                    .await
                    .or_fail("ELB ModifyTargetGroup")?;
            }
            FrontStep::CreateLoadBalancer { name, subnets } => {
                let created = clients
                    .elb
                    .create_load_balancer()
                    .name(name)
                    .scheme(LoadBalancerSchemeEnum::Internal)
                    .r#type(LoadBalancerTypeEnum::Application)
                    .set_subnets(Some(subnets.clone()))
                    .set_security_groups(
                        groups
                            .get(names::role::REGISTRY_LB)
                            .map(|g| vec![g.clone()]),
                    )
                    .set_tags(Some(elb_tags(env, "registry-load-balancer")))
                    .send()
                    .await
                    .or_fail("ELB CreateLoadBalancer")?;
                let lb = created.load_balancers().first();
                load_balancer = Some((
                    lb.and_then(|l| l.load_balancer_arn())
                        .unwrap_or_default()
                        .to_string(),
                    lb.and_then(|l| l.dns_name())
                        .unwrap_or_default()
                        .to_string(),
                ));
            }
            FrontStep::CreateListener {
                load_balancer: lb,
                target_group: tg,
            } => {
                let lb_arn = load_balancer.as_ref().map(|(arn, _)| arn.clone());
                clients
                    .elb
                    .create_listener()
                    .load_balancer_arn(made(lb, &lb_arn, "load balancer")?)
                    .protocol(ProtocolEnum::Http)
                    .port(80)
                    .default_actions(
                        LbAction::builder()
                            .r#type(ActionTypeEnum::Forward)
                            .target_group_arn(made(tg, &target_group, "target group")?)
                            .build(),
                    )
                    .send()
                    .await
                    .or_fail("ELB CreateListener")?;
            }
        }
    }
    match (target_group, load_balancer) {
        (Some(target_group), Some((_, dns))) => Ok((target_group, dns)),
        _ => Err(Error::Internal(
            "the registry's load balancer or target group is neither found nor created".into(),
        )),
    }
}

fn container(env: &Env<'_>, task: &Task) -> Result<ContainerDefinition, Error> {
    let aws = env.aws;
    Ok(ecs::container_base(
        CONTAINER,
        &task.image,
        &task.environment,
        &task.secrets,
        names::registry_log_group(env),
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

/// Carries out the plan's registry service steps. `task` is the task definition as the applied
/// infrastructure gives it; `target_group` and `groups` are the load balancer's and security
/// groups' IDs.
pub(super) async fn apply_service(
    clients: &Clients,
    env: &Env<'_>,
    steps: &[Step],
    task: &Task,
    target_group: &str,
    groups: &BTreeMap<String, String>,
    printer: &Printer,
) -> Result<(), Error> {
    let mut registered: Option<String> = None;
    let arn = |definition: &Definition, registered: &Option<String>| match definition {
        Definition::Existing(arn) => Ok(arn.clone()),
        Definition::Registered => registered.clone().ok_or_else(|| {
            Error::Internal("the plan runs a task definition no step registered".into())
        }),
    };
    for step in steps {
        match step {
            Step::RegisterTask { family } => {
                let arn = ecs::register(
                    ecs::fargate_task(clients, env, family, "registry-task-definition")
                        .cpu(&task.cpu)
                        .memory(&task.memory)
                        .execution_role_arn(&task.execution_role)
                        .task_role_arn(&task.task_role)
                        .container_definitions(container(env, task)?),
                )
                .await?;
                printer.status(&format!("  + task definition {arn} registered"));
                registered = Some(arn);
            }
            Step::CreateService {
                definition,
                desired_count,
            } => {
                create_service(
                    clients,
                    env,
                    &arn(definition, &registered)?,
                    *desired_count,
                    target_group,
                    groups,
                )
                .await?;
            }
            Step::UpdateService {
                definition,
                desired_count,
            } => {
                clients
                    .ecs
                    .update_service()
                    .cluster(names::ecs_cluster(env))
                    .service(CONTAINER)
                    .task_definition(arn(definition, &registered)?)
                    .desired_count(*desired_count)
                    .send()
                    .await
                    .or_fail("ECS UpdateService")?;
            }
            Step::AwaitRollout {
                definition,
                desired_count,
            } => {
                await_rollout(
                    clients,
                    env,
                    &arn(definition, &registered)?,
                    *desired_count,
                    printer,
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn create_service(
    clients: &Clients,
    env: &Env<'_>,
    definition: &str,
    desired: i32,
    target_group: &str,
    groups: &BTreeMap<String, String>,
) -> Result<(), Error> {
    clients
        .ecs
        .create_service()
        .cluster(names::ecs_cluster(env))
        .service_name(CONTAINER)
        .task_definition(definition)
        .desired_count(desired)
        .launch_type(LaunchType::Fargate)
        // A deployment whose tasks keep failing ends FAILED (and rolls back) instead of
        // retrying until the deadline.
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
                        .set_subnets(Some(env.aws.subnets.clone()))
                        .set_security_groups(
                            groups.get(names::role::REGISTRY).map(|g| vec![g.clone()]),
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
                .container_port(Registry::PORT)
                .build(),
        )
        .set_tags(Some(ecs::ecs_tags(env, "registry-service")))
        .send()
        .await
        .or_fail("ECS CreateService")?;
    Ok(())
}

async fn await_rollout(
    clients: &Clients,
    env: &Env<'_>,
    definition: &str,
    desired: i32,
    printer: &Printer,
) -> Result<(), Error> {
    let progress = Progress::new(
        printer,
        format!("registry service {}", names::ecs_cluster(env)),
    );
    until("the registry service", DEADLINE, || async {
        let found = clients
            .ecs
            .describe_services()
            .cluster(names::ecs_cluster(env))
            .services(CONTAINER)
            .send()
            .await
            .or_fail("ECS DescribeServices")?;
        let Some(service) = found.services().first() else {
            return Ok(Poll::Waiting("not found".into()));
        };
        // Done when the deployment of this definition has rolled out and runs every task.
        let primary = service
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"));
        let rolled_out = primary.is_some_and(|d| {
            d.task_definition() == Some(definition)
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
                names::registry_log_group(env)
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

/// Removes the service, load balancer, target group and task definitions; returns whether the
/// ECS cluster exists (it goes last, after the schema load's task definitions).
pub(super) async fn destroy(
    clients: &Clients,
    env: &Env<'_>,
    printer: &Printer,
) -> Result<bool, Error> {
    // Found by name whether or not the file still asks for a registry.
    let observed = observe_parts(clients, env).await?;
    if observed.service.is_some() {
        clients
            .ecs
            .delete_service()
            .cluster(names::ecs_cluster(env))
            .service(CONTAINER)
            .force(true)
            .send()
            .await
            .or_fail("ECS DeleteService")?;
        printer.status(&format!(
            "  - registry service {}/{CONTAINER} deleted",
            names::ecs_cluster(env)
        ));
    }
    if let Some((arn, _)) = &observed.load_balancer {
        clients
            .elb
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .or_fail("ELB DeleteLoadBalancer")?;
        printer.status(&format!(
            "  - load balancer {} deleted",
            names::registry_lb(env)
        ));
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
                Err(e) => Err(sdk::error("ELB DeleteTargetGroup", e)),
            }
        })
        .await?;
    }
    ecs::deregister(clients, &names::registry_family(env)).await?;
    Ok(observed.cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/plan-registry";

    fn wanted(env: &Env<'_>) -> Task {
        let outputs = Outputs {
            database_host: Some("plan-database.cluster-abc.us-east-1.rds.amazonaws.com".into()),
            database_port: Some(5432),
            database_secret: Some(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1-AbCdEf".into(),
            ),
            database_secret_version: Some("v1".into()),
            ..Outputs::default()
        };
        let roles = BTreeMap::from([
            (
                names::role::TASK_EXECUTION.to_string(),
                "arn:aws:iam::123456789012:role/plan-task-execution".to_string(),
            ),
            (
                names::role::REGISTRY_TASK.to_string(),
                "arn:aws:iam::123456789012:role/plan-registry-task".to_string(),
            ),
        ]);
        task(env, &outputs, &roles).expect("a registry")
    }

    fn steps<S>(planned: Vec<(Change, Vec<S>)>) -> Vec<S> {
        planned.into_iter().flat_map(|(_, steps)| steps).collect()
    }

    #[test]
    fn from_nothing_the_load_balancer_then_the_task_and_the_service_are_made() {
        let env = crate::aws::fixture::env();
        let task = wanted(&env);
        let observed = Observed::default();
        insta::assert_json_snapshot!((
            plan_front(&env, &observed),
            plan(&env, &observed, Some(&task))
        ));
    }

    /// What an apply cut short between RegisterTaskDefinition and UpdateService leaves: the next
    /// plan deploys the revision that exists, and registers nothing.
    #[test]
    fn a_task_definition_registered_but_not_deployed_is_the_work_left() {
        let env = crate::aws::fixture::env();
        let task = wanted(&env);
        let count = env.aws.registry.as_ref().expect("registry").desired_count as i32;
        let observed = Observed {
            task: Some((format!("{FAMILY}:2"), task.clone())),
            service: Some((format!("{FAMILY}:1"), count)),
            ..Observed::default()
        };
        let planned = plan(&env, &observed, Some(&task));
        assert_eq!(planned[0].0.action, Action::Unchanged);
        assert_eq!(
            planned[1].0.reasons,
            ["runs plan-registry:1, not the latest plan-registry:2"]
        );
        let definition = Definition::Existing(format!("{FAMILY}:2"));
        assert_eq!(
            steps(planned),
            [
                Step::UpdateService {
                    definition: definition.clone(),
                    desired_count: count,
                },
                Step::AwaitRollout {
                    definition,
                    desired_count: count,
                },
            ]
        );
        // Deployed: nothing left.
        let deployed = Observed {
            service: Some((format!("{FAMILY}:2"), count)),
            ..observed
        };
        assert!(steps(plan(&env, &deployed, Some(&task))).is_empty());
    }

    #[test]
    fn a_target_group_checking_the_traffic_port_moves_its_health_check_and_nothing_else() {
        let env = crate::aws::fixture::env();
        let observed = Observed {
            target_group: Some(("arn:tg".into(), "traffic-port/health/ready".into())),
            load_balancer: Some(("arn:lb".into(), "internal-plan-registry.elb".into())),
            listener: true,
            ..Observed::default()
        };
        let planned = plan_front(&env, &observed);
        assert_eq!(planned[0].0.action, Action::Update);
        assert_eq!(
            steps(planned),
            [FrontStep::MoveHealthCheck {
                target_group: "arn:tg".into()
            }]
        );
    }
}
