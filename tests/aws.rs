//! `deploy aws` against the emulators on 127.0.0.1 (moto for S3, the in-repo MSK Connect
//! emulator), read back through the real SDK: plugin bucket, content-addressed plugin ZIPs and
//! custom plugins; a no-op re-apply with no write; a plugin change replacing the custom plugin;
//! destroy keeping the bucket unless --delete-data, twice.

mod support;

use std::process::Command;

use support::aws::AwsEmulator;
use support::http::Server;
use support::{Run, assert_contains};

struct Setup {
    emulator: AwsEmulator,
    server: Server,
    work: tempfile::TempDir,
    name: String,
}

impl Setup {
    fn new(name: &str) -> Self {
        let setup = Setup {
            emulator: AwsEmulator::start(),
            server: Server::start(),
            work: tempfile::tempdir().expect("temp dir"),
            name: name.into(),
        };
        support::demo_plugins(
            &setup.work.path().join("plugins"),
            &setup.server,
            b"core v1",
        );
        setup
    }

    fn deploy(&self, args: &[&str]) -> Run {
        self.deploy_with(&[], args)
    }

    fn deploy_with(&self, vars: &[(&str, &str)], args: &[&str]) -> Run {
        let given = |key: &str| vars.iter().any(|(k, _)| *k == key);
        let file = if given("DEPLOY_TEST_MSK_ARN") {
            "tests/environments/aws-cluster.yaml"
        } else if given("DEPLOY_TEST_AUTOSCALING") {
            "tests/environments/aws-autoscaling.yaml"
        } else {
            "tests/environments/aws.yaml"
        };
        let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
            .args(["-e", file])
            .args(args)
            .current_dir(support::root())
            .stdin(std::process::Stdio::null())
            .env("NO_COLOR", "1")
            .env("DEPLOY_TEST_NAME", &self.name)
            .env("DEPLOY_TEST_AWS_ENDPOINT", &self.emulator.endpoint)
            .env("DEPLOY_PLUGINS_DIR", self.work.path().join("plugins"))
            .env("DEPLOY_CACHE_DIR", self.work.path().join("cache"))
            .env("DEPLOY_BUILD_DIR", self.work.path().join("build"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .envs(vars.iter().copied())
            .output()
            .expect("deploy runs");
        let run = Run::from(output);
        run.assert_hides(&["first-Secret-value-1", "second-Secret-value-2"]);
        run
    }

    fn ok(&self, args: &[&str]) -> Run {
        self.ok_with(&[], args)
    }

    fn ok_with(&self, vars: &[(&str, &str)], args: &[&str]) -> Run {
        let run = self.deploy_with(vars, args);
        assert_eq!(
            run.code, 0,
            "deploy {args:?}:\n{}{}",
            run.stdout, run.stderr
        );
        run
    }

    fn zip_digest(&self) -> String {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(self.work.path().join("build/plugins/demo-source.json"))
                .expect("manifest"),
        )
        .expect("JSON");
        manifest["output"]["sha256"]
            .as_str()
            .expect("sha256")
            .to_string()
    }
}

/// No connector, custom plugin or worker configuration is left.
async fn assert_nothing_on_msk_connect(client: &aws_sdk_kafkaconnect::Client) {
    let connectors = client
        .list_connectors()
        .send()
        .await
        .expect("ListConnectors");
    assert!(connectors.connectors().is_empty(), "{connectors:?}");
    assert!(custom_plugins(client).await.is_empty());
    let workers = client
        .list_worker_configurations()
        .send()
        .await
        .expect("ListWorkerConfigurations");
    assert!(workers.worker_configurations().is_empty(), "{workers:?}");
}

async fn custom_plugins(client: &aws_sdk_kafkaconnect::Client) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = client
        .list_custom_plugins()
        .send()
        .await
        .expect("ListCustomPlugins")
        .custom_plugins()
        .iter()
        .map(|p| {
            (
                p.name().unwrap_or_default().to_string(),
                p.custom_plugin_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_from_nothing_then_no_op_then_a_plugin_change_then_destroy() {
    let setup = Setup::new("tdev");
    setup.emulator.set_plugin_delay(0.5);
    let (s3, kafkaconnect) = setup.emulator.clients().await;

    // Without a terminal and without --auto-approve, nothing happens.
    let refused = setup.deploy(&["aws", "apply"]);
    assert_eq!(refused.code, 1);
    assert_contains(
        &refused.stderr,
        "refusing to change anything without confirmation",
    );
    assert!(
        s3.head_bucket()
            .bucket("tdev-plugins")
            .send()
            .await
            .is_err()
    );

    let plan = setup.deploy(&["aws", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    let digest = setup.zip_digest();
    let key = format!("plugins/demo-source-{}.zip", &digest[..12]);
    let plugin = format!("tdev-demo-source-{}", &digest[..12]);
    assert_contains(&plan.stdout, "+ bucket  tdev-plugins");
    assert_contains(&plan.stdout, &format!("+ object  {key}"));
    assert_contains(&plan.stdout, &format!("+ plugin  {plugin}"));

    setup.ok(&["aws", "apply", "--auto-approve"]);
    // The bucket: versioned, encrypted, private, tagged.
    let versioning = s3
        .get_bucket_versioning()
        .bucket("tdev-plugins")
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let encryption = s3
        .get_bucket_encryption()
        .bucket("tdev-plugins")
        .send()
        .await
        .expect("encryption");
    assert!(encryption.server_side_encryption_configuration().is_some());
    let block = s3
        .get_public_access_block()
        .bucket("tdev-plugins")
        .send()
        .await
        .expect("public access block");
    assert_eq!(
        block
            .public_access_block_configuration()
            .and_then(|c| c.block_public_acls()),
        Some(true)
    );
    let tags = s3
        .get_bucket_tagging()
        .bucket("tdev-plugins")
        .send()
        .await
        .expect("tags");
    let tag = |k: &str| {
        tags.tag_set()
            .iter()
            .find(|t| t.key() == k)
            .map(|t| t.value().to_string())
    };
    assert_eq!(tag("deploy:environment").as_deref(), Some("tdev"));
    assert_eq!(tag("team").as_deref(), Some("data"));
    // The ZIP, byte for byte, under its content-addressed key.
    let object = s3
        .get_object()
        .bucket("tdev-plugins")
        .key(&key)
        .send()
        .await
        .expect("the plugin object");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    assert_eq!(support::sha256_hex(&bytes), digest);
    // The connectors' log group, with its retention.
    let logs = setup.emulator.logs().await;
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix("/deploy/test/connect")
        .send()
        .await
        .expect("log groups");
    assert_eq!(groups.log_groups().len(), 1);
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));
    // The custom plugin, active, pointing at it.
    assert_eq!(
        custom_plugins(&kafkaconnect).await,
        vec![(plugin.clone(), "ACTIVE".to_string())]
    );

    // Again: nothing to do, and no write call at all.
    let writes = setup.emulator.writes();
    let again = setup.ok(&["aws", "apply", "--auto-approve"]);
    assert_contains(&again.stderr, "is up to date");
    assert_eq!(setup.emulator.writes(), writes);
    assert_eq!(
        setup.deploy(&["aws", "plan", "--detailed-exitcode"]).code,
        0
    );

    // New plugin content: a new object and custom plugin; the old plugin goes after.
    support::demo_plugins(
        &setup.work.path().join("plugins"),
        &setup.server,
        b"core v2",
    );
    let plan = setup.ok(&["aws", "plan"]);
    let new_digest = setup.zip_digest();
    let new_plugin = format!("tdev-demo-source-{}", &new_digest[..12]);
    assert_contains(&plan.stdout, &format!("- plugin  {plugin}"));
    assert_contains(
        &plan.stdout,
        &format!("remove: content changed: replaced by {new_plugin}"),
    );
    setup.ok(&["aws", "apply", "--auto-approve"]);
    assert_eq!(
        custom_plugins(&kafkaconnect).await,
        vec![(new_plugin.clone(), "ACTIVE".to_string())]
    );

    // Destroy: custom plugins and plugin objects go, the bucket stays; twice is fine.
    setup.ok(&["aws", "destroy", "--auto-approve"]);
    assert!(custom_plugins(&kafkaconnect).await.is_empty());
    assert!(s3.head_bucket().bucket("tdev-plugins").send().await.is_ok());
    let listed = s3
        .list_objects_v2()
        .bucket("tdev-plugins")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(0));
    let kept = setup.ok(&["aws", "destroy", "--auto-approve"]);
    assert_contains(&kept.stderr, "kept log group /deploy/test/connect");
    let groups = logs.describe_log_groups().send().await.expect("log groups");
    assert_eq!(groups.log_groups().len(), 1, "the logs are data: kept");
    setup.ok(&["aws", "destroy", "--auto-approve", "--delete-data"]);
    assert!(
        s3.head_bucket()
            .bucket("tdev-plugins")
            .send()
            .await
            .is_err()
    );
    let groups = logs.describe_log_groups().send().await.expect("log groups");
    assert!(groups.log_groups().is_empty());
    setup.ok(&["aws", "destroy", "--auto-approve", "--delete-data"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_environments_plugins_are_never_touched() {
    let setup = Setup::new("tdev");
    setup.ok(&["aws", "apply", "--auto-approve"]);
    // A plugin named like ours but tagged for another environment is left alone.
    let (s3, kafkaconnect) = setup.emulator.clients().await;
    s3.put_object()
        .bucket("tdev-plugins")
        .key("plugins/foreign.zip")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"zip"))
        .send()
        .await
        .expect("put");
    kafkaconnect
        .create_custom_plugin()
        .name("tdev-demo-source-000000000000")
        .content_type(aws_sdk_kafkaconnect::types::CustomPluginContentType::Zip)
        .location(
            aws_sdk_kafkaconnect::types::CustomPluginLocation::builder()
                .s3_location(
                    aws_sdk_kafkaconnect::types::S3Location::builder()
                        .bucket_arn("arn:aws:s3:::tdev-plugins")
                        .file_key("plugins/foreign.zip")
                        .build()
                        .expect("location"),
                )
                .build(),
        )
        .tags("deploy:environment", "someone-else")
        .send()
        .await
        .expect("create");
    let plan = setup.ok(&["aws", "plan"]);
    assert!(
        !plan.stdout.contains("tdev-demo-source-000000000000"),
        "{}",
        plan.stdout
    );
    setup.ok(&["aws", "destroy", "--auto-approve"]);
    let left = custom_plugins(&kafkaconnect).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0, "tdev-demo-source-000000000000");
    let foreign = s3
        .head_object()
        .bucket("tdev-plugins")
        .key("plugins/foreign.zip")
        .send()
        .await;
    assert!(foreign.is_ok(), "another environment's object stays");
}

async fn connector(
    client: &aws_sdk_kafkaconnect::Client,
    name: &str,
) -> aws_sdk_kafkaconnect::operation::describe_connector::DescribeConnectorOutput {
    let listed = client
        .list_connectors()
        .send()
        .await
        .expect("ListConnectors");
    let arn = listed
        .connectors()
        .iter()
        .find(|c| c.connector_name() == Some(name))
        .and_then(|c| c.connector_arn())
        .unwrap_or_else(|| panic!("connector {name} exists"))
        .to_string();
    client
        .describe_connector()
        .connector_arn(arn)
        .send()
        .await
        .expect("DescribeConnector")
}

#[tokio::test(flavor = "multi_thread")]
async fn connectors_are_created_updated_in_place_and_replaced_on_plugin_change() {
    let setup = Setup::new("tconn");
    setup.emulator.set_connector_delay(0.3);
    let (_, kafkaconnect) = setup.emulator.clients().await;
    setup.ok(&["aws", "apply", "--auto-approve"]);

    let created = connector(&kafkaconnect, "tconn-source").await;
    assert_eq!(
        created.connector_state().map(|s| s.as_str()),
        Some("RUNNING")
    );
    let config = created.connector_configuration().expect("configuration");
    assert_eq!(config.get("topic").map(String::as_str), Some("one"));
    assert_eq!(created.kafka_connect_version(), Some("3.7.x"));
    assert_eq!(
        created.service_execution_role_arn(),
        Some("arn:aws:iam::123456789012:role/connect")
    );
    assert_eq!(
        created
            .kafka_cluster_client_authentication()
            .and_then(|a| a.authentication_type())
            .map(|t| t.as_str()),
        Some("IAM")
    );
    assert_eq!(
        created
            .kafka_cluster_encryption_in_transit()
            .and_then(|e| e.encryption_type())
            .map(|t| t.as_str()),
        Some("TLS")
    );
    // The worker configuration: the Avro converter as default converters, at the registry.
    let worker_arn = created
        .worker_configuration()
        .and_then(|w| w.worker_configuration_arn())
        .expect("a worker configuration")
        .to_string();
    let worker = kafkaconnect
        .describe_worker_configuration()
        .worker_configuration_arn(&worker_arn)
        .send()
        .await
        .expect("DescribeWorkerConfiguration");
    let content = worker
        .latest_revision()
        .and_then(|r| r.properties_file_content())
        .expect("content");
    let content = String::from_utf8(aws_smithy_types::base64::decode(content).expect("base64"))
        .expect("UTF-8");
    assert_eq!(
        content,
        "config.providers=secretsmanager\n\
         config.providers.secretsmanager.class=com.amazonaws.kafka.config.providers.SecretsManagerConfigProvider\n\
         config.providers.secretsmanager.param.region=us-east-1\n\
         key.converter=io.confluent.connect.avro.AvroConverter\n\
         key.converter.schema.registry.url=http://registry.internal/apis/ccompat/v7\n\
         offset.flush.interval.ms=10000\n\
         value.converter=io.confluent.connect.avro.AvroConverter\n\
         value.converter.schema.registry.url=http://registry.internal/apis/ccompat/v7\n"
    );
    // The secret: in Secrets Manager, referenced through the provider, never in the configuration.
    assert_eq!(
        config.get("database.password").map(String::as_str),
        Some("${secretsmanager:deploy/tconn/connectors:DEPLOY_TEST_DB_PASSWORD}")
    );
    let secretsmanager = setup.emulator.secretsmanager().await;
    let stored = secretsmanager
        .get_secret_value()
        .secret_id("deploy/tconn/connectors")
        .send()
        .await
        .expect("the secret");
    assert_eq!(
        stored.secret_string(),
        Some(r#"{"DEPLOY_TEST_DB_PASSWORD":"first-Secret-value-1"}"#)
    );
    let rotated = setup.ok_with(
        &[("DEPLOY_TEST_DB_PASSWORD", "second-Secret-value-2")],
        &["aws", "plan"],
    );
    assert_contains(
        &rotated.stdout,
        "update: values changed: DEPLOY_TEST_DB_PASSWORD",
    );
    assert_contains(&rotated.stdout, "= connector tconn-source");
    let digest = setup.zip_digest();
    let plugin_arn = created.plugins()[0]
        .custom_plugin()
        .and_then(|p| p.custom_plugin_arn())
        .expect("plugin");
    assert!(
        plugin_arn.contains(&format!("tconn-demo-source-{}", &digest[..12])),
        "{plugin_arn}"
    );

    // No change, no write.
    let writes = setup.emulator.writes();
    setup.ok(&["aws", "apply", "--auto-approve"]);
    assert_eq!(setup.emulator.writes(), writes);

    // A configuration key: updated in place, the operation waited on, the configuration read back.
    let plan = setup.ok_with(&[("DEPLOY_TEST_TOPIC", "two")], &["aws", "plan"]);
    assert_contains(&plan.stdout, "~ connector tconn-source");
    assert_contains(&plan.stdout, "update: configuration changed: topic");
    setup.ok_with(
        &[("DEPLOY_TEST_TOPIC", "two")],
        &["aws", "apply", "--auto-approve"],
    );
    let updated = connector(&kafkaconnect, "tconn-source").await;
    assert_eq!(
        updated.connector_arn(),
        created.connector_arn(),
        "updated in place"
    );
    assert_eq!(
        updated
            .connector_configuration()
            .and_then(|c| c.get("topic"))
            .map(String::as_str),
        Some("two")
    );

    // Capacity: a separate update call.
    let vars = [("DEPLOY_TEST_TOPIC", "two"), ("DEPLOY_TEST_WORKERS", "2")];
    let plan = setup.ok_with(&vars, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "capacity 1 MCU × 1 workers → 1 MCU × 2 workers",
    );
    setup.ok_with(&vars, &["aws", "apply", "--auto-approve"]);
    let scaled = connector(&kafkaconnect, "tconn-source").await;
    let provisioned = scaled
        .capacity()
        .and_then(|c| c.provisioned_capacity())
        .expect("provisioned");
    assert_eq!(provisioned.worker_count(), 2);

    // An update that fails is a failure, even though the connector shows RUNNING afterwards.
    setup.emulator.fail_next_update("tconn-source");
    let vars = [("DEPLOY_TEST_TOPIC", "three"), ("DEPLOY_TEST_WORKERS", "2")];
    let failed = setup.deploy_with(&vars, &["aws", "apply", "--auto-approve"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_contains(
        &failed.stderr,
        "the update of connector tconn-source ended UPDATE_FAILED",
    );
    let kept = connector(&kafkaconnect, "tconn-source").await;
    assert_eq!(
        kept.connector_configuration()
            .and_then(|c| c.get("topic"))
            .map(String::as_str),
        Some("two")
    );

    // Throttling is retried.
    setup.emulator.throttle(2);
    setup.ok_with(&vars, &["aws", "apply", "--auto-approve"]);

    // New plugin content: a new custom plugin, the connector replaced onto it, then the old
    // plugin deleted.
    support::demo_plugins(
        &setup.work.path().join("plugins"),
        &setup.server,
        b"core v2",
    );
    let plan = setup.ok_with(&vars, &["aws", "plan"]);
    assert_contains(&plan.stdout, "recreate: plugin content changed");
    setup.ok_with(&vars, &["aws", "apply", "--auto-approve"]);
    let new_digest = setup.zip_digest();
    let replaced = connector(&kafkaconnect, "tconn-source").await;
    let new_arn = replaced.plugins()[0]
        .custom_plugin()
        .and_then(|p| p.custom_plugin_arn())
        .expect("plugin");
    assert!(
        new_arn.contains(&format!("tconn-demo-source-{}", &new_digest[..12])),
        "{new_arn}"
    );
    assert_eq!(
        custom_plugins(&kafkaconnect).await,
        vec![(
            format!("tconn-demo-source-{}", &new_digest[..12]),
            "ACTIVE".to_string()
        )]
    );

    // A worker setting: a new worker configuration, the connector replaced onto it, the old one
    // deleted after.
    let vars = [
        ("DEPLOY_TEST_TOPIC", "three"),
        ("DEPLOY_TEST_WORKERS", "2"),
        ("DEPLOY_TEST_FLUSH_MS", "5000"),
    ];
    let plan = setup.ok_with(&vars, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "recreate: worker configuration changed: forces a new connector",
    );
    setup.ok_with(&vars, &["aws", "apply", "--auto-approve"]);
    let workers = kafkaconnect
        .list_worker_configurations()
        .send()
        .await
        .expect("list");
    assert_eq!(
        workers.worker_configurations().len(),
        1,
        "the old worker configuration is gone"
    );
    assert_eq!(
        setup
            .deploy_with(&vars, &["aws", "plan", "--detailed-exitcode"])
            .code,
        0
    );

    // Destroy: the connector first, then its plugin and worker configuration; twice is fine.
    setup.ok(&["aws", "destroy", "--auto-approve"]);
    assert_nothing_on_msk_connect(&kafkaconnect).await;
    setup.ok(&["aws", "destroy", "--auto-approve"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_apply_is_reported_converges_when_rerun_and_destroys_cleanly() {
    let setup = Setup::new("thalf");
    let (s3, kafkaconnect) = setup.emulator.clients().await;
    setup.emulator.fail_next_create("thalf-source");
    let failed = setup.deploy(&["aws", "apply", "--auto-approve"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_contains(
        &failed.stderr,
        "connector thalf-source FAILED: The connector could not reach the Kafka cluster.",
    );
    // Half done: plugin and worker configuration exist, the connector is FAILED.
    assert_eq!(custom_plugins(&kafkaconnect).await.len(), 1);
    let plan = setup.ok(&["aws", "plan"]);
    assert_contains(&plan.stdout, "recreate: it is FAILED");

    // Destroy after the failure removes what the half apply made, and keeps the bucket.
    setup.ok(&["aws", "destroy", "--auto-approve"]);
    assert_nothing_on_msk_connect(&kafkaconnect).await;
    assert!(
        s3.head_bucket()
            .bucket("thalf-plugins")
            .send()
            .await
            .is_ok()
    );

    // And applying again converges.
    setup.ok(&["aws", "apply", "--auto-approve"]);
    assert_eq!(
        setup.deploy(&["aws", "plan", "--detailed-exitcode"]).code,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_msk_cluster_is_found_by_arn() {
    let setup = Setup::new("tarn");
    let arn = "arn:aws:kafka:us-east-1:123456789012:cluster/analytics/0a1b2c3d-4e5f";
    let vars = [("DEPLOY_TEST_MSK_ARN", arn)];
    let unknown = setup.deploy_with(&vars, &["aws", "plan"]);
    assert_eq!(unknown.code, 1, "{}{}", unknown.stdout, unknown.stderr);
    assert_contains(
        &unknown.stderr,
        &format!("cannot read the bootstrap servers of MSK cluster {arn}"),
    );

    setup
        .emulator
        .add_cluster(arn, "b-1.analytics:9098,b-2.analytics:9098");
    setup.ok_with(&vars, &["aws", "apply", "--auto-approve"]);
    let (_, kafkaconnect) = setup.emulator.clients().await;
    let created = connector(&kafkaconnect, "tarn-source").await;
    let servers = created
        .kafka_cluster()
        .and_then(|k| k.apache_kafka_cluster())
        .and_then(|c| c.bootstrap_servers());
    assert_eq!(servers, Some("b-1.analytics:9098,b-2.analytics:9098"));
    assert_eq!(
        setup
            .deploy_with(&vars, &["aws", "plan", "--detailed-exitcode"])
            .code,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn autoscaled_capacity_is_created_and_updated() {
    let setup = Setup::new("tauto");
    let (_, kafkaconnect) = setup.emulator.clients().await;
    setup.ok_with(
        &[("DEPLOY_TEST_AUTOSCALING", "4")],
        &["aws", "apply", "--auto-approve"],
    );
    let created = connector(&kafkaconnect, "tauto-source").await;
    let auto = created
        .capacity()
        .and_then(|c| c.auto_scaling())
        .expect("autoscaling");
    assert_eq!((auto.min_worker_count(), auto.max_worker_count()), (1, 4));
    assert_eq!(
        auto.scale_out_policy()
            .map(|p| p.cpu_utilization_percentage()),
        Some(80)
    );
    assert_eq!(
        setup
            .deploy_with(
                &[("DEPLOY_TEST_AUTOSCALING", "4")],
                &["aws", "plan", "--detailed-exitcode"]
            )
            .code,
        0
    );
    let plan = setup.ok_with(&[("DEPLOY_TEST_AUTOSCALING", "6")], &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "capacity 1 MCU × 1-4 workers (out above 80% CPU, in below 20%) → 1 MCU × 1-6 workers",
    );
    setup.ok_with(
        &[("DEPLOY_TEST_AUTOSCALING", "6")],
        &["aws", "apply", "--auto-approve"],
    );
    let updated = connector(&kafkaconnect, "tauto-source").await;
    assert_eq!(
        updated
            .capacity()
            .and_then(|c| c.auto_scaling())
            .map(|a| a.max_worker_count()),
        Some(6)
    );
}
