//! The connectors' worker configuration. MSK Connect keeps worker configurations immutable, so,
//! like plugins, one is named after its content (`<environment>-worker-<sha256 prefix>`), a change
//! is a new one, and the old one goes once no connector uses it.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::Env;
use super::clients::Clients;
use super::names::{self, TAG_ENVIRONMENT, TAG_RESOURCE};
use super::outputs::Outputs;
use super::ownership;
use super::sdk::{self, Call};
use crate::error::Error;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};

/// MSK Connect's default worker configuration's converter (Understand MSK Connect workers).
const DEFAULT_CONVERTER: &str = "org.apache.kafka.connect.storage.StringConverter";

/// The worker configuration the environment asks for: (name, properties file content).
/// `outputs` fill the `${aws:…}` values (the registry's address for Avro converters).
pub(super) fn wanted(env: &Env<'_>, outputs: &Outputs) -> Option<(String, String)> {
    let mut properties = outputs.fill_all(&env.aws.worker_properties.clone().unwrap_or_default());
    if env.connectors.iter().any(super::secrets::uses_provider) {
        properties.extend(super::secrets::provider_properties(env));
    }
    if properties.is_empty() && env.aws.worker_properties.is_none() {
        return None;
    }
    // "The key.converter and value.converter properties are required" (MSK Connect, Supported
    // worker configuration properties); its default worker configuration sets both to the
    // StringConverter. The connectors set their own converters; these are the workers' fallback.
    for side in ["key", "value"] {
        properties
            .entry(format!("{side}.converter"))
            .or_insert_with(|| DEFAULT_CONVERTER.into());
    }
    let content: String = properties
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    let digest = crate::digest::hex(&Sha256::digest(content.as_bytes())[..6]);
    Some((format!("{}{digest}", names::worker_prefix(env)), content))
}

/// This environment's worker configurations (name → ARN); the `wanted` name is taken as ours
/// (see `ownership`).
pub(super) async fn observe(
    clients: &Clients,
    env: &Env<'_>,
    wanted: Option<&str>,
) -> Result<BTreeMap<String, String>, Error> {
    let prefix = names::worker_prefix(env);
    let pages: Vec<_> = clients
        .kafkaconnect
        .list_worker_configurations()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut candidates = Vec::new();
    for item in pages {
        let item = item.map_err(|e| sdk::error("MSK Connect ListWorkerConfigurations", e))?;
        if let (Some(name), Some(arn)) = (item.name(), item.worker_configuration_arn())
            && name.starts_with(&prefix)
        {
            candidates.push((name.to_string(), arn.to_string()));
        }
    }
    let wanted: BTreeSet<String> = wanted.map(str::to_string).into_iter().collect();
    let candidates = candidates
        .into_iter()
        .map(|(name, arn)| (name, arn, ()))
        .collect();
    let owned = ownership::owned(clients, env, candidates, &wanted).await?;
    Ok(owned
        .into_iter()
        .map(|(name, arn, ())| (name, arn))
        .collect())
}

/// A worker configuration the plan removes (DeleteWorkerConfiguration, once no connector uses
/// it). Creating one is not a step: its name is the digest of its content, which can name what
/// the infrastructure gives, so `apply` creates the one wanted once that is applied unless it
/// exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Remove {
    pub(super) name: String,
    pub(super) arn: String,
}

/// The worker configurations' part of the plan.
pub(super) fn plan(
    wanted: Option<&(String, String)>,
    observed: &BTreeMap<String, String>,
) -> Vec<(Change, Vec<Remove>)> {
    let mut planned = Vec::new();
    if let Some((name, _)) = wanted {
        planned.push((
            if observed.contains_key(name) {
                Change::new(Kind::WorkerConfiguration, name, Action::Unchanged, "exists")
            } else {
                Change::new(Kind::WorkerConfiguration, name, Action::Create, "not found")
            },
            Vec::new(),
        ));
    }
    for (name, arn) in observed
        .iter()
        .filter(|(n, _)| wanted.is_none_or(|(w, _)| w != *n))
    {
        planned.push((
            Change::new(
                Kind::WorkerConfiguration,
                name,
                Action::Remove,
                "no connector uses it",
            ),
            vec![Remove {
                name: name.clone(),
                arn: arn.clone(),
            }],
        ));
    }
    planned
}

/// Creates the wanted worker configuration if missing; returns its ARN.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    wanted: Option<&(String, String)>,
    observed: &BTreeMap<String, String>,
    printer: &Printer,
) -> Result<Option<String>, Error> {
    let Some((name, content)) = wanted else {
        return Ok(None);
    };
    if let Some(arn) = observed.get(name) {
        return Ok(Some(arn.clone()));
    }
    let mut request = clients
        .kafkaconnect
        .create_worker_configuration()
        .name(name)
        .properties_file_content(aws_smithy_types::base64::encode(content.as_bytes()))
        .description(format!("worker configuration of environment {}", env.name))
        .tags(TAG_ENVIRONMENT, &env.name)
        .tags(TAG_RESOURCE, "worker-configuration");
    for (key, value) in &env.aws.tags {
        request = request.tags(key, value);
    }
    let created = request
        .send()
        .await
        .map_err(|e| sdk::error(&format!("MSK Connect CreateWorkerConfiguration {name}"), e))?;
    printer.status(&format!("  + worker configuration {name} created"));
    Ok(created.worker_configuration_arn().map(str::to_string))
}

/// Deletes the worker configurations the plan removes (after the connectors moved off them).
/// Carries out the plan's removals, once no connector uses them.
pub(super) async fn remove_unused(
    clients: &Clients,
    steps: &[Remove],
    printer: &Printer,
) -> Result<(), Error> {
    for Remove { name, arn } in steps {
        delete(clients, name, arn).await?;
        printer.status(&format!("  - worker configuration {name} deleted"));
    }
    Ok(())
}

pub(super) async fn delete(clients: &Clients, name: &str, arn: &str) -> Result<(), Error> {
    clients
        .kafkaconnect
        .delete_worker_configuration()
        .worker_configuration_arn(arn)
        .send()
        .await
        .or_absent(&format!("MSK Connect DeleteWorkerConfiguration {name}"))?;
    Ok(())
}
