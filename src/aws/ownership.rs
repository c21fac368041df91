//! Ownership on AWS is the `deploy:environment` tag. Reading tags costs a call per resource, so a
//! resource with exactly the name this environment wants is taken as ours while planning and its
//! tag is checked before anything changes it; every other candidate is checked while planning.

use std::collections::BTreeSet;

use super::Env;
use super::clients::Clients;
use super::names::TAG_ENVIRONMENT;
use super::sdk::{self, Call};
use crate::error::Error;

async fn is_ours(clients: &Clients, env: &Env<'_>, arn: &str) -> Result<bool, Error> {
    let tags = clients
        .kafkaconnect
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .or_fail("MSK Connect ListTagsForResource")?;
    Ok(tags.tags().and_then(|t| t.get(TAG_ENVIRONMENT)) == Some(&env.name))
}

/// The candidates (name, ARN, anything) that belong to this environment.
pub(super) async fn owned<T: Send>(
    clients: &Clients,
    env: &Env<'_>,
    candidates: Vec<(String, String, T)>,
    wanted: &BTreeSet<String>,
) -> Result<Vec<(String, String, T)>, Error> {
    let checked =
        super::wait::bounded(candidates.into_iter().map(|(name, arn, extra)| async move {
            let ours = wanted.contains(&name) || is_ours(clients, env, &arn).await?;
            Ok::<_, Error>(ours.then_some((name, arn, extra)))
        }))
        .await?;
    Ok(checked.into_iter().flatten().collect())
}

/// Refuses to change a resource that does not carry this environment's tag.
pub(super) async fn ensure_ours(
    clients: &Clients,
    env: &Env<'_>,
    name: &str,
    arn: &str,
) -> Result<(), Error> {
    if is_ours(clients, env, arn).await? {
        Ok(())
    } else {
        Err(sdk::not_ours(
            name,
            &env.name,
            "rename or remove it, or tag it if it really belongs to this environment",
        ))
    }
}
