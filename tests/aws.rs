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
        let file = if given("DEPLOY_TEST_SLOTS") {
            "tests/environments/aws-slots.yaml"
        } else if given("DEPLOY_TEST_MSK") {
            "tests/environments/aws-msk.yaml"
        } else if given("DEPLOY_TEST_VPC") {
            "tests/environments/aws-infra.yaml"
        } else if given("DEPLOY_TEST_MSK_ARN") {
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

    // status reads what is built and builds nothing: before any build it says so.
    let status = setup.deploy(&["aws", "status"]);
    assert_eq!(status.code, 1, "{}{}", status.stdout, status.stderr);
    assert_contains(
        &status.stderr,
        "plugin demo-source not built here from its current definition",
    );
    assert_contains(&status.stderr, "`deploy plugins build`");
    assert!(!setup.work.path().join("build/plugins").exists());

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
    // Once built, status reads the ZIPs as they are.
    let status = setup.ok(&["aws", "status"]);
    assert_contains(&status.stdout, &format!("= plugin  {plugin}"));
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
    let logs = setup.emulator.logs_in("us-east-1").await;
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

/// The emulator's default VPC and two of its subnets, and an MSK cluster it knows.
async fn infra_vars(setup: &Setup) -> Vec<(&'static str, String)> {
    infra_vars_in(setup, "us-east-1").await
}

/// The default VPC and two of its subnets in `region`, and an MSK cluster there.
async fn infra_vars_in(setup: &Setup, region: &'static str) -> Vec<(&'static str, String)> {
    let ec2 = aws_sdk_ec2::Client::new(&setup.emulator.shared_in(region).await);
    let (vpc, subnets) = support::vpc::private_subnets(&ec2).await;
    let arn = format!(
        "arn:aws:kafka:{region}:123456789012:cluster/{}/0a1b2c3d-4e5f",
        setup.name
    );
    setup
        .emulator
        .add_cluster(&arn, "b-1.msk:9098,b-2.msk:9098");
    vec![
        ("DEPLOY_TEST_VPC", vpc),
        ("DEPLOY_TEST_SUBNET_1", subnets[0].clone()),
        ("DEPLOY_TEST_SUBNET_2", subnets[1].clone()),
        ("DEPLOY_TEST_MSK_ARN", arn),
    ]
}

fn with<'a>(
    vars: &'a [(&'static str, String)],
    more: &[(&'static str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    vars.iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

/// Security group name → (port, source) rules.
async fn security_groups(
    ec2: &aws_sdk_ec2::Client,
    prefix: &str,
) -> std::collections::BTreeMap<String, (String, Vec<(i32, String)>)> {
    let found = ec2
        .describe_security_groups()
        .send()
        .await
        .expect("DescribeSecurityGroups");
    found
        .security_groups()
        .iter()
        .filter(|g| g.group_name().is_some_and(|n| n.starts_with(prefix)))
        .map(|g| {
            let mut rules = Vec::new();
            for p in g.ip_permissions() {
                let port = p.from_port().unwrap_or_default();
                rules.extend(
                    p.ip_ranges()
                        .iter()
                        .map(|r| (port, r.cidr_ip().unwrap_or_default().to_string())),
                );
                rules.extend(
                    p.user_id_group_pairs()
                        .iter()
                        .map(|r| (port, r.group_id().unwrap_or_default().to_string())),
                );
            }
            rules.sort();
            (
                g.group_name().unwrap_or_default().to_string(),
                (g.group_id().unwrap_or_default().to_string(), rules),
            )
        })
        .collect()
}

/// A container definition's environment variables.
fn variables(
    container: &aws_sdk_ecs::types::ContainerDefinition,
) -> std::collections::BTreeMap<&str, &str> {
    container
        .environment()
        .iter()
        .map(|kv| {
            (
                kv.name().unwrap_or_default(),
                kv.value().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_infrastructure_from_nothing_then_no_op_then_a_registry_change_then_destroy() {
    let setup = Setup::new("tinfra");
    let vars = infra_vars(&setup).await;
    let shared = setup.emulator.shared().await;
    let (ec2, rds, ecs, iam) = (
        aws_sdk_ec2::Client::new(&shared),
        aws_sdk_rds::Client::new(&shared),
        aws_sdk_ecs::Client::new(&shared),
        aws_sdk_iam::Client::new(&shared),
    );
    let (_, kafkaconnect) = setup.emulator.clients().await;

    // Subnets whose only way out is the internet gateway, which addresses without a public IP
    // cannot use: refused at plan, before anything exists.
    support::vpc::default_route(&ec2, &vars[0].1, support::vpc::Target::Internet).await;
    let before = setup.emulator.writes();
    let refused = setup.deploy_with(&with(&vars, &[]), &["aws", "plan"]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert_contains(
        &refused.stderr,
        "gives no way out: its default route goes to igw-",
    );
    assert_contains(
        &refused.stderr,
        "the registry's tasks (image apicurio/apicurio-registry:3.3.1) could not reach what it needs",
    );
    assert_contains(
        &refused.stderr,
        "route 0.0.0.0/0 in the subnets' route table to a NAT gateway",
    );
    assert_eq!(setup.emulator.writes(), before);
    let nats = ec2
        .describe_nat_gateways()
        .send()
        .await
        .expect("DescribeNatGateways");
    let nat = nats.nat_gateways()[0]
        .nat_gateway_id()
        .expect("an id")
        .to_string();
    support::vpc::default_route(&ec2, &vars[0].1, support::vpc::Target::Nat(&nat)).await;

    let plan = setup.ok_with(&with(&vars, &[]), &["aws", "plan"]);
    for line in [
        "+ sg      tinfra-database",
        "create: not found; ingress 5432 from tinfra-connectors, 5432 from tinfra-registry, 5432 from tinfra-schema-load, 5432 from 10.20.0.0/16",
        "+ params  tinfra-aurora-postgresql16",
        "rds.logical_replication=1",
        "+ role    tinfra-connect",
        "+ alb     tinfra-registry",
    ] {
        assert_contains(&plan.stdout, line);
    }
    // The cluster is created right after its parameter group was modified: its writer waits
    // for a reboot to run rds.logical_replication, which apply gives it before the schema load.
    let applied = setup.ok_with(&with(&vars, &[]), &["aws", "apply", "--auto-approve"]);
    assert_contains(
        &applied.stderr,
        "database instance tinfra-database-1 rebooting to apply the cluster parameters",
    );
    let reboot = applied.stderr.find("rebooting").expect("a reboot");
    let schema = applied
        .stderr
        .find("schema loaded")
        .expect("the schema load");
    assert!(reboot < schema, "{}", applied.stderr);

    // What can be checked from outside the VPC: connectors RUNNING on an ACTIVE worker
    // configuration, the registry's tasks healthy behind the load balancer.
    let verify = setup.ok_with(&with(&vars, &[]), &["aws", "verify", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_str(&verify.stdout).expect("a report");
    assert_eq!(report["ok"], true, "{report}");
    let details: Vec<String> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            format!(
                "{}: {}",
                s["step"].as_str().unwrap_or_default(),
                s["detail"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("registry: 1 task(s) healthy")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("RUNNING, worker configuration")),
        "{details:?}"
    );
    setup
        .emulator
        .set_target_health("unhealthy", "Target.FailedHealthChecks");
    let verify = setup.deploy_with(&with(&vars, &[]), &["aws", "verify"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert_contains(&verify.stdout, "✗ registry");
    assert_contains(
        &verify.stdout,
        "unhealthy Target.FailedHealthChecks Health checks failed",
    );
    setup.emulator.set_target_health("healthy", "");

    // Apicurio 3.2+ answers its health checks on the management port, 9000: the target group
    // checks there, and the task maps it. A stack whose group checks the traffic port (as made
    // before) fails its checks; plan says so and apply moves the check.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&shared);
    let group = elb
        .describe_target_groups()
        .names("tinfra-registry")
        .send()
        .await
        .expect("the target group");
    let group = &group.target_groups()[0];
    assert_eq!(
        (group.health_check_port(), group.health_check_path()),
        (Some("9000"), Some("/health/ready"))
    );
    elb.modify_target_group()
        .target_group_arn(group.target_group_arn().unwrap_or_default())
        .health_check_port("traffic-port")
        .send()
        .await
        .expect("the check moved back");
    let verify = setup.deploy_with(&with(&vars, &[]), &["aws", "verify"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert_contains(&verify.stdout, "Target.Timeout");
    let plan = setup.ok_with(&with(&vars, &[]), &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "health check traffic-port/health/ready → 9000/health/ready",
    );
    setup.ok_with(&with(&vars, &[]), &["aws", "apply", "--auto-approve"]);
    setup.ok_with(&with(&vars, &[]), &["aws", "verify"]);

    // Security groups: least privilege, sources by group.
    let groups = security_groups(&ec2, "tinfra-").await;
    let id = |name: &str| groups[name].0.clone();
    let mut database = vec![
        (5432, "10.20.0.0/16".to_string()),
        (5432, id("tinfra-connectors")),
        (5432, id("tinfra-registry")),
        (5432, id("tinfra-schema-load")),
    ];
    database.sort();
    assert_eq!(groups["tinfra-database"].1, database);
    assert_eq!(
        groups["tinfra-registry"].1,
        vec![
            (8080, id("tinfra-registry-lb")),
            (9000, id("tinfra-registry-lb"))
        ]
    );
    assert!(groups["tinfra-connectors"].1.is_empty());

    // Aurora: logical replication in the cluster parameter group, encrypted, password by RDS.
    let parameters = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name("tinfra-aurora-postgresql16")
        .source("user")
        .send()
        .await
        .expect("DescribeDBClusterParameters");
    let logical = parameters
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some("rds.logical_replication"))
        .and_then(|p| p.parameter_value());
    assert_eq!(logical, Some("1"));
    let clusters = rds
        .describe_db_clusters()
        .db_cluster_identifier("tinfra-database")
        .send()
        .await
        .expect("DescribeDBClusters");
    let cluster = &clusters.db_clusters()[0];
    assert_eq!(cluster.storage_encrypted(), Some(true));
    let endpoint = cluster.endpoint().expect("an endpoint").to_string();
    let secret = cluster
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .expect("RDS keeps the master password")
        .to_string();

    // The registry's task: storage variables and the credentials by reference only.
    let task = ecs
        .describe_task_definition()
        .task_definition("tinfra-registry")
        .send()
        .await
        .expect("DescribeTaskDefinition");
    let definition = task.task_definition().expect("a task definition");
    assert_eq!(definition.cpu(), Some("512"));
    let container = &definition.container_definitions()[0];
    let ports: Vec<i32> = container
        .port_mappings()
        .iter()
        .filter_map(|p| p.container_port())
        .collect();
    assert_eq!(ports, [8080, 9000], "the API and the management interface");
    let environment = variables(container);
    assert_eq!(environment["APICURIO_STORAGE_KIND"], "sql");
    assert_eq!(
        environment["APICURIO_DATASOURCE_URL"],
        format!("jdbc:postgresql://{endpoint}:5432/main?currentSchema=registry")
    );
    assert!(!environment.keys().any(|k| k.contains("PASSWORD")));
    let secrets: Vec<(&str, &str)> = container
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    assert!(secrets.contains(&(
        "APICURIO_DATASOURCE_PASSWORD",
        format!("{secret}:password::").as_str()
    )));

    // The schema load ran once from an ECS task with the files, the credentials by reference.
    let load = ecs
        .describe_task_definition()
        .task_definition("tinfra-schema-load")
        .send()
        .await
        .expect("DescribeTaskDefinition");
    let container = &load
        .task_definition()
        .expect("a definition")
        .container_definitions()[0];
    let environment = variables(container);
    assert_eq!(environment["PGHOST"], endpoint);
    assert_contains(
        environment["DEPLOY_SQL"],
        "CREATE SCHEMA IF NOT EXISTS registry;",
    );
    assert_contains(
        environment["DEPLOY_SQL"],
        "CREATE PUBLICATION cdc_publication",
    );
    assert!(
        container
            .secrets()
            .iter()
            .any(|s| s.name() == "PGPASSWORD" && s.value_from() == format!("{secret}:password::"))
    );
    assert!(
        cluster
            .tag_list()
            .iter()
            .any(|t| t.key() == Some("deploy:schema"))
    );

    // The connectors' role: trusted by MSK Connect of this account, scoped to what they use.
    let role = iam
        .get_role()
        .role_name("tinfra-connect")
        .send()
        .await
        .expect("GetRole");
    let trust = deploy::aws::iam::decode(
        role.role()
            .and_then(|r| r.assume_role_policy_document())
            .expect("a trust policy"),
    );
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );
    let policy = iam
        .get_role_policy()
        .role_name("tinfra-connect")
        .policy_name("deploy")
        .send()
        .await
        .expect("GetRolePolicy");
    let policy = deploy::aws::iam::decode(policy.policy_document()).to_string();
    assert_contains(
        &policy,
        "arn:aws:kafka:us-east-1:123456789012:cluster/tinfra/0a1b2c3d-4e5f",
    );
    assert_contains(
        &policy,
        "arn:aws:kafka:us-east-1:123456789012:topic/tinfra/0a1b2c3d-4e5f/*",
    );
    assert_contains(&policy, &secret);
    assert!(!policy.contains("\"*\""), "{policy}");

    // The connector reads the database and the registry that were created.
    let created = connector(&kafkaconnect, "tinfra-source").await;
    let config = created.connector_configuration().expect("a configuration");
    assert_eq!(config["database.hostname"], endpoint);
    assert!(config["database.password"].starts_with("${secretsmanager:rds!cluster-"));
    let lb = aws_sdk_elasticloadbalancingv2::Client::new(&shared)
        .describe_load_balancers()
        .names("tinfra-registry")
        .send()
        .await
        .expect("DescribeLoadBalancers");
    let dns = lb.load_balancers()[0].dns_name().expect("a DNS name");
    assert_eq!(
        config["value.converter.schema.registry.url"],
        format!("http://{dns}/apis/ccompat/v7")
    );
    assert_eq!(
        created.service_execution_role_arn(),
        role.role().map(|r| r.arn())
    );

    // A parameter changed under the cluster (by hand, or by an earlier apply cut short): plan
    // and status say the writer waits for a reboot; apply reboots it.
    rds.modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("tinfra-aurora-postgresql16")
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("rds.logical_replication")
                .parameter_value("1")
                .apply_method(aws_sdk_rds::types::ApplyMethod::PendingReboot)
                .build(),
        )
        .send()
        .await
        .expect("ModifyDBClusterParameterGroup");
    let status = setup.ok_with(&with(&vars, &[]), &["aws", "status"]);
    assert_contains(
        &status.stdout,
        "reboot: cluster parameters pending-reboot (logical replication is off until then)",
    );
    let applied = setup.ok_with(&with(&vars, &[]), &["aws", "apply", "--auto-approve"]);
    assert_contains(&applied.stderr, "rebooting to apply the cluster parameters");
    let status = setup.ok_with(&with(&vars, &[]), &["aws", "status"]);
    assert_contains(&status.stdout, "parameters in-sync");

    // A second apply changes nothing and writes nothing.
    let writes = setup.emulator.writes();
    let again = setup.ok_with(&with(&vars, &[]), &["aws", "apply", "--auto-approve"]);
    assert_contains(&again.stderr, "is up to date");
    assert_eq!(setup.emulator.writes(), writes);

    // RDS rotates the master password (every 7 days by default). The registry's tasks and the
    // source read it once, at start: plan shows both moving to the new version, apply rolls a
    // new task definition out and updates the connector in place, which restarts it.
    let secretsmanager = setup.emulator.secretsmanager().await;
    secretsmanager
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(r#"{"username":"master","password":"rotated"}"#)
        .send()
        .await
        .expect("PutSecretValue");
    let plan = setup.ok_with(&with(&vars, &[]), &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "update: database password rotated: restarts with the new one",
    );
    assert_contains(&plan.stdout, "update: database password rotated\n");
    let before = connector(&kafkaconnect, "tinfra-source").await;
    setup.ok_with(&with(&vars, &[]), &["aws", "apply", "--auto-approve"]);
    let after = connector(&kafkaconnect, "tinfra-source").await;
    assert_ne!(before.current_version(), after.current_version());
    assert_eq!(
        after.connector_arn(),
        before.connector_arn(),
        "updated in place"
    );
    let current = secretsmanager
        .describe_secret()
        .secret_id(&secret)
        .send()
        .await
        .expect("DescribeSecret");
    let version = current
        .version_ids_to_stages()
        .into_iter()
        .flatten()
        .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
        .map(|(id, _)| id.clone())
        .expect("a current version");
    assert_eq!(
        after.connector_configuration().expect("a configuration")["deploy.database.secret.version"],
        version
    );
    let service = ecs
        .describe_services()
        .cluster("tinfra")
        .services("registry")
        .send()
        .await
        .expect("DescribeServices");
    let running = ecs
        .describe_task_definition()
        .task_definition(
            service.services()[0]
                .task_definition()
                .expect("a definition"),
        )
        .send()
        .await
        .expect("DescribeTaskDefinition");
    let environment = variables(
        &running
            .task_definition()
            .expect("a definition")
            .container_definitions()[0],
    );
    assert_eq!(environment["DEPLOY_DATABASE_SECRET_VERSION"], version);
    assert_eq!(
        setup
            .deploy_with(&with(&vars, &[]), &["aws", "plan", "--detailed-exitcode"])
            .code,
        0
    );
    let writes = setup.emulator.writes();

    // More registry CPU: a new task definition and a service update, nothing else.
    let bigger = with(
        &vars,
        &[
            ("DEPLOY_TEST_REGISTRY_CPU", "1024"),
            ("DEPLOY_TEST_REGISTRY_MEMORY", "2048"),
        ],
    );
    let plan = setup.ok_with(&bigger, &["aws", "plan"]);
    assert_contains(&plan.stdout, "update: cpu 512 → 1024; memory 1024 → 2048");
    assert_contains(&plan.stdout, "2 to update");
    // Cut short between registering the definition and deploying it: the next plan shows the
    // service still to move, and the next apply moves it.
    setup.emulator.fail_next(&["UpdateService"]);
    let cut = setup.deploy_with(&bigger, &["aws", "apply", "--auto-approve"]);
    assert_eq!(cut.code, 1, "{}{}", cut.stdout, cut.stderr);
    let plan = setup.ok_with(&bigger, &["aws", "plan"]);
    assert_contains(&plan.stdout, "1 to update");
    assert_contains(&plan.stdout, "not the latest tinfra-registry:");
    setup.ok_with(&bigger, &["aws", "apply", "--auto-approve"]);
    let after = setup.emulator.writes();
    let delta: Vec<(String, i64)> = after
        .as_object()
        .expect("counts")
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_i64().unwrap_or(0) - writes[k].as_i64().unwrap_or(0),
            )
        })
        .filter(|(_, d)| *d != 0)
        .collect();
    assert_eq!(delta, vec![("ecs".to_string(), 2)]);
    assert_eq!(
        setup
            .deploy_with(&bigger, &["aws", "plan", "--detailed-exitcode"])
            .code,
        0
    );

    // A revision deregistered by hand is never reused: ECS describes the family as its latest
    // ACTIVE revision, and a service cannot move to an INACTIVE one.
    let current = ecs
        .describe_task_definition()
        .task_definition("tinfra-registry")
        .send()
        .await
        .expect("DescribeTaskDefinition");
    let current = current
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .expect("an ARN")
        .to_string();
    ecs.deregister_task_definition()
        .task_definition(&current)
        .send()
        .await
        .expect("DeregisterTaskDefinition");
    let plan = setup.ok_with(&bigger, &["aws", "plan"]);
    assert_contains(&plan.stdout, "update: cpu 512 → 1024; memory 1024 → 2048");
    setup.ok_with(&bigger, &["aws", "apply", "--auto-approve"]);
    let service = ecs
        .describe_services()
        .cluster("tinfra")
        .services("registry")
        .send()
        .await
        .expect("DescribeServices");
    let running = service.services()[0]
        .task_definition()
        .expect("a definition");
    assert_ne!(running, current);
    let running = ecs
        .describe_task_definition()
        .task_definition(running)
        .send()
        .await
        .expect("DescribeTaskDefinition");
    assert_eq!(
        running.task_definition().and_then(|d| d.status()),
        Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active)
    );

    // Destroy keeps a final snapshot of the database, and removes the rest.
    let destroyed = setup.ok_with(&bigger, &["aws", "destroy", "--auto-approve"]);
    assert_contains(&destroyed.stderr, "final snapshot tinfra-database-final-");
    let snapshots = rds
        .describe_db_cluster_snapshots()
        .send()
        .await
        .expect("DescribeDBClusterSnapshots");
    assert!(snapshots.db_cluster_snapshots().iter().any(|s| {
        s.db_cluster_snapshot_identifier()
            .is_some_and(|i| i.starts_with("tinfra-database-final-"))
    }));
    assert!(
        rds.describe_db_clusters()
            .db_cluster_identifier("tinfra-database")
            .send()
            .await
            .is_err()
    );
    assert!(security_groups(&ec2, "tinfra-").await.is_empty());
    assert!(
        iam.get_role()
            .role_name("tinfra-connect")
            .send()
            .await
            .is_err()
    );
    let services = ecs
        .describe_services()
        .cluster("tinfra")
        .services("registry")
        .send()
        .await;
    assert!(services.map_or(true, |s| {
        s.services().iter().all(|s| s.status() != Some("ACTIVE"))
    }));
    assert_nothing_on_msk_connect(&kafkaconnect).await;
    // Twice is fine.
    setup.ok_with(&bigger, &["aws", "destroy", "--auto-approve"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_database_outlives_destroy_and_a_half_apply_destroys_cleanly() {
    let setup = Setup::new("tkeep");
    let vars = infra_vars(&setup).await;
    let shared = setup.emulator.shared().await;
    let rds = aws_sdk_rds::Client::new(&shared);
    let ec2 = aws_sdk_ec2::Client::new(&shared);
    let protected = with(&vars, &[("DEPLOY_TEST_PROTECT", "true")]);

    // A failing schema load stops apply before the registry and the connectors, and says where
    // psql's output is.
    setup.emulator.set_task_exit_code(3);
    let failed = setup.deploy_with(&protected, &["aws", "apply", "--auto-approve"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_contains(&failed.stderr, "the schema load failed (exit code 3");
    assert_contains(&failed.stderr, "/deploy/tkeep/schema-load");
    let plan = setup.ok_with(&protected, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "runs 00-registry.sql, 01-demo.sql once the database exists",
    );
    setup.emulator.set_task_exit_code(0);

    // The connector fails after the infrastructure is up: apply stops there.
    setup.emulator.fail_next_create("tkeep-source");
    let failed = setup.deploy_with(&protected, &["aws", "apply", "--auto-approve"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);

    let destroyed = setup.ok_with(
        &protected,
        &["aws", "destroy", "--auto-approve", "--delete-data"],
    );
    assert_contains(
        &destroyed.stderr,
        "kept database tkeep-database (deletion protection is on",
    );
    assert_contains(&destroyed.stderr, "kept alarm tkeep-replication-slot-wal");
    let clusters = rds
        .describe_db_clusters()
        .db_cluster_identifier("tkeep-database")
        .send()
        .await
        .expect("the database is kept");
    assert_eq!(clusters.db_clusters()[0].deletion_protection(), Some(true));
    let groups = security_groups(&ec2, "tkeep-").await;
    assert_eq!(groups.keys().collect::<Vec<_>>(), vec!["tkeep-database"]);
    // Only outside access is left on the kept group.
    assert_eq!(
        groups["tkeep-database"].1,
        vec![(5432, "10.20.0.0/16".to_string())]
    );

    // Turning protection off lets destroy remove it, without a snapshot under --delete-data.
    setup.ok_with(&with(&vars, &[]), &["aws", "apply", "--auto-approve"]);
    setup.ok_with(
        &with(&vars, &[]),
        &["aws", "destroy", "--auto-approve", "--delete-data"],
    );
    assert!(
        rds.describe_db_clusters()
            .db_cluster_identifier("tkeep-database")
            .send()
            .await
            .is_err()
    );
    let snapshots = rds
        .describe_db_cluster_snapshots()
        .send()
        .await
        .expect("DescribeDBClusterSnapshots");
    let finals: Vec<_> = snapshots
        .db_cluster_snapshots()
        .iter()
        .filter_map(|s| s.db_cluster_snapshot_identifier())
        .filter(|id| id.contains("-final-"))
        .collect();
    assert!(finals.is_empty(), "{finals:?}");
    assert!(security_groups(&ec2, "tkeep-").await.is_empty());
    // The alarm went with the database it watched.
    let alarms = setup
        .emulator
        .cloudwatch_in("us-east-1")
        .await
        .describe_alarms()
        .alarm_name_prefix("tkeep-")
        .send()
        .await
        .expect("DescribeAlarms");
    assert!(alarms.metric_alarms().is_empty(), "{alarms:?}");
}

/// The MSK clusters whose names start with `name`.
async fn msk_clusters(
    kafka: &aws_sdk_kafka::Client,
    name: &str,
) -> aws_sdk_kafka::operation::list_clusters_v2::ListClustersV2Output {
    kafka
        .list_clusters_v2()
        .cluster_name_filter(name)
        .send()
        .await
        .expect("ListClustersV2")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_msk_cluster_is_created_configured_and_kept_unless_data_goes() {
    let setup = Setup::new("tmsk");
    let vars = infra_vars(&setup).await;
    let shared = setup.emulator.shared().await;
    let kafka = aws_sdk_kafka::Client::new(&shared);
    let ec2 = aws_sdk_ec2::Client::new(&shared);
    let (_, kafkaconnect) = setup.emulator.clients().await;
    let week = with(&vars, &[("DEPLOY_TEST_MSK", "168")]);

    let plan = setup.ok_with(&week, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "create: not found; 2 × kafka.m7g.large, Kafka 3.8.x, 50 GiB each, IAM + TLS",
    );
    assert_contains(&plan.stdout, "log.retention.hours=168");
    setup.ok_with(&week, &["aws", "apply", "--auto-approve"]);

    let clusters = msk_clusters(&kafka, "tmsk").await;
    let cluster = &clusters.cluster_info_list()[0];
    let arn = cluster.cluster_arn().expect("an ARN").to_string();
    assert_eq!(cluster.state().map(|s| s.as_str()), Some("ACTIVE"));
    let provisioned = cluster.provisioned().expect("provisioned");
    assert_eq!(provisioned.number_of_broker_nodes(), Some(2));
    let auth = provisioned
        .client_authentication()
        .and_then(|a| a.sasl())
        .and_then(|s| s.iam());
    assert_eq!(auth.and_then(|i| i.enabled()), Some(true));
    let logs = provisioned
        .logging_info()
        .and_then(|l| l.broker_logs())
        .and_then(|b| b.cloud_watch_logs())
        .and_then(|c| c.log_group());
    assert_eq!(logs, Some("/deploy/tmsk/msk"));
    // The brokers' group lets in the connectors and developer access on the IAM port only.
    let groups = security_groups(&ec2, "tmsk-").await;
    let mut msk = vec![
        (9098, "10.20.0.0/16".to_string()),
        (9098, groups["tmsk-connectors"].0.clone()),
    ];
    msk.sort();
    assert_eq!(groups["tmsk-msk"].1, msk);
    // The connector runs against the created cluster; its role is scoped to it.
    let created = connector(&kafkaconnect, "tmsk-source").await;
    let servers = created
        .kafka_cluster()
        .and_then(|k| k.apache_kafka_cluster())
        .and_then(|c| c.bootstrap_servers())
        .expect("bootstrap servers");
    assert!(servers.starts_with("b-1.tmsk."), "{servers}");
    let policy = aws_sdk_iam::Client::new(&shared)
        .get_role_policy()
        .role_name("tmsk-connect")
        .policy_name("deploy")
        .send()
        .await
        .expect("GetRolePolicy");
    assert_contains(
        &deploy::aws::iam::decode(policy.policy_document()).to_string(),
        &arn,
    );
    assert_eq!(
        setup
            .deploy_with(&week, &["aws", "plan", "--detailed-exitcode"])
            .code,
        0
    );

    // New broker properties: a configuration revision, and the cluster moved to it.
    let day = with(&vars, &[("DEPLOY_TEST_MSK", "24")]);
    let plan = setup.ok_with(&day, &["aws", "plan"]);
    assert_contains(&plan.stdout, "broker properties changed: revision 2");
    // Cut short between the revision and moving the cluster to it: the next plan still shows
    // the cluster's part of the work, and the next apply finishes it.
    setup.emulator.fail_next(&["UpdateClusterConfiguration"]);
    let cut = setup.deploy_with(&day, &["aws", "apply", "--auto-approve"]);
    assert_eq!(cut.code, 1, "{}{}", cut.stdout, cut.stderr);
    let plan = setup.ok_with(&day, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "update: runs revision 1, not the configuration's latest, revision 2",
    );
    assert!(
        !plan.stdout.contains("broker properties changed"),
        "{}",
        plan.stdout
    );
    setup.ok_with(&day, &["aws", "apply", "--auto-approve"]);
    let clusters = msk_clusters(&kafka, "tmsk").await;
    let software = clusters.cluster_info_list()[0]
        .provisioned()
        .and_then(|p| p.current_broker_software_info())
        .expect("software info");
    assert_eq!(software.configuration_revision(), Some(2));
    assert_eq!(
        setup
            .deploy_with(&day, &["aws", "plan", "--detailed-exitcode"])
            .code,
        0
    );

    // Topics are data: destroy keeps the cluster and its group unless --delete-data.
    let kept = setup.ok_with(&day, &["aws", "destroy", "--auto-approve"]);
    assert_contains(&kept.stderr, &format!("kept MSK cluster {arn}"));
    assert_eq!(
        security_groups(&ec2, "tmsk-")
            .await
            .keys()
            .collect::<Vec<_>>(),
        vec!["tmsk-msk"]
    );
    // A file that no longer asks for the cluster still destroys it: found by name and tag.
    setup.ok(&["aws", "destroy", "--auto-approve", "--delete-data"]);
    let clusters = kafka
        .list_clusters_v2()
        .send()
        .await
        .expect("ListClustersV2");
    assert!(clusters.cluster_info_list().is_empty());
    assert!(security_groups(&ec2, "tmsk-").await.is_empty());
    let configurations = kafka
        .list_configurations()
        .send()
        .await
        .expect("ListConfigurations");
    assert!(configurations.configurations().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn environments_dev_builds_the_whole_architecture_then_changes_nothing() {
    let setup = Setup::new("dev");
    // dev.yaml's own region (ap-southeast-2): AWS_REGION is not set.
    let region = "ap-southeast-2";
    let vars = infra_vars_in(&setup, region).await;
    // Stand-ins for the real connector plugins under their names (the real ones are fetched from
    // Maven Central and Confluent Hub).
    let plugins = setup.work.path().join("plugins");
    for name in ["debezium-postgres", "confluent-s3"] {
        let jar = format!("{name} stand-in").into_bytes();
        let url = setup.server.put(&format!("/{name}.jar"), jar.clone());
        std::fs::write(
            plugins.join(format!("{name}.yaml")),
            format!(
                "version: 1\nname: {name}\nrelease: '1'\nkind: connector\nartifacts:\n  - url: {url}\n    sha256: {}\nbundle: [converter]\n",
                support::sha256_hex(&jar)
            ),
        )
        .expect("plugin file");
    }
    let dev = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
            .args(["-e", "dev"])
            .args(args)
            .current_dir(support::root())
            .stdin(std::process::Stdio::null())
            .env("NO_COLOR", "1")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env("DEPLOY_AWS_ENDPOINT_URL", &setup.emulator.endpoint)
            .env("VPC_ID", &vars[0].1)
            .env("PRIVATE_SUBNET_1", &vars[1].1)
            .env("PRIVATE_SUBNET_2", &vars[2].1)
            .env("S3_SINK_BUCKET", "dev-orders")
            .env("DEPLOY_PLUGINS_DIR", &plugins)
            .env("DEPLOY_CACHE_DIR", setup.work.path().join("cache"))
            .env("DEPLOY_BUILD_DIR", setup.work.path().join("build"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("PLUGIN_BUCKET")
            .output()
            .expect("deploy runs");
        Run::from(output)
    };
    let applied = dev(&["aws", "apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    let (_, kafkaconnect) = setup.emulator.clients_in(region).await;
    let source = connector(&kafkaconnect, "dev-orders-source").await;
    let config = source.connector_configuration().expect("a configuration");
    assert!(config["database.hostname"].starts_with("dev-database.cluster-"));
    assert!(config["value.converter.schema.registry.url"].ends_with("/apis/ccompat/v7"));
    // Every connector that reads a secret through the config provider is kept from MSK
    // Connect's frequent restarts (config.action.reload); the sink writes to the environment's
    // region unless told otherwise.
    assert_eq!(config["config.action.reload"], "none");
    let sink = connector(&kafkaconnect, "dev-orders-sink").await;
    let sink_config = sink.connector_configuration().expect("a configuration");
    assert_eq!(sink_config["s3.region"], region);
    assert!(!sink_config.contains_key("config.action.reload"));
    assert!(
        source
            .connector_arn()
            .is_some_and(|arn| arn.starts_with(&format!("arn:aws:kafkaconnect:{region}:"))),
        "{source:?}"
    );
    // The worker configuration carries both converters, which MSK Connect requires.
    let worker_arn = source
        .worker_configuration()
        .and_then(|w| w.worker_configuration_arn())
        .expect("a worker configuration");
    let worker = kafkaconnect
        .describe_worker_configuration()
        .worker_configuration_arn(worker_arn)
        .send()
        .await
        .expect("DescribeWorkerConfiguration");
    let content = worker
        .latest_revision()
        .and_then(|r| r.properties_file_content())
        .expect("content");
    let content = String::from_utf8(aws_smithy_types::base64::decode(content).expect("base64"))
        .expect("UTF-8");
    assert_contains(
        &content,
        "key.converter=org.apache.kafka.connect.storage.StringConverter\n",
    );
    assert_contains(
        &content,
        "value.converter=org.apache.kafka.connect.storage.StringConverter\n",
    );
    assert_contains(
        &content,
        "config.providers.secretsmanager.param.region=ap-southeast-2\n",
    );
    let policy = aws_sdk_iam::Client::new(&setup.emulator.shared_in(region).await)
        .get_role_policy()
        .role_name("dev-connect")
        .policy_name("deploy")
        .send()
        .await
        .expect("GetRolePolicy");
    assert_contains(
        &deploy::aws::iam::decode(policy.policy_document()).to_string(),
        "arn:aws:s3:::dev-orders/*",
    );

    let writes = setup.emulator.writes();
    let plan = dev(&["aws", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert_eq!(setup.emulator.writes(), writes);

    // verify reads the workers' logs: an ERROR there fails it, with the line. It reads the
    // source's slot with a database task; this test runs no database, so the task prints what
    // psql prints for a healthy slot (the real read: the replication slot test).
    setup
        .emulator
        .set_task_output(&["deploy-slot|orders|t|4711|reserved|1048576|0"]);
    let verify = dev(&["aws", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert_contains(
        &verify.stdout,
        "active, retains 1.0 MiB of WAL (reserved), 0 B behind",
    );
    assert_contains(&verify.stdout, "no ERROR in /deploy/dev/connect");
    // The database's replication slots have their alarm: the writer's transaction logs over
    // max-retained-wal (1 GiB by default) for three 5-minute periods.
    let cloudwatch = setup.emulator.cloudwatch_in(region).await;
    let alarms = cloudwatch
        .describe_alarms()
        .alarm_names("dev-replication-slot-wal")
        .send()
        .await
        .expect("DescribeAlarms");
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.namespace(), Some("AWS/RDS"));
    assert_eq!(alarm.metric_name(), Some("TransactionLogsDiskUsage"));
    assert_eq!(alarm.threshold(), Some(1_073_741_824.0));
    assert_eq!(
        (alarm.period(), alarm.evaluation_periods()),
        (Some(300), Some(3))
    );
    let dimensions: Vec<(&str, &str)> = alarm
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap_or_default(), d.value().unwrap_or_default()))
        .collect();
    assert_eq!(
        dimensions,
        [("DBClusterIdentifier", "dev-database"), ("Role", "WRITER")]
    );
    assert!(alarm.alarm_configuration_updated_timestamp().is_some());
    // A new alarm has no data until CloudWatch evaluates it.
    assert_eq!(
        alarm.state_value(),
        Some(&aws_sdk_cloudwatch::types::StateValue::InsufficientData)
    );
    assert_contains(&verify.stdout, "✓ replication slots' alarm");
    let logs = setup.emulator.logs_in(region).await;
    logs.create_log_stream()
        .log_group_name("/deploy/dev/connect")
        .log_stream_name("worker-1")
        .send()
        .await
        .expect("CreateLogStream");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock")
        .as_millis() as i64;
    logs.put_log_events()
        .log_group_name("/deploy/dev/connect")
        .log_stream_name("worker-1")
        .log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now)
                .message("[Worker-0a1] ERROR WorkerSourceTask{id=dev-orders-source-0} Task threw an uncaught and unrecoverable exception")
                .build()
                .expect("an event"),
        )
        .send()
        .await
        .expect("PutLogEvents");
    cloudwatch
        .set_alarm_state()
        .alarm_name("dev-replication-slot-wal")
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (1.073741824E9)")
        .send()
        .await
        .expect("SetAlarmState");
    let verify = dev(&["aws", "verify"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert_contains(
        &verify.stdout,
        "alarm dev-replication-slot-wal fires: Threshold Crossed: 3 out of the last 3 datapoints",
    );
    assert_contains(&verify.stdout, "✗ worker logs");
    assert_contains(
        &verify.stdout,
        "Task threw an uncaught and unrecoverable exception",
    );

    // The protected database and the cluster's topics stay; everything else goes.
    let destroyed = dev(&["aws", "destroy", "--auto-approve"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.stderr);
    assert_contains(&destroyed.stderr, "kept database dev-database");
    assert_contains(
        &destroyed.stderr,
        "kept alarm dev-replication-slot-wal: it watches the kept database's replication slots",
    );
    assert_contains(&destroyed.stderr, "kept MSK cluster");
    assert_nothing_on_msk_connect(&kafkaconnect).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_named_like_ours_but_not_tagged_is_never_touched() {
    let setup = Setup::new("tforeign");
    let vars = infra_vars(&setup).await;
    let rds = aws_sdk_rds::Client::new(&setup.emulator.shared().await);
    rds.create_db_cluster()
        .db_cluster_identifier("tforeign-database")
        .engine("aurora-postgresql")
        .master_username("someone")
        .master_user_password("someone-else-s-password")
        .send()
        .await
        .expect("CreateDBCluster");

    let plan = setup.deploy_with(&with(&vars, &[]), &["aws", "plan"]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert_contains(
        &plan.stderr,
        "database cluster tforeign-database exists but does not carry the `deploy:environment` tag",
    );
    let destroyed = setup.ok_with(
        &with(&vars, &[]),
        &["aws", "destroy", "--auto-approve", "--delete-data"],
    );
    assert_contains(&destroyed.stderr, "left database tforeign-database alone");
    rds.describe_db_clusters()
        .db_cluster_identifier("tforeign-database")
        .send()
        .await
        .expect("the cluster is still there");
}

/// The emulator answers what AWS would refuse as AWS does, in each protocol the tool speaks, so
/// a request that breaks a service's model or MSK Connect's documented rules fails the tests.
#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_refuses_what_the_services_refuse() {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    let emulator = AwsEmulator::start();
    let shared = emulator.shared().await;
    fn refused(e: &impl ProvideErrorMetadata, code: &str, want: &str) {
        assert_eq!(e.code(), Some(code), "{:?}", e.message());
        let message = e.message().unwrap_or_default();
        assert!(message.contains(want), "{message}");
    }

    // query (IAM): a role name longer than the model's 64 characters.
    let e = aws_sdk_iam::Client::new(&shared)
        .create_role()
        .role_name("r".repeat(65))
        .assume_role_policy_document("{}")
        .send()
        .await
        .expect_err("refused");
    refused(
        &e,
        "ValidationError",
        "at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64",
    );

    // smithy-rpc-v2-cbor (CloudWatch, query-compatible): a period under the model's minimum,
    // answered in CBOR with the query error code the SDK reads from x-amzn-query-error.
    let e = aws_sdk_cloudwatch::Client::new(&shared)
        .put_metric_alarm()
        .alarm_name("refused")
        .namespace("AWS/RDS")
        .metric_name("TransactionLogsDiskUsage")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .period(0)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect_err("refused");
    refused(
        &e,
        "ValidationError",
        "at 'period' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );

    // ec2: a required member left out.
    let e = aws_sdk_ec2::Client::new(&shared)
        .create_security_group()
        .group_name("no-description")
        .send()
        .await
        .expect_err("refused");
    refused(
        &e,
        "InvalidParameterValue",
        "at 'description' failed to satisfy constraint: Member must not be null",
    );

    // json (CloudWatch Logs): a log group name outside the model's pattern.
    let e = aws_sdk_cloudwatchlogs::Client::new(&shared)
        .create_log_group()
        .log_group_name("bad*name")
        .send()
        .await
        .expect_err("refused");
    refused(
        &e,
        "ValidationException",
        "at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern",
    );

    // rest-json (MSK Connect): the documented rules the model does not encode.
    let kafkaconnect = aws_sdk_kafkaconnect::Client::new(&shared);
    let sydney = aws_sdk_kafkaconnect::Client::new(&emulator.shared_in("ap-southeast-2").await);
    let worker = |client: &aws_sdk_kafkaconnect::Client, name: &str, content: &str| {
        client
            .create_worker_configuration()
            .name(name)
            .properties_file_content(aws_smithy_types::base64::encode(content))
            .send()
    };
    let e = worker(
        &kafkaconnect,
        "no-converters",
        "offset.flush.interval.ms=1000\n",
    )
    .await
    .expect_err("refused");
    refused(
        &e,
        "BadRequestException",
        "The worker configuration must set key.converter",
    );
    let e = worker(
        &kafkaconnect,
        "rest-keys",
        "key.converter=a\nvalue.converter=b\nrest.advertised.port=1\n",
    )
    .await
    .expect_err("refused");
    refused(
        &e,
        "BadRequestException",
        "The worker configuration property rest.advertised.port is not supported",
    );
    // Valid, with the ARN in the request's region.
    for (client, region) in [(&kafkaconnect, "us-east-1"), (&sydney, "ap-southeast-2")] {
        // The same name in two regions: names are unique per region.
        let created = worker(client, "fine", "key.converter=a\nvalue.converter=b\n")
            .await
            .expect("a valid worker configuration");
        assert!(
            created.worker_configuration_arn().is_some_and(
                |arn| arn.starts_with(&format!("arn:aws:kafkaconnect:{region}:123456789012:"))
            ),
            "{created:?}"
        );
    }
}

fn total_writes(writes: &serde_json::Value) -> i64 {
    writes
        .as_object()
        .map(|o| o.values().filter_map(|v| v.as_i64()).sum())
        .unwrap_or(0)
}

/// An apply cut short at any of its write calls leaves a plan that still shows work, and the
/// next apply converges: after it, a plan shows nothing to do.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_cut_short_at_any_write_converges_when_rerun() {
    let setup = Setup::new("tcut");
    let vars = infra_vars(&setup).await;
    let before = total_writes(&setup.emulator.writes());
    setup.ok_with(&with(&vars, &[]), &["aws", "apply", "--auto-approve"]);
    let total = total_writes(&setup.emulator.writes()) - before;
    assert!(total > 20, "a full apply writes {total} times");
    for n in 1..=total as usize {
        setup.emulator.reset();
        let vars = infra_vars(&setup).await;
        setup.emulator.fail_write(n);
        let cut = setup.deploy_with(&with(&vars, &[]), &["aws", "apply", "--auto-approve"]);
        assert_eq!(cut.code, 1, "write {n}: {}{}", cut.stdout, cut.stderr);
        assert_contains(&cut.stderr, "the tests cut the apply short here");
        let plan = setup.deploy_with(&with(&vars, &[]), &["aws", "plan", "--detailed-exitcode"]);
        assert_eq!(
            plan.code, 3,
            "write {n}: the plan after the cut shows the work left:\n{}{}",
            plan.stdout, plan.stderr
        );
        let rerun = setup.deploy_with(&with(&vars, &[]), &["aws", "apply", "--auto-approve"]);
        assert_eq!(rerun.code, 0, "write {n}: {}{}", rerun.stdout, rerun.stderr);
        let after = setup.deploy_with(&with(&vars, &[]), &["aws", "plan", "--detailed-exitcode"]);
        assert_eq!(
            after.code, 0,
            "write {n}: converged:\n{}{}",
            after.stdout, after.stderr
        );
    }
}

/// A real PostgreSQL standing in for Aurora on a Docker network of its own (the VPC), with TLS
/// as Aurora requires it, and logical replication; removed with the handle.
struct RealDatabase {
    network: String,
    container: String,
}

impl RealDatabase {
    fn start(name: &str, user: &str, password: &str) -> Self {
        let network = format!("deploy-test-{name}-{}", std::process::id());
        let container = format!("{network}-postgres");
        support::docker(&["network", "create", &network]);
        let database = RealDatabase { network, container };
        support::docker(&[
            "run",
            "-d",
            "--name",
            &database.container,
            "--network",
            &database.network,
            "-e",
            &format!("POSTGRES_USER={user}"),
            "-e",
            &format!("POSTGRES_PASSWORD={password}"),
            "-e",
            "POSTGRES_DB=main",
            "deploy-test/postgres:17",
            "postgres",
            "-c",
            "wal_level=logical",
            "-c",
            "ssl=on",
            "-c",
            "ssl_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem",
            "-c",
            "ssl_key_file=/etc/ssl/private/ssl-cert-snakeoil.key",
        ]);
        for _ in 0..120 {
            let ready = Command::new("docker")
                .args([
                    "exec",
                    &database.container,
                    "pg_isready",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    user,
                ])
                .output()
                .is_ok_and(|o| o.status.success());
            if ready {
                return database;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        panic!(
            "PostgreSQL did not start: {}",
            support::docker(&["logs", &database.container])
        );
    }

    fn psql(&self, user: &str, sql: &str) -> String {
        support::docker(&[
            "exec",
            &self.container,
            "psql",
            "-U",
            user,
            "-d",
            "main",
            "-Atc",
            sql,
        ])
    }

    fn slots(&self, user: &str) -> Vec<String> {
        let names = self.psql(
            user,
            "SELECT slot_name FROM pg_replication_slots ORDER BY 1",
        );
        names.lines().map(str::to_string).collect()
    }
}

impl Drop for RealDatabase {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.container])
            .output();
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sources_slot_is_dropped_by_a_database_task_after_it_moves_and_when_destroy_keeps_the_database()
 {
    let setup = Setup::new("tslot");
    let hub = support::real_plugins::serve(&setup.server, &setup.work.path().join("plugins"));
    let vars = infra_vars(&setup).await;
    let shared = setup.emulator.shared().await;
    let rds = aws_sdk_rds::Client::new(&shared);
    let base = with(
        &vars,
        &[
            ("DEPLOY_TEST_SLOTS", "1"),
            ("DEPLOY_TEST_PROTECT", "true"),
            (support::real_plugins::HUB_API, hub.as_str()),
        ],
    );
    let moved = [base.clone(), vec![("DEPLOY_TEST_SLOT", "orders2")]].concat();

    // The first apply makes the database and the source; its slot is in the plan from then on.
    let plan = setup.ok_with(&base, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "made by tslot-source when it starts, in database main",
    );
    setup.ok_with(&base, &["aws", "apply", "--auto-approve"]);
    let plan = setup.ok_with(&base, &["aws", "plan", "--detailed-exitcode"]);
    assert_contains(&plan.stdout, "streamed by tslot-source from database main");

    // From here the database is a real PostgreSQL answering to the credentials RDS keeps in
    // Secrets Manager, and the tasks run for real on its network; Debezium's slot is there.
    let cluster = rds
        .describe_db_clusters()
        .db_cluster_identifier("tslot-database")
        .send()
        .await
        .expect("DescribeDBClusters");
    let cluster = &cluster.db_clusters()[0];
    let endpoint = cluster.endpoint().expect("an endpoint").to_string();
    let secret = setup
        .emulator
        .secretsmanager()
        .await
        .get_secret_value()
        .secret_id(
            cluster
                .master_user_secret()
                .and_then(|s| s.secret_arn())
                .expect("the master secret"),
        )
        .send()
        .await
        .expect("GetSecretValue");
    let credentials: serde_json::Value =
        serde_json::from_str(secret.secret_string().expect("a string")).expect("JSON");
    let user = credentials["username"].as_str().expect("a username");
    let database = RealDatabase::start(
        "tslot",
        user,
        credentials["password"].as_str().expect("a password"),
    );
    setup
        .emulator
        .run_tasks_on(&database.network, &[(&endpoint, &database.container)]);
    database.psql(
        user,
        "SELECT pg_create_logical_replication_slot('orders', 'pgoutput')",
    );

    // The source moves to another slot: the old one is dropped once the connector lets go.
    let plan = setup.ok_with(&moved, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "remove: its connector tslot-source moves to slot orders2: dropped once it lets go of it",
    );
    assert_contains(
        &plan.stdout,
        "made by tslot-source when it starts, in database main",
    );
    let kept = setup.ok_with(&moved, &["aws", "plan", "--keep-slots"]);
    assert_contains(
        &kept.stdout,
        "its connector tslot-source moves to slot orders2; kept (--keep-slots): it pins WAL until it is dropped",
    );

    // Something still streams from it: the task waits (bounded), fails with PostgreSQL's words,
    // and the next plan drops it again.
    support::docker(&[
        "exec",
        "-d",
        &database.container,
        "pg_recvlogical",
        "-U",
        user,
        "-d",
        "main",
        "--slot",
        "orders",
        "--start",
        "-o",
        "proto_version=1",
        "-o",
        "publication_names=cdc_publication",
        "-f",
        "/dev/null",
    ]);
    let busy = [moved.clone(), vec![("DEPLOY_SLOT_RELEASE_SECONDS", "3")]].concat();
    let failed = setup.deploy_with(&busy, &["aws", "apply", "--auto-approve"]);
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert_contains(
        &failed.stderr,
        "dropping replication slot orders failed (exit code 3",
    );
    assert_contains(
        &failed.stderr,
        "ERROR:  replication slot orders is still active (pid",
    );
    assert_eq!(database.slots(user), ["orders"]);
    let plan = setup.ok_with(&moved, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "left by an earlier run whose drop did not finish: dropped once nothing streams from it",
    );

    // Once it is free the apply drops it; the plan is empty after.
    support::docker(&["exec", &database.container, "pkill", "pg_recvlogical"]);
    let applied = setup.ok_with(&moved, &["aws", "apply", "--auto-approve"]);
    assert_contains(&applied.stderr, "replication slot orders dropped");
    assert!(database.slots(user).is_empty());
    let plan = setup.deploy_with(&moved, &["aws", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.stdout);

    // destroy keeps the protected database, and drops the slots of the connectors it deletes.
    database.psql(
        user,
        "SELECT pg_create_logical_replication_slot('orders2', 'pgoutput')",
    );
    database.psql(
        user,
        "SELECT pg_create_logical_replication_slot('audit', 'pgoutput')",
    );
    // `status --slots` reads them with a database task: what the source streams from, and a
    // slot no connector names, which nothing touches.
    let status = setup.ok_with(&moved, &["aws", "status", "--slots"]);
    assert_contains(
        &status.stdout,
        "streamed by tslot-source from database main; inactive, retains",
    );
    assert_contains(
        &status.stdout,
        "in database main, named by no connector of this environment: never touched; inactive, retains",
    );
    let destroyed = setup.ok_with(&moved, &["aws", "destroy", "--auto-approve"]);
    assert_contains(
        &destroyed.stderr,
        "remove: its connector tslot-source is removed: dropped once it lets go of it",
    );
    assert_contains(&destroyed.stderr, "replication slot orders2 dropped");
    assert_contains(&destroyed.stderr, "kept database tslot-database");
    assert_eq!(database.slots(user), ["audit"]);
}

/// The state MSK Connect reports for the environment's one connector.
async fn msk_state(client: &aws_sdk_kafkaconnect::Client) -> String {
    let listed = client
        .list_connectors()
        .send()
        .await
        .expect("ListConnectors");
    listed.connectors()[0]
        .connector_state()
        .expect("a state")
        .as_str()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn state_paused_pauses_the_connector_on_msk_connect_and_running_resumes_it() {
    let setup = Setup::new("tstate");
    let (_, kafkaconnect) = setup.emulator.clients().await;
    let paused = [("DEPLOY_TEST_STATE", "paused")];

    // Created, then paused (PauseConnector, its operation waited on); the plan is empty after.
    let plan = setup.ok_with(&paused, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "not found; paused once it runs (state: paused)",
    );
    setup.ok_with(&paused, &["aws", "apply", "--auto-approve"]);
    assert_eq!(msk_state(&kafkaconnect).await, "PAUSED");
    let plan = setup.ok_with(&paused, &["aws", "plan", "--detailed-exitcode"]);
    assert_contains(&plan.stdout, "No changes");

    // Back to running: ResumeConnector.
    let plan = setup.ok(&["aws", "plan"]);
    assert_contains(&plan.stdout, "update: resume: state: running in the file");
    setup.ok(&["aws", "apply", "--auto-approve"]);
    assert_eq!(msk_state(&kafkaconnect).await, "RUNNING");

    // A pause that fails is reported with the operation's steps, and the connector runs on.
    setup.emulator.fail_next_operation("tstate-source");
    let failed = setup.deploy_with(&paused, &["aws", "apply", "--auto-approve"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_contains(
        &failed.stderr,
        "the pause of connector tstate-source ended PAUSE_FAILED: The pause did not complete. (steps: INITIALIZE_UPDATE COMPLETED, FINALIZE_UPDATE FAILED)",
    );
    assert_eq!(msk_state(&kafkaconnect).await, "RUNNING");

    // A paused connector's configuration changes: MSK Connect updates only a running one, so it
    // is resumed, updated and paused again.
    setup.ok_with(&paused, &["aws", "apply", "--auto-approve"]);
    let changed = [
        ("DEPLOY_TEST_STATE", "paused"),
        ("DEPLOY_TEST_TOPIC", "two"),
    ];
    let plan = setup.ok_with(&changed, &["aws", "plan"]);
    assert_contains(
        &plan.stdout,
        "configuration changed: topic; resumed for the update, then paused again (state: paused)",
    );
    setup.ok_with(&changed, &["aws", "apply", "--auto-approve"]);
    assert_eq!(msk_state(&kafkaconnect).await, "PAUSED");
    let plan = setup.ok_with(&changed, &["aws", "plan", "--detailed-exitcode"]);
    assert_contains(&plan.stdout, "No changes");

    // status, in the local report's shape; restart waits on its operation.
    let status = setup.ok_with(
        &changed,
        &["--output", "json", "aws", "connectors", "status"],
    );
    let report: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON");
    assert_eq!(report["connectors"][0]["name"], "source");
    assert_eq!(report["connectors"][0]["state"], "PAUSED");
    let refused = setup.deploy_with(&changed, &["aws", "connectors", "restart"]);
    assert_eq!(refused.code, 1, "a paused connector is not restarted");
    assert_contains(&refused.stderr, "it must be RUNNING to restart");
    setup.ok(&["aws", "apply", "--auto-approve"]);
    let restarted = setup.ok(&["aws", "connectors", "restart", "source", "--failed-only"]);
    assert_contains(&restarted.stderr, "restarted tstate-source (failed tasks)");
    let unknown = setup.deploy(&["aws", "connectors", "restart", "nope"]);
    assert_contains(
        &unknown.stderr,
        "no connector `nope` in the environment file",
    );

    // Restarting only failed tasks needs Kafka Connect 3.7 on MSK Connect.
    let old = [("DEPLOY_TEST_CONNECT_VERSION", "2.7.1")];
    setup.ok_with(&old, &["aws", "apply", "--auto-approve"]);
    let refused = setup.deploy_with(&old, &["aws", "connectors", "restart", "--failed-only"]);
    assert_eq!(refused.code, 1);
    assert_contains(
        &refused.stderr,
        "--failed-only needs Kafka Connect 3.7 or later on MSK Connect; connector tstate-source runs 2.7.1",
    );
    setup.ok_with(&old, &["aws", "connectors", "restart"]);

    // MSK Connect has no offsets API: the command says so and what to do instead.
    let offsets = setup.deploy_with(&old, &["aws", "connectors", "offsets", "source"]);
    assert_eq!(offsets.code, 1);
    assert_contains(
        &offsets.stderr,
        "MSK Connect has no offsets API: offsets cannot be shown, reset or set from here",
    );
    assert_contains(&offsets.stderr, "offset.storage.topic");
}
