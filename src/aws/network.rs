//! Security groups, one per component, each letting in only what talks to it: the connectors
//! reach the MSK brokers (9098, IAM), the database (5432) and the registry's load balancer (80);
//! the load balancer reaches the registry tasks (8080, and 9000 for its health checks); the registry and the schema load reach
//! the database; `developer-access` reaches the brokers, the database and the load balancer.
//! Egress stays AWS's default. The VPC and subnets are given.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::clients::Clients;
use super::plugins::{TAG_ENVIRONMENT, tags};
use super::sdk_error;
use super::wait::{Poll, until};
use crate::error::Error;
use crate::model::{Access, Environment};
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

pub const CONNECTORS: &str = "connectors";
pub const MSK: &str = "msk";
pub const DATABASE: &str = "database";
pub const REGISTRY_LB: &str = "registry-lb";
pub const REGISTRY: &str = "registry";
pub const SCHEMA_LOAD: &str = "schema-load";

/// Where allowed traffic comes from: another group of this environment (by role) or outside.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Ours(&'static str),
    Outside(Access),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `connectors`, `database`, `registry-lb` or `registry`.
    pub role: &'static str,
    pub ingress: BTreeSet<(i32, Source)>,
}

/// A group as EC2 has it: its ID and its ingress rules as (port, CIDR or group ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub id: String,
    pub ingress: BTreeSet<(i32, String)>,
}

pub fn name(env: &Environment, role: &str) -> String {
    env.scoped(role)
}

/// True when the tool creates the connectors' security group (none is given).
pub fn creates_connector_group(env: &Environment) -> bool {
    env.aws
        .as_ref()
        .is_some_and(|a| a.security_groups.is_empty() && !env.connectors.is_empty())
}

/// The groups this environment needs, with the rules each should have.
pub fn wanted(env: &Environment) -> Vec<Group> {
    let aws = env.aws.as_ref().expect("an aws environment");
    let connectors: Vec<Source> = if creates_connector_group(env) {
        vec![Source::Ours(CONNECTORS)]
    } else {
        aws.security_groups
            .iter()
            .map(|g| Source::Outside(Access::Group(g.clone())))
            .collect()
    };
    let developers = aws.developer_access.iter().cloned().map(Source::Outside);
    let mut groups = Vec::new();
    if creates_connector_group(env) {
        groups.push(Group {
            role: CONNECTORS,
            ingress: BTreeSet::new(),
        });
    }
    if aws.msk.is_some() {
        groups.push(Group {
            role: MSK,
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
            from.push(Source::Ours(REGISTRY));
        }
        if super::schema::loads(env) {
            from.push(Source::Ours(SCHEMA_LOAD));
            groups.push(Group {
                role: SCHEMA_LOAD,
                ingress: BTreeSet::new(),
            });
        }
        from.extend(developers.clone());
        groups.push(Group {
            role: DATABASE,
            ingress: from.into_iter().map(|s| (5432, s)).collect(),
        });
    }
    if aws.registry.is_some() {
        groups.push(Group {
            role: REGISTRY_LB,
            ingress: connectors
                .iter()
                .cloned()
                .chain(developers)
                .map(|s| (80, s))
                .collect(),
        });
        groups.push(Group {
            role: REGISTRY,
            ingress: BTreeSet::from([
                (super::registry::PORT, Source::Ours(REGISTRY_LB)),
                (super::registry::HEALTH_PORT, Source::Ours(REGISTRY_LB)),
            ]),
        });
    }
    groups
}

/// The environment's groups (by role), found by their ownership tag.
pub async fn observe(
    clients: &Clients,
    env: &Environment,
) -> Result<BTreeMap<String, Live>, Error> {
    if wanted(env).is_empty() {
        return Ok(BTreeMap::new());
    }
    observe_all(clients, env).await
}

/// Every group carrying this environment's tag, whatever the file asks for.
async fn observe_all(
    clients: &Clients,
    env: &Environment,
) -> Result<BTreeMap<String, Live>, Error> {
    // By tag, in the file's VPC when it names one (destroy finds them even when it no longer does).
    let vpc = env.aws.as_ref().and_then(|a| a.vpc.clone());
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
        .map_err(|e| sdk_error("EC2 DescribeSecurityGroups", e.into_service_error()))?;
    let prefix = format!("{}-", env.name);
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

fn label(env: &Environment, source: &Source) -> String {
    match source {
        Source::Ours(role) => name(env, role),
        Source::Outside(Access::Cidr(c) | Access::Group(c)) => c.clone(),
    }
}

fn ids(observed: &BTreeMap<String, Live>) -> BTreeMap<String, String> {
    observed
        .iter()
        .map(|(role, live)| (role.clone(), live.id.clone()))
        .collect()
}

pub fn diff(env: &Environment, observed: &BTreeMap<String, Live>) -> Vec<Change> {
    let ids = ids(observed);
    wanted(env)
        .into_iter()
        .map(|group| {
            let name = name(env, group.role);
            let Some(live) = observed.get(group.role) else {
                let rules: Vec<String> = group
                    .ingress
                    .iter()
                    .map(|(port, s)| format!("{port} from {}", label(env, s)))
                    .collect();
                return Change::new(
                    Kind::SecurityGroup,
                    name,
                    Action::Create,
                    if rules.is_empty() {
                        "not found; no ingress".to_string()
                    } else {
                        format!("not found; ingress {}", rules.join(", "))
                    },
                );
            };
            let mut reasons = Vec::new();
            let mut wanted_keys = BTreeSet::new();
            for (port, source) in &group.ingress {
                match resolve(source, &ids) {
                    Some(key) => {
                        if !live.ingress.contains(&(*port, key.clone())) {
                            reasons.push(format!("allow {port} from {}", label(env, source)));
                        }
                        wanted_keys.insert((*port, key));
                    }
                    None => reasons.push(format!("allow {port} from {}", label(env, source))),
                }
            }
            for (port, source) in live.ingress.difference(&wanted_keys) {
                reasons.push(format!("revoke {port} from {source}"));
            }
            if reasons.is_empty() {
                Change::new(
                    Kind::SecurityGroup,
                    name,
                    Action::Unchanged,
                    format!("{} ({} ingress rules)", live.id, live.ingress.len()),
                )
            } else {
                Change {
                    kind: Kind::SecurityGroup,
                    name,
                    action: Action::Update,
                    reasons,
                }
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

/// Creates the missing groups and brings every group's rules to what is wanted. Returns the
/// group IDs by role.
pub async fn apply(
    clients: &Clients,
    env: &Environment,
    observed: &BTreeMap<String, Live>,
    printer: &Printer,
) -> Result<BTreeMap<String, String>, Error> {
    let aws = env.aws.as_ref().expect("an aws environment");
    let groups = wanted(env);
    let created = super::bounded(
        groups
            .iter()
            .filter(|g| !observed.contains_key(g.role))
            .map(|group| async move {
                let name = name(env, group.role);
                let tags = tags(env, &format!("security-group/{}", group.role));
                let created = clients
                    .ec2
                    .create_security_group()
                    .group_name(&name)
                    .description(format!("deploy {}: {}", env.name, group.role))
                    .vpc_id(aws.vpc.as_deref().unwrap_or_default())
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
                    .map_err(|e| sdk_error("EC2 CreateSecurityGroup", e.into_service_error()))?;
                printer.status(&format!("  + security group {name} created"));
                Ok::<_, Error>((
                    group.role.to_string(),
                    created.group_id().unwrap_or_default().to_string(),
                ))
            }),
    )
    .await?;
    let mut ids = ids(observed);
    ids.extend(created);
    let ids = &ids;
    super::bounded(groups.iter().map(|group| async move {
        let id = &ids[group.role];
        let live = observed
            .get(group.role)
            .map(|l| l.ingress.clone())
            .unwrap_or_default();
        let wanted: BTreeSet<(i32, String)> = group
            .ingress
            .iter()
            .filter_map(|(port, source)| resolve(source, ids).map(|s| (*port, s)))
            .collect();
        let missing: Vec<IpPermission> = wanted
            .difference(&live)
            .map(|(port, source)| permission(*port, source))
            .collect();
        let extra: Vec<IpPermission> = live
            .difference(&wanted)
            .map(|(port, source)| permission(*port, source))
            .collect();
        if !missing.is_empty() {
            clients
                .ec2
                .authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(missing))
                .send()
                .await
                .map_err(|e| {
                    sdk_error("EC2 AuthorizeSecurityGroupIngress", e.into_service_error())
                })?;
        }
        if !extra.is_empty() {
            clients
                .ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(extra))
                .send()
                .await
                .map_err(|e| sdk_error("EC2 RevokeSecurityGroupIngress", e.into_service_error()))?;
        }
        Ok::<_, Error>(())
    }))
    .await?;
    Ok(ids.clone())
}

/// Deletes the environment's groups: rules first (groups that name each other cannot go
/// otherwise), then the groups, retrying while network interfaces of deleted services linger.
pub async fn destroy(
    clients: &Clients,
    env: &Environment,
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
    super::bounded(observed.iter().map(|(role, live)| async move {
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
            .map_err(|e| sdk_error("EC2 RevokeSecurityGroupIngress", e.into_service_error()))
    }))
    .await?;
    super::bounded(going.iter().map(|(role, live)| async move {
        let name = name(env, role);
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
                    Err(e) => Err(sdk_error("EC2 DeleteSecurityGroup", e.into_service_error())),
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
