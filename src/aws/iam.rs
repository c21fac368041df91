//! IAM roles the environment runs as, each with an inline policy generated from what the
//! environment uses: the connectors' role (MSK Connect) may reach this cluster's topics and
//! groups, the sink buckets and the secrets the connectors read; the ECS execution role (registry
//! and schema load) may write their log groups and read the database secret; the registry's task role has no permissions
//! (Apicurio calls no AWS API). No wildcard actions, no `*` resources beyond one name's suffix.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Env;
use super::clients::Clients;
use super::names::{self, TAG_ENVIRONMENT, tags};
use super::outputs::{Outputs, UNKNOWN};
use super::sdk::{self, Call};
use crate::error::Error;
use crate::plan::{Action, Change, Kind};

const POLICY: &str = "deploy";

/// Where the environment runs: its account and region, for ARNs.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub region: String,
}

pub async fn account(clients: &Clients, env: &Env<'_>) -> Result<Account, Error> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .or_fail("STS GetCallerIdentity")?;
    Ok(Account {
        id: identity.account().unwrap_or_default().to_string(),
        region: env.aws.region.clone(),
    })
}

/// A role as wanted: its trust policy and inline policy (`None`: no permissions).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Role {
    pub role: &'static str,
    pub trust: Value,
    pub policy: Option<Value>,
}

/// A role as IAM has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub arn: String,
    pub ours: bool,
    pub trust: Value,
    pub policy: Option<Value>,
}

fn trust(service: &str, account: &Account, source_arn: String) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            // Only this account's resources may pass the role (the confused-deputy guard).
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account.id},
                "ArnLike": {"aws:SourceArn": source_arn}
            }
        }]
    })
}

fn statement(actions: &[&str], resources: Vec<String>) -> Value {
    json!({"Effect": "Allow", "Action": actions, "Resource": resources})
}

/// What the connectors may do: this cluster only, the sink buckets only, their secrets only.
fn connect_policy(env: &Env<'_>, account: &Account, outputs: &Outputs) -> Value {
    let cluster = outputs
        .cluster_arn
        .clone()
        .unwrap_or_else(|| UNKNOWN.into());
    // Topic and group ARNs share the cluster's name and UUID.
    let under = |kind: &str| {
        format!(
            "{}/*",
            cluster.replacen(":cluster/", &format!(":{kind}/"), 1)
        )
    };
    let mut statements = vec![
        statement(
            &["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
            vec![cluster.clone()],
        ),
        statement(
            &[
                "kafka-cluster:CreateTopic",
                "kafka-cluster:DescribeTopic",
                "kafka-cluster:DescribeTopicDynamicConfiguration",
                "kafka-cluster:ReadData",
                "kafka-cluster:WriteData",
            ],
            vec![under("topic")],
        ),
        statement(
            &["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"],
            vec![under("group")],
        ),
    ];
    let buckets: std::collections::BTreeSet<String> = env
        .connectors
        .iter()
        .filter_map(|c| c.config.get("s3.bucket.name").cloned())
        .collect();
    if !buckets.is_empty() {
        statements.push(statement(
            &[
                "s3:GetBucketLocation",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
            ],
            buckets
                .iter()
                .map(|b| format!("arn:aws:s3:::{b}"))
                .collect(),
        ));
        statements.push(statement(
            &[
                "s3:AbortMultipartUpload",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:PutObject",
            ],
            buckets
                .iter()
                .map(|b| format!("arn:aws:s3:::{b}/*"))
                .collect(),
        ));
    }
    let mut secrets = Vec::new();
    if env.connectors.iter().any(|c| !c.secret_names.is_empty()) {
        // Secrets Manager appends six random characters to a secret's name in its ARN.
        secrets.push(format!(
            "arn:aws:secretsmanager:{}:{}:secret:{}-??????",
            account.region,
            account.id,
            names::connector_secret(env)
        ));
    }
    if env
        .connectors
        .iter()
        .any(super::secrets::reads_database_password)
    {
        secrets.push(
            outputs
                .database_secret
                .clone()
                .unwrap_or_else(|| UNKNOWN.into()),
        );
    }
    if !secrets.is_empty() {
        statements.push(statement(&["secretsmanager:GetSecretValue"], secrets));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn ecs_trust(account: &Account) -> Value {
    trust(
        "ecs-tasks.amazonaws.com",
        account,
        format!("arn:aws:ecs:{}:{}:*", account.region, account.id),
    )
}

/// The roles this environment needs.
pub fn wanted(env: &Env<'_>, account: &Account, outputs: &Outputs) -> Vec<Role> {
    let aws = env.aws;
    let mut roles = Vec::new();
    if aws.service_execution_role_arn.is_none() && !env.connectors.is_empty() {
        roles.push(Role {
            role: names::role::CONNECT,
            trust: trust(
                "kafkaconnect.amazonaws.com",
                account,
                format!(
                    "arn:aws:kafkaconnect:{}:{}:connector/{}-*",
                    account.region, account.id, env.name
                ),
            ),
            policy: Some(connect_policy(env, account, outputs)),
        });
    }
    let database_tasks = env.runs_database_tasks();
    if aws.registry.is_some() || database_tasks {
        let ecs = || ecs_trust(account);
        let mut groups = Vec::new();
        if aws.registry.is_some() {
            groups.push(names::registry_log_group(env));
        }
        if database_tasks {
            groups.push(names::database_task_log_group(env));
        }
        let mut statements = vec![
            statement(
                &["logs:CreateLogStream", "logs:PutLogEvents"],
                groups
                    .iter()
                    .map(|g| {
                        format!(
                            "arn:aws:logs:{}:{}:log-group:{g}:*",
                            account.region, account.id
                        )
                    })
                    .collect(),
            ),
            // The database secret ECS injects, and a private registry's credentials.
            statement(
                &["secretsmanager:GetSecretValue"],
                std::iter::once(
                    outputs
                        .database_secret
                        .clone()
                        .unwrap_or_else(|| UNKNOWN.into()),
                )
                .chain(
                    aws.registry
                        .as_ref()
                        .and_then(|r| r.image_credentials.clone()),
                )
                .collect(),
            ),
        ];
        // Images in this account's ECR: the pull permissions of AWS's
        // AmazonECSTaskExecutionRolePolicy, scoped to their repositories where IAM allows it
        // (GetAuthorizationToken takes no resource).
        let repositories = ecr_repositories(env, account);
        if !repositories.is_empty() {
            statements.push(statement(&["ecr:GetAuthorizationToken"], vec!["*".into()]));
            statements.push(statement(
                &["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                repositories,
            ));
        }
        roles.push(Role {
            role: names::role::TASK_EXECUTION,
            trust: ecs(),
            policy: Some(json!({
                "Version": "2012-10-17",
                "Statement": statements,
            })),
        });
    }
    if aws.registry.is_some() {
        roles.push(Role {
            role: names::role::REGISTRY_TASK,
            trust: ecs_trust(account),
            policy: None,
        });
    }
    roles
}

/// The ECR repositories (ARNs) of the images the tasks run, when in this account and region.
fn ecr_repositories(env: &Env<'_>, account: &Account) -> Vec<String> {
    let aws = env.aws;
    let host = format!("{}.dkr.ecr.{}.amazonaws.com/", account.id, account.region);
    let images = aws
        .registry
        .iter()
        .map(|r| r.image.as_str())
        .chain(aws.database.iter().map(|d| d.schema_image.as_str()));
    let mut repositories: Vec<String> = images
        .filter_map(|image| image.strip_prefix(&host))
        .map(|path| {
            let repository = path.split(['@', ':']).next().unwrap_or(path);
            format!(
                "arn:aws:ecr:{}:{}:repository/{repository}",
                account.region, account.id
            )
        })
        .collect();
    repositories.sort();
    repositories.dedup();
    repositories
}

/// A policy document as IAM returns it (URL-encoded), as JSON.
pub fn decode(text: &str) -> Value {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

/// The wanted roles as IAM has them, by role.
pub async fn observe(
    clients: &Clients,
    env: &Env<'_>,
    roles: &[Role],
) -> Result<BTreeMap<String, Live>, Error> {
    let found = super::wait::bounded(roles.iter().map(|role| async move {
        let name = names::scoped(env, role.role);
        let got = match clients.iam.get_role().role_name(&name).send().await {
            Ok(got) => got,
            Err(e) if sdk::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(sdk::error("IAM GetRole", e)),
        };
        let Some(live) = got.role() else {
            return Ok(None);
        };
        let policy = match clients
            .iam
            .get_role_policy()
            .role_name(&name)
            .policy_name(POLICY)
            .send()
            .await
        {
            Ok(p) => Some(decode(p.policy_document())),
            Err(e) if sdk::is_not_found(&e) => None,
            Err(e) => return Err(sdk::error("IAM GetRolePolicy", e)),
        };
        Ok(Some((
            role.role.to_string(),
            Live {
                arn: live.arn().to_string(),
                ours: live
                    .tags()
                    .iter()
                    .any(|t| t.key() == TAG_ENVIRONMENT && t.value() == env.name),
                trust: live
                    .assume_role_policy_document()
                    .map(decode)
                    .unwrap_or(Value::Null),
                policy,
            },
        )))
    }))
    .await?;
    Ok(found.into_iter().flatten().collect())
}

/// One call of the roles' apply. A policy can name what the infrastructure gives (the
/// database's secret, the cluster): `PutPolicy` writes the policy as it is once that is applied,
/// the plan having decided that it differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    CreateRole { role: &'static str, trust: Value },
    UpdateTrust { role: &'static str, trust: Value },
    PutPolicy { role: &'static str },
    DeletePolicy { role: &'static str },
}

impl Step {
    fn role(&self) -> &'static str {
        match self {
            Step::CreateRole { role, .. }
            | Step::UpdateTrust { role, .. }
            | Step::PutPolicy { role }
            | Step::DeletePolicy { role } => role,
        }
    }
}

/// A role named like one of this environment's but not tagged as its own is never changed.
pub fn check(env: &Env<'_>, observed: &BTreeMap<String, Live>) -> Result<(), Error> {
    match observed.iter().find(|(_, live)| !live.ours) {
        Some((role, _)) => Err(sdk::not_ours(
            &format!("IAM role {}", names::scoped(env, role)),
            &env.name,
            "rename or remove that role, or tag it if it belongs to this environment",
        )),
        None => Ok(()),
    }
}

/// The roles' part of the plan: each role's change, with the steps that make it so.
pub fn plan(
    env: &Env<'_>,
    roles: &[Role],
    observed: &BTreeMap<String, Live>,
) -> Vec<(Change, Vec<Step>)> {
    roles
        .iter()
        .map(|role| {
            let name = names::scoped(env, role.role);
            let Some(live) = observed.get(role.role) else {
                let mut steps = vec![Step::CreateRole {
                    role: role.role,
                    trust: role.trust.clone(),
                }];
                if role.policy.is_some() {
                    steps.push(Step::PutPolicy { role: role.role });
                }
                return (
                    Change::new(Kind::Role, name, Action::Create, "not found"),
                    steps,
                );
            };
            let mut reasons = Vec::new();
            let mut steps = Vec::new();
            if live.trust != role.trust {
                reasons.push("trust policy changed".to_string());
                steps.push(Step::UpdateTrust {
                    role: role.role,
                    trust: role.trust.clone(),
                });
            }
            if live.policy != role.policy {
                reasons.push("permissions changed".to_string());
                steps.push(match role.policy {
                    Some(_) => Step::PutPolicy { role: role.role },
                    None => Step::DeletePolicy { role: role.role },
                });
            }
            if reasons.is_empty() {
                (
                    Change::new(
                        Kind::Role,
                        name,
                        Action::Unchanged,
                        "permissions as generated",
                    ),
                    steps,
                )
            } else {
                (
                    Change {
                        kind: Kind::Role,
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

/// Carries out the plan's role steps, each role's in order and the roles side by side; `roles`
/// are the roles as the applied infrastructure gives them. Returns their ARNs by role.
pub async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    roles: &[Role],
    observed: &BTreeMap<String, Live>,
    steps: &[Step],
) -> Result<BTreeMap<String, String>, Error> {
    let arns = super::wait::bounded(roles.iter().map(|role| async move {
        let name = names::scoped(env, role.role);
        let mut arn = observed.get(role.role).map(|live| live.arn.clone());
        for step in steps.iter().filter(|s| s.role() == role.role) {
            match step {
                Step::CreateRole { trust, .. } => {
                    let tags = tags(env, &format!("role/{}", role.role))
                        .into_iter()
                        .map(|(k, v)| {
                            aws_sdk_iam::types::Tag::builder()
                                .key(k)
                                .value(v)
                                .build()
                                .map_err(|e| Error::Internal(e.to_string()))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let created = clients
                        .iam
                        .create_role()
                        .role_name(&name)
                        .assume_role_policy_document(trust.to_string())
                        .description(format!("deploy {}: {}", env.name, role.role))
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .or_fail("IAM CreateRole")?;
                    arn = created.role().map(|r| r.arn().to_string());
                }
                Step::UpdateTrust { trust, .. } => {
                    clients
                        .iam
                        .update_assume_role_policy()
                        .role_name(&name)
                        .policy_document(trust.to_string())
                        .send()
                        .await
                        .or_fail("IAM UpdateAssumeRolePolicy")?;
                }
                Step::PutPolicy { .. } => {
                    let policy = role.policy.as_ref().ok_or_else(|| {
                        Error::Internal(format!("the plan gives role {name} a policy it has not"))
                    })?;
                    clients
                        .iam
                        .put_role_policy()
                        .role_name(&name)
                        .policy_name(POLICY)
                        .policy_document(policy.to_string())
                        .send()
                        .await
                        .or_fail("IAM PutRolePolicy")?;
                }
                Step::DeletePolicy { .. } => delete_policy(clients, &name).await?,
            }
        }
        let arn = arn.ok_or_else(|| {
            Error::Internal(format!("IAM role {name} is neither found nor created"))
        })?;
        Ok((role.role.to_string(), arn))
    }))
    .await?;
    Ok(arns.into_iter().collect())
}

/// Removes the role's inline policy (already gone is fine).
async fn delete_policy(clients: &Clients, role: &str) -> Result<(), Error> {
    clients
        .iam
        .delete_role_policy()
        .role_name(role)
        .policy_name(POLICY)
        .send()
        .await
        .or_absent("IAM DeleteRolePolicy")?;
    Ok(())
}

/// Deletes the environment's roles (those carrying its tag); true for each one deleted.
pub async fn destroy(clients: &Clients, env: &Env<'_>) -> Result<Vec<String>, Error> {
    let mut deleted = Vec::new();
    for role in [
        names::role::CONNECT,
        names::role::TASK_EXECUTION,
        names::role::REGISTRY_TASK,
    ] {
        let name = names::scoped(env, role);
        let Some(got) = clients
            .iam
            .get_role()
            .role_name(&name)
            .send()
            .await
            .or_absent("IAM GetRole")?
        else {
            continue;
        };
        let ours = got.role().is_some_and(|r| {
            r.tags()
                .iter()
                .any(|t| t.key() == TAG_ENVIRONMENT && t.value() == env.name)
        });
        if !ours {
            continue;
        }
        delete_policy(clients, &name).await?;
        clients
            .iam
            .delete_role()
            .role_name(&name)
            .send()
            .await
            .or_fail("IAM DeleteRole")?;
        deleted.push(name);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            id: "123456789012".into(),
            region: "us-east-1".into(),
        }
    }

    /// A role created before an interruption keeps its trust; the policy it lacks is the work
    /// left. A role named like ours but not tagged as ours is refused before anything changes.
    #[test]
    fn a_role_without_its_policy_gets_only_the_policy_and_a_foreign_one_is_refused() {
        let env = crate::aws::fixture::env();
        let roles = wanted(&env, &account(), &Outputs::default());
        let connect = roles
            .iter()
            .find(|r| r.role == names::role::CONNECT)
            .expect("the connectors' role");
        let observed = BTreeMap::from([(
            names::role::CONNECT.to_string(),
            Live {
                arn: "arn:aws:iam::123456789012:role/plan-connect".into(),
                ours: true,
                trust: connect.trust.clone(),
                policy: None,
            },
        )]);
        let planned = plan(&env, &roles, &observed);
        let (change, steps) = planned
            .iter()
            .find(|(c, _)| c.name == names::scoped(&env, names::role::CONNECT))
            .expect("planned");
        assert_eq!(change.reasons, ["permissions changed"]);
        assert_eq!(
            steps,
            &[Step::PutPolicy {
                role: names::role::CONNECT
            }]
        );
        assert!(check(&env, &observed).is_ok());
        let foreign = BTreeMap::from([(
            names::role::CONNECT.to_string(),
            Live {
                ours: false,
                ..observed[names::role::CONNECT].clone()
            },
        )]);
        let refused = check(&env, &foreign).unwrap_err().to_string();
        assert!(
            refused.contains("IAM role plan-connect exists but does not carry"),
            "{refused}"
        );
    }
}
