//! Apicurio Registry on ECS Fargate (in the cluster `ecs.rs` keeps) behind an internal
//! Application Load Balancer. The front (`front.rs`: load balancer, target group, listener) runs
//! beside the database; the task and service (`service.rs`) after IAM and the schema load. Here:
//! what both observe, the URL the connectors reach as `${aws:registry.url}`, and the teardown.

mod front;
mod service;

pub(super) use front::{FrontStep, apply_front, plan_front};
use service::live_task;
pub(super) use service::{Step, Task, apply_service, plan, task};

use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::Env;
use super::clients::Clients;
use super::ecs;
use super::names;
use super::outputs::Outputs;
use super::sdk::{self, Call};
use super::wait::{Poll, until};
use crate::error::Error;
use crate::model::Registry;
use crate::output::Printer;

const CONTAINER: &str = "registry";

const HEALTH: &str = "/health/ready";

const SECRET_VERSION_VARIABLE: &str = "DEPLOY_DATABASE_SECRET_VERSION";

/// A new task pulls the image and Apicurio migrates its tables before it is healthy.
const DEADLINE: Duration = Duration::from_secs(20 * 60);

/// The registry's parts as ECS and ELB have them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Observed {
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

pub(super) async fn observe(clients: &Clients, env: &Env<'_>) -> Result<Observed, Error> {
    if !env.uses_ecs() {
        return Ok(Observed::default());
    }
    observe_parts(clients, env).await
}

/// Every part, by name, whatever the file asks for.
async fn observe_parts(clients: &Clients, env: &Env<'_>) -> Result<Observed, Error> {
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
    let (target_group, (load_balancer, listener), task, service) =
        tokio::try_join!(target_group, load_balancer, task, service)?;
    Ok(Observed {
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

/// Where the target group checks the tasks' health, as `observe` reads it.
fn health_check() -> String {
    format!("{}{HEALTH}", Registry::HEALTH_PORT)
}

/// Removes the service, load balancer, target group and task definitions.
pub(super) async fn destroy(
    clients: &Clients,
    env: &Env<'_>,
    printer: &Printer,
) -> Result<(), Error> {
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
    ecs::deregister(clients, &names::registry_family(env)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Change};
    use service::Definition;
    use std::collections::BTreeMap;

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
