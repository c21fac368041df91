//! Security groups, one per component, each letting in only what talks to it: the connectors
//! reach the names::role::MSK brokers (9098, IAM), the database (5432) and the registry's load balancer (80);
//! the load balancer reaches the registry tasks (8080, and 9000 for its health checks); the registry and the schema load reach
//! the database; `developer-access` reaches the brokers, the database and the load balancer.
//! Egress stays AWS's default. The VPC and subnets are given.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::Env;
use super::clients::Clients;
use super::names::{self, TAG_ENVIRONMENT, tags};
use super::sdk::{self, Call};
use super::wait::{Poll, until};
use crate::error::Error;
use crate::model::Access;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

/// Where allowed traffic comes from: another group of this environment (by role) or outside.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Source {
    Ours(&'static str),
    Outside(Access),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Group {
    /// `connectors`, `database`, `registry-lb` or `registry`.
    pub role: &'static str,
    pub ingress: BTreeSet<(i32, Source)>,
}

/// A group as EC2 has it: its ID and its ingress rules as (port, CIDR or group ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Live {
    pub id: String,
    pub ingress: BTreeSet<(i32, String)>,
}

/// The groups this environment needs, with the rules each should have.
pub(super) fn wanted(env: &Env<'_>) -> Vec<Group> {
    let aws = env.aws;
    let connectors: Vec<Source> = if env.creates_connector_group() {
        vec![Source::Ours(names::role::CONNECTORS)]
    } else {
        aws.security_groups
            .iter()
            .map(|g| Source::Outside(Access::Group(g.clone())))
            .collect()
    };
    let developers = aws.developer_access.iter().cloned().map(Source::Outside);
    let mut groups = Vec::new();
    if env.creates_connector_group() {
        groups.push(Group {
            role: names::role::CONNECTORS,
            ingress: BTreeSet::new(),
        });
    }
    if aws.msk.is_some() {
        groups.push(Group {
            role: names::role::MSK,
            ingress: connectors
                .iter()
                .cloned()
                .chain(developers.clone())
                .map(|s| (9098, s))
                .collect(),
        });
    }
    if aws.database.is_some() {
        let mut from: Vec<Source> = connectors.clone();
        if aws.registry.is_some() {
            from.push(Source::Ours(names::role::REGISTRY));
        }
        if env.runs_database_tasks() {
            from.push(Source::Ours(names::role::SCHEMA_LOAD));
            groups.push(Group {
                role: names::role::SCHEMA_LOAD,
                ingress: BTreeSet::new(),
            });
        }
        from.extend(developers.clone());
        groups.push(Group {
            role: names::role::DATABASE,
            ingress: from.into_iter().map(|s| (5432, s)).collect(),
        });
    }
    if aws.registry.is_some() {
        groups.push(Group {
            role: names::role::REGISTRY_LB,
            ingress: connectors
                .iter()
                .cloned()
                .chain(developers)
                .map(|s| (80, s))
                .collect(),
        });
        groups.push(Group {
            role: names::role::REGISTRY,
            ingress: BTreeSet::from([
                (
                    crate::model::Registry::PORT,
                    Source::Ours(names::role::REGISTRY_LB),
                ),
                (
                    crate::model::Registry::HEALTH_PORT,
                    Source::Ours(names::role::REGISTRY_LB),
                ),
            ]),
        });
    }
    groups
}

/// The environment's groups (by role), found by their ownership tag.
pub(super) async fn observe(
    clients: &Clients,
    env: &Env<'_>,
) -> Result<BTreeMap<String, Live>, Error> {
    if wanted(env).is_empty() {
        return Ok(BTreeMap::new());
    }
    observe_all(clients, env).await
}

/// Every group carrying this environment's tag, whatever the file asks for.
async fn observe_all(clients: &Clients, env: &Env<'_>) -> Result<BTreeMap<String, Live>, Error> {
    // By tag, in the file's VPC when it names one (destroy finds them even when it no longer does).
    let vpc = env.aws.vpc.clone();
    let found = clients
        .ec2
        .describe_security_groups()
        .set_filters(vpc.map(|vpc| vec![Filter::builder().name("vpc-id").values(vpc).build()]))
        .filters(
            Filter::builder()
                .name(format!("tag:{TAG_ENVIRONMENT}"))
                .values(&env.name)
                .build(),
        )
        .send()
        .await
        .or_fail("EC2 DescribeSecurityGroups")?;
    let prefix = names::prefix(env);
    Ok(found
        .security_groups()
        .iter()
        .filter_map(|g| {
            let role = g.group_name()?.strip_prefix(&prefix)?;
            let mut ingress = BTreeSet::new();
            for permission in g.ip_permissions() {
                let Some(port) = permission.from_port() else {
                    continue;
                };
                for range in permission.ip_ranges() {
                    ingress.extend(range.cidr_ip().map(|c| (port, c.to_string())));
                }
                for pair in permission.user_id_group_pairs() {
                    ingress.extend(pair.group_id().map(|g| (port, g.to_string())));
                }
            }
            Some((
                role.to_string(),
                Live {
                    id: g.group_id()?.to_string(),
                    ingress,
                },
            ))
        })
        .collect())
}

/// A rule's source as EC2 writes it; `None` while the group it names does not exist.
fn resolve(source: &Source, ids: &BTreeMap<String, String>) -> Option<String> {
    match source {
        Source::Ours(role) => ids.get(*role).cloned(),
        Source::Outside(Access::Cidr(cidr)) => Some(cidr.clone()),
        Source::Outside(Access::Group(id)) => Some(id.clone()),
    }
}

fn label(env: &Env<'_>, source: &Source) -> String {
    match source {
        Source::Ours(role) => names::scoped(env, role),
        Source::Outside(Access::Cidr(c) | Access::Group(c)) => c.clone(),
    }
}

fn ids(observed: &BTreeMap<String, Live>) -> BTreeMap<String, String> {
    observed
        .iter()
        .map(|(role, live)| (role.clone(), live.id.clone()))
        .collect()
}

/// One call of the security groups' apply, with what it needs. A rule from another group of
/// this environment names it by role: its ID is known once that group exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// CreateSecurityGroup in the environment's VPC, tagged.
    CreateGroup { role: &'static str, vpc: String },
    /// AuthorizeSecurityGroupIngress.
    Authorize {
        role: &'static str,
        rules: Vec<(i32, Source)>,
    },
    /// RevokeSecurityGroupIngress: rules as EC2 has them (CIDR or group ID).
    Revoke {
        role: &'static str,
        rules: Vec<(i32, String)>,
    },
}

/// The security groups' part of the plan: each group's change, with the steps that make it so.
pub(super) fn plan(env: &Env<'_>, observed: &BTreeMap<String, Live>) -> Vec<(Change, Vec<Step>)> {
    let ids = ids(observed);
    wanted(env)
        .into_iter()
        .map(|group| {
            let name = names::scoped(env, group.role);
            let rules: Vec<(i32, Source)> = group.ingress.iter().cloned().collect();
            let Some(live) = observed.get(group.role) else {
                let shown: Vec<String> = rules
                    .iter()
                    .map(|(port, s)| format!("{port} from {}", label(env, s)))
                    .collect();
                let mut steps = vec![Step::CreateGroup {
                    role: group.role,
                    vpc: env.aws.vpc.clone().unwrap_or_default(),
                }];
                if !rules.is_empty() {
                    steps.push(Step::Authorize {
                        role: group.role,
                        rules,
                    });
                }
                return (
                    Change::new(
                        Kind::SecurityGroup,
                        name,
                        Action::Create,
                        if shown.is_empty() {
                            "not found; no ingress".to_string()
                        } else {
                            format!("not found; ingress {}", shown.join(", "))
                        },
                    ),
                    steps,
                );
            };
            let mut reasons = Vec::new();
            let mut allow = Vec::new();
            let mut wanted_keys = BTreeSet::new();
            for (port, source) in rules {
                // A source group not made yet: the rule is new.
                let key = resolve(&source, &ids);
                if key
                    .as_ref()
                    .is_none_or(|key| !live.ingress.contains(&(port, key.clone())))
                {
                    reasons.push(format!("allow {port} from {}", label(env, &source)));
                    allow.push((port, source));
                }
                wanted_keys.extend(key.map(|key| (port, key)));
            }
            let revoke: Vec<(i32, String)> =
                live.ingress.difference(&wanted_keys).cloned().collect();
            reasons.extend(
                revoke
                    .iter()
                    .map(|(port, source)| format!("revoke {port} from {source}")),
            );
            let mut steps = Vec::new();
            if !allow.is_empty() {
                steps.push(Step::Authorize {
                    role: group.role,
                    rules: allow,
                });
            }
            if !revoke.is_empty() {
                steps.push(Step::Revoke {
                    role: group.role,
                    rules: revoke,
                });
            }
            if reasons.is_empty() {
                (
                    Change::new(
                        Kind::SecurityGroup,
                        name,
                        Action::Unchanged,
                        format!("{} ({} ingress rules)", live.id, live.ingress.len()),
                    ),
                    steps,
                )
            } else {
                (
                    Change {
                        kind: Kind::SecurityGroup,
                        name,
                        action: Action::Update,
                        reasons,
                    },
                    steps,
                )
            }
        })
        .collect()
}

fn permission(port: i32, source: &str) -> IpPermission {
    let builder = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port);
    if source.starts_with("sg-") {
        builder
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(source).build())
            .build()
    } else {
        builder
            .ip_ranges(IpRange::builder().cidr_ip(source).build())
            .build()
    }
}

/// Carries out the plan's security group steps: the groups first (rules may name them), then
/// every group's rules. Returns the group IDs by role.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    observed: &BTreeMap<String, Live>,
    steps: &[Step],
    printer: &Printer,
) -> Result<BTreeMap<String, String>, Error> {
    let created = super::wait::bounded(steps.iter().filter_map(|step| match step {
        Step::CreateGroup { role, vpc } => Some(async move {
            let name = names::scoped(env, role);
            let tags = tags(env, &format!("security-group/{role}"));
            let created = clients
                .ec2
                .create_security_group()
                .group_name(&name)
                .description(format!("deploy {}: {role}", env.name))
                .vpc_id(vpc)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::SecurityGroup)
                        .set_tags(Some(
                            tags.iter()
                                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                                .collect(),
                        ))
                        .build(),
                )
                .send()
                .await
                .or_fail("EC2 CreateSecurityGroup")?;
            printer.status(&format!("  + security group {name} created"));
            Ok::<_, Error>((
                role.to_string(),
                created.group_id().unwrap_or_default().to_string(),
            ))
        }),
        _ => None,
    }))
    .await?;
    let mut ids = ids(observed);
    ids.extend(created);
    let ids = &ids;
    let id = |role: &str| {
        ids.get(role).cloned().ok_or_else(|| {
            Error::Internal(format!(
                "security group {role} is neither found nor created"
            ))
        })
    };
    super::wait::bounded(steps.iter().map(|step| async move {
        match step {
            Step::CreateGroup { .. } => {}
            Step::Authorize { role, rules } => {
                let permissions = rules
                    .iter()
                    .map(|(port, source)| {
                        let source = match source {
                            Source::Ours(role) => id(role)?,
                            Source::Outside(Access::Cidr(c) | Access::Group(c)) => c.clone(),
                        };
                        Ok(permission(*port, &source))
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                clients
                    .ec2
                    .authorize_security_group_ingress()
                    .group_id(id(role)?)
                    .set_ip_permissions(Some(permissions))
                    .send()
                    .await
                    .or_fail("EC2 AuthorizeSecurityGroupIngress")?;
            }
            Step::Revoke { role, rules } => {
                clients
                    .ec2
                    .revoke_security_group_ingress()
                    .group_id(id(role)?)
                    .set_ip_permissions(Some(
                        rules
                            .iter()
                            .map(|(port, source)| permission(*port, source))
                            .collect(),
                    ))
                    .send()
                    .await
                    .or_fail("EC2 RevokeSecurityGroupIngress")?;
            }
        }
        Ok::<_, Error>(())
    }))
    .await?;
    Ok(ids.clone())
}

/// Deletes the environment's groups: rules first (groups that name each other cannot go
/// otherwise), then the groups, retrying while network interfaces of deleted services linger.
pub(super) async fn destroy(
    clients: &Clients,
    env: &Env<'_>,
    printer: &Printer,
    keep: &BTreeSet<&str>,
) -> Result<(), Error> {
    let observed = observe_all(clients, env).await?;
    let going: Vec<(&String, &Live)> = observed
        .iter()
        .filter(|(role, _)| !keep.contains(role.as_str()))
        .collect();
    let going_ids: BTreeSet<&str> = going.iter().map(|(_, l)| l.id.as_str()).collect();
    let going_ids = &going_ids;
    // A kept group only lets go of the groups that go.
    super::wait::bounded(observed.iter().map(|(role, live)| async move {
        let kept = keep.contains(role.as_str());
        let rules: Vec<IpPermission> = live
            .ingress
            .iter()
            .filter(|(_, source)| !kept || going_ids.contains(source.as_str()))
            .map(|(port, source)| permission(*port, source))
            .collect();
        if rules.is_empty() {
            return Ok(());
        }
        clients
            .ec2
            .revoke_security_group_ingress()
            .group_id(&live.id)
            .set_ip_permissions(Some(rules))
            .send()
            .await
            .map(|_| ())
            .or_fail("EC2 RevokeSecurityGroupIngress")
    }))
    .await?;
    super::wait::bounded(going.iter().map(|(role, live)| async move {
        let name = names::scoped(env, role);
        until(
            &format!("deleting security group {name}"),
            Duration::from_secs(20 * 60),
            || async {
                match clients
                    .ec2
                    .delete_security_group()
                    .group_id(&live.id)
                    .send()
                    .await
                {
                    Ok(_) => Ok(Poll::Done(())),
                    Err(e) if e.code() == Some("DependencyViolation") => {
                        Ok(Poll::Waiting("still in use by a network interface".into()))
                    }
                    Err(e) if e.code() == Some("InvalidGroup.NotFound") => Ok(Poll::Done(())),
                    Err(e) => Err(sdk::error("EC2 DeleteSecurityGroup", e)),
                }
            },
        )
        .await?;
        printer.status(&format!("  - security group {name} deleted"));
        Ok::<_, Error>(())
    }))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From nothing every group is created, and a rule naming another of the environment's
    /// groups names it by role (its ID is known once it exists).
    #[test]
    fn from_nothing_groups_come_first_and_rules_name_theirs_by_role() {
        let env = crate::aws::fixture::env();
        let steps: Vec<Step> = plan(&env, &BTreeMap::new())
            .into_iter()
            .flat_map(|(_, steps)| steps)
            .collect();
        insta::assert_debug_snapshot!(steps);
    }

    /// A group that exists keeps its rules; one missing is allowed, one no longer wanted is
    /// revoked, and nothing else is touched.
    #[test]
    fn an_existing_group_gets_only_its_missing_and_extra_rules() {
        let env = crate::aws::fixture::env();
        let mut observed: BTreeMap<String, Live> = wanted(&env)
            .iter()
            .enumerate()
            .map(|(i, g)| {
                (
                    g.role.to_string(),
                    Live {
                        id: format!("sg-{i}"),
                        ingress: BTreeSet::new(),
                    },
                )
            })
            .collect();
        let ids = ids(&observed);
        for group in wanted(&env) {
            let live = observed.get_mut(group.role).expect("observed");
            live.ingress = group
                .ingress
                .iter()
                .filter_map(|(port, source)| resolve(source, &ids).map(|s| (*port, s)))
                .collect();
        }
        assert!(
            plan(&env, &observed)
                .iter()
                .all(|(c, steps)| c.action == Action::Unchanged && steps.is_empty())
        );
        let database = observed.get_mut(names::role::DATABASE).expect("database");
        let dropped = database.ingress.pop_first().expect("a rule");
        database.ingress.insert((5432, "0.0.0.0/0".into()));
        let steps: Vec<Step> = plan(&env, &observed)
            .into_iter()
            .flat_map(|(_, steps)| steps)
            .collect();
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert!(
            matches!(&steps[0], Step::Authorize { role, rules } if *role == names::role::DATABASE && rules.len() == 1 && rules[0].0 == dropped.0),
            "{steps:?}"
        );
        assert_eq!(
            steps[1],
            Step::Revoke {
                role: names::role::DATABASE,
                rules: vec![(5432, "0.0.0.0/0".into())]
            }
        );
    }
}
