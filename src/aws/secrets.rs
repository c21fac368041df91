//! Connector secrets on AWS. The values of `${secret:NAME}` go to one Secrets Manager secret per
//! environment (`deploy/<environment>/connectors`, a JSON object by NAME); the connector
//! configuration refers to them through MSK Connect's Secrets Manager config provider
//! (`${secretsmanager:<secret>:<NAME>}`), so no secret is ever sent, planned or shown in plain
//! text. The workers get the provider in their configuration; the provider's classes travel in
//! the plugin (the `msk-config-providers` bundle).

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::types::Tag;

use super::Env;
use super::clients::Clients;
use super::names::{self, TAG_ENVIRONMENT, TAG_RESOURCE};
use super::sdk::{self, Call};
use crate::error::Error;
use crate::plan::{Action, Change, Kind};

/// What a connector configuration holds instead of the secret's value.
pub(super) fn placeholder(env: &Env<'_>, name: &str) -> String {
    format!(
        "${{secretsmanager:{}:{name}}}",
        names::connector_secret(env)
    )
}

/// A connector given the database password RDS keeps in Secrets Manager.
pub(super) fn reads_database_password(connector: &crate::model::Connector) -> bool {
    connector
        .config
        .values()
        .any(|v| v.contains("${aws:database.password}"))
}

/// A connector that reads a secret through the config provider: its own secrets, or the
/// database password.
pub(super) fn uses_provider(connector: &crate::model::Connector) -> bool {
    !connector.secret_names.is_empty() || reads_database_password(connector)
}

/// Worker properties that install the provider.
pub(super) fn provider_properties(env: &Env<'_>) -> BTreeMap<String, String> {
    let region = env.aws.region.clone();
    BTreeMap::from([
        ("config.providers".into(), "secretsmanager".into()),
        (
            "config.providers.secretsmanager.class".into(),
            "com.amazonaws.kafka.config.providers.SecretsManagerConfigProvider".into(),
        ),
        (
            "config.providers.secretsmanager.param.region".into(),
            region,
        ),
    ])
}

/// The secrets the connectors use: NAME → value. A value that mixes a secret with other text
/// cannot go through the provider and is refused.
pub(super) fn wanted(env: &Env<'_>) -> Result<BTreeMap<String, String>, Error> {
    let mut values = BTreeMap::new();
    for connector in &env.connectors {
        let mixed: Vec<&str> = connector
            .secret_keys
            .iter()
            .filter(|k| !connector.secret_names.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !mixed.is_empty() {
            return Err(Error::user(format!(
                "connector `{}`: {} mix a secret with other text; on AWS a secret must be the whole value (`${{secret:NAME}}`)",
                connector.name,
                mixed.join(", ")
            )));
        }
        for (key, name) in &connector.secret_names {
            values.insert(name.clone(), connector.config[key].clone());
        }
    }
    Ok(values)
}

/// The stored secret, as far as a plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stored {
    Absent,
    /// Deleted by an earlier `destroy` and still in its recovery window.
    Deleted,
    Present(BTreeMap<String, String>),
}

pub(super) async fn observe(clients: &Clients, env: &Env<'_>) -> Result<Stored, Error> {
    match clients
        .secretsmanager
        .get_secret_value()
        .secret_id(names::connector_secret(env))
        .send()
        .await
    {
        Ok(value) => Ok(Stored::Present(
            serde_json::from_str(value.secret_string().unwrap_or("{}")).unwrap_or_default(),
        )),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(Stored::Absent)
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_invalid_request_exception()) =>
        {
            Ok(Stored::Deleted)
        }
        Err(e) => Err(sdk::error("Secrets Manager GetSecretValue", e)),
    }
}

/// Names only: the values never reach a plan.
/// One call of the connectors' secret's apply. The values are the plan's desired state and are
/// not copied into the steps (a step may be shown for debugging; a value must never be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// CreateSecret with the values, tagged.
    Create,
    /// RestoreSecret: deleted by an earlier `destroy`, still in its recovery window.
    Restore,
    /// PutSecretValue: the values as a new version.
    Put,
}

/// The secret's part of the plan. Names only reach the change: the values never reach a plan.
pub(super) fn plan(
    env: &Env<'_>,
    wanted: &BTreeMap<String, String>,
    observed: &Stored,
) -> Vec<(Change, Vec<Step>)> {
    let id = names::connector_secret(env);
    match observed {
        _ if wanted.is_empty() => Vec::new(),
        Stored::Absent => vec![(
            Change::new(Kind::Secret, &id, Action::Create, "not found"),
            vec![Step::Create],
        )],
        Stored::Deleted => vec![(
            Change::new(
                Kind::Secret,
                &id,
                Action::Update,
                "deleted earlier: restored, values set",
            ),
            vec![Step::Restore, Step::Put],
        )],
        Stored::Present(have) if have == wanted => vec![(
            Change::new(Kind::Secret, &id, Action::Unchanged, "values unchanged"),
            Vec::new(),
        )],
        Stored::Present(have) => {
            let changed: Vec<&str> = wanted
                .keys()
                .chain(have.keys())
                .filter(|k| wanted.get(*k) != have.get(*k))
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            vec![(
                Change::new(
                    Kind::Secret,
                    &id,
                    Action::Update,
                    format!(
                        "values changed: {} (connectors read them when they start)",
                        changed.join(", ")
                    ),
                ),
                vec![Step::Put],
            )]
        }
    }
}

/// Refuses to write a secret that does not carry this environment's tag.
async fn ensure_ours(clients: &Clients, env: &Env<'_>) -> Result<(), Error> {
    let described = clients
        .secretsmanager
        .describe_secret()
        .secret_id(names::connector_secret(env))
        .send()
        .await
        .or_fail("Secrets Manager DescribeSecret")?;
    let ours = described
        .tags()
        .iter()
        .any(|t| t.key() == Some(TAG_ENVIRONMENT) && t.value() == Some(env.name.as_str()));
    if ours {
        Ok(())
    } else {
        Err(sdk::not_ours(
            &format!("secret {}", names::connector_secret(env)),
            &env.name,
            "rename or remove that secret, or tag it if it belongs to this environment",
        ))
    }
}

/// Carries out the plan's secret steps with the wanted values.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    wanted: &BTreeMap<String, String>,
    steps: &[Step],
) -> Result<(), Error> {
    let id = names::connector_secret(env);
    let text = serde_json::to_string(wanted).expect("a map serializes");
    if steps.iter().any(|s| *s != Step::Create) {
        ensure_ours(clients, env).await?;
    }
    for step in steps {
        match step {
            Step::Create => {
                let mut request = clients
                    .secretsmanager
                    .create_secret()
                    .name(&id)
                    .description(format!("connector secrets of environment {}", env.name))
                    .secret_string(&text)
                    .tags(Tag::builder().key(TAG_ENVIRONMENT).value(&env.name).build())
                    .tags(
                        Tag::builder()
                            .key(TAG_RESOURCE)
                            .value("connector-secrets")
                            .build(),
                    );
                for (key, value) in &env.aws.tags {
                    request = request.tags(Tag::builder().key(key).value(value).build());
                }
                request
                    .send()
                    .await
                    .or_fail("Secrets Manager CreateSecret")?;
            }
            Step::Restore => {
                clients
                    .secretsmanager
                    .restore_secret()
                    .secret_id(&id)
                    .send()
                    .await
                    .or_fail("Secrets Manager RestoreSecret")?;
            }
            Step::Put => {
                clients
                    .secretsmanager
                    .put_secret_value()
                    .secret_id(&id)
                    .secret_string(&text)
                    .send()
                    .await
                    .or_fail("Secrets Manager PutSecretValue")?;
            }
        }
    }
    Ok(())
}

/// Deletes the secret (kept for recovery for 7 days, unless `delete_data`).
pub(super) async fn destroy(
    clients: &Clients,
    env: &Env<'_>,
    delete_data: bool,
) -> Result<bool, Error> {
    match clients
        .secretsmanager
        .describe_secret()
        .secret_id(names::connector_secret(env))
        .send()
        .await
    {
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(sdk::error("Secrets Manager DescribeSecret", e)),
        Ok(d) if d.deleted_date().is_some() => return Ok(false),
        Ok(_) => ensure_ours(clients, env).await?,
    }
    let mut request = clients
        .secretsmanager
        .delete_secret()
        .secret_id(names::connector_secret(env));
    request = if delete_data {
        request.force_delete_without_recovery(true)
    } else {
        request.recovery_window_in_days(7)
    };
    request
        .send()
        .await
        .or_fail("Secrets Manager DeleteSecret")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_secret_is_restored_then_set_and_no_value_reaches_the_plan() {
        let env = crate::aws::fixture::env();
        let wanted = BTreeMap::from([("s3.secret".to_string(), "hunter2-wanted".to_string())]);
        let steps = |observed: &Stored| -> Vec<Step> {
            plan(&env, &wanted, observed)
                .into_iter()
                .flat_map(|(_, steps)| steps)
                .collect()
        };
        assert_eq!(steps(&Stored::Absent), [Step::Create]);
        assert_eq!(steps(&Stored::Deleted), [Step::Restore, Step::Put]);
        assert!(steps(&Stored::Present(wanted.clone())).is_empty());
        let stale = Stored::Present(BTreeMap::from([(
            "s3.secret".to_string(),
            "hunter2-stale".to_string(),
        )]));
        let planned = plan(&env, &wanted, &stale);
        assert_eq!(planned[0].1, [Step::Put]);
        let shown = format!("{:?}", planned);
        assert!(shown.contains("s3.secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
