//! Connector plugins on AWS: the plugin bucket, each plugin ZIP under a content-addressed key,
//! and an MSK Connect custom plugin per ZIP, named after its content. Plugins are immutable: new
//! content is a new object and a new custom plugin, and the old one goes once nothing uses it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_kafkaconnect::types::{
    CustomPluginContentType, CustomPluginLocation, CustomPluginState, S3Location,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode,
    CreateBucketConfiguration, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};

use super::Env;
use super::clients::Clients;
use super::names::{self, tags};
use super::ownership;
use super::sdk::{self, Call};
use super::wait::{Poll, until, until_gone};
use crate::error::Error;
use crate::output::Printer;
use crate::plan::{Action, Change, Kind};
use crate::plugins::Built;

/// Custom plugins take minutes on AWS.
const PLUGIN_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// A plugin as it should be on AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Wanted {
    pub plugin: String,
    pub sha256: String,
    pub zip: std::path::PathBuf,
    /// `plugins/<plugin>-<sha256 prefix>.zip`
    pub key: String,
    /// `<environment>-<plugin>-<sha256 prefix>`
    pub custom_plugin: String,
}

pub(super) fn wanted(env: &Env<'_>, built: &[Built]) -> Vec<Wanted> {
    built
        .iter()
        .map(|b| Wanted {
            plugin: b.name.clone(),
            sha256: b.sha256.clone(),
            zip: b.zip.clone(),
            key: names::plugin_key(&b.name, &b.sha256),
            custom_plugin: names::custom_plugin(env, &b.name, &b.sha256),
        })
        .collect()
}

/// What exists, as far as these resources go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Observed {
    pub bucket: bool,
    /// The sha256 (hex) S3 reports for each wanted key that exists.
    pub objects: BTreeMap<String, Option<String>>,
    /// This environment's custom plugins: name → (ARN, state).
    pub custom_plugins: BTreeMap<String, (String, String)>,
}

pub(super) async fn observe(
    clients: &Clients,
    env: &Env<'_>,
    wanted: &[Wanted],
) -> Result<Observed, Error> {
    let bucket = &env.aws.plugin_bucket;
    let exists = match clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => false,
        Err(e) => {
            return Err(sdk::error(&format!("S3 HeadBucket {bucket}"), e));
        }
    };
    let mut objects = BTreeMap::new();
    if exists {
        let heads = super::wait::bounded(wanted.iter().map(|w| async move {
            match clients
                .s3
                .head_object()
                .bucket(bucket)
                .key(&w.key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
            {
                Ok(head) => Ok((
                    w.key.clone(),
                    Some(
                        head.checksum_sha256()
                            .map(hex_of_base64)
                            .unwrap_or_default(),
                    ),
                )),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                    Ok((w.key.clone(), None))
                }
                Err(e) => Err(sdk::error(&format!("S3 HeadObject {}", w.key), e)),
            }
        }))
        .await?;
        objects = heads.into_iter().collect();
    }
    Ok(Observed {
        bucket: exists,
        objects,
        custom_plugins: custom_plugins(
            clients,
            env,
            &wanted.iter().map(|w| w.custom_plugin.clone()).collect(),
        )
        .await?,
    })
}

/// Custom plugins carrying this environment's tag (name → ARN, state).
/// This environment's custom plugins (name → ARN, state); `wanted` names are taken as ours
/// (see `ownership`).
async fn custom_plugins(
    clients: &Clients,
    env: &Env<'_>,
    wanted: &BTreeSet<String>,
) -> Result<BTreeMap<String, (String, String)>, Error> {
    let pages: Vec<_> = clients
        .kafkaconnect
        .list_custom_plugins()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let prefix = names::prefix(env);
    let mut candidates = Vec::new();
    for item in pages {
        let item = item.or_fail("MSK Connect ListCustomPlugins")?;
        let (Some(name), Some(arn)) = (item.name(), item.custom_plugin_arn()) else {
            continue;
        };
        if name.starts_with(&prefix) {
            let state = item
                .custom_plugin_state()
                .map_or("UNKNOWN".into(), |s| s.as_str().to_string());
            candidates.push((name.to_string(), arn.to_string(), state));
        }
    }
    let owned = ownership::owned(clients, env, candidates, wanted).await?;
    Ok(owned
        .into_iter()
        .map(|(name, arn, state)| (name, (arn, state)))
        .collect())
}

fn hex_of_base64(b64: &str) -> String {
    aws_smithy_types::base64::decode(b64)
        .map(|bytes| crate::digest::hex(&bytes))
        .unwrap_or_default()
}

/// The plan for bucket, objects and custom plugins: a pure function.
/// One call of the plugins' apply, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// CreateBucket: versioned, encrypted, private.
    CreateBucket,
    /// PutObject of the ZIP, with its sha256 for S3 to check.
    Upload(Wanted),
    /// CreateCustomPlugin (after deleting the one whose creation failed, when `replaces` names
    /// it), waiting until it is ACTIVE.
    CreateCustomPlugin {
        wanted: Wanted,
        replaces: Option<String>,
    },
    /// DeleteCustomPlugin, once no connector runs on it.
    Remove { name: String, arn: String },
}

/// The plugins' part of the plan: bucket, objects and custom plugins, each change with the steps
/// that make it so.
pub(super) fn plan(
    env: &Env<'_>,
    wanted: &[Wanted],
    observed: &Observed,
) -> Vec<(Change, Vec<Step>)> {
    let bucket = &env.aws.plugin_bucket;
    let mut planned = vec![if observed.bucket {
        (
            Change::new(Kind::Bucket, bucket, Action::Unchanged, "exists"),
            Vec::new(),
        )
    } else {
        (
            Change::new(Kind::Bucket, bucket, Action::Create, "not found"),
            vec![Step::CreateBucket],
        )
    }];
    for w in wanted {
        let upload = vec![Step::Upload(w.clone())];
        planned.push(match observed.objects.get(&w.key) {
            None | Some(None) => (
                Change::new(Kind::Object, &w.key, Action::Create, "not found"),
                upload,
            ),
            Some(Some(stored)) if *stored == w.sha256 => (
                Change::new(
                    Kind::Object,
                    &w.key,
                    Action::Unchanged,
                    "present, S3's sha256 matches",
                ),
                Vec::new(),
            ),
            Some(Some(stored)) => (
                Change::new(
                    Kind::Object,
                    &w.key,
                    Action::Recreate,
                    if stored.is_empty() {
                        "S3 reports no sha256 for it".to_string()
                    } else {
                        format!("S3's sha256 {} differs", &stored[..12.min(stored.len())])
                    },
                ),
                upload,
            ),
        });
        planned.push(match observed.custom_plugins.get(&w.custom_plugin) {
            None => (
                Change::new(
                    Kind::CustomPlugin,
                    &w.custom_plugin,
                    Action::Create,
                    "not found",
                ),
                vec![Step::CreateCustomPlugin {
                    wanted: w.clone(),
                    replaces: None,
                }],
            ),
            Some((arn, state)) if state == "CREATE_FAILED" => (
                Change::new(
                    Kind::CustomPlugin,
                    &w.custom_plugin,
                    Action::Recreate,
                    "its creation failed",
                ),
                vec![Step::CreateCustomPlugin {
                    wanted: w.clone(),
                    replaces: Some(arn.clone()),
                }],
            ),
            Some((_, state)) => (
                Change::new(
                    Kind::CustomPlugin,
                    &w.custom_plugin,
                    Action::Unchanged,
                    state.to_lowercase(),
                ),
                Vec::new(),
            ),
        });
    }
    for (name, (arn, _)) in observed
        .custom_plugins
        .iter()
        .filter(|(n, _)| !wanted.iter().any(|w| &w.custom_plugin == *n))
    {
        let replacement = wanted
            .iter()
            .find(|w| name.starts_with(&format!("{}{}-", names::prefix(env), w.plugin)))
            .map(|w| format!("content changed: replaced by {}", w.custom_plugin));
        planned.push((
            Change::new(
                Kind::CustomPlugin,
                name,
                Action::Remove,
                replacement.unwrap_or_else(|| "no connector uses it".into()),
            ),
            vec![Step::Remove {
                name: name.clone(),
                arn: arn.clone(),
            }],
        ));
    }
    planned
}

/// Carries out the plan's bucket, upload and custom plugin steps (the bucket first, then the
/// objects, then the plugins made from them). Returns the ARN of every wanted custom plugin.
/// Unused plugins are removed separately (`remove_unused`), once no connector runs on them.
pub(super) async fn apply(
    clients: &Clients,
    env: &Env<'_>,
    observed: &Observed,
    steps: &[Step],
    printer: &Printer,
) -> Result<BTreeMap<String, String>, Error> {
    let bucket = &env.aws.plugin_bucket;
    if steps.contains(&Step::CreateBucket) {
        create_bucket(clients, env).await?;
        printer.status(&format!(
            "  + bucket {bucket} created (versioned, encrypted, private)"
        ));
    }
    super::wait::bounded(steps.iter().filter_map(|step| match step {
        Step::Upload(w) => Some(async move {
            upload(clients, env, w).await?;
            printer.status(&format!("  + s3://{bucket}/{} uploaded", w.key));
            Ok::<_, Error>(())
        }),
        _ => None,
    }))
    .await?;
    let created = super::wait::bounded(steps.iter().filter_map(|step| match step {
        Step::CreateCustomPlugin { wanted, replaces } => Some(async move {
            if let Some(arn) = replaces {
                ownership::ensure_ours(clients, env, &wanted.custom_plugin, arn).await?;
                delete_custom_plugin(clients, &wanted.custom_plugin, arn).await?;
            }
            let arn = create_custom_plugin(clients, env, wanted).await?;
            printer.status(&format!(
                "  + custom plugin {} active",
                wanted.custom_plugin
            ));
            Ok::<_, Error>((wanted.custom_plugin.clone(), arn))
        }),
        _ => None,
    }))
    .await?;
    let mut arns: BTreeMap<String, String> = observed
        .custom_plugins
        .iter()
        .map(|(name, (arn, _))| (name.clone(), arn.clone()))
        .collect();
    arns.extend(created);
    Ok(arns)
}

/// Carries out the plan's removals of custom plugins; run after the connectors moved off them.
pub(super) async fn remove_unused(
    clients: &Clients,
    steps: &[Step],
    printer: &Printer,
) -> Result<(), Error> {
    super::wait::bounded(steps.iter().filter_map(|step| match step {
        Step::Remove { name, arn } => Some(async move {
            delete_custom_plugin(clients, name, arn).await?;
            printer.status(&format!("  - custom plugin {name} deleted"));
            Ok::<_, Error>(())
        }),
        _ => None,
    }))
    .await?;
    Ok(())
}

async fn create_bucket(clients: &Clients, env: &Env<'_>) -> Result<(), Error> {
    let aws = env.aws;
    let bucket = &aws.plugin_bucket;
    let mut create = clients.s3.create_bucket().bucket(bucket);
    if aws.region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
        Err(e) => {
            return Err(sdk::error(&format!("S3 CreateBucket {bucket}"), e));
        }
    }
    clients
        .s3
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .or_fail("S3 PutBucketVersioning")?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .expect("the algorithm is set"),
                )
                .build(),
        )
        .build()
        .expect("a rule is set");
    clients
        .s3
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .or_fail("S3 PutBucketEncryption")?;
    clients
        .s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .or_fail("S3 PutPublicAccessBlock")?;
    let tag_set: Vec<Tag> = tags(env, "plugin-bucket")
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value are set")
        })
        .collect();
    clients
        .s3
        .put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            Tagging::builder()
                .set_tag_set(Some(tag_set))
                .build()
                .expect("tags are set"),
        )
        .send()
        .await
        .or_fail("S3 PutBucketTagging")?;
    Ok(())
}

/// Uploads with a sha256 checksum S3 verifies, then checks the checksum S3 reports back.
async fn upload(clients: &Clients, env: &Env<'_>, wanted: &Wanted) -> Result<(), Error> {
    let bucket = &env.aws.plugin_bucket;
    let bytes = std::fs::read(&wanted.zip)
        .map_err(|e| Error::user(format!("cannot read {}: {e}", wanted.zip.display())))?;
    let digest: Vec<u8> = (0..wanted.sha256.len() / 2)
        .map(|i| u8::from_str_radix(&wanted.sha256[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let sent = clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(&wanted.key)
        .body(ByteStream::from(bytes))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(aws_smithy_types::base64::encode(&digest))
        .metadata("deploy-environment", &env.name)
        .send()
        .await
        .map_err(|e| sdk::error(&format!("S3 PutObject {}", wanted.key), e))?;
    let stored = sent
        .checksum_sha256()
        .map(hex_of_base64)
        .unwrap_or_default();
    if stored != wanted.sha256 {
        return Err(Error::user(format!(
            "S3 stored s3://{bucket}/{} with sha256 `{stored}`, not {}",
            wanted.key, wanted.sha256
        )));
    }
    Ok(())
}

async fn create_custom_plugin(
    clients: &Clients,
    env: &Env<'_>,
    wanted: &Wanted,
) -> Result<String, Error> {
    let bucket = &env.aws.plugin_bucket;
    let location = CustomPluginLocation::builder()
        .s3_location(
            S3Location::builder()
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .file_key(&wanted.key)
                .build()
                .expect("bucket and key are set"),
        )
        .build();
    let mut request = clients
        .kafkaconnect
        .create_custom_plugin()
        .name(&wanted.custom_plugin)
        .content_type(CustomPluginContentType::Zip)
        .location(location)
        .description(format!("{} (sha256:{})", wanted.plugin, wanted.sha256));
    for (key, value) in tags(env, &wanted.plugin) {
        request = request.tags(key, value);
    }
    let created = request.send().await.map_err(|e| {
        sdk::error(
            &format!("MSK Connect CreateCustomPlugin {}", wanted.custom_plugin),
            e,
        )
    })?;
    let arn = created.custom_plugin_arn().unwrap_or_default().to_string();
    until(
        &format!("custom plugin {}", wanted.custom_plugin),
        PLUGIN_DEADLINE,
        || {
            let arn = arn.clone();
            async move {
                let described = clients
                    .kafkaconnect
                    .describe_custom_plugin()
                    .custom_plugin_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| sdk::error("MSK Connect DescribeCustomPlugin", e))?;
                Ok(match described.custom_plugin_state() {
                    Some(CustomPluginState::Active) => Poll::Done(()),
                    Some(CustomPluginState::CreateFailed) => {
                        return Err(Error::user(format!(
                            "custom plugin {} failed: {}",
                            wanted.custom_plugin,
                            described
                                .state_description()
                                .and_then(|s| s.message())
                                .unwrap_or("no reason given")
                        )));
                    }
                    other => {
                        Poll::Waiting(other.map_or("unknown".into(), |s| s.as_str().to_string()))
                    }
                })
            }
        },
    )
    .await?;
    Ok(arn)
}

/// Deletes a custom plugin and waits until it is gone; one already gone is fine.
pub(super) async fn delete_custom_plugin(
    clients: &Clients,
    name: &str,
    arn: &str,
) -> Result<(), Error> {
    let deleted = clients
        .kafkaconnect
        .delete_custom_plugin()
        .custom_plugin_arn(arn)
        .send()
        .await
        .or_absent(&format!("MSK Connect DeleteCustomPlugin {name}"))?;
    if deleted.is_none() {
        return Ok(());
    }
    until_gone(
        &format!("custom plugin {name}"),
        PLUGIN_DEADLINE,
        || async move {
            Ok(clients
                .kafkaconnect
                .describe_custom_plugin()
                .custom_plugin_arn(arn)
                .send()
                .await
                .or_absent("MSK Connect DescribeCustomPlugin")?
                .map(|d| {
                    d.custom_plugin_state()
                        .map_or("unknown".into(), |s| s.as_str().to_string())
                }))
        },
    )
    .await
}

/// `destroy`: this environment's custom plugins, then its plugin objects; the bucket itself
/// (emptied, every version) only with `delete_data`. What is already gone is skipped.
pub(super) async fn destroy(
    clients: &Clients,
    env: &Env<'_>,
    delete_data: bool,
    printer: &Printer,
) -> Result<(), Error> {
    let bucket = &env.aws.plugin_bucket;
    for (name, (arn, _)) in custom_plugins(clients, env, &BTreeSet::new()).await? {
        delete_custom_plugin(clients, &name, &arn).await?;
        printer.status(&format!("  - custom plugin {name} deleted"));
    }
    let exists = clients.s3.head_bucket().bucket(bucket).send().await.is_ok();
    if !exists {
        return Ok(());
    }
    let versions = clients
        .s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(if delete_data { "" } else { "plugins/" })
        .send()
        .await
        .or_fail("S3 ListObjectVersions")?;
    let mut entries: Vec<(String, Option<String>)> = versions
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap_or_default().to_string(),
                v.version_id().map(str::to_string),
            )
        })
        .collect();
    entries.extend(versions.delete_markers().iter().map(|m| {
        (
            m.key().unwrap_or_default().to_string(),
            m.version_id().map(str::to_string),
        )
    }));
    if !delete_data {
        // Deleting a key once leaves a delete marker over all its versions.
        entries.sort();
        entries.dedup_by(|a, b| a.0 == b.0);
    }
    for (key, version) in &entries {
        if !delete_data {
            // Only this environment's plugin objects; a shared bucket keeps the others'.
            let head = clients
                .s3
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await;
            let ours = head.is_ok_and(|h| {
                h.metadata().and_then(|m| m.get("deploy-environment")) == Some(&env.name)
            });
            if !ours {
                continue;
            }
        }
        clients
            .s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(if delete_data { version.clone() } else { None })
            .send()
            .await
            .or_fail(&format!("S3 DeleteObject {key}"))?;
    }
    if delete_data {
        clients
            .s3
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .or_fail(&format!("S3 DeleteBucket {bucket}"))?;
        printer.status(&format!("  - bucket {bucket} emptied and deleted"));
    } else {
        printer.status(&format!(
            "kept bucket {bucket} (remove it with `destroy --delete-data`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new build of a plugin: the object and custom plugin of its digest are made, the plugin
    /// of the old digest goes (after the connectors moved); one whose creation failed is made
    /// again in place of the failed one.
    #[test]
    fn a_new_build_replaces_the_old_plugin_and_a_failed_one_is_made_again() {
        let env = crate::aws::fixture::env();
        let built = |name: &str, sha256: &str| Built {
            name: name.into(),
            sha256: sha256.into(),
            zip: format!("/cache/{name}.zip").into(),
            size: 1,
            rebuilt: false,
            kept_own: Vec::new(),
            provides: Default::default(),
        };
        let wanted = wanted(
            &env,
            &[
                built("debezium-postgres", &"a".repeat(64)),
                built("confluent-s3", &"b".repeat(64)),
            ],
        );
        let observed = Observed {
            bucket: true,
            objects: BTreeMap::from([
                (wanted[0].key.clone(), Some("a".repeat(64))),
                (wanted[1].key.clone(), Some("b".repeat(64))),
            ]),
            custom_plugins: BTreeMap::from([
                (
                    wanted[1].custom_plugin.clone(),
                    ("arn:failed".to_string(), "CREATE_FAILED".to_string()),
                ),
                (
                    format!("plan-debezium-postgres-{}", "c".repeat(12)),
                    ("arn:old".to_string(), "ACTIVE".to_string()),
                ),
            ]),
        };
        let steps: Vec<Step> = plan(&env, &wanted, &observed)
            .into_iter()
            .flat_map(|(_, steps)| steps)
            .collect();
        assert_eq!(
            steps,
            [
                Step::CreateCustomPlugin {
                    wanted: wanted[0].clone(),
                    replaces: None
                },
                Step::CreateCustomPlugin {
                    wanted: wanted[1].clone(),
                    replaces: Some("arn:failed".into())
                },
                Step::Remove {
                    name: format!("plan-debezium-postgres-{}", "c".repeat(12)),
                    arn: "arn:old".into()
                },
            ]
        );
    }
}
