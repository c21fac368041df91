//! The registry's front: the internal Application Load Balancer, its target group (health-checked
//! on the registry's readiness endpoint) and its listener. Planned and applied beside the
//! database, before IAM: it needs only the network.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::{
    Action as LbAction, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum,
    TargetTypeEnum,
};

use super::{HEALTH, Observed, health_check};
use crate::aws::Env;
use crate::aws::clients::Clients;
use crate::aws::names::{self, tags};
use crate::aws::sdk::Call;
use crate::error::Error;
use crate::model::Registry;
use crate::plan::{Action, Change, Kind};

/// A target group or load balancer a step uses: one that exists, or the one a step before it
/// creates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(in crate::aws) enum Made {
    Existing(String),
    Created,
}

/// One call of the load balancer's apply, which runs while the database is being created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub(in crate::aws) enum FrontStep {
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
pub(in crate::aws) fn plan_front(
    env: &Env<'_>,
    observed: &Observed,
) -> Vec<(Change, Vec<FrontStep>)> {
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

pub(in crate::aws) fn elb_tags(
    env: &Env<'_>,
    resource: &str,
) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
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
pub(in crate::aws) async fn apply_front(
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
