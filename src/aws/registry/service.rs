//! The registry's task and service: Apicurio 3's SQL storage on the database (credentials from
//! its Secrets Manager secret), logs to CloudWatch, a service in the private subnets behind the
//! front's target group. Applied after IAM and the schema load, which it needs.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, DeploymentCircuitBreaker,
    DeploymentConfiguration, LaunchType, NetworkConfiguration, PortMapping, TransportProtocol,
};

use super::{CONTAINER, DEADLINE, Observed, SECRET_VERSION_VARIABLE};
use crate::aws::Env;
use crate::aws::clients::Clients;
use crate::aws::ecs;
use crate::aws::names::{self};
use crate::aws::outputs::{Outputs, UNKNOWN};
use crate::aws::sdk::Call;
use crate::aws::wait::{Poll, Progress, until};
use crate::error::Error;
use crate::model::Registry;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

/// The container as the environment wants it: what is compared with the live task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::aws) struct Task {
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

pub(in crate::aws) fn task(
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

pub(in crate::aws) fn live_task(definition: &aws_sdk_ecs::types::TaskDefinition) -> Option<Task> {
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

/// `family:revision` of a task definition ARN.
pub(in crate::aws) fn revision_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What differs between two task definitions, for the plan.
pub(in crate::aws) fn task_changes(have: &Task, want: &Task) -> Vec<String> {
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

/// The task definition a service step runs: one that exists, or the one the step before it
/// registers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(in crate::aws) enum Definition {
    Existing(String),
    Registered,
}

/// One call (or wait) of the registry service's apply. The plan decides them; the apply runs
/// them in order. A task's values that come from the infrastructure (the database's address,
/// the roles) are known only once it is applied: `RegisterTask` registers the task as it is
/// then, the plan having decided that it differs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub(in crate::aws) enum Step {
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
pub(in crate::aws) fn plan(
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

pub(in crate::aws) fn container(env: &Env<'_>, task: &Task) -> Result<ContainerDefinition, Error> {
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
pub(in crate::aws) async fn apply_service(
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

pub(in crate::aws) async fn create_service(
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

pub(in crate::aws) async fn await_rollout(
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
