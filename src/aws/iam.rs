//! IAM roles the environment runs as, each with an inline policy generated from what the
//! environment uses: the connectors' role (MSK Connect) may reach this cluster's topics and
//! groups, the sink buckets and the secrets the connectors read; the ECS execution role (registry
//! and schema load) may write their log groups and read the database secret; the registry's task role has no permissions
//! (Apicurio calls no AWS API). No wildcard actions, no `*` resources beyond one name's suffix.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::clients::Clients;
use super::outputs::{Outputs, UNKNOWN};
use super::plugins::{TAG_ENVIRONMENT, tags};
use super::sdk_error;
use crate::error::Error;
use crate::model::Environment;
use crate::plan::{Action, Change, Kind};

const POLICY: &str = "deploy";
pub const CONNECT: &str = "connect";
/// The ECS execution role of the registry and the schema load: pulls their secrets, writes
/// their logs.
pub const TASK_EXECUTION: &str = "task-execution";
pub const REGISTRY_TASK: &str = "registry-task";

/// Where the environment runs: its account and region, for ARNs.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub region: String,
}

pub async fn account(clients: &Clients, env: &Environment) -> Result<Account, Error> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_error("STS GetCallerIdentity", e.into_service_error()))?;
    Ok(Account {
        id: identity.account().unwrap_or_default().to_string(),
        region: env.aws.as_ref().expect("an aws environment").region.clone(),
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

pub fn name(env: &Environment, role: &str) -> String {
    env.scoped(role)
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
fn connect_policy(env: &Environment, account: &Account, outputs: &Outputs) -> Value {
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
            super::secrets::secret_id(env)
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
pub fn wanted(env: &Environment, account: &Account, outputs: &Outputs) -> Vec<Role> {
    let aws = env.aws.as_ref().expect("an aws environment");
    let mut roles = Vec::new();
    if aws.service_execution_role_arn.is_none() && !env.connectors.is_empty() {
        roles.push(Role {
            role: CONNECT,
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
    let loads_schema = super::schema::loads(env);
    if aws.registry.is_some() || loads_schema {
        let ecs = || ecs_trust(account);
        let mut groups = Vec::new();
        if aws.registry.is_some() {
            groups.push(super::registry::log_group(env));
        }
        if loads_schema {
            groups.push(super::schema::log_group(env));
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
            role: TASK_EXECUTION,
            trust: ecs(),
            policy: Some(json!({
                "Version": "2012-10-17",
                "Statement": statements,
            })),
        });
    }
    if aws.registry.is_some() {
        roles.push(Role {
            role: REGISTRY_TASK,
            trust: ecs_trust(account),
            policy: None,
        });
    }
    roles
}

/// The ECR repositories (ARNs) of the images the tasks run, when in this account and region.
fn ecr_repositories(env: &Environment, account: &Account) -> Vec<String> {
    let Some(aws) = env.aws.as_ref() else {
        return Vec::new();
    };
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

fn missing(e: &impl aws_smithy_types::error::metadata::ProvideErrorMetadata) -> bool {
    e.code() == Some("NoSuchEntity")
}

/// The wanted roles as IAM has them, by role.
pub async fn observe(
    clients: &Clients,
    env: &Environment,
    roles: &[Role],
) -> Result<BTreeMap<String, Live>, Error> {
    let found = super::bounded(roles.iter().map(|role| async move {
        let name = name(env, role.role);
        let got = match clients.iam.get_role().role_name(&name).send().await {
            Ok(got) => got,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(sdk_error("IAM GetRole", e.into_service_error())),
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
            Err(e) if missing(&e) => None,
            Err(e) => return Err(sdk_error("IAM GetRolePolicy", e.into_service_error())),
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

pub fn diff(env: &Environment, roles: &[Role], observed: &BTreeMap<String, Live>) -> Vec<Change> {
    roles
        .iter()
        .map(|role| {
            let name = name(env, role.role);
            let Some(live) = observed.get(role.role) else {
                return Change::new(Kind::Role, name, Action::Create, "not found");
            };
            let mut reasons = Vec::new();
            if live.trust != role.trust {
                reasons.push("trust policy changed".to_string());
            }
            if live.policy != role.policy {
                reasons.push("permissions changed".to_string());
            }
            if reasons.is_empty() {
                Change::new(
                    Kind::Role,
                    name,
                    Action::Unchanged,
                    "permissions as generated",
                )
            } else {
                Change {
                    kind: Kind::Role,
                    name,
                    action: Action::Update,
                    reasons,
                }
            }
        })
        .collect()
}

/// Creates or updates the roles; returns their ARNs by role.
pub async fn apply(
    clients: &Clients,
    env: &Environment,
    roles: &[Role],
    observed: &BTreeMap<String, Live>,
) -> Result<BTreeMap<String, String>, Error> {
    let arns = super::bounded(roles.iter().map(|role| async move {
        let name = name(env, role.role);
        let live = observed.get(role.role);
        let arn = match live {
            Some(live) if !live.ours => {
                return Err(Error::user(format!(
                    "IAM role {name} exists but does not carry the `{TAG_ENVIRONMENT}` tag of environment `{}`: refusing to change it",
                    env.name
                ))
                .with_hint("rename or remove that role, or tag it if it belongs to this environment"));
            }
            Some(live) => {
                if live.trust != role.trust {
                    clients
                        .iam
                        .update_assume_role_policy()
                        .role_name(&name)
                        .policy_document(role.trust.to_string())
                        .send()
                        .await
                        .map_err(|e| sdk_error("IAM UpdateAssumeRolePolicy", e.into_service_error()))?;
                }
                live.arn.clone()
            }
            None => {
                let tags = tags(env, &format!("role/{}", role.role))
                    .into_iter()
                    .map(|(k, v)| {
                        aws_sdk_iam::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .expect("key and value are set")
                    })
                    .collect();
                let created = clients
                    .iam
                    .create_role()
                    .role_name(&name)
                    .assume_role_policy_document(role.trust.to_string())
                    .description(format!("deploy {}: {}", env.name, role.role))
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| sdk_error("IAM CreateRole", e.into_service_error()))?;
                created.role().map(|r| r.arn().to_string()).unwrap_or_default()
            }
        };
        let have = live.and_then(|l| l.policy.as_ref());
        match (&role.policy, have) {
            (Some(want), have) if have != Some(want) => {
                clients
                    .iam
                    .put_role_policy()
                    .role_name(&name)
                    .policy_name(POLICY)
                    .policy_document(want.to_string())
                    .send()
                    .await
                    .map_err(|e| sdk_error("IAM PutRolePolicy", e.into_service_error()))?;
            }
            (None, Some(_)) => {
                clients
                    .iam
                    .delete_role_policy()
                    .role_name(&name)
                    .policy_name(POLICY)
                    .send()
                    .await
                    .map_err(|e| sdk_error("IAM DeleteRolePolicy", e.into_service_error()))?;
            }
            _ => {}
        }
        Ok((role.role.to_string(), arn))
    }))
    .await?;
    Ok(arns.into_iter().collect())
}

/// Deletes the environment's roles (those carrying its tag); true for each one deleted.
pub async fn destroy(clients: &Clients, env: &Environment) -> Result<Vec<String>, Error> {
    let mut deleted = Vec::new();
    for role in [CONNECT, TASK_EXECUTION, REGISTRY_TASK] {
        let name = name(env, role);
        let got = match clients.iam.get_role().role_name(&name).send().await {
            Ok(got) => got,
            Err(e) if missing(&e) => continue,
            Err(e) => return Err(sdk_error("IAM GetRole", e.into_service_error())),
        };
        let ours = got.role().is_some_and(|r| {
            r.tags()
                .iter()
                .any(|t| t.key() == TAG_ENVIRONMENT && t.value() == env.name)
        });
        if !ours {
            continue;
        }
        match clients
            .iam
            .delete_role_policy()
            .role_name(&name)
            .policy_name(POLICY)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if missing(&e) => {}
            Err(e) => return Err(sdk_error("IAM DeleteRolePolicy", e.into_service_error())),
        }
        clients
            .iam
            .delete_role()
            .role_name(&name)
            .send()
            .await
            .map_err(|e| sdk_error("IAM DeleteRole", e.into_service_error()))?;
        deleted.push(name);
    }
    Ok(deleted)
}
