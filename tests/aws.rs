//! `deploy aws` against the emulators on 127.0.0.1 (moto for S3, the in-repo MSK Connect
//! emulator), read back through the real SDK: plugin bucket, content-addressed plugin ZIPs and
//! custom plugins; a no-op re-apply with no write; a plugin change replacing the custom plugin;
//! destroy keeping the bucket unless --delete-data, twice.

mod support;

use std::process::Command;

use support::assert_contains;
use support::aws::AwsEmulator;
use support::http::Server;

struct Setup {
    emulator: AwsEmulator,
    server: Server,
    work: tempfile::TempDir,
    name: String,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
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
        let output = Command::new(env!("CARGO_BIN_EXE_deploy"))
            .args(["-e", "tests/environments/aws.yaml"])
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
            .output()
            .expect("deploy runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Run {
        let run = self.deploy(args);
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
    setup.ok(&["aws", "destroy", "--auto-approve"]);
    setup.ok(&["aws", "destroy", "--auto-approve", "--delete-data"]);
    assert!(
        s3.head_bucket()
            .bucket("tdev-plugins")
            .send()
            .await
            .is_err()
    );
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
